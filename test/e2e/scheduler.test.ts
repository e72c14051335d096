// The scheduler with a real daemon and real jobs: delayed and repeating starts with real
// short delays, restarts in the middle of a schedule, capacity admission and exclusive CPUs.
// Times come from inside the jobs (`date +%s%N`), so they say when the job really ran.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { JobRunRecord } from "../../src/api/index.js";
import { DaemonLab, job, type JobObject } from "../helpers/daemon-lab.js";
import { repoRoot } from "../helpers/jobs.js";
import { requireRoot } from "../helpers/root.js";

let lab: DaemonLab;
beforeAll(() => {
  requireRoot("the scheduler");
  if (!existsSync(join(repoRoot, "dist/src/daemon/daemon.js"))) throw new Error("Cannot test restarts: run 'npm run build' first (npm test does)");
});
afterEach(async () => {
  if (lab) await stopEverything(lab);
  await lab?.cleanup();
});

/** Remove every manifest and wait until the daemon has stopped and removed every Job: no run outlives the test. */
async function stopEverything(l: DaemonLab): Promise<void> {
  for (const file of readdirSync(l.manifests)) rmSync(join(l.manifests, file), { recursive: true, force: true });
  const statuses = join(l.stateDir, "status/jobs");
  for (let i = 0; i < 500 && existsSync(statuses) && readdirSync(statuses).length > 0; i++) await sleep(20);
}

