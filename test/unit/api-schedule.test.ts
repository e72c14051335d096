import { describe, expect, it } from "vitest";
import { applyDefaults, parseManifest, scheduleDurationMs, type JobManifest } from "../../src/api/index.js";

function job(spec: Record<string, unknown>): Record<string, unknown> {
  return { apiVersion: "joblet/v1", kind: "Job", metadata: { name: "nightly" }, spec: { command: ["true"], ...spec } };
}

function errorsOf(doc: unknown): string[] {
  const result = parseManifest(doc);
  if (result.ok) throw new Error("expected the manifest to be refused");
  return result.errors.map((error) => error.message);
}

function scheduleOf(schedule: unknown): unknown {
  const result = parseManifest(job({ schedule }));
  if (!result.ok) throw new Error(result.errors.map((e) => e.message).join("\n"));
  return applyDefaults(result.object as JobManifest).spec.schedule;
}

describe("startAfter durations", () => {
  it("reads Go durations and the original Joblet's words", () => {
    expect(scheduleDurationMs("30s")).toBe(30_000);
    expect(scheduleDurationMs("2h30m")).toBe(9_000_000);
    expect(scheduleDurationMs("1.5h")).toBe(5_400_000);
    expect(scheduleDurationMs("1hour")).toBe(3_600_000);
    expect(scheduleDurationMs("30min")).toBe(1_800_000);
    expect(scheduleDurationMs("2days")).toBe(172_800_000);
    expect(scheduleDurationMs("1h 30mins")).toBe(5_400_000);
    expect(scheduleDurationMs("500ms")).toBe(500);
  });

  it("refuses a bare number, an unknown unit and an empty string", () => {
    expect(scheduleDurationMs("30")).toBeUndefined();
    expect(scheduleDurationMs("3 fortnights")).toBeUndefined();
    expect(scheduleDurationMs("")).toBeUndefined();
  });
});

describe("spec.schedule", () => {
  it("takes the object form and normalises the string form to it", () => {
    expect(scheduleOf({ cron: "0 3 * * *", timeZone: "Europe/Berlin" })).toEqual({ cron: "0 3 * * *", timeZone: "Europe/Berlin" });
    expect(scheduleOf("*/5 * * * *")).toEqual({ cron: "*/5 * * * *" });
    expect(scheduleOf("2030-01-02T15:04:05Z")).toEqual({ startAt: "2030-01-02T15:04:05Z" });
    expect(scheduleOf("2030-01-02T15:04:05+02:00")).toEqual({ startAt: "2030-01-02T15:04:05+02:00" });
    expect(scheduleOf("30min")).toEqual({ startAfter: "30min" });
    expect(scheduleOf({ startAfter: "1hour" })).toEqual({ startAfter: "1hour" });
  });

  it("names the path and the reason of every mistake", () => {
    expect(errorsOf(job({ schedule: "every tuesday" }))).toEqual([
      "Job 'nightly': spec.schedule 'every tuesday' is not a cron expression ('*/5 * * * *'), an RFC 3339 time ('2030-01-02T15:04:05Z') or a duration ('30s', '2h30m', '30min')",
    ]);
    expect(errorsOf(job({ schedule: { cron: "61 * * * *" } }))).toEqual([
      "Job 'nightly': spec.schedule.cron '61 * * * *' is not a cron expression (minute hour day-of-month month day-of-week, e.g. '*/5 * * * *'): Invalid value for minute: 61",
    ]);
    expect(errorsOf(job({ schedule: { startAt: "tomorrow" } }))).toEqual([
      "Job 'nightly': spec.schedule.startAt 'tomorrow' is not an RFC 3339 time with an offset (e.g. 2030-01-02T15:04:05Z)",
    ]);
    expect(errorsOf(job({ schedule: { startAt: "2030-01-02T15:04:05" } }))[0]).toContain("is not an RFC 3339 time with an offset");
    expect(errorsOf(job({ schedule: { startAfter: "30" } }))).toEqual([
      "Job 'nightly': spec.schedule.startAfter '30' is not a duration (e.g. 30s, 2h30m, 30min, 1hour, 2days)",
    ]);
    expect(errorsOf(job({ schedule: { startAfter: "2s", cron: "* * * * *" } }))).toEqual([
      "Job 'nightly': spec.schedule sets startAfter and cron: set exactly one of startAt, startAfter, cron",
    ]);
    expect(errorsOf(job({ schedule: {} }))).toEqual(["Job 'nightly': spec.schedule needs one of startAt, startAfter, cron"]);
    expect(errorsOf(job({ schedule: { startAfter: "2s", timeZone: "UTC" } }))).toEqual([
      "Job 'nightly': spec.schedule.timeZone 'UTC' applies to cron only (startAt carries its own offset)",
    ]);
    expect(errorsOf(job({ schedule: { cron: "0 3 * * *", timeZone: "Mars/Olympus" } }))).toEqual([
      "Job 'nightly': spec.schedule.timeZone 'Mars/Olympus' is not an IANA time zone (e.g. UTC, Europe/Berlin, America/New_York)",
    ]);
    expect(errorsOf(job({ schedule: { cron: 5 } }))).toEqual(["Job 'nightly': spec.schedule.cron 5 must be a string"]);
    expect(errorsOf(job({ schedule: 5 }))[0]).toContain("spec.schedule 5 must be a mapping with one of startAt, startAfter or cron");
    expect(errorsOf(job({ schedule: { cronn: "* * * * *" } }))[0]).toBe("Job 'nightly': spec.schedule.cronn is not a known field of spec.schedule; did you mean 'cron'?");
  });

  it("checks the scheduler's other fields", () => {
    expect(errorsOf(job({ priority: 1.5 }))).toEqual(["Job 'nightly': spec.priority 1.5 must be a whole number"]);
    expect(errorsOf(job({ startingDeadlineSeconds: -1 }))).toEqual(["Job 'nightly': spec.startingDeadlineSeconds -1 must be at least 0"]);
    expect(errorsOf(job({ resources: { exclusiveCpus: 0 } }))).toEqual(["Job 'nightly': spec.resources.exclusiveCpus 0 must be at least 1"]);
    expect(errorsOf(job({ resources: { exclusiveCpus: 1, cpuset: "0" } }))).toEqual([
      "Job 'nightly': spec.resources.exclusiveCpus 1 cannot be set with cpuset: pin explicitly or let the scheduler choose, not both",
    ]);
    const parsed = parseManifest(job({ schedule: "0 * * * *" }));
    expect(parsed.ok && applyDefaults(parsed.object as JobManifest).spec).toMatchObject({ priority: 0, successfulRunsHistoryLimit: 3, failedRunsHistoryLimit: 1, concurrencyPolicy: "Allow" });
  });
});
