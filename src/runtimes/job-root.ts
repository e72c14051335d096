/**
 * The root a job gets from an installed runtime build: every top-level entry
 * of its isolated/ tree bound read-only (symlinks such as bin -> usr/bin
 * recreated as symlinks, so a bind never follows one), then the runtime's
 * mounts. Builds never change once installed, so the plan is computed once
 * per build and reused for every job.
 */
import { lstatSync, readdirSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RuntimeConfig } from "../api/index.js";
import type { BindMount, SymlinkEntry } from "../isolation/index.js";
import { isEnginePath } from "./tree.js";

export interface RuntimeRoot {
  readOnly: BindMount[];
  symlinks: SymlinkEntry[];
  env: Record<string, string>;
}

const cache = new Map<string, RuntimeRoot>();
const CACHE_LIMIT = 256;

/** The isolated/ tree of a build. */
export function isolatedDir(buildPath: string): string {
  return join(buildPath, "isolated");
}

export function runtimeRoot(buildPath: string, config: RuntimeConfig, defaultPath: string): RuntimeRoot {
  const hit = cache.get(buildPath);
  if (hit) return hit;
  const tree = isolatedDir(buildPath);
  ensureHostsMountPoint(tree);
  const readOnly: BindMount[] = [];
  const symlinks: SymlinkEntry[] = [];
  for (const entry of readdirSync(tree).sort()) {
    const target = `/${entry}`;
    if (isEnginePath(target)) continue;
    const source = join(tree, entry);
    const st = lstatSync(source);
    if (st.isSymbolicLink()) symlinks.push({ path: target, target: readlinkSync(source) });
    // An empty directory needs no bind: nothing could be read from it.
    else if (!st.isDirectory() || readdirSync(source).length > 0) readOnly.push({ source, target });
  }
  for (const mount of config.mounts) readOnly.push({ source: join(tree, mount.source), target: mount.target });
  const root = { readOnly, symlinks, env: runtimeEnvironment(config.environment, defaultPath) };
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!);
  cache.set(buildPath, root);
  return root;
}

/**
 * A job on a network gets its peers' names as /etc/hosts, bound over the
 * tree's own; /etc comes from the read-only tree, where the bind needs an
 * existing file to land on. Trees that have none (a minimal debootstrap) get
 * an empty one, once per build.
 */
function ensureHostsMountPoint(tree: string): void {
  const etc = join(tree, "etc");
  if (!lstatSync(etc, { throwIfNoEntry: false })?.isDirectory()) return;
  try {
    writeFileSync(join(etc, "hosts"), "", { mode: 0o644, flag: "wx" });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
}

/**
 * A runtime's variables as a job gets them: PATH_PREPEND goes in front of
 * PATH, and $PATH (or ${PATH}) inside PATH stands for the default one, as the
 * original Joblet's runtime.yml files write it.
 */
export function runtimeEnvironment(environment: Record<string, string>, defaultPath: string): Record<string, string> {
  const env: Record<string, string> = {};
  let path = defaultPath;
  for (const [key, value] of Object.entries(environment)) {
    if (key === "PATH_PREPEND") continue;
    if (key === "PATH") path = value.replace(/\$\{PATH\}|\$PATH/g, defaultPath);
    else env[key] = value;
  }
  const prepend = environment.PATH_PREPEND;
  env.PATH = prepend ? `${prepend}:${path}` : path;
  return env;
}
