/**
 * The joblet row: one JobSpec per run through the isolation engine's public
 * entry point, hardened like the OCI bundle the runtimes get.
 */
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { JobHandle, JobSpec, RootfsPlan } from "../../src/isolation/index.js";
import { SkipPeer, type BenchContext, type Peer, type Runner } from "./peers.js";

type Engine = typeof import("../../src/isolation/index.js");

const MIB = 1024 * 1024;

/**
 * Imported lazily (still typed), so that an engine that is not built yet -
 * its native addon or supervisor missing - skips this row instead of taking
 * the other peers down with it.
 */
async function importEngine(): Promise<Engine> {
  try {
    return await import("../../src/isolation/index.js");
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new SkipPeer(`not built yet (${reason}); build with: npm run build`);
  }
}

export const joblet: Peer = jobletPeer("joblet", "joblet", "minimalHostRoot()", async (engine) => engine.minimalHostRoot());

/**
 * The same job on a runtime: /bin/true from a `host` runtime built for the
 * benchmark, or, with JOBLET_BENCH_RUNTIME=<installed build dir> (e.g. a
 * built python-3.11-ml under <state>/runtimes/), on that runtime's tree.
 * Issue 5's target: at most 1.2x the joblet row.
 */
export const jobletRuntime: Peer = jobletPeer("joblet-runtime", "joblet on a runtime", "a runtime's tree", async (_engine, ctx) => {
  const { runtimeRoot } = await import("../../src/runtimes/job-root.js");
  const { readBuildRecord } = await import("../../src/runtimes/installed.js");
  let buildPath = process.env.JOBLET_BENCH_RUNTIME;
  if (!buildPath) {
    const { buildRuntime } = await import("../../src/runtimes/build.js");
    const { resolveLayout, ensureLayout } = await import("../../src/store/index.js");
    const layout = resolveLayout({ stateDir: join(ctx.tmpBase, "state") });
    await ensureLayout(layout);
    const spec = { source: { host: { binaries: ["true"] } } };
    const build = await buildRuntime(layout, "bench", spec as never, "bench0000000000000000", {
      log: () => undefined,
      progress: () => undefined,
      signal: new AbortController().signal,
    });
    buildPath = build.path;
  }
  const record = await readBuildRecord(buildPath);
  if (!record) throw new SkipPeer(`${buildPath} is not an installed runtime build (no build.json)`);
  const root = runtimeRoot(record.path, record.config, "/usr/bin:/bin");
  return { readOnly: root.readOnly, symlinks: root.symlinks };
});

/** The benchmark's job: /bin/true, limited like the OCI bundle the runtimes get. */
export function benchJobSpec(id: string, runDir: string, rootfs: RootfsPlan): JobSpec {
  return {
    id,
    argv: ["/bin/true"],
    env: { PATH: "/usr/bin:/bin" },
    rootfs: { ...rootfs, readOnly: [...rootfs.readOnly], ...(rootfs.symlinks ? { symlinks: [...rootfs.symlinks] } : {}) },
    limits: { cpu: 1, memoryBytes: 256 * MIB, pids: 64 },
    logs: { stdout: join(runDir, "stdout.log"), stderr: join(runDir, "stderr.log") },
    runDir,
  };
}

function jobletPeer(name: string, label: string, rootLabel: string, rootfsFor: (engine: Engine, ctx: BenchContext) => Promise<RootfsPlan>): Peer {
  return {
  name,
  label,
  async prepare(ctx: BenchContext): Promise<Runner> {
    const engine = await importEngine();
    const rootfs = await rootfsFor(engine, ctx);
    const runsBase = join(ctx.tmpBase, `${name}-runs`);
    await mkdir(runsBase, { recursive: true, mode: 0o700 });

    const specFor = (tag: number | string, runDir: string): JobSpec => benchJobSpec(`bench-${process.pid}-${name}-${tag}`, runDir, rootfs);

    let inFlight: JobHandle | undefined;
    ctx.cleanup.push("stop the in-flight joblet job", async () => {
      if (!inFlight) return;
      inFlight.kill();
      await inFlight.wait().catch(() => undefined);
    });

    // Untimed probe, so a broken engine is reported with the job's own stderr.
    const probeDir = join(runsBase, "probe");
    await mkdir(probeDir);
    const probeSpec = specFor("probe", probeDir);
    inFlight = await engine.spawnJob(probeSpec);
    const exit = await inFlight.wait();
    inFlight = undefined;
    if (exit.exitCode !== 0) {
      const stderr = await readFile(probeSpec.logs.stderr, "utf8").catch(() => "(no stderr log)");
      throw new Error(`joblet probe job exited with ${exit.exitCode ?? exit.signal}: ${stderr.trim() || "(empty stderr)"}`);
    }

    return {
      command: `spawnJob({argv: ["/bin/true"], rootfs: ${rootLabel}, cpu 1, memory 256 MiB, pids 64}) then wait()`,
      notes: ["per run: spawnJob (which makes the run dir) + wait, inside the timed region"],
      viaNsenter: false,
      stop: () => inFlight?.kill(),
      async once(seq) {
        const runDir = join(runsBase, String(seq));
        inFlight = await engine.spawnJob(specFor(seq, runDir));
        const result = await inFlight.wait();
        inFlight = undefined;
        if (result.exitCode !== 0) throw new Error(`joblet run ${seq} exited with ${result.exitCode ?? result.signal}`);
      },
    };
  },
};
}
