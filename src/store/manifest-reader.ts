import { open, readdir, realpath, stat } from "node:fs/promises";
import { join } from "node:path";
import yaml from "js-yaml";
import { type FieldPath, type FieldPosition, findJsonField, findYamlField, parseFieldPath } from "./field-position.js";
import { jsonErrorPosition } from "./json-error.js";
import { isIgnoredName, isJsonFileName, isManifestFileName } from "./manifest-files.js";
import { splitYamlDocuments } from "./yaml-split.js";

/**
 * Reads manifests as raw documents with the place they came from. Nothing here knows
 * about kinds or schemas: validation happens above, and uses `fieldLine` to point its
 * errors at a file and line.
 *
 * YAML is read with the YAML 1.2 core schema: `on`, `yes`, `no` stay strings, `0755` is
 * the decimal 755, dates stay strings. JSON files hold one object each, or a
 * `{"kind": "List", "items": [...]}` as kubectl writes; a List is expanded in YAML too.
 */

export interface DocumentSource {
  format: "yaml" | "json";
  /** The document's own text (for YAML, from its `---` on). */
  text: string;
  /** 1-based line of `text`'s first line in the file. */
  firstLine: number;
  /** Path of this document inside `text`: ["items", i] for an item of a List. */
  prefix: FieldPath;
}

export interface ManifestDocument {
  doc: unknown;
  /** 1-based line where the document starts (its `---`, else its first content line). */
  line: number;
  /** Position among the file's documents (after List expansion), from 0. */
  index: number;
  source: DocumentSource;
}

export interface ManifestParseError {
  message: string;
  /** 1-based; 0 when the error has no position (the file could not be read). */
  line: number;
  /** 1-based; 0 when the error has no position. */
  column: number;
}

export interface ManifestFileDocuments {
  file: string;
  documents: ManifestDocument[];
}

export interface ManifestFileError {
  file: string;
  error: ManifestParseError;
}

export type ManifestFile = ManifestFileDocuments | ManifestFileError;

export interface ReadManifestOptions {
  /** Files larger than this are reported as errors instead of read (default 8 MiB). */
  maxFileBytes?: number;
}

export const DEFAULT_MAX_FILE_BYTES = 8 * 1024 * 1024;

// Aliases are shared references after parsing: a few lines of `&a`/`*a` can describe a
// tree of billions of values that blows up whoever serializes or walks it next.
const MAX_VALUES = 1_000_000;
const READ_CONCURRENCY = 32;

export function isManifestError(result: ManifestFile): result is ManifestFileError {
  return "error" in result;
}

/** "file:line:column: message", the form editors and CI logs link to. */
export function describeManifestError(result: ManifestFileError): string {
  const { line, column, message } = result.error;
  return line > 0 ? `${result.file}:${line}:${column}: ${message}` : `${result.file}: ${message}`;
}

/** Parses manifest text, e.g. `joblet apply -f -`. YAML unless told it is JSON. */
export function readManifestString(text: string, options: { file?: string; format?: "yaml" | "json" } = {}): ManifestFile {
  const file = options.file ?? "-";
  const body = text.startsWith("\uFEFF") ? text.slice(1) : text;
  return (options.format ?? "yaml") === "json" ? parseJson(file, body) : parseYaml(file, body);
}

/** Reads one manifest file; problems come back as a ManifestFileError, never thrown. */
export async function readManifestFile(path: string, options: ReadManifestOptions = {}): Promise<ManifestFile> {
  const result = await loadFile(path, options);
  return result ?? { file: path, error: { message: "File does not exist", line: 0, column: 0 } };
}

/**
 * Reads every manifest below `dir` (recursively, skipping dot-dirs and editor files), in
 * path order. A file that fails to parse is reported in place; the others still load.
 * Throws only when `dir` itself cannot be read.
 */
export async function readManifestDir(dir: string, options: ReadManifestOptions = {}): Promise<ManifestFile[]> {
  const { files, errors } = await listManifestFiles(dir);
  const results: (ManifestFile | undefined)[] = new Array(files.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const i = next++;
      // A file removed between listing and reading (an editor's save) is simply gone.
      results[i] = await loadFile(files[i]!, options);
    }
  };
  await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, files.length) }, worker));
  const loaded = results.filter((r): r is ManifestFile => r !== undefined);
  return [...loaded, ...errors].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
}

/** Manifest file paths below `dir`, plus errors for subdirectories that cannot be read. */
export async function listManifestFiles(dir: string): Promise<{ files: string[]; errors: ManifestFileError[] }> {
  const files: string[] = [];
  const errors: ManifestFileError[] = [];
  const visited = new Set<string>();
  const walk = async (d: string, isRoot: boolean): Promise<void> => {
    let entries;
    try {
      const real = await realpath(d);
      if (visited.has(real)) return; // a symlink loop
      visited.add(real);
      entries = await readdir(d, { withFileTypes: true });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (isRoot) throw new Error(`Cannot read manifests directory ${d}: ${err.code ?? err.message}`, { cause: e });
      if (err.code !== "ENOENT") errors.push({ file: d, error: { message: `Cannot read directory: ${err.code ?? err.message}`, line: 0, column: 0 } });
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (isIgnoredName(entry.name)) continue;
      const path = join(d, entry.name);
      let isDir = entry.isDirectory();
      let isFile = entry.isFile();
      if (entry.isSymbolicLink()) {
        // Followed: a ConfigMap-style mount is made of links into a dot-dir.
        const target = await stat(path).catch(() => undefined);
        isDir = target?.isDirectory() ?? false;
        isFile = target?.isFile() ?? false;
      }
      if (isDir) await walk(path, false);
      else if (isFile && isManifestFileName(entry.name)) files.push(path);
    }
  };
  await walk(dir, true);
  return { files, errors };
}

