/**
 * Finds the whole block device behind a path. IO throttling (io.max,
 * blkio.throttle.*) only acts on whole disks, not on partitions, so a file on
 * /dev/sda2 has to be throttled on /dev/sda.
 */
import { readFileSync, readlinkSync, statSync } from "node:fs";
import { errnoOf } from "./cgroupfs.js";

/** Splits a glibc dev_t (as Node reports st_dev) into "MAJ:MIN". */
export function devNumber(dev: bigint): string {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}

/**
 * "MAJ:MIN" of the whole disk that holds block device `majMin`, or undefined
 * when `majMin` is not a block device at all (tmpfs, overlay, 9p and btrfs
 * report anonymous device numbers that sysfs does not know).
 */
export function wholeDiskOf(majMin: string): string | undefined {
  const node = `/sys/dev/block/${majMin}`;
  try {
    readlinkSync(node);
  } catch (err) {
    if (errnoOf(err) === "ENOENT") return undefined;
    throw err;
  }
  try {
    readFileSync(`${node}/partition`);
  } catch (err) {
    if (errnoOf(err) === "ENOENT") return majMin;
    throw err;
  }
  // A partition's sysfs directory sits inside its disk's directory.
  return readFileSync(`${node}/../dev`, "utf8").trim();
}

/**
 * "MAJ:MIN" of the whole disk holding the data at `path`, or undefined if none:
 * for a file or directory the disk its filesystem lives on, for a block device
 * node given to a job the device itself.
 */
export function wholeDiskOfPath(path: string): string | undefined {
  const st = statSync(path, { bigint: true });
  return wholeDiskOf(devNumber(st.isBlockDevice() ? st.rdev : st.dev));
}
