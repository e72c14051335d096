/**
 * A Job's uploads as the remote API carries them (api.md): each `spec.files[i]` sent as
 * its file, or as one entry per file below it for a directory, with the file's mode and
 * its bytes in base64. Paths are normalized relative paths (the server refuses others),
 * symlinks are followed as local apply's copy follows them, and the total is checked
 * against the daemon's cap before anything is read.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { join, posix } from "node:path";
import type { Upload } from "./desired.js";
import { humanBytes } from "./columns.js";
import { CliError } from "./io.js";

/**
 * The daemon's cap on a Job's files (MAX_UPLOAD_BYTES in controllers/job/launch.ts, which
 * the CLI does not import: it would load the isolation addon).
 */
export const MAX_UPLOAD_BYTES = 64 * 1024 * 1024;

export interface EnvelopeFile {
  path: string;
  mode: number;
  content: string;
}

/** `rel` as the API wants it: "./a//b/" is "a/b". */
export function normalizeUpload(upload: Upload, where: string): Upload {
  const rel = posix.normalize(upload.rel).replace(/^(\.\/)+/, "").replace(/\/+$/, "");
  if (rel === "" || rel === "." || rel.startsWith("../") || rel === ".." || posix.isAbsolute(rel)) {
    throw new CliError(`${where}: cannot send '${upload.rel}' to a remote daemon: a file's path must be below the manifest's directory`);
  }
  return { source: upload.source, rel };
}

interface Found {
  path: string;
  rel: string;
  mode: number;
  size: number;
}

async function walk(upload: Upload, where: string): Promise<Found[]> {
  const found: Found[] = [];
  const visit = async (path: string, rel: string): Promise<void> => {
    const info = await stat(path).catch(() => undefined);
    if (info === undefined) throw new CliError(`${where}: file '${rel}' does not exist (looked for ${path})`);
    if (info.isDirectory()) {
      const entries = (await readdir(path)).sort();
      // The envelope carries files only: an empty directory would not arrive (and the
      // daemon's copy would then differ from what local apply copies).
      if (entries.length === 0) throw new CliError(`${where}: '${rel}' is an empty directory, and a remote daemon is sent files only: put a file in it (a .keep) or leave it out`);
      for (const entry of entries) await visit(join(path, entry), `${rel}/${entry}`);
    } else if (info.isFile()) {
      found.push({ path, rel, mode: info.mode & 0o777, size: info.size });
    } else {
      throw new CliError(`${where}: '${rel}' is neither a file nor a directory (${path})`);
    }
  };
  await visit(upload.source, upload.rel);
  return found;
}

/** The envelope's `files` for `uploads` (normalized), in spec.files order. */
export async function envelopeFiles(uploads: Upload[], where: string): Promise<EnvelopeFile[]> {
  const found = (await Promise.all(uploads.map((u) => walk(u, where)))).flat();
  const total = found.reduce((sum, f) => sum + f.size, 0);
  if (total > MAX_UPLOAD_BYTES) {
    throw new CliError(`${where}: the uploaded files come to ${total} bytes (${humanBytes(total)}), more than the ${MAX_UPLOAD_BYTES} (${humanBytes(MAX_UPLOAD_BYTES)}) a Job may carry`);
  }
  return Promise.all(found.map(async (f) => ({ path: f.rel, mode: f.mode, content: (await readFile(f.path)).toString("base64") })));
}
