import { statfs } from "node:fs/promises";

/** What a mounted volume holds and can hold, in bytes, as df counts them. */
export async function volumeUsage(mountPath: string): Promise<{ usedBytes: number; capacityBytes: number }> {
  const s = await statfs(mountPath);
  return { usedBytes: (s.blocks - s.bfree) * s.bsize, capacityBytes: s.blocks * s.bsize };
}
