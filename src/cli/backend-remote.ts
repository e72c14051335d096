/**
 * The verbs' backend for a daemon over HTTPS (api.md): objects from GET, apply as PUT
 * (a Job's uploads in the request's envelope), delete as DELETE, watch and logs as SSE
 * streams that reconnect by themselves. Objects arrive as `get -o json` shows them plus
 * `seen`, which becomes ShownObject.seen (AGE columns) and is dropped from the object.
 */
import { applyDefaults, generation, KINDS, type Kind, type Manifest, parseManifest } from "../api/index.js";
import { ApiClient, ApiError, errorOf, type RemoteTarget, type Response } from "../client/api-client.js";
import { eventStream } from "../client/event-stream.js";
import { readLog } from "../client/log-stream.js";
import { kindPlural, toYaml } from "../store/index.js";
import type { Backend, Difference, LogOptions, LogTargets, Prepared, WatchEvent, WatchType } from "./backend.js";
import { writeOut } from "./backend.js";
import { APPLIED_FROM, type AppliedObject, type DesiredInput, desiredManifest, type Outcome, PRUNE } from "./desired.js";
import { CliError, type CliIo } from "./io.js";
import { ref } from "./kinds.js";
import { snapshot, type Snapshot } from "./object-changes.js";
import type { ShownObject } from "./objects.js";
import { sleep, type Waker } from "./status-watch.js";
import { envelopeFiles, normalizeUpload } from "./upload-envelope.js";

/** Set by the server on what a client applies: who did it. Not part of what `diff` compares. */
const APPLIED_BY = "joblet/applied-by";

/** A change pushed over the watch stream wakes waiters at once; this poll only covers a stream that cannot be had. */
const POLL_MS = 2000;
const RECONNECT_FIRST_MS = 100;
const RECONNECT_MAX_MS = 2000;

interface RemotePrepared extends Prepared {
  body: string;
  /** What the user calls it in messages: "file:line: job 'x'". */
  where: string;
}

type ApiObject = ShownObject["object"] & { seen?: string };

function path(kind: Kind, name?: string): string {
  const base = `/apis/joblet/v1/${kindPlural(kind)}`;
  return name === undefined ? base : `${base}/${encodeURIComponent(name)}`;
}

/** The API's object as the verbs show it. A Pending stand-in has no observed generation and no conditions yet. */
export function fromApi(value: ApiObject): ShownObject {
  const { seen, ...object } = value;
  if (object.status === null || typeof object.status !== "object") object.status = {};
  const conditions = object.status.conditions;
  const hasStatus = object.status.observedGeneration !== undefined || (Array.isArray(conditions) && conditions.length > 0);
  const when = typeof seen === "string" ? new Date(seen) : undefined;
  return { object, hasStatus, ...(when !== undefined && !Number.isNaN(when.getTime()) ? { seen: when } : {}) };
}

export class RemoteBackend implements Backend {
  readonly layout = undefined;
  readonly where: string;

  private constructor(
    private readonly client: ApiClient,
    private readonly io: CliIo,
  ) {
    this.where = `server ${client.origin}`;
  }

  static async connect(target: RemoteTarget, io: CliIo): Promise<RemoteBackend> {
    return new RemoteBackend(await ApiClient.connect(target), io);
  }

  async list(kind: Kind): Promise<ShownObject[]> {
    const { value } = await this.client.json<{ items?: ApiObject[] }>("GET", path(kind), undefined, this.io.signal);
    return (value.items ?? []).map(fromApi);
  }

  async get(kind: Kind, name: string): Promise<ShownObject | undefined> {
    try {
      const { value } = await this.client.json<ApiObject>("GET", path(kind, name), undefined, this.io.signal);
      return fromApi(value);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return undefined;
      throw e;
    }
  }

