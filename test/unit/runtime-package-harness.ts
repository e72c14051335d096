/**
 * Shared pieces of the runtime package tests: temp dirs, a recording
 * BuildContext, crafted archives (tar-stream lets a test write any header,
 * which is how hostile packages are made) and a tree listing to compare.
 */
import { createHash } from "node:crypto";
import { lstat, mkdtemp, readdir, readFile, readlink, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { pack, type Header } from "tar-stream";
import yazl from "yazl";
import type { BuildContext, BuildProgress } from "../../src/runtimes/build-context.js";

const temps: string[] = [];

export async function tempDir(label = "pkg"): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `joblet-${label}-`));
  temps.push(dir);
  return dir;
}

export async function removeTemps(): Promise<void> {
  await Promise.all(temps.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}

export interface RecordingContext extends BuildContext {
  logs: string[];
  progresses: BuildProgress[];
  controller: AbortController;
}

export function recordingContext(dir: string): RecordingContext {
  const controller = new AbortController();
  const logs: string[] = [];
  const progresses: BuildProgress[] = [];
  return {
    dir,
    log: (line) => logs.push(line),
    progress: (p) => progresses.push(p),
    signal: controller.signal,
    logs,
    progresses,
    controller,
  };
}

export interface TarItem {
  header: Partial<Header> & { name: string };
  body?: string | Buffer;
}

/** A .tar.gz holding exactly these headers, in this order. */
export async function craftTarGz(items: TarItem[]): Promise<Buffer> {
  const tar = pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of tar) chunks.push(chunk as Buffer);
  })();
  for (const { header, body } of items) {
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (body !== undefined) tar.entry({ mode: 0o644, ...header }, body, cb);
      else tar.entry({ mode: header.type === "directory" ? 0o755 : 0o644, ...header }, cb);
    });
  }
  tar.finalize();
  await collected;
  return gzipSync(Buffer.concat(chunks));
}

export const file = (name: string, body: string | Buffer, mode = 0o644): TarItem => ({ header: { name, type: "file", mode }, body });
export const directory = (name: string, mode = 0o755): TarItem => ({ header: { name, type: "directory", mode } });
export const symlinkItem = (name: string, linkname: string): TarItem => ({ header: { name, type: "symlink", linkname, mode: 0o777 } });
export const hardlinkItem = (name: string, linkname: string): TarItem => ({ header: { name, type: "link", linkname } });

/** The smallest acceptable package, plus whatever a test adds. */
export function minimal(...extra: TarItem[]): TarItem[] {
  return [file("runtime.yml", "name: minimal\n"), directory("isolated"), file("isolated/bin/true", "#!/bin/sh\n", 0o755), ...extra];
}

export interface ZipItem {
  name: string;
  body?: string | Buffer;
  mode?: number;
  directory?: boolean;
}

export async function craftZip(items: ZipItem[]): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const item of items) {
    if (item.directory) zip.addEmptyDirectory(item.name, item.mode === undefined ? {} : { mode: item.mode });
    else zip.addBuffer(Buffer.from(item.body ?? ""), item.name, item.mode === undefined ? {} : { mode: item.mode });
  }
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

export async function writeTemp(dir: string, name: string, data: Buffer | string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, data);
  return path;
}

export function sha256(data: Buffer | string): string {
  return createHash("sha256").update(data).digest("hex");
}

export interface Listed {
  type: "file" | "dir" | "symlink" | "other";
  mode: number;
  target?: string;
  sha256?: string;
}

/** Every path below `root` (relative, sorted) with its type, permission bits, link target or content hash. */
export async function listTree(root: string): Promise<Record<string, Listed>> {
  const out: Record<string, Listed> = {};
  const walk = async (rel: string): Promise<void> => {
    const names = (await readdir(join(root, rel))).sort();
    for (const name of names) {
      const child = rel ? `${rel}/${name}` : name;
      const path = join(root, child);
      const st = await lstat(path);
      const mode = st.mode & 0o7777;
      if (st.isSymbolicLink()) out[child] = { type: "symlink", mode: 0o777, target: await readlink(path) };
      else if (st.isDirectory()) {
        out[child] = { type: "dir", mode };
        await walk(child);
      } else if (st.isFile()) out[child] = { type: "file", mode, sha256: sha256(await readFile(path)) };
      else out[child] = { type: "other", mode };
    }
  };
  await walk("");
  return out;
}
