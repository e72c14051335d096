// The IO limit lands on the disk that holds the job's files, found with stat:
// a read-write bind on a disk-backed filesystem. (The cgroup2 VM has no
// disk-backed filesystem, so this runs on the host; limits.test.ts covers v2.)
import { chmodSync } from "node:fs";
import { afterAll, beforeAll, expect, it } from "vitest";
import { blockBackedDir } from "../helpers/block-dir.js";
import { expectDirectWritesThrottled } from "../helpers/direct-writes.js";
import { JobLab } from "../helpers/jobs.js";
import { requireRoot } from "../helpers/root.js";

const lab = new JobLab();
beforeAll(() => requireRoot("IO limits on files"));
afterAll(() => lab.cleanup());

it("holds direct writes to files under a 1 MiB/s IO limit to at most 1.5 MiB/s", async () => {
  const disk = blockBackedDir(lab.base);
  try {
    chmodSync(disk.dir, 0o777);
    await expectDirectWritesThrottled(lab, "/data/out", {
      rootfs: { ...lab.spec({ argv: ["x"] }).rootfs, readWrite: [{ source: disk.dir, target: "/data" }] },
    });
  } finally {
    disk.cleanup();
  }
});

it("refuses an IO limit when none of the job's data is on a disk", async () => {
  const spec = lab.spec({ argv: ["/bin/true"], limits: { ioBytesPerSecond: 1 << 20 } });
  const onTmpfs = { ...spec, runDir: "/dev/shm" };
  await expect(import("../../src/isolation/index.js").then((m) => m.spawnJob(onTmpfs))).rejects.toThrow(/cannot limit IO to 1048576 bytes\/s: none of \/dev\/shm is on a block device/);
});