const Mi = 1024 ** 2;
const finished = (o: JobObject) => o.status.phase === "Succeeded" || o.status.phase === "Failed";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A command that prints when it started and ended (ms since the epoch, from the job's own clock). */
const timed = (seconds: number, extra = "") => `command: ["sh", "-c", "date +%s%N; ${extra}sleep ${seconds}; date +%s%N"]`;

/** [start, end] in ms of a run that printed them with `timed`. */
function span(l: DaemonLab, name: string, run: string): [number, number] {
  const [start, end] = l.log(name, run).trim().split("\n").map((ns) => Number(BigInt(ns) / 1_000_000n));
  return [start!, end!];
}

/** The runs that ran (not missed), oldest first. */
function ran(o: JobObject): JobRunRecord[] {
  return (o.status.runs ?? []).filter((r) => r.run !== undefined);
}

/** The most runs going at one instant. */
function mostAtOnce(spans: [number, number][]): number {
  const edges = spans.flatMap(([s, e]) => [[s, 1] as const, [e, -1] as const]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let most = 0;
  for (const [, d] of edges) most = Math.max(most, (now += d));
  return most;
}

describe("one-shot schedules", () => {
  it("startAfter: 2s waits Scheduled, then starts no earlier than 2 s and within 2.5 s", async () => {
    lab = new DaemonLab();
    await lab.start();
    const applied = Date.now();
    lab.write("later.yaml", job("later", `${timed(0)}\nschedule:\n  startAfter: 2s`));
    const waiting = await lab.waitFor("later", (o) => o.status.phase === "Scheduled");
    expect(waiting.status.message).toMatch(/^Starts at .* \(startAfter 2s\)$/);
    expect(Date.parse(waiting.status.scheduledTime!) - Date.parse(waiting.status.observedTime!)).toBe(2000);
    const done = await lab.waitFor("later", finished, 5000);
    expect(done.status).toMatchObject({ phase: "Succeeded", attempts: 1 });
    const [start] = span(lab, "later", done.status.run!);
    expect(start - applied).toBeGreaterThanOrEqual(2000);
    expect(start - applied).toBeLessThanOrEqual(2500);
  });

  it("a startAt missed by more than startingDeadlineSeconds while no daemon ran is Failed MissedSchedule, never run", async () => {
    lab = new DaemonLab();
    const at = new Date(Date.now() + 500).toISOString();
    lab.write("missed.yaml", job("missed", `command: ["true"]\nstartingDeadlineSeconds: 1\nschedule:\n  startAt: "${at}"`));
    await sleep(2000);
    await lab.start();
    const done = await lab.waitFor("missed", finished);
    expect(done.status).toMatchObject({ phase: "Failed", reason: "MissedSchedule", attempts: 0 });
    expect(done.status.runs).toEqual([{ scheduledTime: at, phase: "Missed", reason: "MissedSchedule" }]);
    expect(done.status.events?.some((e) => e.reason === "MissedSchedule")).toBe(true);
    expect(lab.runs("missed")).toEqual([]);
  });

  it("a daemon killed during a startAfter countdown: the next one keeps the original time and runs it once", async () => {
    lab = new DaemonLab();
    const kill = await lab.startChild();
    const applied = Date.now();
    lab.write("countdown.yaml", job("countdown", `${timed(0)}\nschedule: 3s`));
    const waiting = await lab.waitFor("countdown", (o) => o.status.phase === "Scheduled");
    await sleep(1000);
    await kill();
    await sleep(500);
    await lab.start();
    const done = await lab.waitFor("countdown", finished, 6000);
    expect(done.status.scheduledTime).toBe(waiting.status.scheduledTime);
    const [start] = span(lab, "countdown", done.status.run!);
    expect(start - applied).toBeGreaterThanOrEqual(3000);
    expect(start - applied).toBeLessThanOrEqual(3500);
    await sleep(300);
    expect(lab.runs("countdown")).toHaveLength(1);
  });
});

describe("repeating schedules (the daemon's seconds-field test hook)", () => {
  it("under Forbid runs again and again, never two at once: a time due during a run starts when it ends", async () => {
    lab = new DaemonLab();
    await lab.start({ cronSeconds: true });
    lab.write("tick.yaml", job("tick", `${timed(2.5)}\nschedule:\n  cron: "*/2 * * * * *"\nconcurrencyPolicy: Forbid\nsuccessfulRunsHistoryLimit: 10\nfailedRunsHistoryLimit: 10`));
    const after = await lab.waitFor("tick", (o) => ran(o).filter((r) => r.phase === "Succeeded").length >= 3, 20_000);
    lab.remove("tick.yaml");
    const runs = ran(after).filter((r) => r.phase === "Succeeded");
    const spans = runs.map((r) => span(lab, "tick", r.run!));
    expect(mostAtOnce(spans)).toBe(1);
    const due = runs.map((r) => Date.parse(r.scheduledTime!));
    expect(due.every((t, i) => i === 0 || t > due[i - 1]!)).toBe(true);
    expect(due.every((t) => t % 2000 === 0)).toBe(true);
    // Each run lasts 2.5 s, so the next time comes due while it runs and waits for its end.
    for (let i = 1; i < runs.length; i++) {
      expect(due[i]!).toBeLessThan(spans[i - 1]![1]);
      expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]);
    }
  });

  it("under Allow runs beside the previous run, and Replace stops it", async () => {
    lab = new DaemonLab();
    await lab.start({ cronSeconds: true });
    lab.write("both.yaml", job("both", `${timed(2.5)}\nschedule:\n  cron: "*/1 * * * * *"\nsuccessfulRunsHistoryLimit: 10`));
    lab.write("swap.yaml", job("swap", `command: ["sleep", "30"]\nschedule:\n  cron: "*/1 * * * * *"\nconcurrencyPolicy: Replace\nfailedRunsHistoryLimit: 10`));
    const both = await lab.waitFor("both", (o) => ran(o).filter((r) => r.phase === "Succeeded").length >= 2, 15_000);
    const swap = await lab.waitFor("swap", (o) => ran(o).filter((r) => r.reason === "Replaced").length >= 2, 15_000);
    lab.remove("both.yaml");
    lab.remove("swap.yaml");
    const spans = ran(both).filter((r) => r.phase === "Succeeded").map((r) => span(lab, "both", r.run!));
    expect(mostAtOnce(spans)).toBeGreaterThan(1);
    expect(ran(swap).filter((r) => r.phase === "Running")).toHaveLength(1);
  });

  it("keeps runs up to the history limits, removes the others' logs, and joblet logs --run reads a kept one", async () => {
    lab = new DaemonLab();
    await lab.start({ cronSeconds: true });
    lab.write("often.yaml", job("often", `command: ["sh", "-c", "echo run $(date +%s)"]\nschedule:\n  cron: "* * * * * *"\nsuccessfulRunsHistoryLimit: 2`));
    const after = await lab.waitFor("often", (o) => o.status.attempts >= 4 && o.status.phase === "Scheduled", 10_000);
    const kept = ran(after).map((r) => r.run!);
    expect(kept).toHaveLength(2);
    expect(kept.at(-1)).toBe(`${after.metadata.generation.slice(0, 8)}-${after.status.attempts}`);
    // Runs trimmed away lost their logs; any newer directory is a run started since.
    const attemptOf = (run: string) => Number(run.split("-")[1]);
    const dirs = lab.runs("often");
    for (const run of kept) expect(dirs).toContain(run);
    expect(dirs.filter((d) => !kept.includes(d)).every((d) => attemptOf(d) > after.status.attempts)).toBe(true);
    const cli = spawnSync(process.execPath, [join(repoRoot, "bin/joblet.js"), "logs", "often", "--run", String(after.status.attempts - 1), "--state-dir", lab.stateDir], { encoding: "utf8" });
    expect(cli.stderr).toBe("");
    expect(cli.stdout).toBe(lab.log("often", kept[0]!));
    const gone = spawnSync(process.execPath, [join(repoRoot, "bin/joblet.js"), "logs", "often", "--run", "1", "--state-dir", lab.stateDir], { encoding: "utf8" });
    expect(gone.stderr).toMatch(/^Job 'often' has no run '1'; its runs: /);
  });

  it("a daemon killed in the middle of a schedule: nothing lost, nothing run twice, late runs within the deadline start", async () => {
    lab = new DaemonLab();
    const kill = await lab.startChild({ cronSeconds: true });
    lab.write("beat.yaml", job("beat", `${timed(0)}\nschedule:\n  cron: "*/2 * * * * *"\nstartingDeadlineSeconds: 5\nsuccessfulRunsHistoryLimit: 50\nfailedRunsHistoryLimit: 50`));
    await lab.waitFor("beat", (o) => ran(o).filter((r) => r.phase === "Succeeded").length >= 2, 10_000);
    await kill();
    const downAt = Date.now();
    await sleep(3500);
    await lab.start({ cronSeconds: true });
    const upAt = Date.now();
    const after = await lab.waitFor("beat", (o) => ran(o).filter((r) => r.phase === "Succeeded" && Date.parse(r.startTime!) > upAt + 2000).length >= 2, 15_000);
    lab.remove("beat.yaml");
    const records = after.status.runs!.filter((r) => r.phase !== "Running");
    const due = records.map((r) => Date.parse(r.scheduledTime!)).sort((a, b) => a - b);
    // Every 2 s slot from the first to the last is there exactly once: run, or missed while down.
    expect(new Set(due).size).toBe(due.length);
    for (let i = 1; i < due.length; i++) expect(due[i]! - due[i - 1]!).toBe(2000);
    // The latest time due while no daemon ran started at once after the restart (within the deadline).
    const lateRun = records.find((r) => r.run && Date.parse(r.scheduledTime!) > downAt && Date.parse(r.scheduledTime!) < upAt);
    expect(lateRun?.phase).toBe("Succeeded");
    expect(Date.parse(lateRun!.startTime!) - upAt).toBeLessThan(1000);
    // Each run's logs are its own: one start line per run directory.
    for (const record of records.filter((r) => r.run)) expect(lab.log("beat", record.run!).trim().split("\n")).toHaveLength(2);
  });
});

