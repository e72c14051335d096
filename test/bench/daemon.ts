/**
 * The declarative core's speed (issue 4), against a real daemon in this
 * process over a temporary state dir:
 *   1. manifest written -> status Running, one Job at a time: p50 and p99
 *   2. 1,000 trivial Jobs written at once -> all Succeeded: jobs/s
 *   3. daemon start over 10,000 finished Jobs -> steady (nothing re-run): seconds and resident memory
 *   4. (issue 6) manifest written -> Running for the same Job with network none and on a
 *      Network, alternating: medians and their difference. Runs in a network namespace of
 *      its own (unshare --net), so the bridge, veths and nft table never touch the host's.
 * Run: npm run build && node dist/test/bench/daemon.js [--only latency,burst,restart,network]
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, watch, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { generation } from "../../src/api/index.js";
import { startDaemon } from "../../src/daemon/daemon.js";
import { summarize } from "./stats.js";

const onlyAt = process.argv.indexOf("--only");
const only = (onlyAt > 0 ? process.argv[onlyAt + 1]! : "latency,burst,restart,network").split(",");
const quiet = pino({ level: "silent" });

function manifest(name: string, command: string[], network?: string): string {
  return `apiVersion: joblet/v1\nkind: Job\nmetadata:\n  name: ${name}\nspec:\n  command: ${JSON.stringify(command)}\n${network ? `  network: ${network}\n` : ""}`;
}

function write(dir: string, file: string, text: string): void {
  writeFileSync(join(dir, `${file}.tmp`), text);
  renameSync(join(dir, `${file}.tmp`), join(dir, file));
}

function phase(stateDir: string, name: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(stateDir, "status/jobs", `${name}.json`), "utf8")) as { status: { phase: string } }).status.phase;
  } catch {
    return undefined;
  }
}

/** Resolves when the Job's status says `want`, woken by the status dir changing (no polling delay). */
function whenPhase(stateDir: string, name: string, want: string): Promise<void> {
  const dir = join(stateDir, "status/jobs");
  mkdirSync(dir, { recursive: true });
  return new Promise((resolve) => {
    const check = () => {
      if (phase(stateDir, name) !== want) return false;
      watcher.close();
      resolve();
      return true;
    };
    const watcher = watch(dir, check);
    check();
  });
}

