/**
 * Reading a Job's run output for `logs`, `run --wait` and `runtime test`: which run to
 * read, when it has ended, and copying its two log files to the terminal's two streams.
 */
import { followLog, readTail, runLogFile, type StateLayout, statusKindDir } from "../store/index.js";
import { type CliIo, CliError, type Writer } from "./io.js";
import { named } from "./kinds.js";
import { condition, getObject, type ShownObject } from "./objects.js";
import { watchDir } from "./status-watch.js";

export type Stored = ShownObject["object"];

/** Stands for "could not read it this time": never handed to `done`. */
const UNREADABLE = {} as Stored;

export function isFinished(status: Record<string, unknown>): boolean {
  return status.phase === "Succeeded" || status.phase === "Failed";
}

/**
 * Re-reads the Job until `done` says yes (or the signal aborts: undefined). A Job the
 * daemon has not reported on yet is seen as its manifest with phase Pending; `done` sees
 * undefined only when the Job is gone from both the status and the manifests dir.
 */
export async function pollJob(layout: StateLayout, name: string, io: CliIo, done: (object: Stored | undefined) => boolean, signal = io.signal): Promise<Stored | undefined> {
  const waker = watchDir(statusKindDir(layout, "Job"), io.pollMs, signal);
  try {
    for (;;) {
      const object = (await getObject(layout, "Job", name).catch(() => ({ object: UNREADABLE })))?.object; // a failed read is retried
      if (object !== UNREADABLE && done(object)) return object;
      if (signal?.aborted) return undefined;
      await waker.next();
    }
  } finally {
    waker.close();
  }
}

/** Settles when `run` is over: the Job finished, moved on to another run, or went away. */
export function runEnded(layout: StateLayout, name: string, run: string, io: CliIo, signal?: AbortSignal): Promise<Stored | undefined> {
  return pollJob(layout, name, io, (o) => o === undefined || o.status.run !== run || isFinished(o.status), signal);
}

export interface LogTargets {
  stdout?: Writer;
  stderr?: Writer;
}

export interface CopyOptions {
  /** Only the last N lines (of each stream) to begin with. */
  tail?: number;
  /** Keep reading until this settles (the run ended); read what is there and stop without it. */
  ended?: Promise<unknown>;
  signal?: AbortSignal;
  pollMs?: number;
}

/** Copies one run's logs; each stream goes to its own writer, concurrently when following. */
export async function copyRunLogs(layout: StateLayout, name: string, run: string, targets: LogTargets, options: CopyOptions): Promise<void> {
  const copy = async (stream: "stdout" | "stderr", to: Writer | undefined): Promise<void> => {
    if (to === undefined) return;
    const path = runLogFile(layout, name, run, stream);
    let from = 0;
    if (options.tail !== undefined) {
      const tail = await readTail(path, options.tail);
      if (tail.data.length > 0) to.write(tail.data);
      from = tail.end;
      if (options.ended === undefined) return;
    }
    const ended = options.ended ?? Promise.resolve();
    for await (const chunk of followLog(path, { from, ended, signal: options.signal, pollMs: options.pollMs })) to.write(chunk);
  };
  // Without following, stdout is printed before stderr rather than interleaved by chance.
  if (options.ended === undefined) {
    await copy("stdout", targets.stdout);
    await copy("stderr", targets.stderr);
  } else {
    await Promise.all([copy("stdout", targets.stdout), copy("stderr", targets.stderr)]);
  }
}

/**
 * Streams each run of the Job (stdout to io.out, stderr to io.err) until it finishes, as
 * `run --wait` does: the finished object, or undefined when io.signal aborted first.
 * Only runs of generation `gen` count. Throws a CliError when the Job cannot run (its
 * Ready condition is False) or is deleted meanwhile.
 */
export async function followJob(layout: StateLayout, name: string, gen: string, io: CliIo): Promise<Stored | undefined> {
  const ours = (o: Stored): boolean => o.status.observedGeneration === undefined || o.status.observedGeneration === gen;
  let last: string | undefined;
  for (;;) {
    const object = await pollJob(layout, name, io, (o) => o === undefined || blocked(o) !== undefined || (ours(o) && ((typeof o.status.run === "string" && o.status.run !== last) || isFinished(o.status))));
    if (object === undefined) {
      if (io.signal?.aborted) return undefined;
      throw new CliError(`${named("Job", name)} was deleted while waiting for it`);
    }
    const problem = blocked(object);
    if (problem !== undefined) throw new CliError(`${named("Job", name)} cannot run: ${problem}`);
    const run = object.status.run;
    if (typeof run === "string" && run !== last) {
      last = run;
      const ended = runEnded(layout, name, run, io);
      await copyRunLogs(layout, name, run, { stdout: io.out, stderr: io.err }, { ended, signal: io.signal, pollMs: io.pollMs });
      const after = await ended;
      if (after === undefined) {
        if (io.signal?.aborted) return undefined;
        throw new CliError(`${named("Job", name)} was deleted while it ran`);
      }
      if (isFinished(after.status) && after.status.run === run) return after;
      continue; // a retry started a new run: stream that one too
    }
    if (isFinished(object.status)) return object;
  }
}

/** A Ready=False condition: the manifest conflicts or is invalid, so no run will come. */
function blocked(object: Stored): string | undefined {
  const ready = condition(object, "Ready");
  if (ready?.status !== "False") return undefined;
  return ready.message || ready.reason || "Ready is False";
}
