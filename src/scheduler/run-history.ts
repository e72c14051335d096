/**
 * A cron Job's status.runs, kept as Kubernetes keeps a CronJob's Jobs: the
 * newest successfulRunsHistoryLimit succeeded runs and failedRunsHistoryLimit
 * failed or missed ones. A running run is never dropped.
 */
import type { JobRunRecord } from "../api/index.js";

export interface HistoryLimits {
  successful: number;
  failed: number;
}

/** The runs to keep (oldest first, as given) and those dropped, whose logs go with them. */
export function trimRuns(runs: readonly JobRunRecord[], limits: HistoryLimits): { kept: JobRunRecord[]; removed: JobRunRecord[] } {
  let succeeded = 0;
  let failed = 0;
  const keep = new Array<boolean>(runs.length);
  for (let i = runs.length - 1; i >= 0; i--) {
    const phase = runs[i]!.phase;
    if (phase === "Running") keep[i] = true;
    else if (phase === "Succeeded") keep[i] = ++succeeded <= limits.successful;
    else keep[i] = ++failed <= limits.failed;
  }
  return { kept: runs.filter((_, i) => keep[i]), removed: runs.filter((_, i) => !keep[i]) };
}

/** Missed due times as runs entries: no run, no logs, the reason and the time that passed. */
export function missedRuns(times: readonly number[], reason: string): JobRunRecord[] {
  return times.map((t) => ({ scheduledTime: new Date(t).toISOString(), phase: "Missed", reason }));
}
