import { createWriteStream, type WriteStream } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { RuntimeBuild, RuntimeManifestWithDefaults, RuntimeStatus, StoredObject } from "../../api/index.js";
import {
  lastGoodObject,
  manifestCondition,
  RemovalGrace,
  setCondition,
  storedMetadata,
  withEvents,
  type ReconcileResult,
} from "../../reconciler/index.js";
import { RuntimeSourceError, type BuildProgress } from "../../runtimes/build-context.js";
import { buildId, buildRuntime } from "../../runtimes/build.js";
import { buildLogPath, currentBuildId, makeCurrent, removeBuilds, removeRuntime } from "../../runtimes/installed.js";
import { resolveRuntime, type RuntimeResolution } from "./resolve.js";
import type { ControllerOptions } from "../controller-options.js";

export type RuntimeObject = StoredObject<RuntimeManifestWithDefaults["spec"], RuntimeStatus>;

export interface RuntimeControllerOptions extends ControllerOptions {
  /** Builds (absolute paths) that running jobs use: never removed under them. */
  buildsInUse(): ReadonlySet<string>;
  /** A Runtime became Ready or changed build: jobs waiting for it may start. */
  onReady(name: string): void;
  /** First retry of a build that failed for a transient cause (network...), doubled per failure. Default 30 s. */
  retryBaseMs?: number;
  /** As for Jobs: a manifest must stay gone this long before its Runtime is removed. Default 1 s. */
  removalGraceMs?: number;
}

interface BuildUnderWay {
  generation: string;
  abort: AbortController;
  done: Promise<void>;
}

const MAX_RETRY_MS = 10 * 60 * 1000;
/** Progress is written to status at most this often: a build reports thousands of steps. */
const PROGRESS_WRITE_MS = 500;
const LOG_TAIL_LINES = 12;

export const runtimeKey = (name: string) => `Runtime/${name}`;

/**
 * Level-triggered, like the Job controller: reconcile(key) compares the
 * Runtime's spec with its installed build and starts a build when they
 * differ. Builds run outside the worker (a Debian root takes a minute); their
 * end queues the key again. A changed spec is built beside the current build,
 * which jobs keep using until the new one is swapped in.
 */
export class RuntimeController {
  private readonly objects = new Map<string, RuntimeObject>();
  private readonly building = new Map<string, BuildUnderWay>();
  private readonly retryBase: number;
  private readonly removalGrace: RemovalGrace;

  constructor(private readonly o: RuntimeControllerOptions) {
    this.retryBase = o.retryBaseMs ?? 30_000;
    this.removalGrace = new RemovalGrace(o.removalGraceMs ?? 1000);
  }

  /** Loads the stored statuses: jobs may resolve runtimes before their first reconcile. */
  async adopt(): Promise<string[]> {
    const names = await this.o.statuses.list("Runtime");
    for (const name of names) {
      const object = (await this.o.statuses.read("Runtime", name)) as RuntimeObject | undefined;
      if (object) this.objects.set(name, object);
    }
    return names;
  }

  /** What a Job's `spec.runtime` names, if it can run on it now. */
  resolve(ref: string): RuntimeResolution {
    return resolveRuntime(ref, this.objects);
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const name = key.slice("Runtime/".length);
    const entry = this.o.desired.get(key);
    if (!entry) return this.removalGrace.whenGone(name, () => this.removed(name));
    this.removalGrace.present(name);
    const stored = this.objects.get(name);
    if (!entry.manifest || !entry.generation) {
      // A broken manifest: the installed build stays in use; say why on the object.
      const status = stored?.status ?? { phase: "Pending", conditions: [] };
      await this.save(name, lastGoodObject("Runtime", name, stored, { ...status, conditions: manifestCondition(status.conditions, "Valid", entry) }));
      return;
    }
    const manifest = entry.manifest as RuntimeManifestWithDefaults;
    const generation = entry.generation;
    const under = this.building.get(name);
    if (under && under.generation !== generation) {
      under.abort.abort(new Error("superseded by a new spec"));
      await under.done;
    }
    const status: RuntimeStatus = stored ? { ...stored.status } : { phase: "Pending", conditions: [] };
    status.conditions = manifestCondition(status.conditions, "Valid", entry);
    const object: RuntimeObject = {
      apiVersion: "joblet/v1",
      kind: "Runtime",
      metadata: storedMetadata(name, generation, manifest.metadata),
      spec: manifest.spec,
      status,
    };

    if (status.current?.generation === generation && (await currentBuildId(this.o.layout, name)) === status.current.id) {
      if (status.phase !== "Ready" || status.observedGeneration !== generation) {
        Object.assign(status, ready(status, status.current));
        await this.save(name, object);
      } else if (stored?.metadata.generation !== generation) {
        await this.save(name, object);
      }
      await this.collect(name);
      return;
    }
    if (this.building.get(name)?.generation === generation) return;
    if (status.observedGeneration === generation && status.phase === "Failed") {
      await this.save(name, object);
      if (!status.nextAttemptAt) return;
      const left = Date.parse(status.nextAttemptAt) - Date.now();
      if (left > 0) return { requeueAfter: left };
    }
    await this.startBuild(name, object);
  }

