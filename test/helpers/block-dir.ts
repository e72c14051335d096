import { execFileSync } from "node:child_process";
import { mkdirSync, existsSync } from "node:fs";
import { join } from "node:path";
import { wholeDiskOfPath } from "../../src/isolation/cgroup/block-device.js";
import { inCgroup2Vm } from "./root.js";

/**
 * A directory on a real block device, for IO-limit tests, and how to undo it.
 * In the cgroup2 VM the root is an overlay, so the VM's scratch disk gets a
 * fresh ext4; elsewhere a directory under `base` is used when it sits on a
 * disk, else a loop device backs one.
 */
export function blockBackedDir(base: string): { dir: string; cleanup: () => void } {
  const dir = join(base, "disk");
  mkdirSync(dir, { recursive: true });
  if (inCgroup2Vm && existsSync("/dev/vda")) {
    execFileSync("mkfs.ext4", ["-q", "-F", "/dev/vda"]);
    execFileSync("mount", ["/dev/vda", dir]);
    return { dir, cleanup: () => execFileSync("umount", [dir]) };
  }
  if (wholeDiskOfPath(dir)) return { dir, cleanup: () => undefined };
  const image = join(base, "disk.img");
  execFileSync("truncate", ["-s", "64M", image]);
  const loop = execFileSync("losetup", ["--find", "--show", image], { encoding: "utf8" }).trim();
  try {
    execFileSync("mkfs.ext4", ["-q", "-F", loop]);
    execFileSync("mount", [loop, dir]);
  } catch (e) {
    execFileSync("losetup", ["-d", loop]);
    throw e;
  }
  return {
    dir,
    cleanup: () => {
      execFileSync("umount", [dir]);
      execFileSync("losetup", ["-d", loop]);
    },
  };
}
