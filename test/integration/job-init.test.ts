// The job's PID 1: reaps orphans, forwards signals, and stop() ends a job that ignores SIGTERM.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnJob } from "../../src/isolation/index.js";
import { JobLab } from "../helpers/jobs.js";
import { requireRoot } from "../helpers/root.js";

const lab = new JobLab();
beforeAll(() => requireRoot("the job's init"));
afterAll(() => lab.cleanup());

const sh = (script: string) => ["/bin/sh", "-c", script];
const waitForFile = async (path: string, text: string) => {
  for (let i = 0; i < 500; i++) {
    try {
      if (readFileSync(path, "utf8").includes(text)) return;
    } catch {
      // not created yet
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`${path} never said '${text}'`);
};

describe("the job's init", () => {
  it("reaps orphaned zombies", async () => {
    // The inner shell exits at once, orphaning its background sleeps to PID 1;
    // unreaped, they would show as zombies (state Z) when counted.
    const { stdout, exit } = await lab.run({
      argv: sh('sh -c "sleep 0.1 & sleep 0.1 & sleep 0.1 &"; sleep 0.6; grep -l "^State:.*Z" /proc/[0-9]*/status 2>/dev/null | wc -l; grep -c "" /proc/1/task/1/children'),
    });
    expect(exit.exitCode).toBe(0);
    expect(stdout.trim().split("\n")[0]).toBe("0");
  });

  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
    it(`forwards ${signal} to the main process`, async () => {
      const name = signal.slice(3);
      const spec = lab.spec({ argv: sh(`trap "echo got ${name}; exit 5" ${name}; echo ready; while :; do sleep 0.02; done`) });
      const handle = await spawnJob(spec);
      await waitForFile(spec.logs.stdout, "ready");
      expect(handle.signal(signal)).toBe(true);
      const exit = await handle.wait();
      expect(exit.exitCode).toBe(5);
      expect(readFileSync(spec.logs.stdout, "utf8")).toBe(`ready\ngot ${name}\n`);
    });
  }

  it("stop() ends a job that ignores SIGTERM once the grace period is over", async () => {
    const spec = lab.spec({ argv: sh('trap "" TERM; echo ready; while :; do sleep 0.02; done') });
    const handle = await spawnJob(spec);
    await waitForFile(spec.logs.stdout, "ready");
    const started = Date.now();
    const exit = await handle.stop(400);
    const took = Date.now() - started;
    expect(exit.signal).toBe("SIGKILL");
    expect(took).toBeGreaterThanOrEqual(400);
    expect(took).toBeLessThan(3000);
    expect(handle.signal("SIGTERM")).toBe(false);
  });

  it("stop() on a job that honours SIGTERM returns as soon as it exits", async () => {
    const spec = lab.spec({ argv: sh('echo ready; exec sleep 100') });
    const handle = await spawnJob(spec);
    await waitForFile(spec.logs.stdout, "ready");
    const started = Date.now();
    const exit = await handle.stop(10_000);
    expect(exit.signal).toBe("SIGTERM");
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
