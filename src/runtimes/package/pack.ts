/**
 * `joblet runtime pack`: a runtime directory as a gzip'd tar that
 * unpackPackage takes back. Entries come in a fixed order (runtime.yml first,
 * so a reader meets it before the tree; then isolated/ depth first, names
 * sorted), owned by uid/gid 0, symlinks stored as links (never followed).
 * Hardlinked files are stored as separate plain files; sockets, fifos and
 * device nodes are left out, since unpacking refuses them. The archive is
 * written to `<out>.tmp` and renamed, so `<out>` is never half-written, and
 * `<out>.sha256` gets the sha256sum line a Runtime's spec.source.package.sha256
 * wants.
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { lstat, readdir, readlink, rename, rm, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { Readable, Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { pack, type Pack } from "tar-stream";

export async function packRuntime(runtimeDir: string, outFile: string): Promise<{ sha256: string; bytes: number }> {
  const yml = await lstat(join(runtimeDir, "runtime.yml")).catch(() => undefined);
  if (!yml?.isFile()) throw new Error(`${runtimeDir} has no runtime.yml file: not a runtime directory`);
  const isolated = await lstat(join(runtimeDir, "isolated")).catch(() => undefined);
  if (!isolated?.isDirectory()) throw new Error(`${runtimeDir} has no isolated/ directory: not a runtime directory`);

  const tmp = `${outFile}.tmp`;
  const tar = pack();
  const hash = createHash("sha256");
  let bytes = 0;
  const measure = new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      hash.update(chunk);
      bytes += chunk.length;
      cb(null, chunk);
    },
  });
  const written = pipeline(Readable.from(tar), createGzip(), measure, createWriteStream(tmp));
  // A failed write (a full disk) stops the entries being added, instead of leaving them waiting.
  written.catch((e: Error) => tar.destroy(e));
  try {
    try {
      await addEntry(tar, runtimeDir, "runtime.yml");
      if (await lstat(join(runtimeDir, "runtime.yml.original")).catch(() => undefined)) {
        await addEntry(tar, runtimeDir, "runtime.yml.original");
      }
      await addTree(tar, runtimeDir, "isolated");
      tar.finalize();
    } catch (e) {
      tar.destroy(e as Error);
      throw e;
    } finally {
      // When writing failed, its error (not the entries' "destroyed") is the one to report.
      await written;
    }
    const sha256 = hash.digest("hex");
    await rename(tmp, outFile);
    await writeFile(`${outFile}.sha256.tmp`, `${sha256}  ${basename(outFile)}\n`);
    await rename(`${outFile}.sha256.tmp`, `${outFile}.sha256`);
    return { sha256, bytes };
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** `rel` and, for a directory, everything below it, children in name order. */
async function addTree(tar: Pack, root: string, rel: string): Promise<void> {
  const isDir = await addEntry(tar, root, rel);
  if (!isDir) return;
  const names = (await readdir(join(root, rel))).sort();
  for (const name of names) await addTree(tar, root, `${rel}/${name}`);
}

/** Adds one path without following it; true when it is a directory to descend into. */
async function addEntry(tar: Pack, root: string, rel: string): Promise<boolean> {
  const path = join(root, rel);
  const st = await lstat(path);
  const common = { mode: st.mode & 0o7777, mtime: st.mtime, uid: 0, gid: 0, uname: "root", gname: "root" };
  if (st.isDirectory()) {
    await entryDone((cb) => tar.entry({ ...common, name: `${rel}/`, type: "directory" }, cb));
    return true;
  }
  if (st.isSymbolicLink()) {
    const linkname = await readlink(path);
    await entryDone((cb) => tar.entry({ ...common, name: rel, type: "symlink", linkname }, cb));
    return false;
  }
  if (!st.isFile()) return false; // socket, fifo, device: nothing a runtime can carry
  await entryDone(async (cb) => {
    const sink = tar.entry({ ...common, name: rel, type: "file", size: st.size }, cb);
    try {
      for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
        if (sink.destroyed) return;
        if (!sink.write(chunk)) {
          await new Promise<void>((resolve) => {
            // Whichever comes first; the other listener goes too, or a big file piles them up.
            const done = () => {
              sink.off("drain", done).off("close", done);
              resolve();
            };
            sink.on("drain", done).on("close", done);
          });
        }
      }
      sink.end(undefined); // tar-stream fails it with 'Size mismatch' if the file changed meanwhile
    } catch (e) {
      sink.destroy(e as Error);
    }
  });
  return false;
}

/** Resolves when tar-stream reports the entry written into the archive. */
function entryDone(start: (cb: (err?: Error | null) => void) => unknown): Promise<void> {
  return new Promise((resolve, reject) => {
    void start((err) => (err ? reject(new Error(`packing failed: ${err.message}`)) : resolve()));
  });
}
