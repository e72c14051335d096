import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { wholeDiskOfPath } from "../../src/isolation/cgroup/block-device.js";
import { inCgroup2Vm } from "./root.js";

/**
 * A block device a test may write to directly, and how to give it back: the
 * cgroup2 VM's throw-away scratch disk, or a loop device over a file in `base`.
 */
export function scratchBlockDevice(base: string): { device: string; cleanup: () => void } {
  if (inCgroup2Vm) return { device: "/dev/vda", cleanup: () => undefined };
  const image = join(base, `scratch-${Date.now()}.img`);
  execFileSync("truncate", ["-s", "32M", image]);
  const device = execFileSync("losetup", ["--find", "--show", image], { encoding: "utf8" }).trim();
  return { device, cleanup: () => execFileSync("losetup", ["-d", device]) };
}

/**
 * A directory on a filesystem that sits on a real disk, with how to undo it:
 * a directory under `base` when that is on a disk, else an ext4 on a loop device.
 */
export function blockBackedDir(base: string): { dir: string; cleanup: () => void } {
  const dir = join(base, "disk");
  mkdirSync(dir, { recursive: true });
  if (wholeDiskOfPath(dir)) return { dir, cleanup: () => undefined };
  const scratch = scratchBlockDevice(base);
  try {
    execFileSync("mkfs.ext4", ["-q", "-F", scratch.device]);
    execFileSync("mount", [scratch.device, dir]);
  } catch (e) {
    scratch.cleanup();
    throw e;
  }
  return {
    dir,
    cleanup: () => {
      execFileSync("umount", [dir]);
      scratch.cleanup();
    },
  };
}
