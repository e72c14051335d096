/**
 * metadata.generation: a content hash of the spec, so it changes exactly when
 * the spec changes, survives daemon restarts without a counter to persist, and
 * is the same on every host that reads the same manifest.
 */
import { createHash } from "node:crypto";

/**
 * JSON with object keys sorted at every level and undefined members dropped:
 * two specs that differ only in key order (or YAML layout) serialize the same.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map((item) => (item === undefined ? "null" : canonicalJson(item))).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, member]) => member !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, member]) => `${JSON.stringify(key)}:${canonicalJson(member)}`);
  return `{${entries.join(",")}}`;
}

/**
 * 16 hex digits of sha256 over the canonical spec (64 bits: collisions among
 * one object's specs are not a practical concern). Hash the spec as written,
 * not with defaults applied, so that a new joblet version with a new default
 * does not rerun every finished job.
 */
export function generation(spec: unknown): string {
  return createHash("sha256").update(canonicalJson(spec)).digest("hex").slice(0, 16);
}
