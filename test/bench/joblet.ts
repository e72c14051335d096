/**
 * The joblet row: one JobSpec per run through the isolation engine's public
 * entry point, hardened like the OCI bundle the runtimes get.
 */
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { BindMount, JobExit, JobSpec, RootfsPlan } from "../../src/isolation/spec.js";
import { SkipPeer, type BenchContext, type Peer, type Runner } from "./peers.js";

interface JobHandle {
  wait(): Promise<JobExit>;
}
interface IsolationModule {
  spawnJob(spec: JobSpec): Promise<JobHandle>;
}
interface HostRootModule {
  /** Announced as BindMount[]; a plan with its own symlinks is taken as well. */
  minimalHostRoot(): BindMount[] | RootfsPlan;
}

const MIB = 1024 * 1024;

/**
 * The job's root from minimalHostRoot(). When it gives bare binds, the host's
 * merged-usr links (/bin -> usr/bin...) that no bind covers are added, so that
 * argv "/bin/true" resolves as it does on the host.
 */
function rootfsFrom(hostRoot: BindMount[] | RootfsPlan, ctx: BenchContext): RootfsPlan {
  if (!Array.isArray(hostRoot)) return hostRoot;
  const bound = new Set(hostRoot.map((b) => b.target));
  const symlinks = ctx.usr.symlinks.filter(([path]) => !bound.has(path)).map(([path, target]) => ({ path, target }));
  return symlinks.length > 0 ? { readOnly: hostRoot, symlinks } : { readOnly: hostRoot };
}

/**
 * Imported by computed URL, so the rest of the benchmark builds and runs while
 * the engine is not there yet; the shapes are checked against spec.ts.
 */
async function importEngine(): Promise<{ isolation: IsolationModule; hostRoot: HostRootModule }> {
  const load = async (rel: string) => (await import(new URL(rel, import.meta.url).href)) as Record<string, unknown>;
  let isolation: Record<string, unknown>;
  let hostRoot: Record<string, unknown>;
  try {
    isolation = await load("../../src/isolation/index.js");
    hostRoot = await load("../../src/isolation/host-root.js");
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === "ERR_MODULE_NOT_FOUND") throw new SkipPeer(`not built yet (${e.message})`);
    throw err;
  }
  if (typeof isolation.spawnJob !== "function") throw new Error("src/isolation/index.js does not export spawnJob()");
  if (typeof hostRoot.minimalHostRoot !== "function") throw new Error("src/isolation/host-root.js does not export minimalHostRoot()");
  return { isolation: isolation as unknown as IsolationModule, hostRoot: hostRoot as unknown as HostRootModule };
}

export const joblet: Peer = {
  name: "joblet",
  label: "joblet",
  async prepare(ctx: BenchContext): Promise<Runner> {
    const { isolation, hostRoot } = await importEngine();
    const runsBase = join(ctx.tmpBase, "joblet-runs");
    await mkdir(runsBase, { recursive: true, mode: 0o700 });

    const specFor = (tag: number | string, runDir: string): JobSpec => ({
      id: `bench-${process.pid}-${tag}`,
      argv: ["/bin/true"],
      env: { PATH: "/usr/bin:/bin" },
      rootfs: rootfsFrom(hostRoot.minimalHostRoot(), ctx),
      limits: { cpu: 1, memoryBytes: 256 * MIB, pids: 64 },
      logs: { stdout: join(runDir, "stdout.log"), stderr: join(runDir, "stderr.log") },
      runDir,
    });

    // Untimed probe, so a broken engine is reported with the job's own stderr.
    const probeDir = join(runsBase, "probe");
    await mkdir(probeDir);
    const probeSpec = specFor("probe", probeDir);
    const exit = await (await isolation.spawnJob(probeSpec)).wait();
    if (exit.exitCode !== 0) {
      const stderr = await readFile(probeSpec.logs.stderr, "utf8").catch(() => "(no stderr log)");
      throw new Error(`joblet probe job exited with ${exit.exitCode ?? exit.signal}: ${stderr.trim() || "(empty stderr)"}`);
    }

    return {
      command: `spawnJob({argv: ["/bin/true"], rootfs: minimalHostRoot() ro, cpu 1, memory 256 MiB, pids 64}).wait()`,
      notes: ["per run: mkdir of the run dir + minimalHostRoot() + spawnJob + wait, all inside the timed region"],
      viaNsenter: false,
      async once(seq) {
        const runDir = join(runsBase, String(seq));
        await mkdir(runDir);
        const result = await (await isolation.spawnJob(specFor(seq, runDir))).wait();
        if (result.exitCode !== 0) throw new Error(`joblet run ${seq} exited with ${result.exitCode ?? result.signal}`);
      },
    };
  },
};
