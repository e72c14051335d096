import { accessSync, constants, statSync } from "node:fs";
import { posix } from "node:path";
import type { RootfsPlan } from "./spec.js";

/**
 * Answers "what host file would the job see at this path?" from the root plan
 * alone, before anything is mounted, so that a command missing from the root
 * is a clear error at spawn time rather than an exec failure inside the job.
 */
export class RootView {
  private readonly binds: { source: string; target: string }[];
  private readonly links: Map<string, string>;

  constructor(plan: RootfsPlan) {
    this.binds = [...plan.readOnly, ...(plan.readWrite ?? [])]
      .map((b) => ({ source: b.source, target: posix.normalize(b.target) }))
      .sort((a, b) => b.target.length - a.target.length);
    this.links = new Map((plan.symlinks ?? []).map((l) => [posix.normalize(l.path), l.target]));
  }

  /** The host path behind an absolute in-root path, following the plan's symlinks. */
  hostPath(path: string): string | undefined {
    let current = posix.normalize(path);
    for (let hops = 0; hops < 16; hops++) {
      const link = this.linkPrefix(current);
      if (!link) break;
      const [linkPath, target] = link;
      const base = target.startsWith("/") ? target : posix.join(posix.dirname(linkPath), target);
      current = posix.normalize(base + current.slice(linkPath.length));
    }
    for (const bind of this.binds) {
      if (current === bind.target || current.startsWith(bind.target === "/" ? "/" : bind.target + "/")) {
        return posix.join(bind.source, current.slice(bind.target.length));
      }
    }
    return undefined;
  }

  /** An executable regular file at this in-root path? */
  isExecutable(path: string): boolean {
    const host = this.hostPath(path);
    if (!host) return false;
    try {
      accessSync(host, constants.X_OK);
      return statSync(host).isFile();
    } catch {
      return false;
    }
  }

  private linkPrefix(path: string): [string, string] | undefined {
    for (const [linkPath, target] of this.links) {
      if (path === linkPath || path.startsWith(linkPath + "/")) return [linkPath, target];
    }
    return undefined;
  }
}

export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * Resolve argv[0] the way execvp would inside the job: a name without a slash
 * is looked up on the job's PATH, a relative path is taken from the working
 * directory. Returns the absolute in-root path, or undefined.
 */
export function resolveCommand(view: RootView, command: string, path: string, workingDir: string): string | undefined {
  if (command.includes("/")) {
    const absolute = posix.resolve(workingDir, command);
    return view.isExecutable(absolute) ? absolute : undefined;
  }
  for (const dir of path.split(":")) {
    if (!dir.startsWith("/")) continue;
    const candidate = posix.join(dir, command);
    if (view.isExecutable(candidate)) return candidate;
  }
  return undefined;
}
