/**
 * A Job's uploaded files, as they travel in a PUT's envelope:
 *
 *   {"manifest": {...}, "files": [{"path": "rel/path", "mode": 420, "content": "<base64>"}]}
 *
 * Entries are decoded into a private temp dir (paths checked: relative, normalized, no
 * '..', no NUL; modes kept; the decoded total capped), and each `spec.files[i].path` must
 * then name an entry or a directory of entries. The result is what local `apply` hands to
 * plan(): uploads on disk, so the same staging (.NAME.files/<hash>) follows.
 */
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, posix } from "node:path";
import { relativePathProblem } from "../api/fields.js";
import type { Upload } from "../cli/desired.js";
import { MAX_FILES_BYTES } from "../controllers/job/launch.js";
import { HttpError } from "./http.js";

export interface UploadEntry {
  path: string;
  mode: number;
  content: Buffer;
}

export interface StagedUploads {
  uploads: Upload[];
  /** Removes the temp dir; call once the uploads are copied (or not needed). */
  remove(): Promise<void>;
}

// Checked by length and one character class: a grouped pattern backtracks out of stack on 80 MB.
const BASE64_CHARS = /^[A-Za-z0-9+/]*={0,2}$/;
const isBase64 = (text: string) => text.length % 4 === 0 && BASE64_CHARS.test(text);

function bad(message: string): HttpError {
  return new HttpError(400, message);
}

/** Checks and decodes the envelope's `files`; throws 400 (or 413 past the decoded cap) naming the entry. */
export function decodeEntries(files: unknown): UploadEntry[] {
  if (files === undefined) return [];
  if (!Array.isArray(files)) throw bad("files must be a list of {path, mode, content}");
  const entries: UploadEntry[] = [];
  const seen = new Set<string>();
  let total = 0;
  files.forEach((file: unknown, i) => {
    const at = `files[${i}]`;
    if (file === null || typeof file !== "object" || Array.isArray(file)) throw bad(`${at} must be a mapping of path, mode and content`);
    const { path, mode, content, ...rest } = file as Record<string, unknown>;
    const extra = Object.keys(rest)[0];
    if (extra !== undefined) throw bad(`${at}.${extra} is not a known field (path, mode, content)`);
    if (typeof path !== "string") throw bad(`${at}.path must be a string`);
    const problem = relativePathProblem(path) ?? (posix.normalize(path) !== path || path.endsWith("/") || path === "." ? "must be a normalized path (no '.', '//' or trailing '/')" : undefined);
    if (problem !== undefined) throw bad(`${at}.path '${path.replaceAll("\0", "\\0")}' ${problem}`);
    if (typeof mode !== "number" || !Number.isInteger(mode) || mode < 0 || mode > 0o777) throw bad(`${at}.mode must be a file mode from 0 to 511 (0777)`);
    if (typeof content !== "string" || !isBase64(content)) throw bad(`${at}.content must be base64`);
    if (seen.has(path)) throw bad(`${at}.path '${path}' is sent twice`);
    seen.add(path);
    const bytes = Buffer.from(content, "base64");
    total += bytes.length;
    if (total > MAX_FILES_BYTES) throw new HttpError(413, `The uploaded files add up to more than the limit of ${MAX_FILES_BYTES} bytes (at ${at}.path '${path}')`);
    entries.push({ path, mode, content: bytes });
  });
  // A file that is also a directory of other entries cannot be written.
  for (const entry of entries) {
    for (let dir = posix.dirname(entry.path); dir !== "."; dir = posix.dirname(dir)) {
      if (seen.has(dir)) throw bad(`files: '${dir}' is sent as a file and as the directory of '${entry.path}'`);
    }
  }
  return entries;
}

/** Writes the entries into a private temp dir and matches them to `spec.files`. */
export async function stageEntries(specFiles: { path: string }[], entries: UploadEntry[]): Promise<StagedUploads> {
  const covered = (entry: UploadEntry, path: string) => entry.path === path || entry.path.startsWith(`${path}/`);
  specFiles.forEach((file, i) => {
    if (!entries.some((entry) => covered(entry, file.path))) {
      throw bad(`spec.files[${i}].path '${file.path}' has no content in the request: send it in the envelope's files`);
    }
  });
  const stray = entries.find((entry) => !specFiles.some((file) => covered(entry, file.path)));
  if (stray !== undefined) throw bad(`files: '${stray.path}' is under no spec.files path`);
  if (entries.length === 0) return { uploads: [], remove: async () => undefined };
  const dir = await mkdtemp(join(tmpdir(), "joblet-upload-"));
  const remove = () => rm(dir, { recursive: true, force: true });
  try {
    for (const entry of entries) {
      const to = join(dir, entry.path);
      await mkdir(dirname(to), { recursive: true, mode: 0o755 });
      await writeFile(to, entry.content, { flag: "wx" });
      // writeFile's mode goes through the umask: set it as sent.
      await chmod(to, entry.mode);
    }
  } catch (e) {
    await remove();
    throw e;
  }
  return { uploads: specFiles.map((file) => ({ source: join(dir, file.path), rel: file.path })), remove };
}
