import { mkdir } from "node:fs/promises";
import { isAbsolute, join, relative, resolve } from "node:path";

/**
 * The state directory, as DESIGN.md lays it out:
 *
 *   manifests/  desired state (read-only to the daemon; `joblet apply` writes <kind-plural>/<name>.yaml)
 *   status/     <kind-plural>/<name>.json, written only by controllers
 *   logs/       jobs/<name>/<run>/{stdout,stderr}.log
 *   runtimes/   <name>/{runtime.yml, isolated/}
 *   volumes/    <name>/...
 *   run/        jobs/<name>/<run>/ per-run records of the isolation engine (job.json, run.state,
 *               exit.state), supervisor sockets, locks
 *
 * Everything here computes paths only; `ensureLayout` is the one function that touches the disk.
 */

export const DEFAULT_STATE_DIR = "/var/lib/joblet";
export const STATE_DIR_ENV = "JOBLET_STATE_DIR";

export interface LayoutOptions {
  /** `--state-dir`; wins over the environment. */
  stateDir?: string;
  /** `--manifests`: may point outside the state dir (a git checkout). */
  manifestsDir?: string;
  /** Where JOBLET_STATE_DIR is looked up; process.env unless given (tests pass their own). */
  env?: Record<string, string | undefined>;
}

export interface StateLayout {
  readonly stateDir: string;
  readonly manifestsDir: string;
  readonly statusDir: string;
  readonly logsDir: string;
  readonly runtimesDir: string;
  readonly volumesDir: string;
  readonly runDir: string;
}

export type LogStream = "stdout" | "stderr";

/** Absolute paths for a state dir: option, then JOBLET_STATE_DIR, then /var/lib/joblet. */
export function resolveLayout(options: LayoutOptions = {}): StateLayout {
  const env = options.env ?? process.env;
  const fromEnv = env[STATE_DIR_ENV];
  const stateDir = resolve(options.stateDir ?? (fromEnv !== undefined && fromEnv !== "" ? fromEnv : DEFAULT_STATE_DIR));
  return {
    stateDir,
    manifestsDir: options.manifestsDir !== undefined ? resolve(options.manifestsDir) : join(stateDir, "manifests"),
    statusDir: join(stateDir, "status"),
    logsDir: join(stateDir, "logs"),
    runtimesDir: join(stateDir, "runtimes"),
    volumesDir: join(stateDir, "volumes"),
    runDir: join(stateDir, "run"),
  };
}

const KIND = /^[A-Za-z][A-Za-z0-9]*$/;
// Names become file and directory names: refuse anything that could climb out of its
// directory or hide as a dot-file, whatever the schema layer above has (or has not) checked.
const SEGMENT = /^[A-Za-z0-9_]([A-Za-z0-9._@+-]*[A-Za-z0-9_])?$/;

/** "Job" (or "job", "jobs") -> "jobs": the directory a kind's files live in. */
export function kindPlural(kind: string): string {
  if (!KIND.test(kind)) throw new Error(`Kind '${kind}' is not a kind name (letters and digits, starting with a letter)`);
  const lower = kind.toLowerCase();
  return lower.endsWith("s") ? lower : `${lower}s`;
}

/** Throws unless `value` is safe as one path segment (no '/', no leading dot, no '..'). */
export function checkSegment(what: string, value: string): string {
  if (value.length === 0 || value.length > 253 || !SEGMENT.test(value) || value.includes("..")) {
    throw new Error(`${what} '${value}' cannot be used as a file name: use letters, digits, '-', '_', '.', '@' and '+'`);
  }
  return value;
}

export function statusKindDir(layout: StateLayout, kind: string): string {
  return join(layout.statusDir, kindPlural(kind));
}

export function statusFile(layout: StateLayout, kind: string, name: string): string {
  return join(statusKindDir(layout, kind), `${checkSegment("Name", name)}.json`);
}

export function desiredKindDir(layout: StateLayout, kind: string): string {
  return join(layout.manifestsDir, kindPlural(kind));
}

/** Where `joblet apply` puts an object's desired manifest. */
export function desiredFile(layout: StateLayout, kind: string, name: string): string {
  return join(desiredKindDir(layout, kind), `${checkSegment("Name", name)}.yaml`);
}

export function jobLogsDir(layout: StateLayout, name: string): string {
  return join(layout.logsDir, "jobs", checkSegment("Job name", name));
}

export function runLogDir(layout: StateLayout, name: string, run: string): string {
  return join(jobLogsDir(layout, name), checkSegment("Run", run));
}

export function runLogFile(layout: StateLayout, name: string, run: string, stream: LogStream): string {
  return join(runLogDir(layout, name, run), `${stream}.log`);
}

export function jobRunsDir(layout: StateLayout, name: string): string {
  return join(layout.runDir, "jobs", checkSegment("Job name", name));
}

/** The isolation engine's `runDir` for one run: it keeps job.json, run.state and exit.state here. */
export function runRecordDir(layout: StateLayout, name: string, run: string): string {
  return join(jobRunsDir(layout, name), checkSegment("Run", run));
}

export function runtimeDir(layout: StateLayout, name: string): string {
  return join(layout.runtimesDir, checkSegment("Runtime name", name));
}

export function volumeDir(layout: StateLayout, name: string): string {
  return join(layout.volumesDir, checkSegment("Volume name", name));
}

export function isInside(parent: string, child: string): boolean {
  const rel = relative(parent, child);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}

/**
 * Creates the state dir's top-level directories. A manifests dir outside the state dir
 * (`--manifests`, e.g. a git checkout) is left alone: it belongs to someone else and a
 * missing one is an error the caller should report, not paper over.
 */
export async function ensureLayout(layout: StateLayout): Promise<void> {
  const dirs = [layout.statusDir, layout.logsDir, layout.runtimesDir, layout.volumesDir, layout.runDir];
  if (isInside(layout.stateDir, layout.manifestsDir)) dirs.push(layout.manifestsDir);
  await mkdir(layout.stateDir, { recursive: true, mode: 0o755 });
  for (const dir of dirs) await mkdir(dir, { recursive: true, mode: 0o755 });
  // Run records hold supervisor pids and sockets: nobody but the daemon needs them.
  await mkdir(join(layout.runDir, "jobs"), { recursive: true, mode: 0o700 });
}
