import { rm } from "node:fs/promises";
import { VolumeError } from "./errors.js";
import { runTool } from "./host-tool.js";
import { detachLoopDevices } from "./loop-devices.js";
import { mountAt, mountsUnder } from "./mountinfo.js";
import type { VolumePaths } from "./paths.js";

/**
 * Unmounts a volume (every mount stacked on its mount point) and detaches the
 * loop devices of its image. Binds inside jobs that still run keep the
 * filesystem alive until they end; callers unmount only unused volumes.
 * Returns loop devices that something outside joblet still holds (see
 * detachLoopDevices): set to detach themselves when it lets go.
 */
export async function unmountVolume(paths: VolumePaths, volume: string): Promise<string[]> {
  for (let mounted = await mountAt(paths.mountPath); mounted; mounted = await mountAt(paths.mountPath)) {
    await runTool("UnmountFailed", `Cannot unmount Volume '${volume}'`, "umount", [paths.mountPath]);
  }
  return detachLoopDevices(paths.image, volume);
}

/** reclaimPolicy Delete: the image and everything else of the volume go. Refuses while anything is still mounted. */
export async function removeVolumeData(paths: VolumePaths, volume: string): Promise<void> {
  const mounted = await mountsUnder(paths.dir);
  if (mounted.length) throw new VolumeError("UnmountFailed", `Cannot remove Volume '${volume}': ${mounted.map((m) => m.mountPoint).join(", ")} is still mounted`);
  await rm(paths.dir, { recursive: true, force: true });
}
