/**
 * The remote API's speed (issue 7): PUT of a Job over HTTPS (mutual TLS, a keep-alive
 * connection, as the CLI holds one) until its status says Running, against the same Job's
 * manifest written straight into the manifests dir (local `joblet apply`'s path), alternating,
 * 200 each after 20 of warm-up. The daemon and the client share this process, so the client's
 * TLS and JSON work counts against the API. Also the PUT's own round trip.
 * Run: npm run build && node dist/test/bench/api.js
 */
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, watch, writeFileSync } from "node:fs";
import { Agent, request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { startDaemon } from "../../src/daemon/daemon.js";
import { initCertificates } from "../../src/server/pki.js";
import { summarize } from "./stats.js";

const WARMUP = 20;
const RUNS = 200;

function manifest(name: string): string {
  return JSON.stringify({ apiVersion: "joblet/v1", kind: "Job", metadata: { name }, spec: { command: ["sleep", "0.05"] } });
}

function phase(stateDir: string, name: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(stateDir, "status/jobs", `${name}.json`), "utf8")) as { status: { phase: string } }).status.phase;
  } catch {
    return undefined;
  }
}

/** Resolves when the Job's status says Running, woken by the status dir changing. */
function whenRunning(stateDir: string, name: string): Promise<void> {
  const dir = join(stateDir, "status/jobs");
  mkdirSync(dir, { recursive: true });
  return new Promise((resolve) => {
    const check = () => {
      if (phase(stateDir, name) !== "Running") return;
      watcher.close();
      resolve();
    };
    const watcher = watch(dir, check);
    check();
  });
}

function put(agent: Agent, port: number, name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const body = manifest(name);
    const req = request(
      { host: "127.0.0.1", servername: "localhost", port, method: "PUT", path: `/apis/joblet/v1/jobs/${name}`, agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => (res.statusCode === 200 ? resolve() : reject(new Error(`PUT ${name}: ${res.statusCode} ${text}`))));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "joblet-bench-api-"));
  const stateDir = join(root, "state");
  const tlsDir = join(root, "tls");
  const manifests = join(stateDir, "manifests");
  mkdirSync(join(manifests, "local"), { recursive: true });
  await initCertificates({ dir: tlsDir });
  const daemon = await startDaemon({ stateDir, logger: pino({ level: "silent" }), gracePeriodMs: 100, listen: { host: "127.0.0.1", port: 0 }, tlsDir });
  const agent = new Agent({
    keepAlive: true,
    ca: readFileSync(join(tlsDir, "ca.crt")),
    cert: readFileSync(join(tlsDir, "clients/operator.crt")),
    key: readFileSync(join(tlsDir, "clients/operator.key")),
  });
  try {
    const port = daemon.api!.port;
    const remote: number[] = [];
    const local: number[] = [];
    const putOnly: number[] = [];
    for (let i = 0; i < WARMUP + RUNS; i++) {
      const viaApi = `api-${i}`;
      let running = whenRunning(stateDir, viaApi);
      let t0 = process.hrtime.bigint();
      await put(agent, port, viaApi);
      const answered = process.hrtime.bigint();
      await running;
      if (i >= WARMUP) {
        remote.push(Number(process.hrtime.bigint() - t0));
        putOnly.push(Number(answered - t0));
      }
      const viaFile = `file-${i}`;
      running = whenRunning(stateDir, viaFile);
      t0 = process.hrtime.bigint();
      const path = join(manifests, "local", `${viaFile}.json`);
      writeFileSync(`${path}.tmp`, manifest(viaFile));
      renameSync(`${path}.tmp`, path);
      await running;
      if (i >= WARMUP) local.push(Number(process.hrtime.bigint() - t0));
    }
    const api = summarize(remote);
    const file = summarize(local);
    const rtt = summarize(putOnly);
    console.log(`PUT over HTTPS -> Running (${RUNS} Jobs, one at a time): p50 ${api.medianMs.toFixed(2)} ms, p99 ${api.p99Ms.toFixed(2)} ms (target: p50 <= 20 ms)`);
    console.log(`manifest file written -> Running (same run, alternating): p50 ${file.medianMs.toFixed(2)} ms, p99 ${file.p99Ms.toFixed(2)} ms; API/file at p50 ${(api.medianMs / file.medianMs).toFixed(2)}x`);
    console.log(`PUT round trip alone: p50 ${rtt.medianMs.toFixed(2)} ms, p99 ${rtt.p99Ms.toFixed(2)} ms`);
  } finally {
    agent.destroy();
    await daemon.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
// The addon's helpers (fork server socket, namespace pool) would keep the loop alive.
process.exit(0);
