/**
 * What the verbs work on, so that each verb is written once for both places a joblet can
 * be: this host's state directory (LocalBackend: the files, as before) or a daemon over
 * HTTPS (RemoteBackend: the API of issue 7). Verbs get and list objects, apply and delete
 * them, watch them change and read Job logs only through this interface.
 */
import type { Kind, Manifest } from "../api/index.js";
import type { StateLayout } from "../store/index.js";
import type { AppliedObject, DesiredInput, Outcome } from "./desired.js";
import type { CliIo, Writer } from "./io.js";
import type { ShownObject } from "./objects.js";
import type { Waker } from "./status-watch.js";
import { targetFrom } from "./target.js";
import type { StateOptions } from "./options.js";

/** An object ready to apply: checked, its uploads read. */
export interface Prepared {
  kind: Kind;
  name: string;
  /** The manifest as it will be stored: source annotation added, a Job's files pointing at their copies. */
  manifest: Manifest;
  /** generation(manifest.spec): statuses and runs of this apply carry it. */
  generation: string;
}

/** `diff`'s two texts and their labels. */
export interface Difference {
  before: string;
  after: string;
  beforeLabel: string;
  afterLabel: string;
}

export type WatchType = "ADDED" | "MODIFIED" | "DELETED";

export interface WatchEvent {
  type: WatchType;
  shown: ShownObject;
}

/** Where a run's two streams go; a stream without a writer is not read. */
export interface LogTargets {
  stdout?: Writer;
  stderr?: Writer;
}

export interface LogOptions {
  /** Only the last N lines of each stream to begin with. */
  tail?: number;
  /** Keep printing until the run ends. */
  follow: boolean;
  signal?: AbortSignal;
}

export interface Backend {
  /** This host's state dir; undefined for a remote daemon (verbs that need its files refuse). */
  readonly layout?: StateLayout;
  /** "server https://host:8443" or "state dir /var/lib/joblet", for sentences. */
  readonly where: string;

  /** Every object of a kind, sorted by name. */
  list(kind: Kind): Promise<ShownObject[]>;
  get(kind: Kind, name: string): Promise<ShownObject | undefined>;
  /** Checks an object and reads its uploads; changes nothing, so that all objects are prepared before any is applied. */
  prepare(input: DesiredInput, where: string): Promise<Prepared>;
  apply(prepared: Prepared, dryRun: boolean): Promise<Outcome>;
  /** What applying would change, or undefined when nothing. */
  difference(prepared: Prepared): Promise<Difference | undefined>;
  /** Objects `apply` made, with their source annotation (for --prune). */
  applied(): Promise<AppliedObject[]>;
  /** Deletes an object: undefined when done, else the sentence saying why not (not found, ...). */
  remove(kind: Kind, name: string): Promise<string | undefined>;
  /** ADDED for each object there is, then each change, until `signal` aborts. */
  watch(kind: Kind, name: string | undefined, signal?: AbortSignal): AsyncIterable<WatchEvent>;
  /** Wakes a waiting verb when objects of `kind` (or the one named) may have changed. */
  changes(kind: Kind, name: string | undefined, signal?: AbortSignal): Waker;
  /** Copies one run's output; with `follow`, until the run ends. */
  logs(name: string, run: string, targets: LogTargets, options: LogOptions): Promise<void>;
  close(): void;
}

/** The backend the flags, environment and config file choose (target.ts). */
export async function openBackend(options: StateOptions, io: CliIo): Promise<Backend> {
  const target = await targetFrom(options, io);
  if (!target.remote) {
    const { LocalBackend } = await import("./backend-local.js");
    return new LocalBackend(target.layout, io);
  }
  const { RemoteBackend } = await import("./backend-remote.js");
  return RemoteBackend.connect(target.target, io);
}

/** Runs `body` with the chosen backend, closed afterwards (a remote one holds keep-alive sockets). */
export async function withBackend<T>(options: StateOptions, io: CliIo, body: (backend: Backend) => Promise<T>): Promise<T> {
  const backend = await openBackend(options, io);
  try {
    return await body(backend);
  } finally {
    backend.close();
  }
}

/** Writes and, when the writer is a stream whose buffer is full, waits until it drains. */
export function writeOut(writer: Writer, bytes: Uint8Array | string): Promise<void> | undefined {
  if (writer.write(bytes) !== false) return undefined;
  const stream = writer as Writer & { once?: (event: string, listener: () => void) => unknown };
  return typeof stream.once === "function" ? new Promise<void>((resolve) => void stream.once!("drain", resolve)) : undefined;
}
