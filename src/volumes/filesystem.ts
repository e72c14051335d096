/**
 * Filesystem volumes: a sparse ext4 image attached to a loop device and
 * mounted under the state dir. The image's size is the hard limit: a write
 * past it fails with ENOSPC inside the volume and costs the host nothing more.
 */
import { mkdir, open, rename, rm } from "node:fs/promises";
import { DEFAULT_GID, DEFAULT_UID } from "../isolation/index.js";
import { VolumeError } from "./errors.js";
import { runTool } from "./host-tool.js";
import type { VolumePaths } from "./paths.js";

const EXT4_MAGIC = 0xef53;
/** ext4's incompat feature flag for 64-bit block counts. */
const INCOMPAT_64BIT = 0x80;

/**
 * Makes the image: sparse, formatted once, and only then renamed into place,
 * so an image that exists is always a whole filesystem. The root belongs to
 * the job user so that jobs can write; no blocks are reserved for root.
 */
export async function formatImage(paths: VolumePaths, sizeBytes: number, volume: string): Promise<void> {
  await mkdir(paths.dir, { recursive: true, mode: 0o700 });
  const temp = `${paths.image}.tmp`;
  await rm(temp, { force: true });
  const file = await open(temp, "w", 0o600);
  try {
    await file.truncate(sizeBytes);
  } finally {
    await file.close();
  }
  try {
    await runTool("FormatFailed", `Cannot format Volume '${volume}'`, "mkfs.ext4", [
      "-q",
      "-F",
      "-m",
      "0",
      "-L",
      volume.slice(0, 16),
      "-E",
      `root_owner=${DEFAULT_UID}:${DEFAULT_GID}`,
      temp,
    ]);
  } catch (e) {
    await rm(temp, { force: true });
    throw e;
  }
  await rename(temp, paths.image);
}

/** Attaches the image to a free loop device (autoclear) and mounts it. */
export async function mountImage(paths: VolumePaths, volume: string): Promise<void> {
  await makeMountPoint(paths.mountPath);
  try {
    await runTool("MountFailed", `Cannot mount Volume '${volume}'`, "mount", ["-t", "ext4", "-o", "loop,nosuid,nodev", paths.image, paths.mountPath]);
  } catch (e) {
    const error = e as VolumeError;
    if (/loop device/i.test(error.message)) throw new VolumeError("LoopUnavailable", error.message);
    throw e;
  }
}

/**
 * An empty directory nobody may enter: should the volume ever be unmounted
 * under a job, the job finds a directory it cannot write, never an unlimited
 * one on the state dir's disk.
 */
export async function makeMountPoint(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: 0o000 });
}

/** Bytes the ext4 filesystem in `image` spans, from its superblock. */
export async function ext4Bytes(image: string): Promise<number> {
  const file = await open(image, "r");
  try {
    const superblock = Buffer.alloc(1024);
    await file.read(superblock, 0, 1024, 1024);
    if (superblock.readUInt16LE(0x38) !== EXT4_MAGIC) throw new Error(`${image} holds no ext4 filesystem`);
    const blockSize = 1024 << superblock.readUInt32LE(24);
    const high = superblock.readUInt32LE(0x60) & INCOMPAT_64BIT ? superblock.readUInt32LE(0x150) : 0;
    return (high * 2 ** 32 + superblock.readUInt32LE(4)) * blockSize;
  } finally {
    await file.close();
  }
}

/**
 * Grows a mounted volume: the image, then the loop device's idea of its
 * size, then ext4. Needs CAP_SYS_RESOURCE; growOffline is the way without it.
 */
export async function growOnline(paths: VolumePaths, device: string, sizeBytes: number, volume: string): Promise<void> {
  const file = await open(paths.image, "r+");
  try {
    await file.truncate(sizeBytes);
  } finally {
    await file.close();
  }
  const what = `Cannot grow mounted Volume '${volume}'`;
  await runTool("ResizeFailed", what, "losetup", ["--set-capacity", device]);
  await runTool("ResizeFailed", what, "resize2fs", [device]);
}

/** Grows an unmounted image: resize2fs wants a fresh check first, and extends the file itself. */
export async function growOffline(paths: VolumePaths, sizeBytes: number, volume: string): Promise<void> {
  const what = `Cannot grow Volume '${volume}'`;
  // e2fsck -p: 1 means it fixed something, which is fine to go on from.
  await runTool("ResizeFailed", what, "e2fsck", ["-f", "-p", paths.image], [0, 1]);
  await runTool("ResizeFailed", what, "resize2fs", [paths.image, `${Math.floor(sizeBytes / 1024)}K`]);
}