  private async startBuild(name: string, object: RuntimeObject): Promise<void> {
    const generation = object.metadata.generation;
    const id = buildId(generation);
    const logPath = buildLogPath(this.o.layout, name, id);
    await mkdir(dirname(logPath), { recursive: true });
    const log = createWriteStream(logPath, { flags: "w", mode: 0o644 });
    const startedAt = new Date().toISOString();
    const previousFailures = object.status.observedGeneration === generation ? (object.status.failures ?? 0) : 0;
    object.status = {
      ...object.status,
      phase: "Building",
      observedGeneration: generation,
      progress: { phase: "starting", startedAt },
      buildLog: logPath,
      failures: previousFailures,
    };
    delete object.status.reason;
    delete object.status.message;
    delete object.status.nextAttemptAt;
    this.o.events.record(runtimeKey(name), { type: "Normal", reason: "Building", message: `Building ${id} from ${Object.keys(object.spec.source).join(", ")}` });
    await this.save(name, object);

    const abort = new AbortController();
    let lastWrite = 0;
    const progress = (p: BuildProgress) => {
      const current = this.objects.get(name);
      if (!current || current.metadata.generation !== generation || abort.signal.aborted) return;
      current.status = { ...current.status, progress: { ...p, startedAt } };
      if (Date.now() - lastWrite < PROGRESS_WRITE_MS) return;
      lastWrite = Date.now();
      void this.save(name, current).catch(() => undefined);
    };
    const done = buildRuntime(this.o.layout, name, object.spec, generation, {
      log: (line) => log.write(`${line}\n`),
      progress,
      signal: abort.signal,
    })
      // The log is complete before its tail goes into the status.
      .finally(() => closeLog(log))
      .then(
      (build) => this.built(name, generation, build),
      (error: Error) => this.failed(name, generation, error, abort.signal.aborted, logPath),
    );
    const settled = done
      .catch((err) => this.o.logger.error({ key: runtimeKey(name), err }, "cannot record the end of a runtime build"))
      .finally(() => {
        if (this.building.get(name)?.abort === abort) this.building.delete(name);
        if (!abort.signal.aborted) this.o.queue.add(runtimeKey(name));
      });
    this.building.set(name, { generation, abort, done: settled });
  }

  private async built(name: string, generation: string, build: RuntimeBuild): Promise<void> {
    const object = this.objects.get(name);
    if (!object || object.metadata.generation !== generation) return;
    await makeCurrent(this.o.layout, name, build.id);
    object.status = ready(object.status, build);
    this.o.events.record(runtimeKey(name), {
      type: "Normal",
      reason: "Ready",
      message: `Build ${build.id} installed: ${build.files} files, ${build.sizeBytes} bytes in ${(build.durationMs / 1000).toFixed(1)} s`,
    });
    await this.save(name, object);
    this.o.logger.info({ key: runtimeKey(name), build: build.id, ms: build.durationMs }, "runtime ready");
    this.o.onReady(name);
    await this.collect(name);
  }

