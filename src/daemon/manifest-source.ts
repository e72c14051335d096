import { stat } from "node:fs/promises";
import { relative } from "node:path";
import { applyDefaults, generation, parseManifest, type Manifest } from "../api/index.js";
import type { Closer, ObjectSource, WatchHint } from "../reconciler/index.js";
import { watchDirectory } from "../reconciler/index.js";
import {
  describeManifestError,
  fieldLine,
  isManifestError,
  isManifestPath,
  listManifestFiles,
  readManifestFile,
  type ManifestDocument,
} from "../store/index.js";

/** Why an object's manifest cannot be used as written. */
export interface ManifestProblem {
  reason: "InvalidManifest" | "Conflict";
  /** Names the file, line and field. */
  message: string;
}

/**
 * One object of the manifests dir as the controllers see it: the last good
 * manifest (defaults applied) and, when the current file is broken or the
 * name is claimed twice, the problem. A broken file never takes an object's
 * last good spec away.
 */
export interface ManifestEntry {
  kind: string;
  name: string;
  /** The file the spec came from, relative to the manifests dir. */
  file: string;
  manifest?: Manifest;
  generation?: string;
  problem?: ManifestProblem;
}

interface FileState {
  /** Relative to the manifests dir. */
  file: string;
  /** What identifies this version of the file on disk: re-parse only when it changes. */
  stamp: string;
  /** The file's objects, validated once per version; or why the file cannot be read. */
  entries: ManifestEntry[];
  error?: string;
}

/**
 * The manifests directory as an ObjectSource: keys are kind/name, never paths.
 * Files are re-parsed only when their size, mtime or inode changed, so a
 * re-list of 10,000 manifests costs 10,000 stats.
 */
export class ManifestDirectorySource implements ObjectSource<ManifestEntry> {
  /** By absolute path. */
  private readonly files = new Map<string, FileState>();
  private readonly lastGood = new Map<string, ManifestEntry>();
  /** Problems that concern no object (a file with no kind/name to attach them to), for the daemon's log. */
  orphanProblems: string[] = [];
  /** Directories that could not be walked, from the last full walk. */
  private walkProblems: string[] = [];

  /**
   * settleMs: quiet time after the last file event before re-listing. Short,
   * so a written manifest runs within milliseconds; a file caught half-written
   * keeps its objects' last good spec, and a file that is briefly empty does
   * not remove them (the controller waits before acting on a disappearance).
   */
  constructor(
    private readonly dir: string,
    private readonly settleMs = 2,
  ) {}

  watch(onChange: (hint?: WatchHint) => void): Closer {
    return watchDirectory(this.dir, onChange, { settleMs: this.settleMs });
  }

  /**
   * Every object by kind/name. With `changed` (paths the watcher saw), only
   * those files are read again; without it the whole directory is walked.
   * Each file is parsed and validated once per version on disk.
   */
  async list(changed?: ReadonlySet<string>): Promise<Map<string, ManifestEntry>> {
    if (changed === undefined || this.files.size === 0) {
      const { files, errors } = await listManifestFiles(this.dir);
      this.walkProblems = errors.map(describeManifestError);
      const present = new Set(files);
      for (const path of this.files.keys()) if (!present.has(path)) this.files.delete(path);
      await inBatches(files, (path) => this.refresh(path));
    } else {
      for (const path of changed) if (isManifestPath(relative(this.dir, path))) await this.refresh(path);
    }
    return this.merge();
  }

  /** Re-read one file if it changed on disk; forget it if it is gone. */
  private async refresh(path: string): Promise<void> {
    let stamp: string;
    try {
      const st = await stat(path, { bigint: true });
      if (!st.isFile()) throw new Error("not a file");
      stamp = `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
    } catch {
      this.files.delete(path);
      return;
    }
    if (this.files.get(path)?.stamp === stamp) return;
    const result = await readManifestFile(path);
    const file = relative(this.dir, path);
    if (isManifestError(result)) {
      this.files.set(path, { file, stamp, entries: [], error: describeManifestError({ ...result, file }) });
      return;
    }
    const problems: string[] = [];
    const entries = result.documents.map((d) => this.entryOf(d, file, problems)).filter((e): e is ManifestEntry => e !== undefined);
    this.files.set(path, { file, stamp, entries, ...(problems.length ? { error: problems.join("; ") } : {}) });
  }

  /** One entry per kind/name from the files' entries: last good specs, problems and conflicts. */
  private merge(): Map<string, ManifestEntry> {
    const claims = new Map<string, ManifestEntry[]>();
    const claim = (entry: ManifestEntry) => {
      const key = `${entry.kind}/${entry.name}`;
      claims.set(key, [...(claims.get(key) ?? []), entry]);
    };
    const orphanProblems = [...this.walkProblems];
    for (const state of this.files.values()) {
      for (const entry of state.entries) claim(entry);
      if (state.error && state.entries.length === 0) {
        // A file that does not parse: every object it held keeps its last good spec, with the error.
        const held = [...this.lastGood.values()].filter((e) => e.file === state.file);
        for (const entry of held) claim({ ...entry, problem: { reason: "InvalidManifest", message: state.error } });
        if (held.length === 0) orphanProblems.push(state.error);
      } else if (state.error) {
        orphanProblems.push(state.error);
      }
    }
    const entries = new Map<string, ManifestEntry>();
    for (const [key, found] of claims) {
      const previous = this.lastGood.get(key);
      if (found.length > 1) {
        const where = [...new Set(found.map((e) => e.file))].sort().join(", ");
        const [kind, name] = key.split("/");
        entries.set(key, {
          ...(previous ?? { kind: kind!, name: name!, file: found[0]!.file }),
          problem: { reason: "Conflict", message: `${kind} '${name}' is defined in more than one file: ${where}` },
        });
        continue;
      }
      const entry = found[0]!;
      if (entry.problem && previous) {
        entries.set(key, { ...previous, problem: entry.problem });
      } else {
        entries.set(key, entry);
        if (!entry.problem) this.lastGood.set(key, entry);
      }
    }
    for (const key of this.lastGood.keys()) if (!entries.has(key)) this.lastGood.delete(key);
    this.orphanProblems = orphanProblems;
    return entries;
  }

  private entryOf(document: ManifestDocument, file: string, orphanProblems: string[]): ManifestEntry | undefined {
    const parsed = parseManifest(document.doc);
    if (parsed.ok) {
      const manifest = applyDefaults(parsed.object);
      return {
        kind: manifest.kind,
        name: manifest.metadata.name,
        file,
        manifest,
        generation: generation(parsed.object.spec),
      };
    }
    const raw = (document.doc ?? {}) as { kind?: unknown; metadata?: { name?: unknown } };
    const details = parsed.errors
      .map((e) => `${file}:${fieldLine(document, e.field || "")}: ${e.message}`)
      .join("; ");
    if (typeof raw.kind === "string" && typeof raw.metadata?.name === "string") {
      return { kind: raw.kind, name: raw.metadata.name, file, problem: { reason: "InvalidManifest", message: details } };
    }
    orphanProblems.push(details);
    return undefined;
  }
}

/** Run `work` over `items`, 64 at a time: file reads overlap without opening thousands of files at once. */
export async function inBatches<T>(items: readonly T[], work: (item: T) => Promise<void>, width = 64): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, lane));
}
