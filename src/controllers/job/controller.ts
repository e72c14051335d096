import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import type { JobManifestWithDefaults, JobStatus, StoredObject } from "../../api/index.js";
import { inBatches, type ManifestEntry } from "../../daemon/manifest-source.js";
import { attachJob, InvalidJobSpecError, spawnJob, type JobExit, type JobHandle } from "../../isolation/index.js";
import {
  lastGoodObject,
  manifestCondition,
  RemovalGrace,
  removeCondition,
  setCondition,
  storedMetadata,
  withEvents,
  type EventLog,
  type ReconcileResult,
  type WorkQueue,
} from "../../reconciler/index.js";
import { jobLogsDir, jobRunsDir, type StateLayout, type StatusStore } from "../../store/index.js";
import { spawnSeconds } from "../../metrics/index.js";
import type { NetworkResolution } from "../network/controller.js";
import type { RuntimeResolution } from "../runtime/resolve.js";
import type { VolumeClaim, VolumeMount } from "../volume/controller.js";
import { engineSpecFor, runId, runPaths } from "./launch.js";

export type JobObject = StoredObject<JobManifestWithDefaults["spec"], JobStatus>;

export interface JobControllerOptions {
  layout: StateLayout;
  statuses: StatusStore;
  /** The informer's cache: kind/name -> entry. */
  desired: { get(key: string): ManifestEntry | undefined };
  queue: WorkQueue<string>;
  events: EventLog;
  logger: Logger;
  /** Resolves `spec.runtime` to an installed build. */
  runtimes: { resolve(ref: string): RuntimeResolution };
  /** A run on a runtime ended: its build may now be removed if no longer current. */
  onRuntimeReleased?(name: string): void;
  /** The host mounts of a Job's `spec.volumes`, or why it must wait for them. */
  volumes: { forJob(refs: readonly { name: string; readOnly: boolean }[]): VolumeClaim };
  /** These Volumes gained or lost a user: their status lists users, and a deleted one waits for the last. */
  onVolumeUsersChanged?(names: readonly string[]): void;
  /** Puts a run on its network (an address, a veth, a hosts file) and takes it off when the run ends. */
  networks: {
    attach(job: string, run: string, network: string): Promise<NetworkResolution>;
    release(job: string, network: string): void;
  };
  /** SIGTERM to SIGKILL when a run is stopped. Default 10 s. */
  gracePeriodMs?: number;
  /** First retry delay of an OnFailure Job, doubled per retry up to 6 minutes (Kubernetes: 10 s). */
  backoffBaseMs?: number;
  /**
   * How long a Job's manifest must stay gone before the Job is stopped and
   * cleaned up (default 1 s): a file being rewritten may hold nothing for a
   * moment, and that must not cost a running job its run and logs.
   */
  removalGraceMs?: number;
}

/** A run this daemon watches. */
interface ActiveRun {
  run: string;
  generation: string;
  handle: JobHandle;
  /** The runtime build the run's root is made of. */
  runtime?: { name: string; build: string };
  /** The network the run is on, and its address there. */
  network?: { name: string; ip: string };
  /** The Volumes the run mounts. */
  volumes?: string[];
  /** Set when the controller itself ends the run: why. */
  stopReason?: "DeadlineExceeded" | "Superseded";
}

const MAX_BACKOFF_MS = 6 * 60 * 1000;
const FINISHED = new Set(["Succeeded", "Failed"]);
/** Reasons a Job waits Pending for something else; cleared when its run starts. */
const WAITING = new Set(["RuntimeNotReady", "VolumeNotFound", "VolumeNotReady", "NetworkNotFound", "NetworkNotReady", "NetworkFull"]);

export const jobKey = (name: string) => `Job/${name}`;

/**
 * Level-triggered: reconcile(key) looks at the Job's desired manifest, its
 * stored status and the run this daemon watches, and moves them one step
 * closer, whatever event woke it.
 */
export class JobController {
  private readonly runs = new Map<string, ActiveRun>();
  /** Volumes of Jobs between their volume check and their run's start: users already. */
  private readonly volumeClaims = new Map<string, string[]>();
  private readonly objects = new Map<string, JobObject>();
  private readonly grace: number;
  private readonly backoffBase: number;
  private readonly removalGrace: RemovalGrace;