describe("capacity", () => {
  it("with 1 GiB allocatable runs three 400Mi jobs two at a time, the third Unschedulable meanwhile", async () => {
    lab = new DaemonLab();
    await lab.start({ allocatableMemoryBytes: 1024 * Mi });
    for (const name of ["m1", "m2", "m3"]) lab.write(`${name}.yaml`, job(name, `${timed(1.5)}\nresources:\n  memory: 400Mi`));
    const waiting = await Promise.any(["m1", "m2", "m3"].map((name) => lab.waitFor(name, (o) => o.status.reason === "Unschedulable", 5000)));
    expect(waiting.status).toMatchObject({ phase: "Pending", message: "needs 400Mi memory, 224Mi free of 1Gi allocatable" });
    const done = await Promise.all(["m1", "m2", "m3"].map((name) => lab.waitFor(name, finished, 15_000)));
    expect(done.map((o) => o.status.phase)).toEqual(["Succeeded", "Succeeded", "Succeeded"]);
    const spans = done.map((o) => span(lab, o.metadata.name, o.status.run!)).sort((a, b) => a[0] - b[0]);
    expect(mostAtOnce(spans)).toBe(2);
    // The third started only once one of the first two had ended.
    expect(spans[2]![0]).toBeGreaterThanOrEqual(Math.min(spans[0]![1], spans[1]![1]));
  });

  it("starts the higher priority first when room frees up, whatever the order they came in", async () => {
    lab = new DaemonLab();
    await lab.start({ allocatableMemoryBytes: 512 * Mi });
    lab.write("blocker.yaml", job("blocker", `${timed(1)}\nresources:\n  memory: 512Mi`));
    await lab.waitFor("blocker", (o) => o.status.phase === "Running");
    lab.write("low.yaml", job("low", `${timed(0.5)}\nresources:\n  memory: 512Mi`));
    await lab.waitFor("low", (o) => o.status.reason === "Unschedulable");
    lab.write("high.yaml", job("high", `${timed(0.5)}\nresources:\n  memory: 512Mi\npriority: 10`));
    const high = await lab.waitFor("high", (o) => o.status.reason === "Unschedulable");
    expect(high.status.message).toBe("needs 512Mi memory, 0 free of 512Mi allocatable");
    const [low, done] = await Promise.all([lab.waitFor("low", finished, 10_000), lab.waitFor("high", finished, 10_000)]);
    expect(span(lab, "high", done.status.run!)[1]).toBeLessThanOrEqual(span(lab, "low", low.status.run!)[0]);
  });
});

