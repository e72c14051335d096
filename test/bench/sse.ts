/**
 * One follower of a Job's log over SSE, in MB/s of the job's raw bytes received (issue 7's
 * target: 200 MB/s). The server runs in a process of its own, as the daemon does; the
 * follower decodes every chunk: the test's SSE client (parse and decode only), and the
 * CLI's own log reader (`joblet logs -f`: its API client, parser and resume logic).
 *
 *   history  a finished run's 200 MB stdout.log, from the request to the `end` event
 *   live     a follower connected before a writer process appends 200 MB in 64 KiB
 *            writes (pipe-sized, as the supervisor writes), from the first byte received
 *            to the last; the run is marked finished once the writer is done
 *
 * Over the real HTTPS API server (mutual TLS, certificates from `joblet certs init`, the
 * follower holding the viewer's), and the handlers alone on plain HTTP to show what TLS
 * costs. Besides MB/s on the clock, the server's MB per CPU second: what one core can
 * serve, which a busy host distorts less.
 *
 * The state dir holds what the daemon would: the Job's status file naming the run, and
 * the run's log files; only the appending is done by a plain process instead of a job
 * (and no controller runs: it would remove a Job that has no manifest).
 *
 *   npm run build && node dist/test/bench/sse.js [--mb 200] [--runs 3]
 */
import { type ChildProcess, execFileSync, fork } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { pino } from "pino";
import { ApiClient } from "../../src/client/api-client.js";
import { readLog } from "../../src/client/log-stream.js";
import { packageRoot } from "../../src/package-root.js";
import { startApiServer } from "../../src/server/server.js";
import { FileStatusStore, resolveLayout, runLogPaths, type StateLayout } from "../../src/store/index.js";
import { openSse, type SseOptions, streamServer } from "../helpers/sse.js";

const TARGET_MB_PER_S = 200;
const MB = 1_000_000;
const WRITE = 64 * 1024;
const self = fileURLToPath(import.meta.url);

async function setPhase(layout: StateLayout, run: string, phase: "Running" | "Succeeded"): Promise<void> {
  const status = { phase, run, attempts: 1, conditions: [], ...(phase === "Succeeded" ? { exitCode: 0 } : {}) };
  await new FileStatusStore(layout).write("Job", "bench", {
    apiVersion: "joblet/v1",
    kind: "Job",
    metadata: { name: "bench", generation: "0123456789abcdef" },
    spec: { command: ["bench"] },
    status,
  });
}