  constructor(private readonly o: JobControllerOptions) {
    this.grace = o.gracePeriodMs ?? 10_000;
    this.backoffBase = o.backoffBaseMs ?? 10_000;
    this.removalGrace = new RemovalGrace(o.removalGraceMs ?? 1000);
  }

  /** Names of runs being watched, for the orphan sweep: engine runs dirs that must stay. */
  activeRuns(): ReadonlyMap<string, string> {
    return new Map([...this.runs].map(([name, active]) => [name, active.run]));
  }

  /** Where running jobs are on networks: leases to give back after a restart. */
  networkLeases(): { job: string; run: string; network: string; ip: string }[] {
    return [...this.runs].flatMap(([job, active]) => (active.network ? [{ job, run: active.run, network: active.network.name, ip: active.network.ip }] : []));
  }

  /** Jobs that mount each Volume: running ones, and ones being started. */
  volumeUsers(): ReadonlyMap<string, readonly string[]> {
    const users = new Map<string, string[]>();
    const add = (job: string, volumes: readonly string[] | undefined) => {
      for (const volume of volumes ?? []) users.set(volume, [...(users.get(volume) ?? []), job]);
    };
    for (const [job, active] of this.runs) add(job, active.volumes);
    for (const [job, volumes] of this.volumeClaims) if (!this.runs.has(job)) add(job, volumes);
    return users;
  }

  /** Runtime builds (absolute paths) that running jobs use. */
  buildsInUse(): ReadonlySet<string> {
    return new Set([...this.runs.values()].flatMap((active) => (active.runtime ? [active.runtime.build] : [])));
  }

