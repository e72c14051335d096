import { readFileSync, writeFileSync } from "node:fs";
import { constants } from "node:os";
import { join } from "node:path";
import type { CgroupBackend, JobCgroup } from "./cgroup/backend.js";
import type { JobExit, JobSpec } from "./spec.js";

/**
 * The records a run leaves in its run directory:
 *   job.json    written by the daemon before the supervisor starts: spec and cgroup
 *   run.state   written by the supervisor once the main process runs
 *   exit.state  written by the supervisor when the job has ended (or failed to start)
 * They are what a new daemon attaches from.
 */
export interface JobRecord {
  spec: JobSpec;
  cgroup: JobCgroup;
  supervisorPid: number;
}

export interface RunState {
  supervisorPid: number;
  supervisorStart: number;
  initPid: number;
  initStart: number;
  startedAt: Date;
}

export const JOB_RECORD = "job.json";
export const RUN_STATE = "run.state";
export const EXIT_STATE = "exit.state";

export function writeJobRecord(runDir: string, record: JobRecord): void {
  writeFileSync(join(runDir, JOB_RECORD), JSON.stringify(record));
}

export function readJobRecord(runDir: string): JobRecord {
  return JSON.parse(readFileSync(join(runDir, JOB_RECORD), "utf8")) as JobRecord;
}

/** key=value lines of a record file; undefined when the file does not exist yet. */
export function readKeyValues(path: string): Map<string, string> | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
  return parseKeyValues(text);
}

function parseKeyValues(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) values.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return values;
}

export function readRunState(runDir: string): RunState | undefined {
  const kv = readKeyValues(join(runDir, RUN_STATE));
  if (!kv) return undefined;
  const num = (k: string) => Number(kv.get(k) ?? NaN);
  return {
    supervisorPid: num("supervisor_pid"),
    supervisorStart: num("supervisor_start"),
    initPid: num("init_pid"),
    initStart: num("init_start"),
    startedAt: new Date(num("started_at_ms")),
  };
}

const signalNames = new Map<number, NodeJS.Signals>(
  Object.entries(constants.signals).map(([name, num]) => [num, name as NodeJS.Signals]),
);

/** The exit record, or undefined if the job has not ended; throws with the supervisor's message if it never started. */
export function readExitState(runDir: string, backend: CgroupBackend, startedAt: Date): JobExit | undefined {
  const kv = readKeyValues(join(runDir, EXIT_STATE));
  return kv && toJobExit(kv, backend, startedAt);
}

/** An exit record as the supervisor sent it over its channel. */
export function parseExitRecord(text: string, backend: CgroupBackend, startedAt: Date): JobExit {
  return toJobExit(parseKeyValues(text), backend, startedAt);
}

function toJobExit(kv: Map<string, string>, backend: CgroupBackend, startedAt: Date): JobExit {
  const error = kv.get("error");
  if (error !== undefined) throw new Error(error);
  const snapshot: Record<string, string> = {};
  for (const [key, value] of kv) {
    if (key.startsWith("usage.")) snapshot[key.slice(6)] = value.replace(/;/g, "\n");
  }
  const { usage, oomKilled } = backend.parseUsage(snapshot);
  const signo = kv.has("signal") ? Number(kv.get("signal")) : undefined;
  return {
    exitCode: signo === undefined ? Number(kv.get("exit_code")) : null,
    signal: signo === undefined ? null : (signalNames.get(signo) ?? (`SIG${signo}` as NodeJS.Signals)),
    oomKilled,
    usage,
    droppedBytes: { stdout: Number(kv.get("stdout_dropped") ?? 0), stderr: Number(kv.get("stderr_dropped") ?? 0) },
    startedAt,
    finishedAt: new Date(Number(kv.get("finished_at_ms"))),
  };
}

/** Start time of a live process (clock ticks since boot), undefined when it is gone. */
export function processStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[19]);
  } catch {
    return undefined;
  }
}