/** Appends `bytes` of random data to `path` in pipe-sized writes, from 8 MiB of pattern. */
function append(path: string, bytes: number, seed: Buffer): string {
  const hash = createHash("sha256");
  const fd = openSync(path, "a");
  try {
    for (let done = 0; done < bytes; ) {
      const n = Math.min(WRITE, bytes - done);
      const from = done % (seed.length - WRITE);
      const block = seed.subarray(from, from + n);
      writeSync(fd, block);
      hash.update(block);
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest("hex");
}

interface Followed {
  bytes: number;
  seconds: number;
  sha256: string;
}

/** A follower: takes every chunk of the run's stdout until the end, calling `take` with each. */
type Follower = (url: string, run: string, take: (chunk: Buffer) => void) => Promise<void>;

/** The test's SSE client: parses events and decodes each chunk, nothing more. */
function sseFollower(options: SseOptions): Follower {
  return async (url, run, take) => {
    const stream = await openSse(`${url}/apis/joblet/v1/jobs/bench/log?follow=true&stream=stdout&run=${run}`, options);
    if (stream.status !== 200) throw new Error(`Cannot follow the log: ${stream.status} ${stream.body}`);
    try {
      for await (const event of stream.events) {
        if (event.event === "stdout") take(Buffer.from(event.data, "base64"));
        else if (event.event === "end") return;
      }
    } finally {
      stream.close();
    }
  };
}

/** What `joblet logs -f` runs against a server: the CLI's API client and its resuming log reader. */
function cliFollower(tlsDir: string): Follower {
  return async (url, run, take) => {
    const client = await ApiClient.connect({ server: url, cert: join(tlsDir, "clients/viewer.crt"), key: join(tlsDir, "clients/viewer.key"), ca: join(tlsDir, "ca.crt") });
    try {
      const outcome = await readLog(client, { name: "bench", run, stream: "stdout", follow: true }, (_, bytes) => take(bytes));
      if (outcome.kind !== "end") throw new Error(`The CLI's log reader ended with ${outcome.kind}`);
    } finally {
      client.close();
    }
  };
}

/**
 * Follows the log: the bytes' count, the seconds from the first byte (or the request) to
 * the end, and their hash, taken after the clock stops (checking is not the client's work).
 */
async function follow(follower: Follower, url: string, run: string, fromRequest: boolean): Promise<Followed> {
  const requested = performance.now();
  const chunks: Buffer[] = [];
  let bytes = 0;
  let first = requested;
  await follower(url, run, (chunk) => {
    if (bytes === 0 && !fromRequest) first = performance.now();
    chunks.push(chunk);
    bytes += chunk.length;
  });
  const seconds = (performance.now() - first) / 1000;
  const hash = createHash("sha256");
  for (const chunk of chunks) hash.update(chunk);
  return { bytes, seconds, sha256: hash.digest("hex") };
}

/** The server half, on loopback over the state dir: the HTTPS API server with `tlsDir`'s certificates, or the handlers alone on HTTP. */
async function serve(stateDir: string, tlsDir?: string): Promise<void> {
  const layout = resolveLayout({ stateDir });
  if (tlsDir === undefined) {
    const server = await streamServer(layout);
    process.send!({ url: server.url });
    process.on("disconnect", () => void server.close().then(() => process.exit(0)));
    return;
  }
  const server = await startApiServer({ layout, tlsDir, host: "127.0.0.1", port: 0, logger: pino({ level: "silent" }) });
  process.send!({ url: `https://localhost:${server.port}` });
  process.on("disconnect", () => void server.close().then(() => process.exit(0)));
}

/** The writer half: appends, then reports the hash of what it wrote. */
function write(path: string, bytes: number): void {
  const sha256 = append(path, bytes, randomBytes(8 * 1024 * 1024));
  process.send!({ sha256 }, () => process.exit(0));
}

function child(args: string[]): { proc: ChildProcess; message: Promise<Record<string, string>> } {
  const proc = fork(self, args, { stdio: "inherit" });
  const message = new Promise<Record<string, string>>((resolve, reject) => {
    proc.once("message", (m) => resolve(m as Record<string, string>));
    proc.once("exit", (code) => reject(new Error(`${args[0]} process exited with ${code} before reporting`)));
  });
  return { proc, message };
}

/** CPU seconds a process has used (user + system), from /proc: the server is a child. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

function rate(bytes: number, seconds: number): number {
  return bytes / MB / seconds;
}

interface Transport {
  name: string;
  serverArgs: string[];
  follower: Follower;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { mb: { type: "string", default: "200" }, runs: { type: "string", default: "3" } } });
  const bytes = Number(values.mb) * MB;
  const runs = Number(values.runs);
  const stateDir = mkdtempSync(join(tmpdir(), "joblet-bench-sse-"));
  const layout = resolveLayout({ stateDir });
  const tlsDir = join(stateDir, "tls");
  try {
    execFileSync(process.execPath, [join(packageRoot, "bin/joblet.js"), "certs", "init", "--dir", tlsDir], { stdio: "ignore" });
    const viewer = (file: string) => readFileSync(join(tlsDir, file));
    const transports: Transport[] = [
      { name: "https", serverArgs: ["--serve", stateDir, tlsDir], follower: sseFollower({ tls: { ca: viewer("ca.crt"), cert: viewer("clients/viewer.crt"), key: viewer("clients/viewer.key") } }) },
      { name: "https+cli", serverArgs: ["--serve", stateDir, tlsDir], follower: cliFollower(tlsDir) },
      { name: "http", serverArgs: ["--serve", stateDir], follower: sseFollower({}) },
    ];
    console.log(`SSE log follower, ${values.mb} MB per run, ${runs} runs each; server in its own process, on loopback`);
    for (const transport of transports) await measure(transport, layout, bytes, runs);
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
}

async function measure(transport: Transport, layout: StateLayout, bytes: number, runs: number): Promise<void> {
  const server = child(transport.serverArgs);
  try {
    const { url } = await server.message;
    const pid = server.proc.pid!;
    // Per mode: MB/s on the clock, and MB per CPU second of the server (what one core could serve, however busy the host).
    const results: Record<string, { wall: number[]; perCpu: number[] }> = { history: { wall: [], perCpu: [] }, live: { wall: [], perCpu: [] } };
    for (let i = 1; i <= runs; i++) {
      // History: the whole file is there and the run is over.
      const run = `${transport.name}-hist-${i}`;
      const paths = runLogPaths(layout, "bench", run);
      mkdirSync(paths.dir, { recursive: true });
      const written = append(paths.stdout, bytes, randomBytes(8 * 1024 * 1024));
      await setPhase(layout, run, "Succeeded");
      let cpu = cpuSeconds(pid);
      const history = await follow(transport.follower, url!, run, true);
      results.history!.perCpu.push(rate(history.bytes, cpuSeconds(pid) - cpu));
      check(history, bytes, written);
      results.history!.wall.push(rate(history.bytes, history.seconds));
      rmSync(paths.dir, { recursive: true });

      // Live: following before the first byte is written.
      const liveRun = `${transport.name}-live-${i}`;
      const live = runLogPaths(layout, "bench", liveRun);
      mkdirSync(live.dir, { recursive: true });
      await setPhase(layout, liveRun, "Running");
      const received = follow(transport.follower, url!, liveRun, false);
      await new Promise((r) => setTimeout(r, 200)); // connected and waiting
      cpu = cpuSeconds(pid);
      const writer = child(["--write", live.stdout, String(bytes)]);
      const { sha256 } = await writer.message;
      await setPhase(layout, liveRun, "Succeeded");
      const got = await received;
      results.live!.perCpu.push(rate(got.bytes, cpuSeconds(pid) - cpu));
      check(got, bytes, sha256!);
      results.live!.wall.push(rate(got.bytes, got.seconds));
      rmSync(live.dir, { recursive: true });
    }
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;
    const list = (values: number[]) => values.map((v) => v.toFixed(0)).join(", ");
    for (const [name, { wall, perCpu }] of Object.entries(results)) {
      const verdict = median(wall) >= TARGET_MB_PER_S ? "meets" : "MISSES";
      console.log(`${transport.name.padEnd(9)} ${name.padEnd(8)} median ${median(wall).toFixed(0)} MB/s (runs: ${list(wall)}) ${verdict} the ${TARGET_MB_PER_S} MB/s target`);
      console.log(`${"".padEnd(18)} server: ${median(perCpu).toFixed(0)} MB per CPU second (runs: ${list(perCpu)})`);
    }
  } finally {
    server.proc.disconnect();
  }
}

function check(got: { bytes: number; sha256: string }, bytes: number, sha256: string): void {
  if (got.bytes !== bytes || got.sha256 !== sha256) throw new Error(`The follower received ${got.bytes} bytes (sha256 ${got.sha256}), not the ${bytes} written (${sha256})`);
}

const [mode, ...rest] = process.argv.slice(2);
if (mode === "--serve") void serve(rest[0]!, rest[1]);
else if (mode === "--write") write(rest[0]!, Number(rest[1]));
else await main();
