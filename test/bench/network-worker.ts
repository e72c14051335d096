/**
 * The joblet-network row's engine, run by that row as
 *   unshare --net -- node dist/test/bench/network-worker.js RUNS_DIR
 * so its bridge and veths live in a network namespace made for the benchmark
 * alone and the host's networking is never touched. It makes the bridge,
 * probes one job, prints "ready", then answers one line per request on stdin:
 *
 *   run SEQ       spawn /bin/true with a veth on the bridge, wait  -> "ok" | "error MESSAGE"
 *   compare N     N pairs of the same job without and with a network, each
 *                 timed here to spawnJob's resolve (start) and to the exit
 *                 -> "compare {JSON}"
 *
 * and on EOF stops any job in flight and exits (the namespace goes with it).
 */
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { ensureBridge, minimalHostRoot, spawnJob, type JobHandle, type NetworkAttachment } from "../../src/isolation/index.js";
import { benchJobSpec } from "./joblet.js";
import { summarize } from "./stats.js";

const BRIDGE = "jbbr0";
const runsDir = process.argv[2] as string;
const rootfs = minimalHostRoot();
let inFlight: JobHandle | undefined;

/** One job at a time, so a host address can be reused round-robin and names never collide. */
function attachment(seq: number): NetworkAttachment {
  return { hostInterface: `jbv${seq}`, bridge: BRIDGE, address: `10.213.0.${2 + (seq % 250)}`, prefix: 24, gateway: "10.213.0.1" };
}

/** Runs one job; ms to spawnJob's resolve and to the exit. */
async function runJob(tag: string, network: NetworkAttachment | undefined): Promise<{ startMs: number; totalMs: number }> {
  const runDir = join(runsDir, tag);
  const spec = { ...benchJobSpec(`bench-${process.pid}-net-${tag}`, runDir, rootfs), ...(network ? { network } : {}) };
  const t0 = process.hrtime.bigint();
  inFlight = await spawnJob(spec);
  const started = process.hrtime.bigint();
  const exit = await inFlight.wait();
  const ended = process.hrtime.bigint();
  inFlight = undefined;
  if (exit.exitCode !== 0) {
    const stderr = await readFile(spec.logs.stderr, "utf8").catch(() => "");
    throw new Error(`job ${tag} exited with ${exit.exitCode ?? exit.signal}: ${stderr.trim() || "(empty stderr)"}`);
  }
  return { startMs: Number(started - t0) / 1e6, totalMs: Number(ended - t0) / 1e6 };
}

let seq = 0;
async function compare(pairs: number) {
  const samples = { none: { start: [] as number[], total: [] as number[] }, network: { start: [] as number[], total: [] as number[] } };
  for (let i = 0; i < pairs; i++) {
    // Alternating, so drift on the host weighs on both the same.
    for (const mode of ["none", "network"] as const) {
      const n = seq++;
      const r = await runJob(`c${n}`, mode === "network" ? attachment(n) : undefined);
      samples[mode].start.push(r.startMs);
      samples[mode].total.push(r.totalMs);
    }
  }
  const median = (ms: number[]) => summarize(ms.map((x) => x * 1e6)).medianMs;
  return {
    pairs,
    startMedianMs: { none: median(samples.none.start), network: median(samples.network.start) },
    exitMedianMs: { none: median(samples.none.total), network: median(samples.network.total) },
  };
}

async function main() {
  await mkdir(runsDir, { recursive: true, mode: 0o700 });
  ensureBridge(BRIDGE, "10.213.0.1", 24);
  await runJob("probe", attachment(seq++));
  process.stdout.write("ready\n");
  for await (const line of createInterface({ input: process.stdin })) {
    const [verb, arg] = line.split(" ");
    try {
      if (verb === "run") {
        await runJob(`r${arg}`, attachment(seq++));
        process.stdout.write("ok\n");
      } else if (verb === "compare") {
        process.stdout.write(`compare ${JSON.stringify(await compare(Number(arg)))}\n`);
      } else {
        process.stdout.write(`error unknown request '${line}'\n`);
      }
    } catch (err) {
      process.stdout.write(`error ${(err instanceof Error ? err.message : String(err)).replace(/\n/g, " ")}\n`);
    }
  }
}

main()
  .catch((err: unknown) => process.stdout.write(`error ${err instanceof Error ? err.message : String(err)}\n`))
  .finally(async () => {
    if (inFlight) {
      inFlight.kill();
      await inFlight.wait().catch(() => undefined);
    }
    process.exit(0);
  });