/** Line of `path` ("spec.resources.memory") inside a document; its start line when absent. */
export function fieldLine(document: ManifestDocument, path: string | FieldPath): number {
  return fieldPosition(document, path).line;
}

export function fieldPosition(document: ManifestDocument, path: string | FieldPath): FieldPosition {
  const { format, text, firstLine, prefix } = document.source;
  const full = [...prefix, ...parseFieldPath(path)];
  return format === "json" ? findJsonField(text, full, firstLine) : findYamlField(text, full, firstLine);
}

async function loadFile(path: string, options: ReadManifestOptions): Promise<ManifestFile | undefined> {
  const max = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  let text: string;
  try {
    const handle = await open(path, "r");
    try {
      const { size } = await handle.stat();
      if (size > max) return fileError(path, `File is ${size} bytes, more than the limit of ${max}`);
      text = await handle.readFile("utf8");
    } finally {
      await handle.close();
    }
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === "ENOENT") return undefined;
    return fileError(path, `Cannot read file: ${err.code ?? err.message}`);
  }
  return readManifestString(text, { file: path, format: isJsonFileName(path) ? "json" : "yaml" });
}

function fileError(file: string, message: string, line = 0, column = 0): ManifestFileError {
  return { file, error: { message, line, column } };
}

function sentence(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function parseYaml(file: string, text: string): ManifestFile {
  const documents: ManifestDocument[] = [];
  for (const chunk of splitYamlDocuments(text)) {
    let value: unknown;
    try {
      value = yaml.load(chunk.text, { schema: yaml.CORE_SCHEMA, filename: file });
    } catch (e) {
      if (!(e instanceof yaml.YAMLException)) throw e;
      const mark = e.mark as yaml.Mark | undefined;
      const line = mark ? chunk.firstLine + mark.line : chunk.line;
      return fileError(file, sentence(e.reason || e.message), line, mark ? mark.column + 1 : 1);
    }
    // Empty documents (a trailing `---`, a file of comments) hold no object, as with kubectl.
    if (value === null || value === undefined) continue;
    if (tooLarge(value)) return fileError(file, `Document expands to more than ${MAX_VALUES} values (through aliases?)`, chunk.line, 1);
    const source: DocumentSource = { format: "yaml", text: chunk.text, firstLine: chunk.firstLine, prefix: [] };
    addDocuments(documents, value, chunk.line, source);
  }
  return { file, documents };
}

function parseJson(file: string, text: string): ManifestFile {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    const { line, column } = jsonErrorPosition(text);
    return fileError(file, sentence((e as Error).message), line, column);
  }
  const start = firstNonSpace(text);
  const line = 1 + countNewlines(text, start);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    const what = Array.isArray(value) ? "an array" : value === null ? "null" : `a ${typeof value}`;
    return fileError(file, `A JSON manifest file holds one object (or a {"kind": "List", "items": [...]}), not ${what}`, line, 1);
  }
  const documents: ManifestDocument[] = [];
  addDocuments(documents, value, line, { format: "json", text, firstLine: 1, prefix: [] });
  return { file, documents };
}

function addDocuments(documents: ManifestDocument[], value: unknown, line: number, source: DocumentSource): void {
  if (isList(value)) {
    value.items.forEach((item, i) => {
      const prefix = ["items", i];
      const find = source.format === "json" ? findJsonField : findYamlField;
      const at = find(source.text, prefix, source.firstLine);
      documents.push({ doc: item, line: at.found ? at.line : line, index: documents.length, source: { ...source, prefix } });
    });
    return;
  }
  documents.push({ doc: value, line, index: documents.length, source });
}

function isList(value: unknown): value is { kind: "List"; items: unknown[] } {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return v.kind === "List" && Array.isArray(v.items);
}

function tooLarge(value: unknown): boolean {
  const stack: unknown[] = [value];
  let count = 0;
  while (stack.length > 0) {
    const v = stack.pop();
    if (++count > MAX_VALUES) return true;
    if (Array.isArray(v)) for (const x of v) stack.push(x);
    else if (typeof v === "object" && v !== null) for (const x of Object.values(v)) stack.push(x);
  }
  return false;
}

function firstNonSpace(text: string): number {
  const m = /\S/.exec(text);
  return m ? m.index : 0;
}

function countNewlines(text: string, end: number): number {
  let n = 0;
  for (let i = text.indexOf("\n"); i !== -1 && i < end; i = text.indexOf("\n", i + 1)) n++;
  return n;
}