  /**
   * The manifest sent is the one written (plus the source annotation, for --prune), its
   * files' paths normalized as the API wants them; `manifest` is what the daemon will
   * store, computed as local apply computes it (the same hash of the same files), for
   * the generation that `run --wait` and `diff` need.
   */
  async prepare(input: DesiredInput, where: string): Promise<Prepared> {
    const uploads = input.uploads.map((u) => normalizeUpload(u, where));
    const sent = structuredClone(input.manifest);
    if (input.appliedFrom !== undefined) sent.metadata.annotations = { ...sent.metadata.annotations, [APPLIED_FROM]: input.appliedFrom };
    if (sent.kind === "Job" && uploads.length > 0) sent.spec.files = (sent.spec.files ?? []).map((file, i) => ({ ...file, path: uploads[i]?.rel ?? file.path }));
    // The daemon stores the manifest as its parser returns it (parseManifest may normalise
    // fields): the generation is computed from the same.
    const parsed = parseManifest(structuredClone(sent));
    if (!parsed.ok) throw new CliError(`${where}: ${parsed.errors.map((e) => e.message).join("; ")}`);
    const { manifest } = await desiredManifest({ kind: input.kind, name: input.name, manifest: parsed.object, uploads }, where);
    const files = uploads.length > 0 ? await envelopeFiles(uploads, where) : [];
    const body = JSON.stringify(files.length > 0 ? { manifest: sent, files } : sent);
    const prepared: RemotePrepared = { kind: input.kind, name: input.name, manifest, generation: generation(manifest.spec), body, where };
    return prepared;
  }

  async apply(prepared: Prepared, dryRun: boolean): Promise<Outcome> {
    const { kind, name, body } = prepared as RemotePrepared;
    const response = await this.client.request("PUT", `${path(kind, name)}${dryRun ? "?dryRun=true" : ""}`, { body, contentType: "application/json", signal: this.io.signal });
    if (response.status >= 400) throw applyError(response, prepared as RemotePrepared);
    const { outcome } = JSON.parse(response.body.toString("utf8")) as { outcome: Outcome };
    return outcome;
  }

  /**
   * The live object's manifest part (defaults applied, as the daemon stores it) against
   * what applying would store; whether they differ is the server's dry run's answer
   * (a viewer may not dry-run: then the texts decide).
   */
  async difference(prepared: Prepared): Promise<Difference | undefined> {
    const live = await this.get(prepared.kind, prepared.name);
    const before = live === undefined ? "" : toYaml(comparable(live.object));
    const after = toYaml(comparable(applyDefaults(prepared.manifest) as unknown as ShownObject["object"]));
    const outcome = await this.apply(prepared, true).catch((e: unknown) => {
      if (e instanceof ApiError && e.status === 403) return before === after ? "unchanged" : "configured";
      throw e;
    });
    if (outcome === "unchanged") return undefined;
    const label = `${this.client.origin} ${ref(prepared.kind, prepared.name)}`;
    return { before, after, beforeLabel: live === undefined ? "/dev/null" : `${label} (live)`, afterLabel: `${label} (after apply)` };
  }

  async applied(): Promise<AppliedObject[]> {
    const out: AppliedObject[] = [];
    for (const kind of KINDS) {
      for (const { object } of await this.list(kind)) {
        const annotations = object.metadata.annotations ?? {};
        if (annotations[APPLIED_FROM] === undefined) continue;
        out.push({ kind, name: object.metadata.name, appliedFrom: annotations[APPLIED_FROM], prune: annotations[PRUNE] !== "false" });
      }
    }
    return out;
  }

  async remove(kind: Kind, name: string): Promise<string | undefined> {
    try {
      await this.client.json("DELETE", path(kind, name), undefined, this.io.signal);
      return undefined;
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return e.message;
      throw e;
    }
  }

