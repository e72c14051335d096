/**
 * What `get`, `describe`, `wait` and `logs` show: the object the daemon stored in
 * status/<kind-plural>/<name>.json, or, for an object in the manifests dir that the daemon
 * has not reported on yet, the manifest itself with phase Pending.
 */
import { stat } from "node:fs/promises";
import { applyDefaults, generation, type Kind, parseManifest, type StoredObject } from "../api/index.js";
import { FileStatusStore, isManifestError, readManifestDir, statusFile, type StateLayout } from "../store/index.js";

export interface DesiredObject {
  kind: Kind;
  name: string;
  /** The manifest as written (defaults not applied). */
  manifest: { metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> }; spec: unknown };
  file: string;
}

export interface ShownObject {
  object: StoredObject<Record<string, unknown>, Record<string, unknown>>;
  /** False when `object` was made from the manifest: the daemon has not written a status yet. */
  hasStatus: boolean;
  /** When the object was first seen: the status file's or manifest's modification time. */
  seen?: Date;
}

/** Valid objects of `kind` in the manifests dir, by name; a missing dir holds none. */
export async function readDesired(layout: StateLayout, kind?: Kind): Promise<Map<string, DesiredObject>> {
  const out = new Map<string, DesiredObject>();
  let files;
  try {
    files = await readManifestDir(layout.manifestsDir);
  } catch {
    return out;
  }
  for (const file of files) {
    if (isManifestError(file)) continue; // the daemon reports broken files on the objects' status
    for (const document of file.documents) {
      const parsed = parseManifest(document.doc);
      if (!parsed.ok || (kind !== undefined && parsed.object.kind !== kind)) continue;
      const key = kind === undefined ? `${parsed.object.kind}/${parsed.object.metadata.name}` : parsed.object.metadata.name;
      if (!out.has(key)) out.set(key, { kind: parsed.object.kind, name: parsed.object.metadata.name, manifest: parsed.object, file: file.file });
    }
  }
  return out;
}

/** The stand-in shown until the daemon writes a status: the manifest, defaults applied, phase Pending. */
export function pendingObject(desired: DesiredObject): ShownObject["object"] {
  const full = applyDefaults(desired.manifest as Parameters<typeof applyDefaults>[0]) as unknown as {
    metadata: ShownObject["object"]["metadata"];
    spec: Record<string, unknown>;
  };
  const status: Record<string, unknown> =
    desired.kind === "Job" ? { phase: "Pending", conditions: [], attempts: 0 } : { phase: "Pending", conditions: [] };
  return {
    apiVersion: "joblet/v1",
    kind: desired.kind,
    metadata: { ...full.metadata, generation: generation(desired.manifest.spec) },
    spec: full.spec,
    status,
  };
}

export async function readStatus(layout: StateLayout, kind: Kind, name: string): Promise<ShownObject["object"] | undefined> {
  const value = await new FileStatusStore(layout).read(kind, name);
  return value as ShownObject["object"] | undefined;
}

async function mtime(path: string): Promise<Date | undefined> {
  return stat(path).then(
    (s) => s.mtime,
    () => undefined,
  );
}

export async function getObject(layout: StateLayout, kind: Kind, name: string, desired?: Map<string, DesiredObject>): Promise<ShownObject | undefined> {
  const stored = await readStatus(layout, kind, name);
  if (stored !== undefined) return { object: stored, hasStatus: true, seen: await mtime(statusFile(layout, kind, name)) };
  const wanted = (desired ?? (await readDesired(layout, kind))).get(name);
  if (wanted === undefined) return undefined;
  return { object: pendingObject(wanted), hasStatus: false, seen: await mtime(wanted.file) };
}

/** Every object of `kind`, with a status or only desired, sorted by name. */
export async function listObjects(layout: StateLayout, kind: Kind): Promise<ShownObject[]> {
  const desired = await readDesired(layout, kind);
  const names = new Set([...(await new FileStatusStore(layout).list(kind)), ...desired.keys()]);
  const shown: ShownObject[] = [];
  for (const name of [...names].sort()) {
    // A status file removed between listing and reading (the object was deleted) is skipped.
    const object = await getObject(layout, kind, name, desired);
    if (object !== undefined) shown.push(object);
  }
  return shown;
}

/** status.conditions[type], if the object has one. */
export function condition(object: ShownObject["object"], type: string): { status: string; reason?: string; message?: string } | undefined {
  const conditions = object.status.conditions;
  if (!Array.isArray(conditions)) return undefined;
  return (conditions as { type: string; status: string; reason?: string; message?: string }[]).find((c) => c.type === type);
}
