/** Pieces every controller's stored object shares: the manifest's metadata and the events kept with the status. */
import type { StoredObject } from "../api/status.js";

/** Events kept with a status, so that `joblet describe` (which reads files) shows them. */
export const EVENTS_KEPT = 10;

interface ManifestMetadata {
  labels?: Record<string, string> | undefined;
  annotations?: Record<string, string> | undefined;
}

/** The stored object's metadata: the name, the generation it was accepted at, and the manifest's labels and annotations. */
export function storedMetadata(name: string, generation: string, metadata: ManifestMetadata) {
  return {
    name,
    generation,
    ...(metadata.labels ? { labels: metadata.labels } : {}),
    ...(metadata.annotations ? { annotations: metadata.annotations } : {}),
  };
}

/**
 * The object to store while its manifest is broken or claimed twice: the last
 * good spec and metadata stay (they are what is in use), with `status`.
 */
export function lastGoodObject<Spec, Status>(kind: string, name: string, stored: StoredObject<Spec, Status> | undefined, status: Status): StoredObject<Spec, Status> {
  return { apiVersion: "joblet/v1", kind, metadata: stored?.metadata ?? { name, generation: "" }, spec: stored?.spec ?? ({} as Spec), status };
}

/** The status with the object's most recent events, when it has any. */
export function withEvents<S extends object>(status: S, events: readonly object[]): S {
  const kept = events.slice(-EVENTS_KEPT);
  return kept.length ? { ...status, events: kept } : status;
}
