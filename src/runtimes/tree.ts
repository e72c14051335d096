/**
 * A runtime's isolated/ tree: paths resolved the way a job will see them
 * (the tree is the job's root, so an absolute symlink points inside it), and
 * the tree made fit for jobs: owned by root, read-only and readable to them.
 */
import { lchown, lstat, mkdir, readdir, readlink, chmod, writeFile } from "node:fs/promises";
import { join, posix } from "node:path";
import { RuntimeSourceError } from "./build-context.js";

const MAX_LINK_HOPS = 40;

/** Paths the isolation engine mounts itself: a runtime cannot provide or cover them. */
export const ENGINE_PATHS = ["/proc", "/dev", "/sys", "/tmp", "/work", "/volumes"];

export function isEnginePath(target: string): boolean {
  return ENGINE_PATHS.some((p) => target === p || target.startsWith(`${p}/`));
}

/**
 * Resolves `path` (absolute inside the job, or relative to the tree's root)
 * against the tree as a job sees it: symlinks are followed, absolute ones
 * from the tree's root. A relative link that climbs above the root, or a
 * '..' in `path` itself, leads out of the tree and is refused. Returns the
 * absolute in-job path with no symlink left in it; the last component need
 * not exist when `mustExist` is false (nor its missing parents).
 */
export async function resolveInTree(root: string, path: string, what: string, mustExist = true): Promise<string> {
  const given = path.split("/").filter((s) => s !== "" && s !== ".");
  if (given.includes("..")) throw new RuntimeSourceError(`${what}: '${path}' contains '..'; paths stay inside the runtime's isolated/ tree`);
  const pending = [...given];
  const resolved: string[] = [];
  let hops = 0;
  while (pending.length) {
    const part = pending.shift()!;
    if (part === "..") {
      if (resolved.length === 0) throw new RuntimeSourceError(`${what}: '${path}' leads out of the runtime's tree through a symlink`);
      resolved.pop();
      continue;
    }
    const host = join(root, ...resolved, part);
    const st = await lstat(host).catch(() => undefined);
    if (!st) {
      if (mustExist) throw new RuntimeSourceError(`${what}: '${path}' does not exist in the runtime's tree`);
      // Nothing below a missing entry can be a symlink: the rest is lexical.
      for (const rest of [part, ...pending]) {
        if (rest !== "..") resolved.push(rest);
        else if (resolved.pop() === undefined) throw new RuntimeSourceError(`${what}: '${path}' leads out of the runtime's tree through a symlink`);
      }
      break;
    }
    if (!st.isSymbolicLink()) {
      resolved.push(part);
      continue;
    }
    if (++hops > MAX_LINK_HOPS) throw new RuntimeSourceError(`${what}: '${path}' has too many levels of symlinks`);
    const link = await readlink(host);
    const parts = link.split("/").filter((s) => s !== "" && s !== ".");
    if (link.startsWith("/")) resolved.length = 0;
    pending.unshift(...parts);
  }
  return `/${resolved.join("/")}`;
}

/**
 * Makes a mount target exist inside the tree (a directory, or an empty file
 * for a file source), so that the engine can mount on it in the job's
 * read-only root. Returns the target with symlinks resolved.
 */
export async function prepareMountTarget(root: string, target: string, isDirectory: boolean, what: string): Promise<string> {
  const resolved = await resolveInTree(root, target, what, false);
  if (resolved === "/") throw new RuntimeSourceError(`${what}: '${target}' is the job's root; mount a directory below it`);
  if (isEnginePath(resolved)) throw new RuntimeSourceError(`${what}: '${target}' is mounted by joblet itself (${ENGINE_PATHS.join(", ")})`);
  const host = join(root, resolved);
  const st = await lstat(host).catch(() => undefined);
  if (st) {
    if (st.isDirectory() !== isDirectory) {
      throw new RuntimeSourceError(`${what}: '${target}' is a ${st.isDirectory() ? "directory" : "file"} in the tree but the source is not`);
    }
    return resolved;
  }
  if (isDirectory) {
    await mkdir(host, { recursive: true, mode: 0o755 });
  } else {
    await mkdir(posix.dirname(host), { recursive: true, mode: 0o755 });
    await writeFile(host, "", { mode: 0o644 });
  }
  return resolved;
}

/**
 * A relative link that climbs above the tree's root would, for anything on
 * the host that follows it, lead out of the runtime: refused. Absolute links
 * are fine: inside the job they resolve against the runtime's own root.
 */
async function checkLink(root: string, path: string): Promise<void> {
  const target = await readlink(path);
  if (target.startsWith("/")) return;
  const from = posix.dirname(path.slice(root.length)) || "/";
  if (climbs(from, target)) {
    throw new RuntimeSourceError(`runtime tree: symlink '${path.slice(root.length)}' -> '${target}' points out of the runtime's tree`);
  }
}

/** Whether `target`, followed from the in-tree directory `from`, goes above the root. */
function climbs(from: string, target: string): boolean {
  let depth = from.split("/").filter(Boolean).length;
  for (const part of target.split("/")) {
    if (part === "..") depth--;
    else if (part !== "" && part !== ".") depth++;
    if (depth < 0) return true;
  }
  return false;
}

export interface TreeSummary {
  sizeBytes: number;
  files: number;
}

// setuid, setgid, sticky.
const SPECIAL_BITS = 0o7000;

/**
 * Owned by root, no setuid/setgid, nobody but root may write, and everyone
 * may read (and enter, and run what its owner could run): runtime files are
 * read-only to jobs and readable by the job's user whatever the source had.
 * Device nodes, sockets and fifos have no place in a runtime and are refused.
 */
export async function normalizeTree(root: string, onFile?: (summary: TreeSummary) => void): Promise<TreeSummary> {
  const summary: TreeSummary = { sizeBytes: 0, files: 0 };
  const visit = async (path: string): Promise<void> => {
    const st = await lstat(path);
    if (st.uid !== 0 || st.gid !== 0) await lchown(path, 0, 0);
    if (st.isSymbolicLink()) return checkLink(root, path);
    if (!st.isFile() && !st.isDirectory()) {
      throw new RuntimeSourceError(`runtime tree: '${path.slice(root.length) || "/"}' is a device, socket or fifo; a runtime holds files, directories and symlinks only`);
    }
    const mode = st.mode & 0o7777;
    const executable = st.isDirectory() || (mode & 0o100) !== 0;
    const wanted = ((mode & ~SPECIAL_BITS & ~0o022) | 0o444 | (executable ? 0o111 : 0)) & 0o7777;
    if (wanted !== mode) await chmod(path, wanted);
    if (st.isDirectory()) {
      const entries = await readdir(path);
      for (let i = 0; i < entries.length; i += 64) await Promise.all(entries.slice(i, i + 64).map((e) => visit(join(path, e))));
    } else {
      summary.sizeBytes += st.size;
      summary.files++;
      if (onFile && summary.files % 2000 === 0) onFile(summary);
    }
  };
  await visit(root);
  return summary;
}
