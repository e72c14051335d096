/**
 * Turns objects into what `apply` writes to manifests/<kind-plural>/<name>.yaml, and
 * writes, prunes and removes them. Shared by apply, diff, run and delete so that a diff
 * after an apply is empty and `run` writes exactly what `apply` would.
 *
 * A Job's `files` are relative to its manifest; once the manifest lives in the manifests
 * dir they would no longer resolve, so they are copied next to it into
 * .<name>.files/<content hash>/ (a dot-dir: the daemon's reader and watcher skip it) and
 * the paths rewritten. The hash is part of the path, hence of the spec: changing an
 * uploaded file changes the Job's generation and gives it a new run, as changing its
 * manifest would.
 */
import { createHash } from "node:crypto";
import { cp, mkdir, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import { KINDS, type Kind, type Manifest, parseManifest } from "../api/index.js";
import { DesiredStore, isInside, isManifestError, readManifestFile, toYaml, type StateLayout } from "../store/index.js";
import { CliError } from "./io.js";

export const APPLIED_FROM = "joblet/applied-from";
export const PRUNE = "joblet/prune";

/** A file or directory to copy beside the manifest: `source` on disk, landing at `rel` in the hash dir. */
export interface Upload {
  source: string;
  rel: string;
}

export interface DesiredInput {
  kind: Kind;
  name: string;
  manifest: Manifest;
  /** Absolute path of the -f source, "-" for stdin; undefined for `run` (never pruned). */
  appliedFrom?: string;
  /** For Jobs: where `spec.files[i]` comes from, index for index. */
  uploads: Upload[];
}

export type Outcome = "created" | "configured" | "unchanged";

export interface PlannedObject {
  kind: Kind;
  name: string;
  /** The manifest as it will be written. */
  manifest: Manifest;
  text: string;
  /** What the manifests dir holds now, if anything. */
  current?: string;
  outcome: Outcome;
  uploads: Upload[];
  /** .<name>.files/<hash>, relative to the manifest's directory; undefined without uploads. */
  filesDir?: string;
}

export function filesRoot(layout: StateLayout, kind: string, name: string): string {
  return join(dirname(new DesiredStore(layout).path(kind, name)), `.${name}.files`);
}

/** Uploads for `spec.files` of an applied manifest: paths relative to its file, checked to stay there. */
export function manifestUploads(manifest: Manifest, baseDir: string, where: string): Upload[] {
  if (manifest.kind !== "Job") return [];
  return (manifest.spec.files ?? []).map((file, i) => {
    const source = resolve(baseDir, file.path);
    if (!isInside(baseDir, source)) throw new CliError(`${where}: spec.files[${i}].path '${file.path}' leaves the manifest's directory`);
    return { source, rel: file.path };
  });
}

async function hashUploads(uploads: Upload[], where: string): Promise<string> {
  const hash = createHash("sha256");
  const add = async (path: string, rel: string): Promise<void> => {
    const info = await stat(path).catch(() => undefined);
    if (info === undefined) throw new CliError(`${where}: file '${rel}' does not exist (looked for ${path})`);
    if (info.isDirectory()) {
      hash.update(`d\0${rel}\0`);
      for (const entry of (await readdir(path)).sort()) await add(join(path, entry), `${rel}/${entry}`);
    } else {
      hash.update(`f\0${rel}\0${info.mode & 0o777}\0`);
      hash.update(await readFile(path));
      hash.update("\0");
    }
  };
  for (const upload of uploads) await add(upload.source, upload.rel);
  return hash.digest("hex").slice(0, 12);
}

/**
 * The manifest applying `input` stores: the source annotation added, and a Job's
 * `files` pointing at their copies in .<name>.files/<hash>/ (`filesDir`). Checked again,
 * as the rewriting must leave it valid. Reads the uploads (for the hash), writes nothing.
 */
export async function desiredManifest(input: DesiredInput, where: string): Promise<{ manifest: Manifest; filesDir?: string }> {
  const manifest = structuredClone(input.manifest);
  if (input.appliedFrom !== undefined) {
    manifest.metadata.annotations = { ...manifest.metadata.annotations, [APPLIED_FROM]: input.appliedFrom };
  }
  let filesDir: string | undefined;
  if (manifest.kind === "Job" && input.uploads.length > 0) {
    filesDir = `.${input.name}.files/${await hashUploads(input.uploads, where)}`;
    const files = manifest.spec.files ?? [];
    manifest.spec.files = input.uploads.map((upload, i) => {
      const target = files[i]?.target;
      return target === undefined ? { path: `${filesDir}/${upload.rel}` } : { path: `${filesDir}/${upload.rel}`, target };
    });
  }
  const checked = parseManifest(manifest);
  if (!checked.ok) throw new CliError(`${where}: ${checked.errors[0]?.message ?? "invalid manifest"}`);
  return { manifest, filesDir };
}

/** What applying `input` would write, and whether that changes anything. Writes nothing. */
export async function plan(layout: StateLayout, input: DesiredInput, where: string): Promise<PlannedObject> {
  const { manifest, filesDir } = await desiredManifest(input, where);
  const text = toYaml(manifest);
  const current = await readFile(new DesiredStore(layout).path(input.kind, input.name), "utf8").catch(() => undefined);
  const outcome: Outcome = current === undefined ? "created" : current === text ? "unchanged" : "configured";
  return { kind: input.kind, name: input.name, manifest, text, current, outcome, uploads: input.uploads, filesDir };
}

/** Copies the uploads (before the manifest that names them), writes the manifest, drops stale copies. */
export async function write(layout: StateLayout, planned: PlannedObject): Promise<Outcome> {
  const root = filesRoot(layout, planned.kind, planned.name);
  if (planned.filesDir !== undefined) {
    const target = join(dirname(root), planned.filesDir);
    if (!(await exists(target))) {
      // Copied aside and renamed into place, so the daemon never sees half the files.
      const temp = join(root, `.partial-${process.pid}-${Date.now()}`);
      await rm(temp, { recursive: true, force: true });
      for (const upload of planned.uploads) {
        const to = join(temp, upload.rel);
        await mkdir(dirname(to), { recursive: true });
        await cp(upload.source, to, { recursive: true, dereference: true, preserveTimestamps: true });
      }
      await rename(temp, target).catch(async (e: NodeJS.ErrnoException) => {
        await rm(temp, { recursive: true, force: true });
        if (!(await exists(target))) throw e; // a concurrent apply of the same content may have won
      });
    }
  }
  if (planned.outcome !== "unchanged") await new DesiredStore(layout).writeText(planned.kind, planned.name, planned.text);
  await sweepFiles(root, planned.filesDir?.split("/")[1]);
  return planned.outcome;
}

/** Removes copies of earlier uploads; all of them when `keep` is undefined. */
async function sweepFiles(root: string, keep: string | undefined): Promise<void> {
  if (keep === undefined) return rm(root, { recursive: true, force: true });
  for (const entry of await readdir(root).catch(() => [] as string[])) {
    if (entry !== keep) await rm(join(root, entry), { recursive: true, force: true });
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Deletes an object's desired manifest and its uploaded files; false when there was no manifest. */
export async function removeDesired(layout: StateLayout, kind: Kind, name: string): Promise<boolean> {
  const removed = await new DesiredStore(layout).remove(kind, name);
  await rm(filesRoot(layout, kind, name), { recursive: true, force: true });
  return removed;
}

export interface AppliedObject {
  kind: Kind;
  name: string;
  appliedFrom?: string;
  prune: boolean;
}

/** Objects `apply` wrote earlier (manifests/<kind-plural>/<name>.yaml), with their source annotation. */
export async function listApplied(layout: StateLayout): Promise<AppliedObject[]> {
  const store = new DesiredStore(layout);
  const out: AppliedObject[] = [];
  for (const kind of KINDS) {
    for (const name of await store.list(kind)) {
      const file = await readManifestFile(store.path(kind, name));
      if (isManifestError(file)) continue;
      for (const document of file.documents) {
        const parsed = parseManifest(document.doc);
        if (!parsed.ok || parsed.object.kind !== kind || parsed.object.metadata.name !== name) continue;
        const annotations = parsed.object.metadata.annotations ?? {};
        out.push({ kind, name, appliedFrom: annotations[APPLIED_FROM], prune: annotations[PRUNE] !== "false" });
      }
    }
  }
  return out;
}

/** True when an object applied from `appliedFrom` belongs to the -f source `source` (itself, or a file below a directory). */
export function fromSource(appliedFrom: string | undefined, source: string): boolean {
  if (appliedFrom === undefined) return false;
  if (source === "-" || appliedFrom === "-") return source === appliedFrom;
  return appliedFrom === source || appliedFrom.startsWith(source.endsWith(sep) ? source : `${source}${sep}`);
}

