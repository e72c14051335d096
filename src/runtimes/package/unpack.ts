/**
 * Unpacks a runtime package into a build directory under joblet's own
 * extraction policy, whatever tar or zip would have allowed:
 *
 * - every entry path is judged before use: no absolute path, no '..', no NUL,
 *   no backslash;
 * - only runtime.yml, runtime.yml.original and isolated/** are kept, from
 *   the root or from one wrapping top-level directory (the original Joblet's
 *   `python-3.11-ml/runtime.yml` layout);
 * - entries are first written into a staging directory under their archive
 *   paths, because a streamed archive may name runtime.yml only after all of
 *   isolated/, so the layout is known only at the end;
 * - no symlink exists anywhere in the staging tree until every file and
 *   directory is written, and a link is never created over an existing path,
 *   so no write can go through a link taken from the archive;
 * - files are created O_EXCL|O_NOFOLLOW, without set-id, sticky or
 *   group/other write bits, owned by us (root), never by archive uids;
 * - sizes and entry counts are capped against zip and tar bombs.
 *
 * A refused package throws RuntimeSourceError naming the entry; the staging
 * directory is removed, so `dir` holds nothing of it.
 */
import { constants } from "node:fs";
import { chmod, link, lstat, lutimes, mkdir, mkdtemp, open, rename, rm, stat, symlink, utimes } from "node:fs/promises";
import { join, posix } from "node:path";
import type { Readable } from "node:stream";
import { RuntimeSourceError, type BuildContext } from "../build-context.js";
import { packageEntries, type PackageEntry } from "./entries.js";

export interface UnpackOptions {
  /** Most bytes all entries together may hold (default 16 GiB). */
  maxBytes?: number;
  /** Most entries the archive may hold (default 2,000,000). */
  maxEntries?: number;
}

export const DEFAULT_MAX_BYTES = 16 * 1024 ** 3;
export const DEFAULT_MAX_ENTRIES = 2_000_000;

/** What a runtime directory holds; anything else in a package is left out. */
const KEPT = new Set(["runtime.yml", "runtime.yml.original", "isolated"]);
const ISOLATED = "isolated";
/** Linux's PATH_MAX. */
const MAX_LINK_TARGET = 4095;
/** Files are written in blocks this big rather than one write per inflated chunk. */
const WRITE_BLOCK = 1024 * 1024;
const PROGRESS_STEP_BYTES = 256 * 1024;
/** Skipped entries named one by one in the build log before only being counted. */
const LOGGED_SKIPS = 20;

interface StagedLink {
  /** The entry's path as stored, for messages. */
  raw: string;
  parts: string[];
  target: string;
  mtime?: Date;
}

interface StagedHardlink extends StagedLink {
  targetParts: string[];
}

