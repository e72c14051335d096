/**
 * Whether a Job's run is over, and how it ended: the `end` event of a log stream.
 *
 * A run is over when the Job's status no longer shows it Running (it finished, waits for
 * a retry, was suspended or superseded, or the Job is gone), or when the run's exit record
 * exists (the daemon may be down or behind). Either way its output is complete: the
 * supervisor writes the exit record, and the daemon hears of the exit, only after the
 * job's pipes are drained into the log files.
 */
import { existsSync } from "node:fs";
import { constants } from "node:os";
import { join } from "node:path";
import { getObject } from "../../cli/objects.js";
import { sleep } from "../../cli/status-watch.js";
import { runPaths } from "../../controllers/job/launch.js";
import { EXIT_STATE, readKeyValues } from "../../isolation/run-records.js";
import { runRecordDir, type StateLayout } from "../../store/index.js";

export interface RunOutcome {
  run: string;
  phase: string;
  exitCode?: number;
  signal?: string;
  /** Why it failed, as the Job's status says (OOMKilled, DeadlineExceeded, ...), or JobDeleted. */
  reason?: string;
}

const FINISHED = new Set(["Succeeded", "Failed"]);

/** How long an exit record may lag behind the status that moved on from its run. */
const RECORD_LAG_MS = 2000;

/**
 * How `run` ended, or undefined while it is still running. When the status has moved on
 * (the spec changed, the Job is gone) only the exit record can tell, and the supervisor
 * writes it just after the daemon heard of the exit: wait a moment for it.
 */
export async function runOutcome(layout: StateLayout, name: string, run: string, signal: AbortSignal): Promise<RunOutcome | undefined> {
  const until = Date.now() + RECORD_LAG_MS;
  for (;;) {
    const outcome = await lookOnce(layout, name, run);
    if (outcome?.phase !== "Unknown" || Date.now() > until || signal.aborted || !existsSync(runRecordDir(layout, name, run))) return outcome;
    await sleep(20, signal);
  }
}

async function lookOnce(layout: StateLayout, name: string, run: string): Promise<RunOutcome | undefined> {
  const status = (await getObject(layout, "Job", name))?.object.status;
  const current = status !== undefined && status.run === run;
  if (current && FINISHED.has(String(status.phase))) return fromStatus(run, status);
  const record = exitRecord(layout, name, run);
  if (record !== undefined) return record;
  if (current && status.phase === "Running") return undefined;
  // Over without an exit record: a run that never started, or one whose records went with its Job.
  if (current) return fromStatus(run, status);
  return status === undefined ? { run, phase: "Unknown", reason: "JobDeleted" } : { run, phase: "Unknown" };
}

function fromStatus(run: string, status: Record<string, unknown>): RunOutcome {
  const outcome: RunOutcome = { run, phase: String(status.phase) };
  if (typeof status.exitCode === "number") outcome.exitCode = status.exitCode;
  if (typeof status.signal === "string") outcome.signal = status.signal;
  if (typeof status.reason === "string") outcome.reason = status.reason;
  return outcome;
}

const signalNames = new Map<number, string>(Object.entries(constants.signals).map(([name, number]) => [number, name]));

/** The supervisor's exit record as an outcome: exit code 0 succeeded, anything else failed. */
function exitRecord(layout: StateLayout, name: string, run: string): RunOutcome | undefined {
  const record = readKeyValues(join(runPaths(layout, name, run).supervisor, EXIT_STATE));
  if (record === undefined) return undefined;
  if (record.has("error")) return { run, phase: "Failed" }; // it never started
  const signo = record.get("signal");
  if (signo !== undefined) return { run, phase: "Failed", signal: signalNames.get(Number(signo)) ?? `SIG${signo}` };
  const exitCode = Number(record.get("exit_code"));
  return { run, phase: exitCode === 0 ? "Succeeded" : "Failed", exitCode };
}
