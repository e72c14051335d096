/**
 * The scheduler's speed (issue 8):
 *   1. admission decisions with 10,000 jobs waiting for capacity: a decision
 *      for a job at the back of the queue (the worst case: every job ahead is
 *      summed), one at a random place, an admission that takes a job out of the
 *      queue, and the wake pass after a run ends (target: <= 1 ms per decision)
 *   2. timer-driven starts, with a real daemon: Jobs with startAt times 100 ms
 *      apart; from each due time to the job's first instruction, by the job's
 *      own clock (`date +%s%N`), and to the controller's decision (status.startTime)
 *      (target: within 50 ms)
 * Run: npm run build && node dist/test/bench/scheduler.js [--only admission,timer]
 */
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { startDaemon } from "../../src/daemon/daemon.js";
import { Admission, type ResourceRequest } from "../../src/scheduler/index.js";
import { summarize, type Summary } from "./stats.js";

const onlyAt = process.argv.indexOf("--only");
const only = (onlyAt > 0 ? process.argv[onlyAt + 1]! : "admission,timer").split(",");
const Gi = 1024 ** 3;
const Mi = 1024 ** 2;
const QUEUED = 10_000;

const line = (what: string, s: Summary) =>
  `${what}: p50 ${(s.medianMs * 1000).toFixed(1)} µs, p99 ${(s.p99Ms * 1000).toFixed(1)} µs, max ${(s.maxMs * 1000).toFixed(1)} µs (target <= 1 ms)`;

/** A node that is full, and 10,000 jobs of mixed priorities waiting in its queue. */
function fullQueue(): { admission: Admission; names: string[]; request: (i: number) => ResourceRequest; order: (i: number) => { priority: number; since: number } } {
  const admission = new Admission({ cpu: 64, memoryBytes: 256 * Gi, cpus: Array.from({ length: 64 }, (_, i) => i) }, { agingMs: 60_000, wake: () => undefined });
  admission.hold("filler/1", "filler", { cpu: 64, memoryBytes: 256 * Gi, exclusiveCpus: 0 });
  const request = (i: number): ResourceRequest => ({ cpu: 0.5, memoryBytes: (64 + (i % 512)) * Mi, exclusiveCpus: i % 10 === 0 ? 1 : 0 });
  const order = (i: number) => ({ priority: i % 7, since: 1_700_000_000_000 + i * 13 });
  const names = Array.from({ length: QUEUED }, (_, i) => `job-${i}`);
  names.forEach((name, i) => admission.enqueue(name, request(i), order(i)));
  return { admission, names, request, order };
}

function timeEach(n: number, decide: (i: number) => void): Summary {
  const ns: number[] = [];
  for (let i = 0; i < n + 100; i++) {
    const t0 = process.hrtime.bigint();
    decide(i);
    if (i >= 100) ns.push(Number(process.hrtime.bigint() - t0));
  }
  return summarize(ns);
}

function admission(): void {
  const { admission, names, request, order } = fullQueue();
  const back = admission.queuedNames().at(-1)!;
  const backIndex = names.indexOf(back);
  console.log(line(`admission decision, ${QUEUED} queued, job at the back (waits)`, timeEach(2000, () => admission.admit(back, "x", request(backIndex), order(backIndex)))));
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % QUEUED;
  console.log(
    line(
      `admission decision, ${QUEUED} queued, job at a random place (waits)`,
      timeEach(2000, () => {
        const i = random();
        admission.admit(names[i]!, "x", request(i), order(i));
      }),
    ),
  );
  console.log(line(`wake pass after a run ends, ${QUEUED} queued`, timeEach(2000, () => admission.admittable())));
  // Room for everyone: each decision admits the head and takes it out of the queue.
  const inOrder = admission.queuedNames().map((name) => Number(name.slice("job-".length)));
  admission.release("filler/1");
  console.log(
    line(
      `admission decision that admits the head, ~${QUEUED} queued`,
      timeEach(2000, (n) => {
        const i = inOrder[n]!;
        const head = names[i]!;
        const result = admission.admit(head, `${head}/1`, request(i), order(i));
        if (!result.ok) throw new Error(`the head was not admitted: ${result.message}`);
        admission.release(`${head}/1`, false);
      }),
    ),
  );
}

async function timer(): Promise<void> {
  const stateDir = mkdtempSync(join(tmpdir(), "joblet-bench-scheduler-"));
  const manifests = join(stateDir, "manifests");
  mkdirSync(manifests, { recursive: true });
  const daemon = await startDaemon({ stateDir, logger: pino({ level: "silent" }), gracePeriodMs: 100 });
  const count = 60;
  try {
    const first = Math.ceil((Date.now() + 2000) / 1000) * 1000;
    const due = Array.from({ length: count }, (_, i) => first + i * 100);
    due.forEach((at, i) => {
      const text = `apiVersion: joblet/v1\nkind: Job\nmetadata:\n  name: t-${i}\nspec:\n  command: ["date", "+%s%N"]\n  schedule:\n    startAt: "${new Date(at).toISOString()}"\n`;
      writeFileSync(join(manifests, `t-${i}.yaml.tmp`), text);
      renameSync(join(manifests, `t-${i}.yaml.tmp`), join(manifests, `t-${i}.yaml`));
    });
    const read = (i: number) => {
      try {
        return JSON.parse(readFileSync(join(stateDir, "status/jobs", `t-${i}.json`), "utf8")) as { status: { phase: string; run?: string; startTime?: string } };
      } catch {
        return undefined;
      }
    };
    while (due.some((_, i) => read(i)?.status.phase !== "Succeeded")) await new Promise((r) => setTimeout(r, 50));
    const exec: number[] = [];
    const decided: number[] = [];
    due.forEach((at, i) => {
      const status = read(i)!.status;
      const ns = BigInt(readFileSync(join(stateDir, "logs/jobs", `t-${i}`, status.run!, "stdout.log"), "utf8").trim());
      exec.push(Number(ns - BigInt(at) * 1_000_000n));
      decided.push((Date.parse(status.startTime!) - at) * 1e6);
    });
    const e = summarize(exec);
    const d = summarize(decided);
    console.log(
      `timer-driven start (${count} startAt Jobs, 100 ms apart): due time -> job running p50 ${e.medianMs.toFixed(1)} ms, p99 ${e.p99Ms.toFixed(1)} ms, max ${e.maxMs.toFixed(1)} ms, never early: ${e.minMs >= 0} ` +
        `(target <= 50 ms); due time -> controller's start decision p50 ${d.medianMs.toFixed(1)} ms, max ${d.maxMs.toFixed(1)} ms`,
    );
  } finally {
    await daemon.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

if (only.includes("admission")) admission();
if (only.includes("timer")) {
  if (process.getuid?.() !== 0) throw new Error("The timer benchmark runs jobs: run it as root");
  await timer();
}
process.exit(0);
