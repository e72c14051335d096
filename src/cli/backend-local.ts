/**
 * The verbs' backend on this host: manifests written into the state dir's manifests dir,
 * objects read from its status dir (or the manifest, until the daemon reports), logs
 * read from its log files. What every verb did before a remote daemon existed.
 */
import { relative } from "node:path";
import { generation, type Kind } from "../api/index.js";
import { DesiredStore, followLog, readTail, runLogFile, type StateLayout, statusKindDir } from "../store/index.js";
import type { Backend, Difference, LogOptions, LogTargets, Prepared, WatchEvent } from "./backend.js";
import { writeOut } from "./backend.js";
import { type AppliedObject, type DesiredInput, listApplied, type Outcome, plan, type PlannedObject, removeDesired, write } from "./desired.js";
import type { CliIo, Writer } from "./io.js";
import { named } from "./kinds.js";
import { changes, snapshot } from "./object-changes.js";
import { getObject, listObjects, readDesired, type ShownObject } from "./objects.js";
import { isFinished, runEnded } from "./run-logs.js";
import { type Waker, watchDir } from "./status-watch.js";

interface LocalPrepared extends Prepared {
  planned: PlannedObject;
}

export class LocalBackend implements Backend {
  readonly where: string;

  constructor(
    readonly layout: StateLayout,
    private readonly io: CliIo,
  ) {
    this.where = `state dir ${layout.stateDir}`;
  }

  list(kind: Kind): Promise<ShownObject[]> {
    return listObjects(this.layout, kind);
  }

  get(kind: Kind, name: string): Promise<ShownObject | undefined> {
    return getObject(this.layout, kind, name);
  }

  async prepare(input: DesiredInput, where: string): Promise<Prepared> {
    const planned = await plan(this.layout, input, where);
    const prepared: LocalPrepared = { kind: input.kind, name: input.name, manifest: planned.manifest, generation: generation(planned.manifest.spec), planned };
    return prepared;
  }

  async apply(prepared: Prepared, dryRun: boolean): Promise<Outcome> {
    const { planned } = prepared as LocalPrepared;
    return dryRun ? planned.outcome : write(this.layout, planned);
  }

  async difference(prepared: Prepared): Promise<Difference | undefined> {
    const { planned } = prepared as LocalPrepared;
    if (planned.outcome === "unchanged") return undefined;
    const path = new DesiredStore(this.layout).path(planned.kind, planned.name);
    const shown = relative(this.io.cwd, path).startsWith("..") ? path : relative(this.io.cwd, path);
    return {
      before: planned.current ?? "",
      after: planned.text,
      beforeLabel: planned.current === undefined ? "/dev/null" : `${shown} (applied)`,
      afterLabel: `${shown} (after apply)`,
    };
  }

  applied(): Promise<AppliedObject[]> {
    return listApplied(this.layout);
  }

  async remove(kind: Kind, name: string): Promise<string | undefined> {
    if (await removeDesired(this.layout, kind, name)) return undefined;
    // Says why, when the object exists but in a file `apply` did not write (a git checkout's).
    const elsewhere = (await readDesired(this.layout, kind)).get(name);
    if (elsewhere !== undefined) return `Cannot delete ${named(kind, name)}: it is defined in ${elsewhere.file}, which joblet apply did not write; remove it there`;
    return `${named(kind, name)} not found`;
  }

  /** Lists again whenever the status dir changes (or the poll ticks) and reports what differs. */
  async *watch(kind: Kind, name: string | undefined, signal?: AbortSignal): AsyncGenerator<WatchEvent> {
    const waker = this.changes(kind, name, signal);
    try {
      let known = snapshot([]);
      while (!signal?.aborted) {
        const now = await this.select(kind, name).catch(() => undefined); // a failed read is retried
        if (now !== undefined) {
          const latest = snapshot(now);
          yield* changes(known, latest);
          known = latest;
        }
        await waker.next();
      }
    } finally {
      waker.close();
    }
  }

  changes(kind: Kind, _name: string | undefined, signal?: AbortSignal): Waker {
    return watchDir(statusKindDir(this.layout, kind), this.io.pollMs, signal);
  }

  async logs(name: string, run: string, targets: LogTargets, options: LogOptions): Promise<void> {
    let ended: Promise<unknown> | undefined;
    if (options.follow) {
      const current = await getObject(this.layout, "Job", name);
      const finished = current === undefined || current.object.status.run !== run || isFinished(current.object.status);
      if (!finished) ended = runEnded(this, name, run, this.io, options.signal);
    }
    await copyRunLogs(this.layout, name, run, targets, { tail: options.tail, ended, signal: options.signal, pollMs: this.io.pollMs });
  }

  close(): void {}

  private async select(kind: Kind, name: string | undefined): Promise<ShownObject[]> {
    if (name === undefined) return listObjects(this.layout, kind);
    const one = await getObject(this.layout, kind, name);
    return one === undefined ? [] : [one];
  }
}

interface CopyOptions {
  tail?: number;
  /** Keep reading until this settles (the run ended); read what is there and stop without it. */
  ended?: Promise<unknown>;
  signal?: AbortSignal;
  pollMs?: number;
}

/** Copies one run's log files; each stream goes to its own writer, concurrently when following. */
async function copyRunLogs(layout: StateLayout, name: string, run: string, targets: LogTargets, options: CopyOptions): Promise<void> {
  const copy = async (stream: "stdout" | "stderr", to: Writer | undefined): Promise<void> => {
    if (to === undefined) return;
    const path = runLogFile(layout, name, run, stream);
    let from = 0;
    if (options.tail !== undefined) {
      const tail = await readTail(path, options.tail);
      if (tail.data.length > 0) await writeOut(to, tail.data);
      from = tail.end;
      if (options.ended === undefined) return;
    }
    const ended = options.ended ?? Promise.resolve();
    for await (const chunk of followLog(path, { from, ended, signal: options.signal, pollMs: options.pollMs })) await writeOut(to, chunk);
  };
  // Without following, stdout is printed before stderr rather than interleaved by chance.
  if (options.ended === undefined) {
    await copy("stdout", targets.stdout);
    await copy("stderr", targets.stderr);
  } else {
    await Promise.all([copy("stdout", targets.stdout), copy("stderr", targets.stderr)]);
  }
}
