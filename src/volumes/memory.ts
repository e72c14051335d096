/**
 * Memory volumes: a tmpfs of the volume's size, mounted once on the host and
 * bound into every job that lists it (a tmpfs made by each job would not be
 * shared). Its pages count against the memory of the job that writes them.
 */
import { DEFAULT_GID, DEFAULT_UID } from "../isolation/index.js";
import { makeMountPoint } from "./filesystem.js";
import { runTool } from "./host-tool.js";
import type { VolumePaths } from "./paths.js";

export async function mountTmpfs(paths: VolumePaths, sizeBytes: number, volume: string): Promise<void> {
  await makeMountPoint(paths.mountPath);
  const options = `size=${sizeBytes},mode=0755,uid=${DEFAULT_UID},gid=${DEFAULT_GID},nosuid,nodev`;
  await runTool("MountFailed", `Cannot mount memory Volume '${volume}'`, "mount", ["-t", "tmpfs", "-o", options, `joblet-${volume}`, paths.mountPath]);
}

/** A new size, in place: what is stored stays. The kernel refuses a size below what is in use. */
export async function resizeTmpfs(paths: VolumePaths, sizeBytes: number, volume: string): Promise<void> {
  await runTool("ResizeFailed", `Cannot resize memory Volume '${volume}'`, "mount", ["-o", `remount,size=${sizeBytes}`, paths.mountPath]);
}
