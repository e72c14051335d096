/**
 * What the `joblet runtime` verbs share: reading the Runtimes' status files (only those,
 * so that `runtime list` stays fast), and which Runtime a NAME on the command line means.
 *
 * A NAME without '@' means the Runtime called NAME if there is one, else the highest
 * version of NAME@VERSION, preferring installed ones: the choice a Job's `spec.runtime`
 * makes (src/controllers/runtime/resolve.ts).
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import type { RuntimeStatus } from "../../api/index.js";
import { closest } from "../../api/suggest.js";
import { compareVersions } from "../../controllers/runtime/resolve.js";
import { statusKindDir, type StateLayout } from "../../store/index.js";
import { CliError } from "../io.js";
import { named } from "../kinds.js";
import type { Backend } from "../backend.js";
import type { ShownObject } from "../objects.js";

export type RuntimeObject = ShownObject["object"];

/** A Runtime's status, typed as the controller writes it (fields may be missing on a Pending one). */
export function runtimeStatus(object: RuntimeObject): Partial<RuntimeStatus> {
  return object.status as Partial<RuntimeStatus>;
}

/**
 * Every status/runtimes/<name>.json, sorted by name (numbers as numbers: python-3.9
 * before python-3.10): one directory listing and one read
 * per file, in parallel. A file that cannot be read or parsed is reported to `problem`
 * and skipped (one broken file should not hide the others).
 */
export async function readRuntimes(layout: StateLayout, problem: (message: string) => void): Promise<ShownObject[]> {
  const dir = statusKindDir(layout, "Runtime");
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw new CliError(`Cannot read ${dir}: ${(e as Error).message}`);
  }
  const files = entries
    .filter((f) => f.endsWith(".json") && !f.startsWith("."))
    .map((f) => f.slice(0, -".json".length))
    .sort(naturalOrder)
    .map((name) => `${name}.json`);
  const read = await Promise.all(
    files.map(async (file): Promise<ShownObject | undefined> => {
      const path = join(dir, file);
      try {
        const [text, info] = await Promise.all([readFile(path, "utf8"), stat(path)]);
        const object = JSON.parse(text) as RuntimeObject;
        if (object === null || typeof object !== "object" || typeof object.metadata?.name !== "string") throw new Error("it is not a stored object");
        if (object.status === null || typeof object.status !== "object") object.status = {};
        return { object, hasStatus: true, seen: info.mtime };
      } catch (e) {
        // Deleted between the listing and the read: the Runtime is gone, nothing to say.
        if ((e as NodeJS.ErrnoException).code !== "ENOENT") problem(`Skipping status file ${path}: ${(e as Error).message}`);
        return undefined;
      }
    }),
  );
  return read.filter((s): s is ShownObject => s !== undefined);
}

/** The Runtimes `runtime list` shows: here, their status files only (fast); from a daemon, its list. */
export async function listRuntimes(backend: Backend, problem: (message: string) => void): Promise<ShownObject[]> {
  if (backend.layout !== undefined) return readRuntimes(backend.layout, problem);
  return (await backend.list("Runtime")).sort((a, b) => naturalOrder(a.object.metadata.name, b.object.metadata.name));
}

/** Runs of digits compared as numbers, the rest by code unit (no ICU collator: it costs milliseconds to load). */
export function naturalOrder(a: string, b: string): number {
  const pa = a.match(/\d+|\D+/g) ?? [];
  const pb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i]!;
    const y = pb[i]!;
    if (x === y) continue;
    const numeric = /^\d/.test(x) && /^\d/.test(y);
    if (numeric && Number(x) !== Number(y)) return Number(x) - Number(y);
    return x < y ? -1 : 1;
  }
  return pa.length - pb.length;
}

export interface FoundRuntime {
  shown: ShownObject;
  /** The Runtime's own name: `ref`, or NAME@VERSION when `ref` was a bare NAME. */
  name: string;
}

/**
 * The Runtime `ref` names (see the top of this file), with its status, or with its
 * manifest as Pending when the daemon has not reported on it yet. Throws a CliError
 * naming what is installed when there is no such Runtime.
 */
export async function findRuntime(backend: Backend, ref: string): Promise<FoundRuntime> {
  const exact = await backend.get("Runtime", checkRef(ref));
  if (exact !== undefined) return { shown: exact, name: ref };
  const all = await listRuntimes(backend, () => undefined);
  if (!ref.includes("@")) {
    const prefix = `${ref}@`;
    const versions = all
      .filter((s) => s.object.metadata.name.startsWith(prefix))
      .sort((a, b) => {
        const installed = Number(runtimeStatus(b.object).current !== undefined) - Number(runtimeStatus(a.object).current !== undefined);
        return installed !== 0 ? installed : compareVersions(b.object.metadata.name.slice(prefix.length), a.object.metadata.name.slice(prefix.length));
      });
    const best = versions[0];
    if (best !== undefined) return { shown: best, name: best.object.metadata.name };
  }
  const names = all.map((s) => s.object.metadata.name);
  const near = closest(ref, names);
  const hint = near !== undefined ? `; did you mean '${near}'?` : names.length > 0 ? ` (runtimes: ${names.join(", ")})` : " (no runtimes are installed: see joblet runtime install)";
  throw new CliError(`${named("Runtime", ref)} not found${hint}`);
}

/** Names become file names: refuse what could not be one before touching the disk. */
function checkRef(ref: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._@+-]*$/.test(ref) || ref.includes("..")) throw new CliError(`'${ref}' is not a runtime name (e.g. python-3.11-ml, java-17@1.0)`);
  return ref;
}

/** "Ready", or what stands in the way, in a few words: "building (downloading 42%)", "its build failed: ...". */
export function notReadyReason(status: Partial<RuntimeStatus>): string {
  if (status.phase === "Building") {
    const p = status.progress;
    return `it is building${p ? ` (${p.phase}${typeof p.percent === "number" ? ` ${Math.floor(p.percent)}%` : ""})` : ""}`;
  }
  if (status.phase === "Failed") return `its build failed: ${(status.message ?? status.reason ?? "").split("\n")[0]}`;
  if (status.phase === "Pending" || status.phase === undefined) return "it has not been built yet";
  return `it is ${status.phase}`;
}

/** "12.5 s": seconds with one decimal; two under a second ("0.04 s"), where one would often say 0.0. */
export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 1000 ? 2 : 1)} s`;
}
