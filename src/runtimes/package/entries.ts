/**
 * A package (.tar.gz or .zip) read as one stream of entries, whatever its
 * format, so that a single extraction policy (unpack.ts) applies to both.
 * The format comes from the file's first bytes, never from its name.
 * Entries carry their paths exactly as stored: judging them is unpack's job.
 */
import { open } from "node:fs/promises";
import type { Readable } from "node:stream";
import { RuntimeSourceError } from "../build-context.js";
import { tarEntries } from "./tar-entries.js";
import { zipEntries } from "./zip-entries.js";

export interface PackageEntry {
  /** The path as stored in the archive (may start with './', may end with '/'). */
  path: string;
  type: "file" | "directory" | "symlink" | "hardlink";
  /** Permission bits as stored (07777), before any policy. */
  mode: number;
  /** Content size for files, 0 otherwise. */
  size: number;
  /** Modification time, when the archive records one. */
  mtime?: Date;
  /** Symlink target, or the archive path a hardlink names. */
  linkTarget?: string;
  /**
   * A file's content. Read it to its end before asking for the next entry,
   * or leave it untouched (the reader then skips it); never destroy it halfway
   * unless the whole archive is being abandoned.
   */
  body?: Readable;
}

export interface ReadOptions {
  /** How far into the archive file reading has got, for progress. */
  onArchiveBytes?(bytes: number): void;
}

export type PackageFormat = "tar.gz" | "zip";

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
const ZIP_MAGIC = Buffer.from("PK\x03\x04", "latin1");

export async function packageFormat(file: string): Promise<PackageFormat> {
  const handle = await open(file, "r");
  let head: Buffer;
  try {
    const buf = Buffer.alloc(4);
    const { bytesRead } = await handle.read(buf, 0, 4, 0);
    head = buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
  if (head.length >= 2 && head.subarray(0, 2).equals(GZIP_MAGIC)) return "tar.gz";
  if (head.length === 4 && head.equals(ZIP_MAGIC)) return "zip";
  throw new RuntimeSourceError(`package ${file} is neither a .tar.gz nor a .zip package (its first bytes are neither gzip's nor zip's)`);
}

/** Any failure of the format's parser means the bytes are wrong, not that a retry could help. */
export function corrupt(e: unknown): Error {
  if (e instanceof RuntimeSourceError) return e;
  if (e instanceof Error && e.name === "AbortError") return e;
  return new RuntimeSourceError(`corrupt package: ${e instanceof Error ? e.message : String(e)}`);
}

/** A tar type or zip file kind that a runtime tree cannot hold. */
export function unsupportedEntry(path: string, kind: string): RuntimeSourceError {
  return new RuntimeSourceError(`archive entry '${path}' is a ${kind}; a package may hold only files, directories, symlinks and hardlinks`);
}

export async function* packageEntries(file: string, options: ReadOptions = {}): AsyncGenerator<PackageEntry> {
  if ((await packageFormat(file)) === "zip") yield* zipEntries(file, options);
  else yield* tarEntries(file, options);
}
