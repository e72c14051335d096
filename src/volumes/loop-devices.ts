/**
 * Loop devices behind filesystem volumes. They are attached by `mount -o
 * loop`, which sets the autoclear flag: the kernel detaches the device when
 * the last mount of it goes (also the binds inside jobs). Detaching here is
 * for devices that outlived that, e.g. attached by hand without autoclear.
 */
import { constants } from "node:fs";
import { access, readdir, readFile, stat } from "node:fs/promises";
import { VolumeError } from "./errors.js";
import { runTool } from "./host-tool.js";

export const LOOP_CONTROL = "/dev/loop-control";

/** Throws LoopUnavailable unless this host can attach loop devices. */
export async function requireLoopDevices(volume: string): Promise<void> {
  let why: string | undefined;
  try {
    await access(LOOP_CONTROL, constants.R_OK | constants.W_OK);
    if (!(await stat(LOOP_CONTROL)).isCharacterDevice()) why = "is not the loop control device";
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    why = code === "ENOENT" ? "is missing (load the loop module: modprobe loop)" : `cannot be opened (${code})`;
  }
  if (why === undefined) return;
  throw new VolumeError(
    "LoopUnavailable",
    `Cannot attach filesystem Volume '${volume}': ${LOOP_CONTROL} ${why}; without a loop device its size cannot be enforced. Use type memory, or give this host loop devices`,
  );
}

/** Every attached loop device (/dev/loopN) with its backing file. */
export async function attachedLoopDevices(): Promise<{ device: string; backingFile: string }[]> {
  const attached: { device: string; backingFile: string }[] = [];
  for (const name of await readdir("/sys/block").catch(() => [] as string[])) {
    if (!name.startsWith("loop")) continue;
    const backing = await readFile(`/sys/block/${name}/loop/backing_file`, "utf8").catch(() => undefined);
    // A deleted backing file shows with " (deleted)" after its path.
    if (backing !== undefined) attached.push({ device: `/dev/${name}`, backingFile: backing.trim().replace(/ \(deleted\)$/, "") });
  }
  return attached;
}

/** Loop devices whose backing file is `image`. */
export async function loopDevicesOf(image: string): Promise<string[]> {
  return (await attachedLoopDevices()).filter((l) => l.backingFile === image).map((l) => l.device);
}

/**
 * Waits for autoclear to let go of `image`'s loop devices, then detaches any
 * left. The kernel clears an autoclear device when its last user closes it,
 * which can trail the unmount by a moment. Returns the devices still attached
 * after that: a mount namespace made while the volume was mounted (a private
 * `unshare --mount`) keeps its own copy of the mount, and the device goes
 * only when that namespace does.
 */
export async function detachLoopDevices(image: string, volume: string, waitMs = 2000): Promise<string[]> {
  const end = Date.now() + waitMs;
  let left = await loopDevicesOf(image);
  while (left.length > 0 && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 20));
    left = await loopDevicesOf(image);
  }
  // On a device still in use this only sets autoclear: the kernel detaches it when the last user goes.
  for (const device of left) await runTool("UnmountFailed", `Cannot detach ${device} from Volume '${volume}'`, "losetup", ["-d", device]);
  return left.length ? loopDevicesOf(image) : [];
}
