/**
 * The manifest API: parse and validate one document, apply defaults in
 * memory, and derive its generation. Depends on nothing else of joblet's.
 */
import type { z } from "zod";
import { manifestErrors, type ManifestError } from "./errors.js";
import { jobSchema, type JobManifest, type JobManifestWithDefaults } from "./job.js";
import { KINDS, type Kind } from "./meta.js";
import { networkSchema, type NetworkManifest, type NetworkManifestWithDefaults } from "./network.js";
import { runtimeSchema, type RuntimeManifest, type RuntimeManifestWithDefaults } from "./runtime.js";
import { didYouMean } from "./suggest.js";
import { volumeSchema, type VolumeManifest, type VolumeManifestWithDefaults } from "./volume.js";

export type { ManifestError } from "./errors.js";
export { formatPath } from "./errors.js";
export { generation, canonicalJson } from "./generation.js";
export { API_VERSION, KINDS, type Kind } from "./meta.js";
export { parseBytes, parseCores, checkBytes, checkCores, formatBytes, humanBytes } from "./quantity.js";
export { parseCidr, cidrsOverlap, formatAddress, type Cidr } from "./cidr.js";
export { NETWORK_MODES, resolveResources, type ResolvedResources, type JobSpec, type JobResources } from "./job.js";
export { cronHasSeconds, rfc3339Ms, scheduleDurationMs, scheduleFromString, type Schedule } from "./schedule.js";
export { RUNTIME_SOURCES, type RuntimeSpec } from "./runtime.js";
export { runtimeNameProblem } from "./names.js";
export type { VolumeSpec } from "./volume.js";
export type { NetworkSpec } from "./network.js";
export type { Condition, ConditionStatus, JobEvent, JobPhase, JobRunPhase, JobRunRecord, JobStatus, JobUsage, StoredObject } from "./status.js";
export type { RuntimeBuild, RuntimeConfig, RuntimeMount, RuntimePhase, RuntimeStatus } from "./status.js";
export type { NetworkPhase, NetworkStatus } from "./status.js";
export type { VolumePhase, VolumeStatus } from "./status.js";
export type { JobManifest, JobManifestWithDefaults, RuntimeManifest, RuntimeManifestWithDefaults };
export type { VolumeManifest, VolumeManifestWithDefaults, NetworkManifest, NetworkManifestWithDefaults };

/** A manifest as written (defaulted fields may be absent). */
export type Manifest = JobManifest | RuntimeManifest | VolumeManifest | NetworkManifest;

/** The same manifest with every default filled in. */
export type WithDefaults<M extends Manifest> = M extends JobManifest
  ? JobManifestWithDefaults
  : M extends RuntimeManifest
    ? RuntimeManifestWithDefaults
    : M extends VolumeManifest
      ? VolumeManifestWithDefaults
      : NetworkManifestWithDefaults;

export type ParseResult = { ok: true; object: Manifest } | { ok: false; errors: ManifestError[] };

const SCHEMAS = {
  Job: jobSchema,
  Runtime: runtimeSchema,
  Volume: volumeSchema,
  Network: networkSchema,
} satisfies Record<Kind, z.ZodType>;

export function schemaFor(kind: Kind): z.ZodType {
  return SCHEMAS[kind];
}

function isKind(value: unknown): value is Kind {
  return (KINDS as readonly unknown[]).includes(value);
}

function fail(path: (string | number)[], field: string, message: string): ParseResult {
  return { ok: false, errors: [{ path, field, message }] };
}

/**
 * Validates one parsed document (YAML or JSON). On success the object is a
 * copy of the document exactly as written: defaults are not filled in, so
 * `apply` and `diff` see what the user wrote.
 */
export function parseManifest(doc: unknown): ParseResult {
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    const found = Array.isArray(doc) ? "a list" : doc === null || doc === undefined ? "an empty document" : `a ${typeof doc}`;
    return fail([], "", `Manifest must be a mapping with apiVersion, kind, metadata and spec, not ${found}`);
  }
  const kind = (doc as Record<string, unknown>).kind;
  if (kind === undefined) return fail(["kind"], "kind", `kind is required (one of ${KINDS.join(", ")})`);
  if (!isKind(kind)) {
    const shown = typeof kind === "string" ? `'${kind}'` : String(kind);
    const hint = typeof kind === "string" ? didYouMean(kind, KINDS) : "";
    return fail(["kind"], "kind", `kind ${shown} is not one of ${KINDS.join(", ")}${hint}`);
  }
  const schema = SCHEMAS[kind];
  const result = schema.safeParse(doc);
  if (!result.success) return { ok: false, errors: manifestErrors(result.error.issues, doc, schema, kind) };
  return { ok: true, object: structuredClone(doc) as Manifest };
}

/**
 * A new object with every default filled in (restartPolicy Never,
 * backoffLimit 6, network none...). Defaults live in memory only; manifests
 * on disk are never rewritten. Throws if `manifest` did not come from a
 * successful parseManifest.
 */
export function applyDefaults<M extends Manifest>(manifest: M): WithDefaults<M> {
  if (!isKind(manifest.kind)) throw new Error(`Cannot apply defaults: kind '${String(manifest.kind)}' is unknown`);
  return SCHEMAS[manifest.kind].parse(manifest) as WithDefaults<M>;
}

/** "Job/hello": identity is kind and name, never the file a manifest came from. */
export function manifestKey(manifest: Pick<Manifest, "kind" | "metadata">): string {
  return `${manifest.kind}/${manifest.metadata.name}`;
}

