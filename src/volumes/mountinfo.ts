/** This process's mount table (/proc/self/mountinfo, see proc(5)). */
import { readFile } from "node:fs/promises";

export interface MountEntry {
  mountPoint: string;
  fsType: string;
  /** The device or name mounted: /dev/loop3, tmpfs... */
  source: string;
}

/** Undoes mountinfo's octal escapes (\040 for a space and the like). */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

export function parseMountinfo(text: string): MountEntry[] {
  const mounts: MountEntry[] = [];
  for (const line of text.split("\n")) {
    // Optional fields end at "-"; after it come fstype, source and super options.
    const [before, after] = line.split(" - ");
    const mountPoint = before?.split(" ")[4];
    if (mountPoint === undefined || after === undefined) continue;
    const [fsType = "", source = ""] = after.split(" ");
    mounts.push({ mountPoint: unescape(mountPoint), fsType, source: unescape(source) });
  }
  return mounts;
}

export async function readMounts(): Promise<MountEntry[]> {
  return parseMountinfo(await readFile("/proc/self/mountinfo", "utf8"));
}

/** The mount visible at `path` (the last one when mounts are stacked there), or undefined. */
export async function mountAt(path: string): Promise<MountEntry | undefined> {
  return (await readMounts()).filter((m) => m.mountPoint === path).pop();
}

/** Mounts at or below `dir`, deepest first: the order to unmount them in. */
export async function mountsUnder(dir: string): Promise<MountEntry[]> {
  const inside = (await readMounts()).filter((m) => m.mountPoint === dir || m.mountPoint.startsWith(`${dir}/`));
  return inside.reverse().sort((a, b) => b.mountPoint.split("/").length - a.mountPoint.split("/").length);
}
