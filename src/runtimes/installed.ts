/**
 * Where installed runtimes live in the state dir:
 *
 *   runtimes/<name>                     -> .builds/<name>/<id>  (symlink: the current build)
 *   runtimes/.builds/<name>/<id>/       runtime.yml, runtime.yml.original?, build.json, isolated/
 *   runtimes/.builds/<name>/.tmp-<id>/  a build under way; renamed to <id> only when complete
 *   logs/runtimes/<name>/<id>.log       the build's log
 *
 * runtimes/<name>/{runtime.yml, isolated/} is the original Joblet's layout
 * (/opt/joblet/runtimes/<name>). Swapping the symlink is atomic, and a build
 * a running job uses stays on disk until the job ends, so a rebuilt runtime
 * never changes under a job.
 */
import { readFile, readdir, readlink, rename, rm, symlink } from "node:fs/promises";
import { join } from "node:path";
import type { RuntimeBuild } from "../api/index.js";
import { checkSegment, type StateLayout } from "../store/index.js";

export const BUILD_RECORD = "build.json";

export function runtimeLink(layout: StateLayout, name: string): string {
  return join(layout.runtimesDir, checkSegment("Runtime name", name));
}

export function buildsDir(layout: StateLayout, name: string): string {
  return join(layout.runtimesDir, ".builds", checkSegment("Runtime name", name));
}

export function buildPath(layout: StateLayout, name: string, id: string): string {
  return join(buildsDir(layout, name), id);
}

export function tempBuildPath(layout: StateLayout, name: string, id: string): string {
  return join(buildsDir(layout, name), `.tmp-${id}`);
}

export function buildLogPath(layout: StateLayout, name: string, id: string): string {
  return join(layout.logsDir, "runtimes", checkSegment("Runtime name", name), `${id}.log`);
}

/** Points runtimes/<name> at a build, atomically (a new symlink renamed over the old). */
export async function makeCurrent(layout: StateLayout, name: string, id: string): Promise<void> {
  const link = runtimeLink(layout, name);
  const temp = join(layout.runtimesDir, `.${name}.swap`);
  await rm(temp, { force: true });
  await symlink(join(".builds", name, id), temp);
  await rename(temp, link);
}

/** The id of the build runtimes/<name> points at, if any. */
export async function currentBuildId(layout: StateLayout, name: string): Promise<string | undefined> {
  const target = await readlink(runtimeLink(layout, name)).catch(() => undefined);
  return target?.split("/").pop();
}

/** A complete build's record, or undefined when the build is missing or was never completed. */
export async function readBuildRecord(path: string): Promise<RuntimeBuild | undefined> {
  try {
    return JSON.parse(await readFile(join(path, BUILD_RECORD), "utf8")) as RuntimeBuild;
  } catch {
    return undefined;
  }
}

/**
 * Removes a Runtime's builds other than `keep` (the current one and those
 * running jobs use), unfinished temp builds included unless one is under way.
 */
export async function removeBuilds(layout: StateLayout, name: string, keep: ReadonlySet<string>, building?: string): Promise<string[]> {
  const dir = buildsDir(layout, name);
  const removed: string[] = [];
  for (const entry of await readdir(dir).catch(() => [] as string[])) {
    const path = join(dir, entry);
    if (keep.has(path) || (building && entry === `.tmp-${building}`)) continue;
    await rm(path, { recursive: true, force: true });
    removed.push(path);
  }
  return removed;
}

/** Forgets a Runtime entirely: its link, and its builds unless kept for running jobs. */
export async function removeRuntime(layout: StateLayout, name: string, keep: ReadonlySet<string>): Promise<void> {
  await rm(runtimeLink(layout, name), { force: true });
  await removeBuilds(layout, name, keep);
  if ((await readdir(buildsDir(layout, name)).catch(() => [])).length === 0) await rm(buildsDir(layout, name), { recursive: true, force: true });
  await rm(join(layout.logsDir, "runtimes", name), { recursive: true, force: true });
}