  /**
   * After a restart: watch again every run the stored statuses call Running.
   * One that ended meanwhile is recorded from its exit record; one whose
   * records are gone is Failed as Lost. Nothing that finished is re-run.
   */
  async adopt(): Promise<void> {
    await inBatches(await this.o.statuses.list("Job"), async (name) => {
      const object = (await this.o.statuses.read("Job", name)) as JobObject | undefined;
      if (!object) return;
      this.objects.set(name, object);
      const { phase, run } = object.status;
      if (phase !== "Running" || !run) return;
      try {
        const handle = await attachJob(runPaths(this.o.layout, name, run).supervisor);
        const { runtime, network, volumes } = object.status;
        this.watchRun(name, {
          run,
          generation: object.metadata.generation,
          handle,
          ...(runtime ? { runtime } : {}),
          ...(volumes?.length ? { volumes } : {}),
          ...(network?.ip ? { network: { name: network.name, ip: network.ip } } : {}),
        });
        this.o.logger.info({ key: jobKey(name), run }, "re-adopted running job");
      } catch (e) {
        await this.save(name, {
          ...object,
          status: this.finish(object.status, "Failed", "Lost", `Its run ${run} could not be re-adopted: ${(e as Error).message}`),
        });
      }
    });
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const name = key.slice("Job/".length);
    const entry = this.o.desired.get(key);
    const active = this.runs.get(name);
    if (!entry) {
      const left = this.removalGrace.missing(name);
      if (left > 0) return { requeueAfter: left };
      return this.removed(name, active);
    }
    this.removalGrace.present(name);
    const stored = this.objects.get(name) ?? ((await this.o.statuses.read("Job", name)) as JobObject | undefined);

    if (!entry.manifest || !entry.generation) {
      // Never had a good spec: nothing to run; say why on the object.
      const status = stored?.status ?? fresh();
      await this.save(name, lastGoodObject("Job", name, stored, { ...status, conditions: manifestCondition(status.conditions, "Ready", entry) }));
      return;
    }
    const manifest = entry.manifest as JobManifestWithDefaults;
    const spec = manifest.spec;
    let status: JobStatus = stored?.metadata.generation === entry.generation ? { ...stored.status } : fresh();
    if (stored && stored.metadata.generation !== entry.generation) {
      if (active) await this.stop(active, "Superseded");
      this.o.events.record(key, { type: "Normal", reason: "SpecChanged", message: `New spec ${entry.generation}: starting over` });
    }
    status.observedGeneration = entry.generation;
    status.source = { file: entry.file };
    status.conditions = manifestCondition(status.conditions, "Ready", entry);
    const object: JobObject = {
      apiVersion: "joblet/v1",
      kind: "Job",
      metadata: storedMetadata(name, entry.generation, manifest.metadata),
      spec,
      status,
    };
    const current = this.runs.get(name);

    if (spec.suspend) {
      if (current) await this.stop(current, "Superseded");
      status.conditions = setCondition(status.conditions, { type: "Suspended", status: "True", reason: "JobSuspended", message: "spec.suspend is true" });
      if (status.phase === "Running") status.phase = "Pending";
      await this.save(name, object);
      return;
    }
    status.conditions = removeCondition(status.conditions, "Suspended");

    if (current) {
      await this.save(name, object);
      if (spec.activeDeadlineSeconds === undefined || !status.startTime) return;
      const left = Date.parse(status.startTime) + spec.activeDeadlineSeconds * 1000 - Date.now();
      if (left > 0) return { requeueAfter: left };
      current.stopReason = "DeadlineExceeded";
      void current.handle.stop(this.grace);
      return;
    }

    if (FINISHED.has(status.phase)) {
      await this.save(name, object);
      return this.expire(name, spec.ttlSecondsAfterFinished, status);
    }

    const blocked = unsupported(spec);
    if (blocked) {
      status.phase = "Failed";
      object.status = this.finish(status, "Failed", blocked.reason, blocked.message);
      await this.save(name, object);
      return;
    }
    const untilRetry = status.nextAttemptAt ? Date.parse(status.nextAttemptAt) - Date.now() : 0;
    if (untilRetry > 0) {
      await this.save(name, object);
      return { requeueAfter: untilRetry };
    }
    let runtime: Extract<RuntimeResolution, { ok: true }> | undefined;
    if (spec.runtime) {
      const resolved = this.o.runtimes.resolve(spec.runtime);
      // Waits, as a Pod waits for its image: the Runtime controller wakes it when the runtime is Ready.
      if (!resolved.ok) return this.waitFor(name, object, "RuntimeNotReady", resolved.message);
      runtime = resolved;
    }
    let volumes: VolumeMount[] = [];
    if (spec.volumes?.length) {
      const claim = this.o.volumes.forJob(spec.volumes);
      // Waits, as a Pod waits for its volume claim: the Volume controller wakes it when the volume is Ready.
      if (!claim.ok) return this.waitFor(name, object, claim.reason, claim.message);
      // Recorded before anything else runs: from here on the Volume counts this Job as a user and stays mounted.
      this.volumeClaims.set(name, claim.mounts.map((m) => m.name));
      volumes = claim.mounts;
    }
    try {
      let network: Extract<NetworkResolution, { ok: true }> | undefined;
      if (spec.network !== "none") {
        const attached = await this.o.networks.attach(name, runId(object.metadata.generation, status.attempts + 1), spec.network);
        // Woken when the network becomes Ready or an address frees up.
        if (!attached.ok) return await this.waitFor(name, object, attached.reason, attached.message);
        network = attached;
      }
      await this.start(name, object, manifest, entry, runtime, network, volumes);
    } finally {
      // The run holds its volumes now, or there is no run.
      this.releaseVolumeClaim(name);
    }
  }

  private releaseVolumeClaim(name: string): void {
    const volumes = this.volumeClaims.get(name);
    if (volumes && this.volumeClaims.delete(name)) this.o.onVolumeUsersChanged?.(volumes);
  }

  /** Pending until something the Job needs is there; an event each time the reason changes. */
  private async waitFor(name: string, object: JobObject, reason: string, message: string): Promise<void> {
    const status = object.status;
    if (status.reason !== reason || status.message !== message) this.o.events.record(jobKey(name), { type: "Normal", reason, message });
    object.status = { ...status, phase: "Pending", reason, message };
    await this.save(name, object);
  }

