/**
 * A persistent mount namespace in which the cgroup2 mount of a hybrid host is
 * gone, so /sys/fs/cgroup shows only the v1 hierarchies. crun 1.8 refuses a
 * hybrid layout ("cgroups in hybrid mode not supported") but runs fine there.
 *
 * The namespace lives as long as its nsfs file stays bind-mounted; that file
 * sits in a directory bind-mounted onto itself with private propagation, which
 * the kernel requires for binding an nsfs file (no propagation loop).
 */
import { mkdir, rm, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { CleanupStack } from "./cleanup.js";
import { runChecked } from "./proc.js";

export interface MountNamespace {
  /** Path of the nsfs file, for `nsenter --mount=<file>`. */
  file: string;
}

export interface MountTools {
  mount: string;
  umount: string;
  unshare: string;
}

export async function createV1OnlyMountNamespace(
  dir: string,
  cgroup2MountPoints: string[],
  tools: MountTools,
  cleanup: CleanupStack,
): Promise<MountNamespace> {
  await mkdir(dir, { mode: 0o700 });
  cleanup.push(`remove ${dir}`, () => rmdir(dir));

  await runChecked(tools.mount, ["--bind", dir, dir]);
  cleanup.push(`unmount ${dir}`, () => runChecked(tools.umount, [dir]));
  await runChecked(tools.mount, ["--make-private", dir]);

  const file = join(dir, "mntns");
  await writeFile(file, "");
  cleanup.push(`remove ${file}`, () => rm(file, { force: true }));

  // unshare binds the new namespace onto `file` before exec'ing umount inside it.
  let bound = false;
  try {
    await runChecked(tools.unshare, [`--mount=${file}`, "--propagation", "private", tools.umount, ...cgroup2MountPoints]);
    bound = true;
  } finally {
    // Pushed whatever happened: unshare may have bound the file before umount failed.
    cleanup.push(`unmount the mount namespace ${file}`, async () => {
      try {
        await runChecked(tools.umount, [file]);
      } catch (err) {
        if (bound) throw err;
      }
    });
  }
  return { file };
}
