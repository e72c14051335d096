/**
 * Following a Job for `logs -f`, `run --wait` and `runtime test`: which run to read, when
 * it has ended, and streaming each run's output as it comes, on either backend.
 */
import type { Backend } from "./backend.js";
import { type CliIo, CliError } from "./io.js";
import { named } from "./kinds.js";
import { condition, type ShownObject } from "./objects.js";

export type Stored = ShownObject["object"];

/** Stands for "could not read it this time": never handed to `done`. */
const UNREADABLE = {} as Stored;

export function isFinished(status: Record<string, unknown>): boolean {
  return status.phase === "Succeeded" || status.phase === "Failed";
}

/**
 * Re-reads the Job until `done` says yes (or the signal aborts: undefined). A Job the
 * daemon has not reported on yet is seen as its manifest with phase Pending; `done` sees
 * undefined only when the Job is gone from both the status and the manifests.
 */
export async function pollJob(backend: Backend, name: string, io: CliIo, done: (object: Stored | undefined) => boolean, signal = io.signal): Promise<Stored | undefined> {
  const waker = backend.changes("Job", name, signal);
  try {
    for (;;) {
      const object = (await backend.get("Job", name).catch(() => ({ object: UNREADABLE })))?.object; // a failed read is retried
      if (object !== UNREADABLE && done(object)) return object;
      if (signal?.aborted) return undefined;
      await waker.next();
    }
  } finally {
    waker.close();
  }
}

/** Settles when `run` is over: the Job finished, moved on to another run, or went away. */
export function runEnded(backend: Backend, name: string, run: string, io: CliIo, signal?: AbortSignal): Promise<Stored | undefined> {
  return pollJob(backend, name, io, (o) => o === undefined || o.status.run !== run || isFinished(o.status), signal);
}

/**
 * Streams each run of the Job (stdout to io.out, stderr to io.err) until it finishes, as
 * `run --wait` does: the finished object, or undefined when io.signal aborted first.
 * Only runs of generation `gen` count. Throws a CliError when the Job cannot run (its
 * Ready condition is False) or is deleted meanwhile.
 */
export async function followJob(backend: Backend, name: string, gen: string, io: CliIo): Promise<Stored | undefined> {
  const ours = (o: Stored): boolean => o.status.observedGeneration === undefined || o.status.observedGeneration === gen;
  let last: string | undefined;
  for (;;) {
    const object = await pollJob(backend, name, io, (o) => o === undefined || blocked(o) !== undefined || (ours(o) && ((typeof o.status.run === "string" && o.status.run !== last) || isFinished(o.status))));
    if (object === undefined) {
      if (io.signal?.aborted) return undefined;
      throw new CliError(`${named("Job", name)} was deleted while waiting for it`);
    }
    const problem = blocked(object);
    if (problem !== undefined) throw new CliError(`${named("Job", name)} cannot run: ${problem}`);
    const run = object.status.run;
    if (typeof run === "string" && run !== last) {
      last = run;
      await backend.logs(name, run, { stdout: io.out, stderr: io.err }, { follow: true, signal: io.signal }).catch((e: Error & { status?: number }) => {
        if (e.status !== 404) throw e; // gone while it ran: said below
      });
      const after = await runEnded(backend, name, run, io);
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