describe("exclusive CPUs", () => {
  it("two jobs get disjoint CPUs (seen from inside), a third waits Unschedulable and then gets a freed one", async () => {
    lab = new DaemonLab();
    await lab.start();
    const cpus = "grep Cpus_allowed_list /proc/self/status; ";
    for (const name of ["x1", "x2"]) lab.write(`${name}.yaml`, job(name, `${timed(1.5, cpus)}\nresources:\n  exclusiveCpus: 1`));
    const running = await Promise.all(["x1", "x2"].map((name) => lab.waitFor(name, (o) => o.status.phase === "Running")));
    expect(running.map((o) => o.status.cpus).sort()).toEqual(["0", "1"]);
    lab.write("x3.yaml", job("x3", `${timed(0, cpus)}\nresources:\n  exclusiveCpus: 1`));
    const waiting = await lab.waitFor("x3", (o) => o.status.reason === "Unschedulable");
    expect(waiting.status.message).toMatch(/needs 1 exclusive CPU, 0 free of 2 \(0-1\); held exclusively by 'x1', 'x2'/);
    const done = await Promise.all(["x1", "x2", "x3"].map((name) => lab.waitFor(name, finished, 10_000)));
    const seen = done.map((o) => /Cpus_allowed_list:\s*(\S+)/.exec(lab.log(o.metadata.name, o.status.run!))?.[1]);
    expect(seen.slice(0, 2).sort()).toEqual(["0", "1"]);
    expect(["0", "1"]).toContain(seen[2]);
    expect(done.map((o) => o.status.cpus)).toEqual([undefined, undefined, undefined]);
    expect(done.map((o) => o.status.runs?.[0]?.cpus)).toEqual([seen[0], seen[1], seen[2]]);
  });
});