  /**
   * The server's watch stream, reconnected when it drops. After a reconnect the server
   * sends every object again as ADDED: those unchanged are skipped, changed ones are
   * MODIFIED, and objects that went away meanwhile (found by listing) DELETED.
   */
  async *watch(kind: Kind, name: string | undefined, signal?: AbortSignal): AsyncGenerator<WatchEvent> {
    let known: Snapshot = new Map();
    let delay = RECONNECT_FIRST_MS;
    // A watch of one object that does not exist yet is refused (404): watch the kind for it instead.
    let target = name;
    for (let attempt = 0; !signal?.aborted; attempt++) {
      try {
        if (attempt > 0) {
          const now = snapshot(name === undefined ? await this.list(kind) : [await this.get(kind, name)].filter((o) => o !== undefined));
          for (const [gone, was] of known) {
            if (now.has(gone)) continue;
            known.delete(gone);
            yield { type: "DELETED", shown: was.shown };
          }
        }
        for await (const event of eventStream(this.client, `${path(kind, target)}?watch=true`, {}, signal)) {
          if (event.event !== "ADDED" && event.event !== "MODIFIED" && event.event !== "DELETED") continue;
          const shown = fromApi(JSON.parse(event.data) as ApiObject);
          const objectName = shown.object.metadata.name;
          if (name !== undefined && objectName !== name) continue;
          delay = RECONNECT_FIRST_MS;
          const was = known.get(objectName);
          if (event.event === "DELETED") {
            known.delete(objectName);
            yield { type: "DELETED", shown };
            continue;
          }
          const key = JSON.stringify(shown.object);
          if (was?.key === key) continue;
          known.set(objectName, { key, shown });
          yield { type: (was === undefined ? "ADDED" : "MODIFIED") as WatchType, shown };
        }
      } catch (e) {
        if (signal?.aborted) break;
        if (e instanceof ApiError && e.status === 404 && target !== undefined) {
          target = undefined;
          continue;
        }
        // The server said no (403, 400): reconnecting would hear the same.
        if (e instanceof ApiError && e.status !== undefined && e.status < 500) throw e;
      }
      await sleep(delay, signal);
      delay = Math.min(delay * 2, RECONNECT_MAX_MS);
    }
  }

  /** Woken by the watch stream's events, and by a slow poll in case the stream cannot be had. */
  changes(kind: Kind, name: string | undefined, signal?: AbortSignal): Waker {
    const stop = new AbortController();
    const abort = (): void => stop.abort();
    signal?.addEventListener("abort", abort);
    let wake: (() => void) | undefined;
    let pending = false;
    const poke = (): void => {
      const w = wake;
      wake = undefined;
      if (w === undefined) pending = true;
      else w();
    };
    stop.signal.addEventListener("abort", poke);
    void (async () => {
      try {
        for await (const _ of this.watch(kind, name, stop.signal)) poke();
      } catch {
        // refused or failing: the poll goes on alone
      }
    })();
    return {
      next() {
        return new Promise<void>((resolve) => {
          if (pending || stop.signal.aborted) {
            pending = false;
            return resolve();
          }
          const timer = setTimeout(poke, POLL_MS);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      },
      close() {
        signal?.removeEventListener("abort", abort);
        stop.abort();
      },
    };
  }

  async logs(name: string, run: string, targets: LogTargets, options: LogOptions): Promise<void> {
    const { stdout, stderr } = targets;
    if (stdout === undefined && stderr === undefined) return;
    const stream = stdout !== undefined && stderr !== undefined ? "all" : stdout !== undefined ? "stdout" : "stderr";
    await readLog(
      this.client,
      { name, run, stream, follow: options.follow, ...(options.tail !== undefined ? { tail: options.tail } : {}) },
      (which, bytes) => writeOut((which === "stdout" ? stdout : stderr)!, bytes),
      options.signal,
    );
  }

  close(): void {
    this.client.close();
  }
}

/** What `diff` compares: the manifest's part of an object, without what the server adds. */
function comparable(object: ShownObject["object"]): Manifest {
  const { [APPLIED_BY]: _by, ...annotations } = object.metadata.annotations ?? {};
  const metadata = {
    name: object.metadata.name,
    ...(object.metadata.labels !== undefined && Object.keys(object.metadata.labels).length > 0 ? { labels: object.metadata.labels } : {}),
    ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
  };
  return { apiVersion: object.apiVersion, kind: object.kind, metadata, spec: object.spec } as Manifest;
}

/** A refused PUT: the server's sentence; validation problems one per line under it, each with its field. */
function applyError(response: Response, prepared: RemotePrepared): ApiError {
  const error = errorOf(response, `Applying ${ref(prepared.kind, prepared.name)}`);
  // Who may do what is the server's sentence alone; a manifest's problem says which file.
  if (response.status === 403) return error;
  const lines = error.problems.length > 1 ? error.problems.map((p) => `${prepared.where}: ${p.path ? `${p.path}: ` : ""}${p.message}`) : [`${prepared.where}: ${error.message}`];
  return new ApiError(lines.join("\n"), response.status, error.problems);
}