async function latency(): Promise<void> {
  const stateDir = mkdtempSync(join(tmpdir(), "joblet-bench-daemon-"));
  const manifests = join(stateDir, "manifests");
  mkdirSync(manifests, { recursive: true });
  const daemon = await startDaemon({ stateDir, logger: quiet, gracePeriodMs: 100 });
  try {
    const ns: number[] = [];
    for (let i = 0; i < 220; i++) {
      const name = `lat-${i}`;
      const running = whenPhase(stateDir, name, "Running");
      const t0 = process.hrtime.bigint();
      write(manifests, `${name}.yaml`, manifest(name, ["sleep", "0.05"]));
      await running;
      if (i >= 20) ns.push(Number(process.hrtime.bigint() - t0));
    }
    const s = summarize(ns);
    console.log(`manifest written -> Running (200 Jobs, one at a time): p50 ${s.medianMs.toFixed(2)} ms, p99 ${s.p99Ms.toFixed(2)} ms (targets: p50 <= 15 ms, p99 <= 50 ms)`);
  } finally {
    await daemon.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

async function burst(): Promise<void> {
  const stateDir = mkdtempSync(join(tmpdir(), "joblet-bench-daemon-"));
  const manifests = join(stateDir, "manifests");
  mkdirSync(manifests, { recursive: true });
  const daemon = await startDaemon({ stateDir, logger: quiet });
  try {
    const t0 = Date.now();
    for (let i = 0; i < 1000; i++) write(manifests, `b-${i}.yaml`, manifest(`b-${i}`, ["true"]));
    for (;;) {
      await new Promise((r) => setTimeout(r, 50));
      let succeeded = 0;
      for (let i = 0; i < 1000; i++) if (phase(stateDir, `b-${i}`) === "Succeeded") succeeded++;
      if (succeeded === 1000 && daemon.pending() === 0) break;
    }
    const seconds = (Date.now() - t0) / 1000;
    console.log(`1,000 Jobs written at once -> all Succeeded: ${seconds.toFixed(2)} s, ${(1000 / seconds).toFixed(0)} jobs/s (target >= 100 jobs/s)`);
  } finally {
    await daemon.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

async function restart(): Promise<void> {
  const stateDir = mkdtempSync(join(tmpdir(), "joblet-bench-daemon-"));
  const manifests = join(stateDir, "manifests");
  const statusDir = join(stateDir, "status/jobs");
  mkdirSync(manifests, { recursive: true });
  mkdirSync(statusDir, { recursive: true });
  // 10,000 Jobs that finished under an earlier daemon: manifest + status of the same generation.
  const command = ["true"];
  const gen = generation({ command });
  for (let i = 0; i < 10_000; i++) {
    const name = `done-${i}`;
    writeFileSync(join(manifests, `${name}.yaml`), manifest(name, command));
    // As the Job controller left it: Ready and Complete conditions, source file.
    const at = new Date().toISOString();
    const conditions = [
      { type: "Ready", status: "True", reason: "Valid", message: `From ${name}.yaml`, lastTransitionTime: at },
      { type: "Complete", status: "True", reason: "Completed", message: `Run ${gen.slice(0, 8)}-1 exited with code 0`, lastTransitionTime: at },
    ];
    const status = { phase: "Succeeded", attempts: 1, exitCode: 0, run: `${gen.slice(0, 8)}-1`, observedGeneration: gen, conditions, source: { file: `${name}.yaml` }, startTime: at, completionTime: at };
    writeFileSync(join(statusDir, `${name}.json`), JSON.stringify({ apiVersion: "joblet/v1", kind: "Job", metadata: { name, generation: gen }, spec: { command }, status }));
  }
  // A first daemon settles them and writes their statuses its own way, as the
  // daemon before a restart would have; the second start is the one timed.
  const first = await startDaemon({ stateDir, logger: quiet });
  while (first.pending() > 0) await new Promise((r) => setTimeout(r, 20));
  await first.stop();
  const t0 = Date.now();
  const daemon = await startDaemon({ stateDir, logger: quiet });
  try {
    while (daemon.pending() > 0) await new Promise((r) => setTimeout(r, 20));
    const seconds = (Date.now() - t0) / 1000;
    const rss = process.memoryUsage().rss / 2 ** 20;
    const reran = existsSync(join(stateDir, "logs/jobs")) ? readdirSync(join(stateDir, "logs/jobs")).length : 0;
    console.log(`daemon start over 10,000 finished Jobs: steady in ${seconds.toFixed(2)} s, ${reran} re-run, resident memory ${rss.toFixed(0)} MiB (targets: <= 10 s, nothing re-run, <= 300 MB)`);
  } finally {
    await daemon.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

/** Re-runs this benchmark's network part in a fresh network namespace, where it may make bridges. */
function network(): void {
  const result = spawnSync("unshare", ["--net", "--", process.execPath, process.argv[1]!, "--only", "network-in-namespace"], { stdio: "inherit" });
  if (result.status !== 0) throw new Error(`the network benchmark failed (${result.error?.message ?? `exit ${result.status}`})`);
}

async function networkInNamespace(): Promise<void> {
  const stateDir = mkdtempSync(join(tmpdir(), "joblet-bench-daemon-"));
  const manifests = join(stateDir, "manifests");
  mkdirSync(manifests, { recursive: true });
  const daemon = await startDaemon({ stateDir, logger: quiet, gracePeriodMs: 100 });
  try {
    write(manifests, "net.yaml", "apiVersion: joblet/v1\nkind: Network\nmetadata:\n  name: bench\nspec:\n  cidr: 10.99.0.0/16\n");
    const bare: number[] = [];
    const networked: number[] = [];
    for (let i = 0; i < 220; i++) {
      for (const on of [undefined, "bench"]) {
        const name = `${on ? "net" : "none"}-${i}`;
        const running = whenPhase(stateDir, name, "Running");
        const t0 = process.hrtime.bigint();
        write(manifests, `${name}.yaml`, manifest(name, ["sleep", "0.05"], on));
        await running;
        if (i >= 20) (on ? networked : bare).push(Number(process.hrtime.bigint() - t0));
      }
    }
    const none = summarize(bare);
    const net = summarize(networked);
    const extra = net.medianMs - none.medianMs;
    console.log(
      `manifest written -> Running, network none vs a Network (200 each, alternating): p50 ${none.medianMs.toFixed(2)} ms vs ${net.medianMs.toFixed(2)} ms, ` +
        `+${extra.toFixed(2)} ms (target <= +3 ms); p99 ${none.p99Ms.toFixed(2)} ms vs ${net.p99Ms.toFixed(2)} ms`,
    );
    for (const file of readdirSync(manifests)) rmSync(join(manifests, file));
    while (existsSync(join(stateDir, "status/networks/bench.json")) || daemon.pending() > 0) await new Promise((r) => setTimeout(r, 50));
  } finally {
    await daemon.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

if (process.getuid?.() !== 0) throw new Error("The daemon benchmark runs jobs: run it as root");
if (only.includes("latency")) await latency();
if (only.includes("burst")) await burst();
if (only.includes("restart")) await restart();
if (only.includes("network")) network();
if (only.includes("network-in-namespace")) await networkInNamespace();
process.exit(0);
