import { relative, sep } from "node:path";

/**
 * Names in the manifests directory that are never manifests: dot-files (and dot-directories
 * such as `.git`), backups (`name~`), vim swap files (`.swp`, `.swo`, ...), vim's write test
 * file `4913`, emacs autosaves (`#name#`) and temp files (`*.tmp`). Editors create these while
 * saving; reading them would run half-written or stale content.
 */
export function isIgnoredName(name: string): boolean {
  return (
    name.startsWith(".") ||
    name.endsWith("~") ||
    /\.sw[a-p]$/.test(name) ||
    name.endsWith(".tmp") ||
    name === "4913" ||
    (name.startsWith("#") && name.endsWith("#"))
  );
}

/** Whether `path` below `root` has an ignored name in any of its components. */
export function isIgnoredPath(root: string, path: string): boolean {
  const rel = relative(root, path);
  if (rel === "") return false;
  return rel.split(sep).some(isIgnoredName);
}
