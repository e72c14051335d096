import { expect } from "vitest";
import type { JobSpec } from "../../src/isolation/index.js";
import type { JobLab } from "./jobs.js";

const BLOCK = 64 * 1024;
const BLOCKS = 48;

/**
 * Run dd with O_DIRECT writes of 3 MiB to `target` inside a job limited to
 * 1 MiB/s, and check the rate dd measured stays at most 1.5 MiB/s and the
 * cgroup counted the bytes.
 */
export async function expectDirectWritesThrottled(lab: JobLab, target: string, overrides: Partial<JobSpec>): Promise<void> {
  const { exit, stderr } = await lab.run({
    argv: ["/bin/dd", "if=/dev/zero", `of=${target}`, `bs=${BLOCK}`, `count=${BLOCKS}`, "oflag=direct"],
    limits: { ioBytesPerSecond: 1024 * 1024 },
    ...overrides,
  });
  expect(exit.exitCode, stderr).toBe(0);
  const seconds = Number(/copied, ([\d.]+) s/.exec(stderr)?.[1]);
  expect((BLOCKS * BLOCK) / seconds).toBeLessThanOrEqual(1.5 * 1024 * 1024);
  expect(exit.usage.ioWriteBytes).toBeGreaterThanOrEqual(BLOCKS * BLOCK);
}
