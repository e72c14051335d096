import { stat } from "node:fs/promises";
import { relative } from "node:path";
import { applyDefaults, generation, parseManifest, type Manifest } from "../api/index.js";
import type { Closer, ObjectSource, WatchHint } from "../reconciler/index.js";
import { watchDirectory } from "../reconciler/index.js";
import {
  describeManifestError,
  fieldLine,
  isManifestError,
  listManifestFiles,
  readManifestFile,
  type ManifestDocument,
  type ManifestFile,
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
  /** What identifies this version of the file on disk: re-parse only when it changes. */
  stamp: string;
  result: ManifestFile;
}

/**
 * The manifests directory as an ObjectSource: keys are kind/name, never paths.
 * Files are re-parsed only when their size, mtime or inode changed, so a
 * re-list of 10,000 manifests costs 10,000 stats.
 */
export class ManifestDirectorySource implements ObjectSource<ManifestEntry> {
  private readonly files = new Map<string, FileState>();
  private readonly lastGood = new Map<string, ManifestEntry>();
  /** Problems that concern no object (a file with no kind/name to attach them to), for the daemon's log. */
  orphanProblems: string[] = [];

  constructor(private readonly dir: string) {}

  watch(onChange: (hint?: WatchHint) => void): Closer {
    return watchDirectory(this.dir, onChange);
  }

  async list(): Promise<Map<string, ManifestEntry>> {
    const { files, errors } = await listManifestFiles(this.dir);
    const orphanProblems = errors.map(describeManifestError);
    const seen = new Set<string>();
    const claims = new Map<string, ManifestEntry[]>();
    const claim = (entry: ManifestEntry) => {
      const key = `${entry.kind}/${entry.name}`;
      claims.set(key, [...(claims.get(key) ?? []), entry]);
    };
    for (const path of files) {
      seen.add(path);
      const result = await this.read(path);
      const file = relative(this.dir, path);
      if (isManifestError(result)) {
        // The file does not parse: every object it held keeps its last good spec, with the error.
        const message = describeManifestError({ ...result, file });
        for (const entry of this.lastGood.values()) {
          if (entry.file === file) claim({ ...entry, problem: { reason: "InvalidManifest", message } });
        }
        continue;
      }
      for (const document of result.documents) {
        const entry = this.entryOf(document, file, orphanProblems);
        if (entry) claim(entry);
      }
    }
    for (const path of this.files.keys()) if (!seen.has(path)) this.files.delete(path);

    const entries = new Map<string, ManifestEntry>();
    for (const [key, found] of claims) {
      const previous = this.lastGood.get(key);
      if (found.length > 1) {
        const where = found.map((e) => e.file).sort().join(", ");
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

  private async read(path: string): Promise<ManifestFile> {
    let stamp: string;
    try {
      const st = await stat(path, { bigint: true });
      stamp = `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
    } catch {
      stamp = "missing";
    }
    const cached = this.files.get(path);
    if (cached && cached.stamp === stamp) return cached.result;
    const result = await readManifestFile(path);
    this.files.set(path, { stamp, result });
    return result;
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