export async function unpackPackage(archive: string, dir: string, ctx: BuildContext, options: UnpackOptions = {}): Promise<void> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  ctx.signal.throwIfAborted();
  const archiveBytes = (await stat(archive)).size;
  const stage = await mkdtemp(join(dir, ".unpack-"));
  try {
    const staged = new Staging(stage, ctx, maxBytes, maxEntries, archiveBytes);
    for await (const entry of packageEntries(archive, { onArchiveBytes: (n) => staged.progress(n) })) {
      await staged.add(entry);
    }
    await staged.finish(dir);
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

class Staging {
  private entries = 0;
  private bytes = 0;
  private files = 0;
  private skipped = 0;
  /** Stage-relative directories known to exist as real directories. */
  private made = new Set<string>();
  private dirModes = new Map<string, { mode: number; mtime?: Date }>();
  private symlinks: StagedLink[] = [];
  private hardlinks: StagedHardlink[] = [];
  /** What each candidate runtime.yml is: at the root ("") or in a top-level directory. */
  private markers = new Map<string, PackageEntry["type"]>();
  private lastProgress = { bytes: 0, percent: -1 };

  constructor(
    private readonly stage: string,
    private readonly ctx: BuildContext,
    private readonly maxBytes: number,
    private readonly maxEntries: number,
    private readonly archiveBytes: number,
  ) {}

  progress(bytes: number): void {
    const percent = this.archiveBytes > 0 ? Math.min(100, Math.floor((bytes / this.archiveBytes) * 100)) : undefined;
    const last = this.lastProgress;
    const due = bytes - last.bytes >= PROGRESS_STEP_BYTES || (percent !== undefined && percent > last.percent);
    if (!due) return;
    this.lastProgress = { bytes, percent: percent ?? last.percent };
    this.ctx.progress({ phase: "unpacking", bytes, totalBytes: this.archiveBytes, percent });
  }

  async add(entry: PackageEntry): Promise<void> {
    this.ctx.signal.throwIfAborted();
    if (++this.entries > this.maxEntries) {
      throw new RuntimeSourceError(`package has more than ${this.maxEntries} entries; refusing to unpack it`);
    }
    this.bytes += entry.size;
    if (this.bytes > this.maxBytes) throw this.tooBig(entry.path);

    const parts = entryParts(entry.path, (why) => new RuntimeSourceError(`archive entry '${show(entry.path)}' ${why}`));
    if (parts.length === 0) {
      // './' itself, as `tar -C dir .` writes it.
      if (entry.type === "directory") return;
      throw new RuntimeSourceError(`archive entry '${show(entry.path)}' names the package's root but is a ${entry.type}`);
    }
    if (parts.length === 1 && parts[0] === "runtime.yml") this.markers.set("", entry.type);
    if (parts.length === 2 && parts[1] === "runtime.yml") this.markers.set(parts[0]!, entry.type);

    // Kept under either layout (root or one wrapping directory); which one is decided in finish().
    if (!KEPT.has(parts[0]!) && !(parts.length >= 2 && KEPT.has(parts[1]!))) {
      this.skip(entry.path);
      return;
    }
    const rel = parts.join("/");
    await this.ensureDir(parentOf(rel), entry.path);
    switch (entry.type) {
      case "directory":
        await this.ensureDir(rel, entry.path);
        this.dirModes.set(rel, { mode: entry.mode, mtime: entry.mtime });
        return;
      case "file":
        await this.writeFile(rel, entry);
        return;
      case "symlink":
        this.symlinks.push({ raw: entry.path, parts, target: checkedLinkTarget(entry), mtime: entry.mtime });
        return;
      case "hardlink": {
        const target = entry.linkTarget ?? "";
        const targetParts = entryParts(target, (why) => new RuntimeSourceError(`hardlink '${show(entry.path)}' -> '${show(target)}': the target ${why}`));
        this.hardlinks.push({ raw: entry.path, parts, target, targetParts, mtime: entry.mtime });
        return;
      }
    }
  }

  /** Picks the layout, creates the links, and moves the runtime into `dir`. */
  async finish(dir: string): Promise<void> {
    this.ctx.signal.throwIfAborted();
    if (this.skipped > LOGGED_SKIPS) this.ctx.log(`package: skipped ${this.skipped - LOGGED_SKIPS} more entries outside runtime.yml and isolated/`);
    const prefix = this.layout();
    const treePath = (parts: string[]): string[] | null => {
      if (!prefix.every((p, i) => parts[i] === p)) return null;
      const rest = parts.slice(prefix.length);
      return rest.length > 0 && KEPT.has(rest[0]!) ? rest : null;
    };
    const root = join(this.stage, ...prefix);
    if (!(await isKind(join(root, ISOLATED), "directory"))) {
      throw new RuntimeSourceError(`package has no isolated/ directory next to its runtime.yml${prefix.length ? ` (in '${prefix[0]}/')` : ""}`);
    }
    const original = join(root, "runtime.yml.original");
    const hasOriginal = (await lstat(original).catch(() => undefined)) !== undefined;
    if (hasOriginal && !(await isKind(original, "file"))) {
      throw new RuntimeSourceError("package's runtime.yml.original is not a regular file");
    }

    // Check every link before creating any, so a refused package creates none.
    const hardlinks = this.inTree(this.hardlinks, treePath, "hardlink");
    for (const h of hardlinks) {
      const target = treePath(h.targetParts);
      if (!target || target[0] !== ISOLATED || target.length < 2) {
        throw new RuntimeSourceError(`hardlink '${show(h.raw)}' -> '${show(h.target)}' points out of the runtime tree`);
      }
    }
    const symlinks = this.inTree(this.symlinks, treePath, "symlink");
    for (const s of symlinks) {
      if (s.target.startsWith("/")) continue; // resolved against the runtime's root inside a job
      const resolved = posix.normalize(posix.join(posix.dirname(s.tree.join("/")), s.target));
      if (resolved !== ISOLATED && !resolved.startsWith(`${ISOLATED}/`)) {
        throw new RuntimeSourceError(`symlink '${show(s.raw)}' -> '${show(s.target)}' points out of the runtime tree`);
      }
    }

    // Hardlinks first: no symlink exists yet, so neither end can be redirected.
    for (const h of hardlinks) {
      this.ctx.signal.throwIfAborted();
      const from = join(this.stage, ...h.targetParts);
      if (!(await isKind(from, "file"))) {
        throw new RuntimeSourceError(`hardlink '${show(h.raw)}' -> '${show(h.target)}' names no file of the package`);
      }
      await link(from, join(this.stage, ...h.parts)).catch((e) => {
        throw this.collision(e, h.raw);
      });
    }
    // symlink() never replaces an existing path, and every parent was made as a real directory.
    for (const s of symlinks) {
      this.ctx.signal.throwIfAborted();
      const at = join(this.stage, ...s.parts);
      await symlink(s.target, at).catch((e) => {
        throw this.collision(e, s.raw);
      });
      if (s.mtime) await lutimes(at, s.mtime, s.mtime);
    }
    // Directory modes and times last: creating entries changes a directory's mtime.
    for (const [rel, { mode, mtime }] of this.dirModes) {
      const at = join(this.stage, rel);
      await chmod(at, mode & 0o755);
      if (mtime) await utimes(at, mtime, mtime);
    }

    await rename(join(root, "runtime.yml"), join(dir, "runtime.yml"));
    if (hasOriginal) await rename(original, join(dir, "runtime.yml.original"));
    await rename(join(root, ISOLATED), join(dir, ISOLATED));
    this.progress(this.archiveBytes);
    this.ctx.log(
      `package: unpacked ${this.files} files, ${this.dirModes.size} directories, ${symlinks.length} symlinks, ${hardlinks.length} hardlinks` +
        (prefix.length ? ` from the top-level directory '${prefix[0]}/'` : ""),
    );
  }

  /** [] for runtime.yml at the root, [name] for one wrapping directory. */
  private layout(): string[] {
    const atRoot = this.markers.get("");
    if (atRoot !== undefined) {
      if (atRoot !== "file") throw new RuntimeSourceError(`package's runtime.yml is a ${atRoot}, not a regular file`);
      return [];
    }
    const wrappers = [...this.markers.keys()];
    if (wrappers.length === 0) throw new RuntimeSourceError("package has no runtime.yml (at its root or in one top-level directory)");
    if (wrappers.length > 1) {
      throw new RuntimeSourceError(`package has a runtime.yml in more than one top-level directory (${wrappers.map((w) => `'${show(w)}/'`).join(", ")})`);
    }
    const wrapper = wrappers[0]!;
    const kind = this.markers.get(wrapper);
    if (kind !== "file") throw new RuntimeSourceError(`package's ${show(wrapper)}/runtime.yml is a ${kind}, not a regular file`);
    return [wrapper];
  }

  /** The links of the chosen layout, each with its path in the runtime tree; links only live in isolated/. */
  private inTree<L extends StagedLink>(links: L[], treePath: (parts: string[]) => string[] | null, kind: string): (L & { tree: string[] })[] {
    const kept: (L & { tree: string[] })[] = [];
    for (const l of links) {
      const tree = treePath(l.parts);
      if (!tree) continue; // part of the other layout's candidates: never created
      if (tree[0] !== ISOLATED || tree.length < 2) {
        throw new RuntimeSourceError(`${kind} '${show(l.raw)}' is outside isolated/ (only isolated/ may hold links)`);
      }
      kept.push({ ...l, tree });
    }
    return kept;
  }

  private skip(path: string): void {
    if (++this.skipped <= LOGGED_SKIPS) this.ctx.log(`package: skipping '${show(path)}' (only runtime.yml, runtime.yml.original and isolated/ are unpacked)`);
  }

  /** mkdir -p inside the stage, where no symlink exists yet; every made directory is 0755 whatever the umask. */
  private async ensureDir(rel: string, raw: string): Promise<void> {
    if (rel === "" || this.made.has(rel)) return;
    await this.ensureDir(parentOf(rel), raw);
    const at = join(this.stage, rel);
    try {
      await mkdir(at);
      await chmod(at, 0o755);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST" || !(await isKind(at, "directory"))) {
        throw new RuntimeSourceError(`archive entry '${show(raw)}' needs '${show(rel)}' to be a directory, but the package has a file there`);
      }
    }
    this.made.add(rel);
  }

  private async writeFile(rel: string, entry: PackageEntry): Promise<void> {
    const at = join(this.stage, rel);
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
    const file = await open(at, flags, 0o600).catch((e) => {
      throw this.collision(e, entry.path);
    });
    try {
      if (entry.body) await this.copy(entry.body, file, entry.path, entry.size);
      await file.chmod(entry.mode & 0o755);
      if (entry.mtime) await file.utimes(entry.mtime, entry.mtime);
    } finally {
      await file.close();
    }
    this.files++;
  }

  private async copy(body: Readable, file: Awaited<ReturnType<typeof open>>, raw: string, size: number): Promise<void> {
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let written = 0;
    const flush = async () => {
      const block = Buffer.concat(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
      for (let off = 0; off < block.length; ) off += (await file.write(block, off, block.length - off)).bytesWritten;
    };
    for await (const chunk of body as AsyncIterable<Buffer>) {
      this.ctx.signal.throwIfAborted();
      written += chunk.length;
      // The header's size was counted against the cap; a body longer than it must not slip by.
      if (written > size) throw new RuntimeSourceError(`corrupt package: archive entry '${show(raw)}' holds more than its declared ${size} bytes`);
      pending.push(chunk);
      pendingBytes += chunk.length;
      if (pendingBytes >= WRITE_BLOCK) await flush();
    }
    if (pendingBytes > 0) await flush();
  }

  private tooBig(raw: string): RuntimeSourceError {
    return new RuntimeSourceError(`package unpacks to more than ${this.maxBytes} bytes (at archive entry '${show(raw)}'); refusing to unpack it`);
  }

  private collision(e: unknown, raw: string): Error {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return new RuntimeSourceError(`archive entry '${show(raw)}' appears twice (or collides with another entry of the same path)`);
    if (code === "ELOOP" || code === "ENOTDIR") return new RuntimeSourceError(`archive entry '${show(raw)}' collides with another entry of the package`);
    return e as Error;
  }
}

/**
 * The path's segments, or a RuntimeSourceError when it could leave the tree:
 * absolute, '..', NUL or backslash (a Windows separator some tools write and
 * others read). './' and empty segments are dropped.
 */
function entryParts(path: string, refuse: (why: string) => RuntimeSourceError): string[] {
  if (path.includes("\0")) throw refuse("contains a NUL byte");
  if (path.includes("\\")) throw refuse("contains a backslash");
  if (path.startsWith("/")) throw refuse("is an absolute path");
  const parts = path.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw refuse("has a '..' segment");
  return parts;
}

function checkedLinkTarget(entry: PackageEntry): string {
  const target = entry.linkTarget ?? "";
  const refuse = (why: string) => new RuntimeSourceError(`symlink '${show(entry.path)}' -> '${show(target)}' ${why}`);
  if (target === "") throw refuse("has an empty target");
  if (target.includes("\0")) throw refuse("has a NUL byte in its target");
  if (Buffer.byteLength(target) > MAX_LINK_TARGET) throw refuse(`has a target longer than ${MAX_LINK_TARGET} bytes`);
  return target;
}

function parentOf(rel: string): string {
  const slash = rel.lastIndexOf("/");
  return slash < 0 ? "" : rel.slice(0, slash);
}

async function isKind(path: string, kind: "file" | "directory"): Promise<boolean> {
  const st = await lstat(path).catch(() => undefined);
  return kind === "file" ? !!st?.isFile() : !!st?.isDirectory();
}

/** An archive path as shown in messages: control characters escaped, length bounded. */
function show(path: string): string {
  const escaped = path.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
  return escaped.length > 300 ? `${escaped.slice(0, 300)}…` : escaped;
}
