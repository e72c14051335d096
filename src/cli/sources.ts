/**
 * Reads and validates the objects named by -f PATH (a file, a directory, or - for stdin)
 * for apply, diff and delete. Every problem of every document is collected so the user
 * fixes them in one round, each as "file:line: message" that editors and CI logs link to.
 */
import { stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { type Kind, type Manifest, parseManifest } from "../api/index.js";
import {
  describeManifestError,
  fieldLine,
  isManifestError,
  type ManifestDocument,
  type ManifestFile,
  readManifestDir,
  readManifestFile,
  readManifestString,
} from "../store/index.js";
import { CliError, type CliIo } from "./io.js";
import { named } from "./kinds.js";

export interface SourceObject {
  kind: Kind;
  name: string;
  /** As written in the file, defaults not applied. */
  manifest: Manifest;
  /** The file it came from (absolute), or "-" for stdin. */
  file: string;
  line: number;
  /** What `-f` named, absolute (a file or a directory), or "-": recorded for --prune. */
  source: string;
  /** Relative `files` paths resolve from here: the manifest's directory (the cwd for stdin). */
  baseDir: string;
}

export async function readStdin(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString("utf8");
}

async function readPath(path: string, io: CliIo): Promise<{ source: string; files: ManifestFile[] }> {
  if (path === "-") return { source: "-", files: [readManifestString(await readStdin(io.stdin), { file: "-" })] };
  const absolute = resolve(io.cwd, path);
  const info = await stat(absolute).catch((e: NodeJS.ErrnoException) => {
    throw new CliError(e.code === "ENOENT" ? `Path '${path}' does not exist` : `Cannot read '${path}': ${e.code ?? e.message}`);
  });
  if (info.isDirectory()) return { source: absolute, files: await readManifestDir(absolute) };
  return { source: absolute, files: [await readManifestFile(absolute)] };
}

/** Every object in `paths`, validated; throws one CliError listing all problems. */
export async function loadSources(paths: string[], io: CliIo, verb: string): Promise<SourceObject[]> {
  if (paths.length === 0) throw new CliError(`Nothing to ${verb}: give -f FILE, -f DIR or -f -`);
  const problems: string[] = [];
  const objects: SourceObject[] = [];
  const seen = new Map<string, SourceObject>();
  for (const path of paths) {
    const { source, files } = await readPath(path, io);
    for (const file of files) {
      if (isManifestError(file)) {
        problems.push(describeManifestError(file));
        continue;
      }
      for (const document of file.documents) {
        const object = validate(document, file.file, source, io, problems);
        if (object === undefined) continue;
        const key = `${object.kind}/${object.name}`;
        const first = seen.get(key);
        if (first !== undefined) {
          problems.push(`${object.file}:${object.line}: ${named(object.kind, object.name)} is defined twice (first at ${first.file}:${first.line})`);
          continue;
        }
        seen.set(key, object);
        objects.push(object);
      }
    }
  }
  if (problems.length > 0) throw new CliError(`${problems.join("\n")}\nNothing was ${verb === "apply" ? "applied" : "done"}: fix the problems above`);
  if (objects.length === 0) throw new CliError(`No objects to ${verb} in ${paths.map((p) => `'${p}'`).join(", ")}`);
  return objects;
}

function validate(document: ManifestDocument, file: string, source: string, io: CliIo, problems: string[]): SourceObject | undefined {
  const parsed = parseManifest(document.doc);
  if (!parsed.ok) {
    for (const error of parsed.errors) problems.push(`${file}:${fieldLine(document, error.path)}: ${error.message}`);
    return undefined;
  }
  const manifest = parsed.object;
  return {
    kind: manifest.kind,
    name: manifest.metadata.name,
    manifest,
    file,
    line: document.line,
    source,
    baseDir: file === "-" ? io.cwd : dirname(file),
  };
}