  private async start(
    name: string,
    object: JobObject,
    manifest: JobManifestWithDefaults,
    entry: ManifestEntry,
    runtime: Extract<RuntimeResolution, { ok: true }> | undefined,
    network: Extract<NetworkResolution, { ok: true }> | undefined,
    volumes: VolumeMount[],
  ) {
    const status = object.status;
    if (status.reason && WAITING.has(status.reason)) {
      delete status.reason;
      delete status.message;
    }
    const attempt = status.attempts + 1;
    const run = runId(object.metadata.generation, attempt);
    const now = new Date().toISOString();
    let handle: JobHandle;
    try {
      const manifestFile = join(this.o.layout.manifestsDir, entry.file);
      const spec = await engineSpecFor(this.o.layout, manifest, manifestFile, run, runtime?.build, network, volumes);
      handle = await spawnSeconds.time(() => spawnJob(spec));
    } catch (e) {
      if (network) this.o.networks.release(name, network.network);
      const message = (e as Error).message;
      const reason = e instanceof InvalidJobSpecError ? "InvalidSpec" : "StartError";
      this.o.events.record(jobKey(name), { type: "Warning", reason, message });
      object.status = this.finish({ ...status, attempts: attempt, run, startTime: status.startTime ?? now }, "Failed", reason, message);
      await this.save(name, object);
      return;
    }
    object.status = {
      ...status,
      phase: "Running",
      run,
      attempts: attempt,
      startTime: status.startTime ?? now,
      conditions: status.conditions,
    };
    delete object.status.nextAttemptAt;
    delete object.status.runtime;
    delete object.status.network;
    delete object.status.volumes;
    const mounted = volumes.map((v) => v.name);
    if (mounted.length) object.status.volumes = mounted;
    const used = runtime ? { name: runtime.name, build: runtime.build.path } : undefined;
    if (used) object.status.runtime = used;
    const on = network ? { name: network.network, ip: network.ip } : undefined;
    if (on) object.status.network = on;
    this.watchRun(name, { run, generation: object.metadata.generation, handle, ...(used ? { runtime: used } : {}), ...(on ? { network: on } : {}), ...(mounted.length ? { volumes: mounted } : {}) });
    this.o.events.record(jobKey(name), { type: "Normal", reason: "Started", message: `Run ${run} started (pid ${handle.pid})` });
    await this.save(name, object);
    const deadline = manifest.spec.activeDeadlineSeconds;
    if (deadline !== undefined) this.o.queue.addAfter(jobKey(name), Math.max(0, Date.parse(object.status.startTime!) + deadline * 1000 - Date.now()));
  }

  private watchRun(name: string, active: ActiveRun): void {
    this.runs.set(name, active);
    active.handle.wait().then(
      (exit) => this.exited(name, active, exit),
      (error: Error) => this.exited(name, active, undefined, error),
    );
  }

  /** A run ended: record how, and decide between Succeeded, a retry and Failed. */
  private async exited(name: string, active: ActiveRun, exit: JobExit | undefined, error?: Error): Promise<void> {
    if (this.runs.get(name) === active) this.runs.delete(name);
    if (active.runtime) this.o.onRuntimeReleased?.(active.runtime.name);
    if (active.network) this.o.networks.release(name, active.network.name);
    if (active.volumes) this.o.onVolumeUsersChanged?.(active.volumes);
    try {
      const object = this.objects.get(name);
      if (active.stopReason === "Superseded" || !object || object.metadata.generation !== active.generation) return;
      const spec = object.spec;
      let status: JobStatus = { ...object.status, completionTime: new Date().toISOString() };
      delete status.exitCode;
      delete status.signal;
      if (exit) {
        if (exit.exitCode !== null) status.exitCode = exit.exitCode;
        if (exit.signal) status.signal = exit.signal;
        status.usage = exit.usage;
      }
      const why =
        active.stopReason ??
        (!exit ? "Lost" : exit.oomKilled ? "OOMKilled" : exit.exitCode === 0 ? undefined : exit.signal ? "Signaled" : "Error");
      const detail = !exit
        ? `Run ${active.run}: ${error?.message ?? "no exit recorded"}`
        : why === "OOMKilled"
          ? `Run ${active.run} was killed for exceeding its memory limit`
          : why === "DeadlineExceeded"
            ? `Run ${active.run} passed activeDeadlineSeconds (${spec.activeDeadlineSeconds}) and was stopped`
            : exit.signal
              ? `Run ${active.run} was ended by ${exit.signal}`
              : `Run ${active.run} exited with code ${exit.exitCode}`;
      if (!why) {
        status = this.finish(status, "Succeeded", "Completed", detail);
      } else if (spec.restartPolicy === "OnFailure" && why !== "DeadlineExceeded" && status.attempts <= spec.backoffLimit) {
        const delay = Math.min(MAX_BACKOFF_MS, this.backoffBase * 2 ** (status.attempts - 1));
        status = { ...status, phase: "Pending", reason: why, message: `${detail}; retrying in ${delay} ms`, nextAttemptAt: new Date(Date.now() + delay).toISOString() };
        this.o.queue.addAfter(jobKey(name), delay);
      } else {
        const limitHit = spec.restartPolicy === "OnFailure" && why !== "DeadlineExceeded";
        status = this.finish(status, "Failed", limitHit ? "BackoffLimitExceeded" : why, limitHit ? `${detail}; backoffLimit ${spec.backoffLimit} reached` : detail);
      }
      this.o.events.record(jobKey(name), { type: why ? "Warning" : "Normal", reason: why ?? "Completed", message: detail });
      await this.save(name, { ...object, status });
    } catch (e) {
      this.o.logger.error({ key: jobKey(name), err: e }, "cannot record the end of a run");
    } finally {
      this.o.queue.add(jobKey(name));
    }
  }

