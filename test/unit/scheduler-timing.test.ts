// Scheduling decisions with an injected clock: every `now` below is a number the test chose.
import { describe, expect, it } from "vitest";
import type { JobRunRecord } from "../../src/api/index.js";
import { CronTimes, cronStep, missedRuns, oneShotStep, oneShotTime, trimRuns } from "../../src/scheduler/index.js";

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

describe("cron times", () => {
  it("lists the due times between two instants, in UTC by default", () => {
    const every15 = new CronTimes("*/15 * * * *");
    expect(every15.next(at("2024-05-01T10:07:30Z"))).toBe(at("2024-05-01T10:15:00Z"));
    expect(every15.due(at("2024-05-01T10:00:00Z"), at("2024-05-01T10:45:00Z")).times.map(iso)).toEqual([
      "2024-05-01T10:15:00.000Z",
      "2024-05-01T10:30:00.000Z",
      "2024-05-01T10:45:00.000Z",
    ]);
    expect(every15.due(at("2024-05-01T10:45:00Z"), at("2024-05-01T10:59:59.999Z")).times).toEqual([]);
  });

  it("reads the fields in the schedule's time zone", () => {
    const three = new CronTimes("0 3 * * *", "America/New_York");
    // 03:00 in New York in May is 07:00 UTC (EDT, -4).
    expect(iso(three.next(at("2024-05-01T00:00:00Z")))).toBe("2024-05-01T07:00:00.000Z");
    // And 08:00 UTC in January (EST, -5).
    expect(iso(three.next(at("2024-01-15T00:00:00Z")))).toBe("2024-01-15T08:00:00.000Z");
  });

  it("runs a time the spring-forward skips once, right after the gap, and a repeated one once", () => {
    const twoThirty = new CronTimes("30 2 * * *", "Europe/Berlin");
    // 2024-03-31: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist that night.
    expect(iso(twoThirty.next(at("2024-03-30T12:00:00Z")))).toBe("2024-03-31T01:00:00.000Z");
    expect(iso(twoThirty.next(at("2024-03-31T01:00:00Z")))).toBe("2024-04-01T00:30:00.000Z");
    // 2024-10-27: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice and runs once.
    const autumn = twoThirty.due(at("2024-10-26T12:00:00Z"), at("2024-10-28T12:00:00Z")).times.map(iso);
    expect(autumn).toEqual(["2024-10-27T00:30:00.000Z", "2024-10-28T01:30:00.000Z"]);
    // Hourly runs across the spring gap: the hour that does not exist is not run twice or invented.
    const hourly = new CronTimes("0 * * * *", "Europe/Berlin");
    const spring = hourly.due(at("2024-03-30T23:30:00Z"), at("2024-03-31T03:30:00Z")).times.map(iso);
    expect(spring).toEqual(["2024-03-31T00:00:00.000Z", "2024-03-31T01:00:00.000Z", "2024-03-31T02:00:00.000Z", "2024-03-31T03:00:00.000Z"]);
  });

  it("after a long outage of a frequent schedule lists only the latest, and says there were more", () => {
    const minutely = new CronTimes("* * * * *");
    const due = minutely.due(at("2024-01-01T00:00:00Z"), at("2024-01-08T00:00:30Z"), 5);
    expect(due.more).toBe(true);
    expect(due.times.map(iso)).toEqual([
      "2024-01-07T23:56:00.000Z",
      "2024-01-07T23:57:00.000Z",
      "2024-01-07T23:58:00.000Z",
      "2024-01-07T23:59:00.000Z",
      "2024-01-08T00:00:00.000Z",
    ]);
  });

  it("takes a seconds field only when asked to (the test hook)", () => {
    expect(() => new CronTimes("*/2 * * * * *")).toThrow(/5 parts/);
    expect(iso(new CronTimes("*/2 * * * * *", "UTC", true).next(at("2024-01-01T00:00:00.500Z")))).toBe("2024-01-01T00:00:02.000Z");
  });
});

