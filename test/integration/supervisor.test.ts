// A job outlives the process that spawned it: kill -9 the spawning Node
// process and a fresh one attaches, getting the true exit code and every line.
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { attachJob, type JobSpec } from "../../src/isolation/index.js";
import { JobLab, jobletCgroupDirs, processesNamed, repoRoot } from "../helpers/jobs.js";
import { requireRoot } from "../helpers/root.js";

const lab = new JobLab();
beforeAll(() => {
  requireRoot("job supervision");
  if (!existsSync(join(repoRoot, "dist/src/isolation/index.js"))) throw new Error("Cannot test restarts: run 'npm run build' first (npm test does)");
});
afterAll(() => lab.cleanup());

/** Spawn the job from a separate Node process, then kill that process with SIGKILL. */
async function spawnFromDoomedDaemon(spec: JobSpec): Promise<void> {
  const daemon = spawn(process.execPath, [join(repoRoot, "test/fixtures/spawn-and-linger.mjs"), JSON.stringify(spec)], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    daemon.stdout.on("data", (d: Buffer) => d.toString().startsWith("started") && resolve());
    daemon.on("exit", (code) => reject(new Error(`stand-in daemon exited with ${code} before the job started`)));
  });
  const gone = new Promise((r) => daemon.on("exit", r));
  daemon.kill("SIGKILL");
  await gone;
}

const sh = (script: string) => ["/bin/sh", "-c", script];

describe("a job whose daemon is killed", () => {
  it("keeps running; a new process attaches and gets the exit code and every line, once", async () => {
    const spec = lab.spec({
      argv: sh('i=1; while [ $i -le 10000 ]; do echo "line $i"; if [ $((i % 1000)) -eq 0 ]; then echo "progress $i" >&2; sleep 0.3; fi; i=$((i+1)); done; exit 42'),
    });
    await spawnFromDoomedDaemon(spec);
    const handle = await attachJob(spec.runDir);
    // The supervisor and the job's init (cloned from it, so it shares its command line).
    expect(processesNamed(`joblet-supervisor ${spec.id}`).sort()).toEqual([handle.supervisorPid, handle.pid].sort());
    const exit = await handle.wait();
    expect(exit.exitCode).toBe(42);
    const stdout = readFileSync(spec.logs.stdout, "utf8").trimEnd().split("\n");
    expect(stdout).toEqual(Array.from({ length: 10000 }, (_, i) => `line ${i + 1}`));
    const stderr = readFileSync(spec.logs.stderr, "utf8").trimEnd().split("\n");
    expect(stderr).toEqual(Array.from({ length: 10 }, (_, i) => `progress ${(i + 1) * 1000}`));
    expect(jobletCgroupDirs().filter((d) => d.includes(spec.id))).toEqual([]);
  });

  it("records the exit of a job that ends while no daemon runs", async () => {
    const spec = lab.spec({ argv: sh("sleep 0.3; echo done; exit 7") });
    await spawnFromDoomedDaemon(spec);
    await new Promise((r) => setTimeout(r, 1500));
    expect(processesNamed(`joblet-supervisor ${spec.id}`)).toEqual([]);
    const exit = await (await attachJob(spec.runDir)).wait();
    expect(exit.exitCode).toBe(7);
    expect(readFileSync(spec.logs.stdout, "utf8")).toBe("done\n");
    expect(jobletCgroupDirs().filter((d) => d.includes(spec.id))).toEqual([]);
  });

  it("can be stopped through the attached handle", async () => {
    const spec = lab.spec({ argv: sh('trap "echo terminated; exit 9" TERM; while :; do sleep 0.05; done') });
    await spawnFromDoomedDaemon(spec);
    const handle = await attachJob(spec.runDir);
    const exit = await handle.stop(5000);
    expect(exit.exitCode).toBe(9);
    expect(readFileSync(spec.logs.stdout, "utf8")).toBe("terminated\n");
  });
});

describe("log files", () => {
  it("cap each stream: output past the cap is dropped, counted and marked once, and the job keeps running", async () => {
    const { exit, stdout, stderr } = await lab.run({
      logs: { ...lab.spec({ argv: ["x"] }).logs, maxBytes: 1000 },
      argv: sh("i=0; while [ $i -lt 500 ]; do echo 123456789; i=$((i+1)); done; echo still-running >&2; exit 3"),
    });
    expect(exit.exitCode).toBe(3);
    expect(stdout.slice(0, 1000)).toBe("123456789\n".repeat(100));
    expect(stdout.slice(1000)).toBe("\n[joblet] stdout reached its cap of 1000 bytes; further output is dropped and counted\n");
    expect(exit.droppedBytes).toEqual({ stdout: 4000, stderr: 0 });
    expect(stderr).toBe("still-running\n");
  });

  it("keep stdout and stderr apart", async () => {
    const { stdout, stderr } = await lab.run({ argv: sh("echo out; echo err >&2; echo out2") });
    expect(stdout).toBe("out\nout2\n");
    expect(stderr).toBe("err\n");
  });
});
