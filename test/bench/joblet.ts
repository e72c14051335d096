/**
 * The joblet row: one JobSpec per run through the isolation engine's public
 * entry point, hardened like the OCI bundle the runtimes get.
 */
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { JobHandle, JobSpec } from "../../src/isolation/index.js";
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

export const joblet: Peer = {
  name: "joblet",
  label: "joblet",
  async prepare(ctx: BenchContext): Promise<Runner> {
    const engine = await importEngine();
    const runsBase = join(ctx.tmpBase, "joblet-runs");
    await mkdir(runsBase, { recursive: true, mode: 0o700 });

    const specFor = (tag: number | string, runDir: string): JobSpec => ({
      id: `bench-${process.pid}-${tag}`,
      argv: ["/bin/true"],
      env: { PATH: "/usr/bin:/bin" },
      rootfs: engine.minimalHostRoot(),
      limits: { cpu: 1, memoryBytes: 256 * MIB, pids: 64 },
      logs: { stdout: join(runDir, "stdout.log"), stderr: join(runDir, "stderr.log") },
      runDir,
    });

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
      command: `spawnJob({argv: ["/bin/true"], rootfs: minimalHostRoot(), cpu 1, memory 256 MiB, pids 64}) then wait()`,
      notes: ["per run: minimalHostRoot() + spawnJob (which makes the run dir) + wait, all inside the timed region"],
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