  private async failed(name: string, generation: string, error: Error, aborted: boolean, logPath: string): Promise<void> {
    if (aborted) return;
    const object = this.objects.get(name);
    if (!object || object.metadata.generation !== generation) return;
    const permanent = error instanceof RuntimeSourceError;
    const failures = (object.status.failures ?? 0) + 1;
    const tail = await logTail(logPath);
    const status: RuntimeStatus = { ...object.status, phase: "Failed", reason: permanent ? "InvalidSource" : "BuildFailed", failures };
    delete status.progress;
    status.message = `${error.message}${tail ? `\nlast lines of ${logPath}:\n${tail}` : ""}`;
    if (!permanent) {
      const delay = Math.min(MAX_RETRY_MS, this.retryBase * 2 ** (failures - 1));
      status.nextAttemptAt = new Date(Date.now() + delay).toISOString();
      status.message += `\nretrying in ${Math.round(delay / 1000)} s`;
    }
    const serving = status.current ? `; jobs keep using build ${status.current.id}` : "";
    status.conditions = setCondition(status.conditions, {
      type: "Ready",
      status: status.current ? "True" : "False",
      reason: status.current ? "OlderBuild" : permanent ? "InvalidSource" : "BuildFailed",
      message: `The build of generation ${generation.slice(0, 8)} failed: ${error.message}${serving}`,
    });
    object.status = status;
    this.o.events.record(runtimeKey(name), { type: "Warning", reason: status.reason!, message: error.message });
    await this.save(name, object);
    this.o.logger.warn({ key: runtimeKey(name), err: error }, "runtime build failed");
  }

  /** The manifest is gone: stop any build, unlink the runtime, and keep only builds running jobs use. */
  private async removed(name: string): Promise<void> {
    const under = this.building.get(name);
    if (under) {
      under.abort.abort(new Error("the Runtime was deleted"));
      await under.done;
    }
    await removeRuntime(this.o.layout, name, this.o.buildsInUse());
    if (this.objects.delete(name)) {
      await this.writes.get(name)?.catch(() => undefined);
      await this.o.statuses.remove("Runtime", name);
      this.o.events.forget(runtimeKey(name));
      this.o.onReady(name);
    }
  }

  /** Removes builds no longer current and no longer used by a running job. */
  private async collect(name: string): Promise<void> {
    const object = this.objects.get(name);
    const keep = new Set(this.o.buildsInUse());
    if (object?.status.current) keep.add(object.status.current.path);
    const removed = await removeBuilds(this.o.layout, name, keep, this.building.get(name) ? buildId(this.building.get(name)!.generation) : undefined);
    if (removed.length) this.o.logger.info({ key: runtimeKey(name), removed }, "removed unused runtime builds");
  }

  /** Stops builds under way (daemon shutdown): they start again with the next daemon. */
  async stop(): Promise<void> {
    for (const under of this.building.values()) under.abort.abort(new Error("the daemon is stopping"));
    await Promise.all([...this.building.values()].map((b) => b.done));
  }

  /** Writes of one Runtime's status, in order: a progress write must never land after the final one. */
  private readonly writes = new Map<string, Promise<unknown>>();

  private async save(name: string, object: RuntimeObject): Promise<void> {
    object = { ...object, status: withEvents(object.status, this.o.events.list(runtimeKey(name))) };
    this.objects.set(name, object);
    const previous = this.writes.get(name) ?? Promise.resolve();
    const write = previous.catch(() => undefined).then(() => this.o.statuses.write("Runtime", name, object as unknown as Record<string, unknown>));
    this.writes.set(name, write);
    try {
      await write;
    } finally {
      if (this.writes.get(name) === write) this.writes.delete(name);
    }
  }
}

function ready(status: RuntimeStatus, build: RuntimeBuild): RuntimeStatus {
  const next: RuntimeStatus = { ...status, phase: "Ready", current: build, observedGeneration: build.generation, failures: 0 };
  delete next.progress;
  delete next.reason;
  delete next.message;
  delete next.nextAttemptAt;
  next.conditions = setCondition(next.conditions, { type: "Ready", status: "True", reason: "Installed", message: `Build ${build.id} at ${build.path}` });
  return next;
}

async function logTail(path: string): Promise<string> {
  const text = await readFile(path, "utf8").catch(() => "");
  return text.trimEnd().split("\n").slice(-LOG_TAIL_LINES).join("\n");
}

function closeLog(log: WriteStream): Promise<void> {
  return new Promise((resolve) => log.end(resolve));
}
