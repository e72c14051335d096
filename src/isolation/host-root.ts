import { existsSync, lstatSync, readlinkSync } from "node:fs";
import type { BindMount, RootfsPlan, SymlinkEntry } from "./spec.js";

/** Host trees a program needs to run; never /home, /root, /var or the rest of /etc. */
const HOST_TREES = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];
/** Harmless /etc entries: the dynamic linker's cache, time zone, name-service switch, and the alternatives many /usr/bin tools link through. */
const HOST_ETC = ["/etc/ld.so.cache", "/etc/localtime", "/etc/nsswitch.conf", "/etc/alternatives"];

let cached: { readOnly: BindMount[]; symlinks: SymlinkEntry[] } | undefined;

/**
 * The root of a job that names no runtime: read-only binds of the host's
 * program trees and a few harmless /etc files. On merged-/usr hosts /bin, /lib
 * and friends are symlinks into /usr, and are recreated as symlinks rather
 * than mounted twice.
 */
export function minimalHostRoot(): Required<Pick<RootfsPlan, "readOnly" | "symlinks">> {
  if (!cached) {
    const readOnly: BindMount[] = [];
    const symlinks: SymlinkEntry[] = [];
    for (const path of [...HOST_TREES, ...HOST_ETC]) {
      if (!existsSync(path)) continue;
      if (lstatSync(path).isSymbolicLink()) symlinks.push({ path, target: readlinkSync(path) });
      else readOnly.push({ source: path, target: path });
    }
    cached = { readOnly, symlinks };
  }
  return { readOnly: [...cached.readOnly], symlinks: [...cached.symlinks] };
}