  /** Phase Succeeded or Failed with its condition. The retry reason of a Failed run is the reason. */
  private finish(status: JobStatus, phase: "Succeeded" | "Failed", reason: string, message: string): JobStatus {
    const next: JobStatus = { ...status, phase, reason, message, completionTime: status.completionTime ?? new Date().toISOString() };
    if (phase === "Succeeded") delete next.reason;
    delete next.nextAttemptAt;
    const type = phase === "Succeeded" ? "Complete" : "Failed";
    next.conditions = setCondition(next.conditions, { type, status: "True", reason: phase === "Succeeded" ? "Completed" : reason, message });
    return next;
  }

  /** End a run and wait for it; its exit is not recorded as the Job's result. */
  private async stop(active: ActiveRun, reason: ActiveRun["stopReason"]): Promise<void> {
    active.stopReason = reason;
    await active.handle.stop(this.grace).catch(() => undefined);
  }

  /** The manifest is gone: stop the run, then remove its logs, records and status. */
  private async removed(name: string, active: ActiveRun | undefined): Promise<void> {
    if (active) await this.stop(active, "Superseded");
    await rm(jobLogsDir(this.o.layout, name), { recursive: true, force: true });
    await rm(jobRunsDir(this.o.layout, name), { recursive: true, force: true });
    this.objects.delete(name);
    await this.o.statuses.remove("Job", name);
    this.o.events.forget(jobKey(name));
  }

  /** ttlSecondsAfterFinished: the finished run's logs and work data go; the status stays. */
  private async expire(name: string, ttl: number | undefined, status: JobStatus): Promise<ReconcileResult | void> {
    if (ttl === undefined || !status.completionTime || !status.run || status.expired) return;
    const left = Date.parse(status.completionTime) + ttl * 1000 - Date.now();
    if (left > 0) return { requeueAfter: left };
    await rm(jobLogsDir(this.o.layout, name), { recursive: true, force: true });
    await rm(jobRunsDir(this.o.layout, name), { recursive: true, force: true });
    const object = this.objects.get(name)!;
    await this.save(name, { ...object, status: { ...status, expired: true } });
  }

  private async save(name: string, object: JobObject): Promise<void> {
    object = { ...object, status: withEvents(object.status, this.o.events.list(jobKey(name))) };
    this.objects.set(name, object);
    await this.o.statuses.write("Job", name, object as unknown as Record<string, unknown>);
  }
}

function fresh(): JobStatus {
  return { phase: "Pending", attempts: 0, conditions: [] };
}

/**
 * Fields whose controllers do not exist yet refuse the Job clearly instead of
 * running it without what it asked for.
 */
function unsupported(spec: JobManifestWithDefaults["spec"]): { reason: string; message: string } | undefined {
  if (spec.schedule) return { reason: "ScheduleNotSupported", message: `spec.schedule '${spec.schedule}' needs the scheduler, which this joblet does not have` };
  return undefined;
}
