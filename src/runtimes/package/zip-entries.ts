/**
 * A zip read as PackageEntry values, through yauzl's central directory one
 * entry at a time. Names are decoded without yauzl's own path checks (which
 * would turn '..' or '\' into vague errors, or silently rewrite backslashes)
 * so that unpack.ts judges them with the same words as for a tar. yauzl does
 * not check CRC-32s: we do, so a damaged entry cannot pass as content.
 */
import { Readable } from "node:stream";
import { crc32 } from "node:zlib";
import yauzl from "yauzl";
import { RuntimeSourceError } from "../build-context.js";
import { corrupt, unsupportedEntry, type PackageEntry, type ReadOptions } from "./entries.js";

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
const MSDOS_DIRECTORY = 0x10;
/** "Version made by" hosts whose external attributes carry a Unix st_mode: Unix and macOS. */
const UNIX_HOSTS = new Set([3, 19]);
/** Linux's PATH_MAX: a longer symlink body is not a link target. */
const MAX_LINK_TARGET = 4096;

const KIND_NAMES: Record<number, string> = {
  0o010000: "fifo",
  0o020000: "character device",
  0o060000: "block device",
  0o140000: "socket",
};

export async function* zipEntries(file: string, options: ReadOptions): AsyncGenerator<PackageEntry> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.open(file, { lazyEntries: true, autoClose: false, decodeStrings: false, validateEntrySizes: true }, (err, z) =>
      err ? reject(corrupt(err)) : resolve(z),
    ),
  );
  // yauzl reports through events; an error with nobody listening must not crash the daemon.
  zip.on("error", () => {});
  let position = 0;
  try {
    for (;;) {
      const entry = await nextEntry(zip);
      if (!entry) break;
      const path = yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, entry.fileNameRaw, entry.extraFields, true);
      const unixMode = UNIX_HOSTS.has(entry.versionMadeBy >> 8) ? (entry.externalFileAttributes >>> 16) & 0xffff : 0;
      const kind = unixMode & S_IFMT;
      const isDirectory = kind === S_IFDIR || (kind === 0 && (path.endsWith("/") || (entry.externalFileAttributes & MSDOS_DIRECTORY) !== 0));
      const mode = unixMode & 0o7777 || (isDirectory ? 0o755 : 0o644);
      const mtime = entry.getLastModDate();
      position = Math.max(position, entry.relativeOffsetOfLocalHeader + entry.compressedSize);

      if (isDirectory) {
        yield { path, type: "directory", mode, size: 0, mtime };
      } else if (kind !== 0 && kind !== S_IFREG && kind !== S_IFLNK) {
        throw unsupportedEntry(path, KIND_NAMES[kind] ?? `zip entry of file type 0${kind.toString(8)}`);
      } else {
        if (entry.isEncrypted()) throw new RuntimeSourceError(`archive entry '${path}' is encrypted`);
        if (!entry.canDecodeFileData()) {
          throw new RuntimeSourceError(`archive entry '${path}' uses zip compression method ${entry.compressionMethod}, which joblet cannot read (only stored and deflate)`);
        }
        const body = await openBody(zip, entry, path);
        if (kind === S_IFLNK) {
          // Zip keeps a symlink's target as the entry's content (Info-ZIP's convention).
          const target = await readLinkTarget(path, body);
          yield { path, type: "symlink", mode, size: 0, mtime, linkTarget: target };
        } else {
          yield { path, type: "file", mode, size: entry.uncompressedSize, mtime, body };
          // Each entry is read independently: one the consumer skipped is simply closed.
          if (!body.readableEnded) body.destroy();
        }
      }
      options.onArchiveBytes?.(position);
    }
  } finally {
    zip.close();
  }
}

function nextEntry(zip: yauzl.ZipFile): Promise<yauzl.Entry | undefined> {
  return new Promise((resolve, reject) => {
    const onEntry = (e: yauzl.Entry) => done(undefined, e);
    const onEnd = () => done(undefined, undefined);
    const onError = (err: Error) => done(err);
    const done = (err: Error | undefined, e?: yauzl.Entry) => {
      zip.off("entry", onEntry).off("end", onEnd).off("error", onError);
      if (err) reject(corrupt(err));
      else resolve(e);
    };
    zip.on("entry", onEntry).on("end", onEnd).on("error", onError);
    zip.readEntry();
  });
}

/** The entry's decompressed bytes, failing as a corrupt package on a bad size, deflate stream or CRC-32. */
async function openBody(zip: yauzl.ZipFile, entry: yauzl.Entry, path: string): Promise<Readable> {
  const raw = await zip.openReadStreamPromise(entry).catch((e: unknown) => {
    throw corrupt(e);
  });
  async function* checked(): AsyncGenerator<Buffer> {
    let crc = 0;
    try {
      for await (const chunk of raw as AsyncIterable<Buffer>) {
        crc = crc32(chunk, crc);
        yield chunk;
      }
    } catch (e) {
      throw corrupt(e);
    }
    if (crc >>> 0 !== entry.crc32 >>> 0) throw corrupt(new Error(`CRC-32 mismatch in archive entry '${path}'`));
  }
  return Readable.from(checked(), { objectMode: false });
}

async function readLinkTarget(path: string, body: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    length += chunk.length;
    if (length > MAX_LINK_TARGET) {
      body.destroy();
      throw new RuntimeSourceError(`archive entry '${path}' is a symlink with a target longer than ${MAX_LINK_TARGET} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}
