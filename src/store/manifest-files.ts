import { basename, sep } from "node:path";

/**
 * Which files in a manifests directory are manifests. Shared by the directory reader
 * and the watcher so that both agree on what an editor's save looks like: swap files,
 * backups, lock files and temp files written before a rename are never manifests, or
 * one save would be seen as several objects (or as broken ones).
 */

const MANIFEST_EXTENSIONS = [".yaml", ".yml", ".json"];

/** Editor and tool leftovers: vim (*.swp, *.swx), emacs (*~, #*#, .#*), write-then-rename (*.tmp). */
export function isIgnoredName(name: string): boolean {
  return (
    name.startsWith(".") ||
    name.endsWith("~") ||
    name.endsWith(".swp") ||
    name.endsWith(".swx") ||
    name.endsWith(".tmp") ||
    (name.startsWith("#") && name.endsWith("#"))
  );
}

/** True for a file name (not a path) that is read as a manifest. */
export function isManifestFileName(name: string): boolean {
  if (isIgnoredName(name)) return false;
  const lower = name.toLowerCase();
  return MANIFEST_EXTENSIONS.some((ext) => lower.endsWith(ext));
}

/**
 * True when `relativePath` (relative to the manifests dir) names a manifest: its own
 * name qualifies and no directory on the way is a dot-dir (.git, ..data, .cache).
 */
export function isManifestPath(relativePath: string): boolean {
  const parts = relativePath.split(sep).filter((p) => p !== "" && p !== ".");
  if (parts.length === 0) return false;
  if (parts.slice(0, -1).some((dir) => dir.startsWith("."))) return false;
  return isManifestFileName(basename(relativePath));
}

export function isJsonFileName(name: string): boolean {
  return name.toLowerCase().endsWith(".json");
}