describe("one-shot schedules", () => {
  const seen = at("2024-05-01T10:00:00Z");

  it("startAfter counts from when the spec was first seen; startAt is absolute", () => {
    expect(iso(oneShotTime({ startAfter: "1hour" }, seen))).toBe("2024-05-01T11:00:00.000Z");
    expect(iso(oneShotTime({ startAfter: "30min" }, seen))).toBe("2024-05-01T10:30:00.000Z");
    expect(iso(oneShotTime({ startAt: "2024-05-02T00:00:00+02:00" }, seen))).toBe("2024-05-01T22:00:00.000Z");
  });

  it("waits, then starts, and past startingDeadlineSeconds is missed", () => {
    const due = at("2024-05-01T10:00:02Z");
    expect(oneShotStep(due, due - 1, 5)).toEqual({ wait: 1 });
    expect(oneShotStep(due, due, 5)).toEqual({ start: true });
    expect(oneShotStep(due, due + 5000, 5)).toEqual({ start: true });
    expect(oneShotStep(due, due + 5001, 5)).toEqual({ missed: true });
    expect(oneShotStep(due, due + 86_400_000)).toEqual({ start: true });
  });
});

describe("cron steps", () => {
  const hourly = new CronTimes("0 * * * *");

  it("before its first due time waits for it", () => {
    const step = cronStep(hourly, at("2024-05-01T10:20:00Z"), at("2024-05-01T10:40:00Z"));
    expect(step).toEqual({ missed: [], moreMissed: false, next: at("2024-05-01T11:00:00Z") });
  });

  it("starts the due time, and the next is the one after", () => {
    const step = cronStep(hourly, at("2024-05-01T10:00:00Z"), at("2024-05-01T11:00:00.040Z"), 60);
    expect(step).toEqual({ start: at("2024-05-01T11:00:00Z"), missed: [], moreMissed: false, last: at("2024-05-01T11:00:00Z"), next: at("2024-05-01T12:00:00Z") });
  });

  it("after an outage starts only the latest due time, within startingDeadlineSeconds, and misses the rest", () => {
    const step = cronStep(hourly, at("2024-05-01T10:00:00Z"), at("2024-05-01T13:00:30Z"), 60);
    expect(iso(step.start)).toBe("2024-05-01T13:00:00.000Z");
    expect(step.missed.map(iso)).toEqual(["2024-05-01T11:00:00.000Z", "2024-05-01T12:00:00.000Z"]);
    expect(iso(step.last)).toBe("2024-05-01T13:00:00.000Z");
  });

  it("past the deadline misses the latest too, and takes it so it is never started later", () => {
    const step = cronStep(hourly, at("2024-05-01T10:00:00Z"), at("2024-05-01T12:02:00Z"), 60);
    expect(step.start).toBeUndefined();
    expect(step.missed.map(iso)).toEqual(["2024-05-01T11:00:00.000Z", "2024-05-01T12:00:00.000Z"]);
    expect(iso(step.last)).toBe("2024-05-01T12:00:00.000Z");
    expect(iso(step.next)).toBe("2024-05-01T13:00:00.000Z");
    // Looking again from what was taken finds nothing due: nothing runs twice.
    expect(cronStep(hourly, step.last!, at("2024-05-01T12:02:01Z"), 60).start).toBeUndefined();
  });

  it("without a deadline starts the latest however late", () => {
    expect(iso(cronStep(hourly, at("2024-05-01T10:00:00Z"), at("2024-05-01T12:59:00Z")).start)).toBe("2024-05-01T12:00:00.000Z");
  });
});

describe("runs history", () => {
  const run = (n: number, phase: JobRunRecord["phase"]): JobRunRecord => ({ run: `g-${n}`, phase });

  it("keeps the newest successful and failed runs up to their limits, and every running one", () => {
    const runs = [run(1, "Succeeded"), run(2, "Failed"), run(3, "Succeeded"), run(4, "Running"), run(5, "Failed"), run(6, "Succeeded"), run(7, "Succeeded"), run(8, "Missed")];
    const { kept, removed } = trimRuns(runs, { successful: 2, failed: 1 });
    expect(kept.map((r) => r.run ?? r.phase)).toEqual(["g-4", "g-6", "g-7", "g-8"]);
    expect(removed.map((r) => r.run)).toEqual(["g-1", "g-2", "g-3", "g-5"]);
  });

  it("with limits of zero keeps only what runs", () => {
    expect(trimRuns([run(1, "Succeeded"), run(2, "Running"), run(3, "Failed")], { successful: 0, failed: 0 }).kept).toEqual([run(2, "Running")]);
  });

  it("records missed due times without a run", () => {
    expect(missedRuns([at("2024-05-01T11:00:00Z")], "MissedSchedule")).toEqual([{ scheduledTime: "2024-05-01T11:00:00.000Z", phase: "Missed", reason: "MissedSchedule" }]);
  });
});
