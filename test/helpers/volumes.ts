import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { attachedLoopDevices, LOOP_CONTROL, mountsUnder } from "../../src/volumes/index.js";

/** Volume tests need loop devices; like requireRoot they fail, never skip, without them. */
export function requireLoopDevices(what: string): void {
  if (!existsSync(LOOP_CONTROL)) {
    throw new Error(`Cannot test ${what}: ${LOOP_CONTROL} is missing (modprobe loop)${process.env.CI ? " and CI is set" : ""}`);
  }
}

/** Loop devices whose backing file is below `dir`. */
export async function loopDevicesUnder(dir: string): Promise<{ device: string; backingFile: string }[]> {
  return (await attachedLoopDevices()).filter((l) => l.backingFile.startsWith(`${dir}/`));
}

/**
 * Test teardown: unmounts whatever is mounted below a state dir and detaches
 * the loop devices of images in it, so that a failed test leaves no mount or
 * loop device behind and the dir can be removed.
 */
export async function releaseVolumesUnder(dir: string): Promise<void> {
  for (const mount of await mountsUnder(dir)) {
    try {
      execFileSync("umount", [mount.mountPoint], { stdio: "ignore" });
    } catch {
      // Busy (a process inside it): detach it from the tree now, the kernel lets go when it ends.
      execFileSync("umount", ["--lazy", mount.mountPoint], { stdio: "ignore" });
    }
  }
  for (const { device } of await loopDevicesUnder(dir)) {
    try {
      execFileSync("losetup", ["-d", device], { stdio: "ignore" });
    } catch {
      // cleared by autoclear meanwhile
    }
  }
}
