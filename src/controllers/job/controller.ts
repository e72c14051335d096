import { rm } from "node:fs/promises";
import { join } from "node:path";
import { cronHasSeconds, resolveResources, type JobManifestWithDefaults, type JobRunRecord, type JobStatus, type Schedule, type StoredObject } from "../../api/index.js";
import { inBatches, type ManifestEntry } from "../../daemon/manifest-source.js";
import { attachJob, InvalidJobSpecError, parseCpuList, spawnJob, type JobExit, type JobHandle } from "../../isolation/index.js";
import {
  lastGoodObject,
  manifestCondition,
  RemovalGrace,
  removeCondition,
  setCondition,
  storedMetadata,
  withEvents,
  type ReconcileResult,
} from "../../reconciler/index.js";
import { jobLogsDir, jobRunsDir, runLogDir, runRecordDir } from "../../store/index.js";
import { spawnSeconds } from "../../metrics/index.js";
import {
  Admission,
  cpuListText,
  CronTimes,
  cronStep,
  describeSchedule,
  missedRuns,
  oneShotStep,
  oneShotTime,
  trimRuns,
  type CronStep,
  type NodeAllocatable,
  type ResourceRequest,
} from "../../scheduler/index.js";
import type { NetworkResolution } from "../network/controller.js";
import type { RuntimeResolution } from "../runtime/resolve.js";
import type { VolumeClaim, VolumeMount } from "../volume/controller.js";
import { engineSpecFor, runId, runPaths } from "./launch.js";
import type { ControllerOptions } from "../controller-options.js";

export type JobObject = StoredObject<JobManifestWithDefaults["spec"], JobStatus>;

export interface JobControllerOptions extends ControllerOptions {
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
  /** What this node offers jobs: a running job holds its resources' cpu and memory, and exclusive CPUs, from it. */
  allocatable: NodeAllocatable;
  /** Waiting this long for capacity counts as one priority level (default 60 s): nothing waits forever behind higher priorities. */
  priorityAgingMs?: number;
  /** Test hook: accept six-field cron expressions (seconds first). */
  cronSeconds?: boolean;
}

/** A run this daemon watches. */
interface ActiveRun {
  run: string;
  generation: string;
  handle: JobHandle;
  /** Started (epoch ms): activeDeadlineSeconds counts from here. */
  startedAt: number;
  /** The runtime build the run's root is made of. */
  runtime?: { name: string; build: string };
  /** The network the run is on, and its address there. */
  network?: { name: string; ip: string };
  /** The Volumes the run mounts. */
  volumes?: string[];
  /** Set when the controller itself ends the run: why. */
  stopReason?: "DeadlineExceeded" | "Superseded" | "Replaced";
}

const MAX_BACKOFF_MS = 6 * 60 * 1000;
const FINISHED = new Set(["Succeeded", "Failed"]);
/** Reasons a Job waits Pending for something else; cleared when its run starts. */
const WAITING = new Set(["RuntimeNotReady", "VolumeNotFound", "VolumeNotReady", "NetworkNotFound", "NetworkNotReady", "NetworkFull", "Unschedulable"]);
const DEFAULT_AGING_MS = 60_000;

export const jobKey = (name: string) => `Job/${name}`;

/**
 * Level-triggered: reconcile(key) looks at the Job's desired manifest, its
 * stored status and the run this daemon watches, and moves them one step
 * closer, whatever event woke it.
 */
export class JobController {
  /** Each Job's current run: the one its status describes. */
  private readonly runs = new Map<string, ActiveRun>();
  private stopped = false;
  /** Earlier runs still running beside a newer one (concurrencyPolicy Allow, or a Replace winding down), by `name/run`. */
  private readonly overlapped = new Map<string, ActiveRun & { name: string }>();
  /** Each Job's status.runs, kept here so that every status write carries the latest, whoever writes. */
  private readonly history = new Map<string, JobRunRecord[]>();
  /** Jobs whose reconcile just left them waiting for capacity: any other reconcile takes a Job out of the queue. */
  private readonly stillQueued = new Set<string>();
  readonly admission: Admission;
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
    this.admission = new Admission(o.allocatable, {
      agingMs: o.priorityAgingMs ?? DEFAULT_AGING_MS,
      wake: (names) => names.forEach((name) => o.queue.add(jobKey(name))),
    });
  }

  /** Every run being watched, current and overlapped, with its Job's name. */
  private *allRuns(): Iterable<[string, ActiveRun]> {
    yield* this.runs;
    for (const active of this.overlapped.values()) yield [active.name, active];
  }

  /** Runs being watched by Job name, for the orphan sweep: engine runs dirs that must stay. */
  activeRuns(): ReadonlyMap<string, ReadonlySet<string>> {
    const out = new Map<string, Set<string>>();
    for (const [name, active] of this.allRuns()) out.set(name, (out.get(name) ?? new Set()).add(active.run));
    return out;
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
    for (const [job, active] of this.allRuns()) add(job, active.volumes);
    for (const [job, volumes] of this.volumeClaims) if (!this.runs.has(job)) add(job, volumes);
    return users;
  }

  /** Runtime builds (absolute paths) that running jobs use. */
  buildsInUse(): ReadonlySet<string> {
    return new Set([...this.allRuns()].flatMap(([, active]) => (active.runtime ? [active.runtime.build] : [])));
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
      this.history.set(name, object.status.runs ?? []);
      const request = requestOf(object.spec);
      // Its place in the capacity queue is kept, so jobs reconciled first after the restart do not jump ahead.
      if (object.status.phase === "Pending" && object.status.reason === "Unschedulable") this.admission.enqueue(name, request, queueOrder(object));
      for (const record of object.status.runs ?? []) {
        if (record.phase !== "Running" || !record.run || record.run === object.status.run) continue;
        await this.readopt(name, object, record.run, request, record.cpus, true);
      }
      const { phase, run } = object.status;
      if (phase !== "Running" || !run) return;
      const lost = await this.readopt(name, object, run, request, object.status.cpus, false);
      if (lost !== undefined) {
        await this.save(name, { ...object, status: this.finish(object.status, "Failed", "Lost", `Its run ${run} could not be re-adopted: ${lost}`) });
      }
    });
  }

  /** Watch a run recorded as Running again, holding its resources; when it cannot be attached, why (its record is marked Lost). */
  private async readopt(name: string, object: JobObject, run: string, request: ResourceRequest, cpus: string | undefined, overlapped: boolean): Promise<string | undefined> {
    try {
      const handle = await attachJob(runPaths(this.o.layout, name, run).supervisor);
      const { runtime, network, volumes } = object.status;
      const startTime = this.history.get(name)?.find((r) => r.run === run)?.startTime ?? object.status.startTime;
      const active: ActiveRun = {
        run,
        generation: object.metadata.generation,
        handle,
        startedAt: startTime ? Date.parse(startTime) : Date.now(),
        ...(runtime ? { runtime } : {}),
        ...(volumes?.length ? { volumes } : {}),
        ...(network?.ip && !overlapped ? { network: { name: network.name, ip: network.ip } } : {}),
      };
      this.admission.hold(holderOf(name, run), name, request, cpus ? parseCpuList(cpus) : []);
      this.watchRun(name, active, overlapped);
      this.o.logger.info({ key: jobKey(name), run }, "re-adopted running job");
      return undefined;
    } catch (e) {
      this.updateRun(name, run, { phase: "Failed", reason: "Lost", completionTime: new Date().toISOString() });
      return (e as Error).message;
    }
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const name = key.slice("Job/".length);
    try {
      return await this.converge(key, name);
    } finally {
      // A Job stays in the capacity queue only while its latest reconcile left it waiting there.
      if (!this.stillQueued.delete(name)) this.admission.withdraw(name);
    }
  }

  private async converge(key: string, name: string): Promise<ReconcileResult | void> {
    const entry = this.o.desired.get(key);
    if (!entry) return this.removalGrace.whenGone(name, () => this.removed(name));
    this.removalGrace.present(name);
    const stored = this.objects.get(name) ?? ((await this.o.statuses.read("Job", name)) as JobObject | undefined);
    if (stored && !this.history.has(name)) this.history.set(name, stored.status.runs ?? []);

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
      await this.stopAll(name, "Superseded");
      this.o.events.record(key, { type: "Normal", reason: "SpecChanged", message: `New spec ${entry.generation}: starting over` });
      // A cron Job's history runs on across its specs, trimmed to its limits; any other Job's starts over with the spec.
      if (!isCron(spec)) this.history.set(name, []);
    }
    status.observedGeneration = entry.generation;
    status.source = { file: entry.file };
    status.conditions = manifestCondition(status.conditions, "Ready", entry);
    status.observedTime ??= new Date().toISOString();
    const object: JobObject = {
      apiVersion: "joblet/v1",
      kind: "Job",
      metadata: storedMetadata(name, entry.generation, manifest.metadata),
      spec,
      status,
    };
    // A superseded run that has not reported its end yet is no longer the Job's run.
    let current = this.runs.get(name)?.stopReason === "Superseded" ? undefined : this.runs.get(name);

    if (spec.suspend) {
      await this.stopAll(name, "Superseded");
      status.conditions = setCondition(status.conditions, { type: "Suspended", status: "True", reason: "JobSuspended", message: "spec.suspend is true" });
      if (status.phase === "Running") status.phase = "Pending";
      await this.save(name, object);
      return;
    }
    status.conditions = removeCondition(status.conditions, "Suspended");

    const schedule = spec.schedule as Schedule | undefined;
    const badSchedule = current ? undefined : this.scheduleProblem(schedule);
    if (badSchedule && !FINISHED.has(status.phase)) {
      object.status = this.finish(status, "Failed", "InvalidSchedule", badSchedule);
      await this.save(name, object);
      return;
    }
    const cron = schedule?.cron !== undefined && !badSchedule ? new CronTimes(schedule.cron, schedule.timeZone, this.o.cronSeconds) : undefined;

    if (current) {
      const busy = await this.whileRunning(name, object, current, cron);
      if (busy.done) return busy.result;
      // A new scheduled run goes ahead beside (Allow) or instead of (Replace) the one that ran.
      current = undefined;
    }

    if (FINISHED.has(status.phase)) {
      await this.save(name, object);
      return this.expire(name, spec.ttlSecondsAfterFinished, status);
    }

    if (schedule) {
      const gate = cron ? await this.cronGate(name, object, cron) : await this.oneShotGate(name, object, schedule);
      if (gate) return gate.result;
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
    const run = runId(object.metadata.generation, status.attempts + 1);
    const holder = holderOf(name, run);
    try {
      // Decided and held in one synchronous step: two reconciles never both take the last room.
      const admitted = this.admission.admit(name, holder, requestOf(spec), queueOrder(object));
      if (!admitted.ok) {
        this.stillQueued.add(name);
        return await this.waitFor(name, object, "Unschedulable", admitted.message);
      }
      let network: Extract<NetworkResolution, { ok: true }> | undefined;
      if (spec.network !== "none") {
        const attached = await this.o.networks.attach(name, run, spec.network);
        // Woken when the network becomes Ready or an address frees up.
        if (!attached.ok) {
          this.admission.release(holder);
          return await this.waitFor(name, object, attached.reason, attached.message);
        }
        network = attached;
      }
      await this.start(name, object, manifest, entry, runtime, network, volumes, admitted.cpus);
      // With Allow or Replace the next due time matters while this run runs.
      const next = cron && object.status.nextScheduleTime ? Date.parse(object.status.nextScheduleTime) - Date.now() : undefined;
      return next === undefined ? undefined : { requeueAfter: next };
    } finally {
      // The run holds its volumes now, or there is no run.
      this.releaseVolumeClaim(name);
    }
  }

  /** Why this daemon cannot run `schedule` (its fields were checked by the schema), or undefined. */
  private scheduleProblem(schedule: Schedule | undefined): string | undefined {
    if (schedule?.cron === undefined || !cronHasSeconds(schedule.cron) || this.o.cronSeconds) return undefined;
    return `spec.schedule.cron '${schedule.cron}' has six fields: a seconds field is a test hook this daemon was not started with; use five fields`;
  }

  /**
   * A run is going: stop it past activeDeadlineSeconds (and likewise runs
   * overlapping it), and for a cron Job whose policy allows it, take a due time
   * for a new run. `done: false` means start that run now.
   */
  private async whileRunning(name: string, object: JobObject, current: ActiveRun, cron: CronTimes | undefined): Promise<{ done: true; result: ReconcileResult | void } | { done: false }> {
    const { spec, status } = object;
    const now = Date.now();
    let wait = Infinity;
    if (spec.activeDeadlineSeconds !== undefined) {
      for (const [job, active] of this.allRuns()) {
        if (job !== name || active.stopReason) continue;
        // The current run's deadline counts from the Job's first start, retries included, as in Kubernetes.
        const since = active === current && status.startTime ? Date.parse(status.startTime) : active.startedAt;
        const left = since + spec.activeDeadlineSeconds * 1000 - now;
        if (left > 0) wait = Math.min(wait, left);
        else {
          active.stopReason = "DeadlineExceeded";
          void active.handle.stop(this.grace);
        }
      }
    }
    // A Job on a network runs one run at a time: its name is its address there.
    const overlapAllowed = spec.concurrencyPolicy === "Replace" || (spec.concurrencyPolicy === "Allow" && spec.network === "none");
    if (cron && overlapAllowed) {
      const step = this.takeCronStep(name, object, cron, now);
      if (step.start !== undefined) {
        this.detach(name, current);
        if (spec.concurrencyPolicy === "Replace") await this.stop(current, "Replaced");
        this.inHand(status, step.start);
        return { done: false };
      }
      if (step.next !== undefined) wait = Math.min(wait, step.next - now);
    } else if (cron && status.lastScheduleTime) {
      const next = cron.next(Date.parse(status.lastScheduleTime));
      if (next !== undefined) status.nextScheduleTime = new Date(next).toISOString();
    }
    await this.save(name, object);
    return { done: true, result: wait === Infinity ? undefined : { requeueAfter: wait } };
  }

  /** A one-shot waits Scheduled for its time; past startingDeadlineSeconds it is Failed as missed. Undefined: go on. */
  private async oneShotGate(name: string, object: JobObject, schedule: Schedule): Promise<{ result: ReconcileResult | void } | undefined> {
    const status = object.status;
    // Counted once, from the spec's first sighting, and kept: a restart does not start the countdown over.
    status.scheduledTime ??= new Date(oneShotTime(schedule, Date.parse(status.observedTime!))).toISOString();
    if (status.attempts > 0) return undefined; // started already: retries follow restartPolicy, not the schedule
    const due = Date.parse(status.scheduledTime);
    const step = oneShotStep(due, Date.now(), object.spec.startingDeadlineSeconds);
    if ("wait" in step) {
      status.phase = "Scheduled";
      delete status.reason;
      status.message = `Starts at ${status.scheduledTime} (${describeSchedule(schedule)})`;
      await this.save(name, object);
      return { result: { requeueAfter: step.wait } };
    }
    if ("missed" in step) {
      const message = `Missed its start at ${status.scheduledTime}: more than startingDeadlineSeconds (${object.spec.startingDeadlineSeconds}) passed before it could start`;
      this.o.events.record(jobKey(name), { type: "Warning", reason: "MissedSchedule", message });
      this.addRuns(name, missedRuns([due], "MissedSchedule"));
      object.status = this.finish(status, "Failed", "MissedSchedule", message);
      await this.save(name, object);
      return { result: undefined };
    }
    return undefined;
  }

  /**
   * A cron Job without a run in hand takes the latest due time (or waits
   * Scheduled for the next); a run in hand (waiting to start, or retrying)
   * goes on. Undefined: go on and start it.
   */
  private async cronGate(name: string, object: JobObject, cron: CronTimes): Promise<{ result: ReconcileResult | void } | undefined> {
    const status = object.status;
    if (status.scheduledTime !== undefined) return undefined;
    const now = Date.now();
    const step = this.takeCronStep(name, object, cron, now);
    if (step.start === undefined) {
      status.phase = "Scheduled";
      await this.save(name, object);
      return { result: step.next !== undefined ? { requeueAfter: step.next - now } : undefined };
    }
    this.inHand(status, step.start);
    return undefined;
  }

  /** The cron step at `now`, recorded: missed times in the runs history (and an event), lastScheduleTime, nextScheduleTime. */
  private takeCronStep(name: string, object: JobObject, cron: CronTimes, now: number): CronStep {
    const { status, spec } = object;
    const step = cronStep(cron, Date.parse(status.lastScheduleTime ?? status.observedTime!), now, spec.startingDeadlineSeconds);
    if (step.missed.length > 0) {
      const last = new Date(step.missed.at(-1)!).toISOString();
      const count = `${step.moreMissed ? "more than " : ""}${step.missed.length} scheduled run${step.missed.length === 1 ? "" : "s"}`;
      const why =
        step.start === undefined
          ? `more than startingDeadlineSeconds (${spec.startingDeadlineSeconds}) late`
          : "a later scheduled time was already due when they could start";
      this.o.events.record(jobKey(name), { type: "Warning", reason: "MissedSchedule", message: `Missed ${count}, the last due at ${last}: ${why}` });
      this.addRuns(name, missedRuns(step.missed, "MissedSchedule"));
      void this.trimHistory(name, spec);
    }
    if (step.last !== undefined) status.lastScheduleTime = new Date(step.last).toISOString();
    if (step.next !== undefined) status.nextScheduleTime = new Date(step.next).toISOString();
    else delete status.nextScheduleTime;
    return step;
  }

  /** A cron run for `due` is in hand: the per-run fields start over. */
  private inHand(status: JobStatus, due: number): void {
    status.scheduledTime = new Date(due).toISOString();
    status.runAttempts = 0;
    for (const field of ["startTime", "completionTime", "exitCode", "signal", "nextAttemptAt", "cpus"] as const) delete status[field];
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
    cpus: number[],
  ) {
    const status = object.status;
    if (status.phase === "Scheduled" || (status.reason && WAITING.has(status.reason))) {
      delete status.reason;
      delete status.message;
    }
    const attempt = status.attempts + 1;
    const run = runId(object.metadata.generation, attempt);
    const now = new Date().toISOString();
    const cron = isCron(manifest.spec);
    const pinned = cpus.length > 0 ? cpuListText(cpus) : undefined;
    let handle: JobHandle;
    try {
      const manifestFile = join(this.o.layout.manifestsDir, entry.file);
      const spec = await engineSpecFor(this.o.layout, manifest, manifestFile, run, runtime?.build, network, volumes);
      if (pinned) spec.limits = { ...spec.limits, cpuset: pinned };
      handle = await spawnSeconds.time(() => spawnJob(spec));
    } catch (e) {
      this.admission.release(holderOf(name, run));
      if (network) this.o.networks.release(name, network.network);
      const message = (e as Error).message;
      const reason = e instanceof InvalidJobSpecError ? "InvalidSpec" : "StartError";
      this.o.events.record(jobKey(name), { type: "Warning", reason, message });
      this.addRuns(name, [{ run, ...scheduledOf(status), startTime: now, completionTime: now, phase: "Failed", reason }]);
      const failed = { ...status, attempts: attempt, run, startTime: status.startTime ?? now };
      // A cron Job's failed start ends this scheduled run only; the next due time tries again.
      object.status = cron ? roundOver(failed, reason, message) : this.finish(failed, "Failed", reason, message);
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
    if (cron) object.status.runAttempts = (status.runAttempts ?? 0) + 1;
    delete object.status.cpus;
    if (pinned) object.status.cpus = pinned;
    this.addRuns(name, [{ run, ...scheduledOf(status), startTime: now, phase: "Running", ...(pinned ? { cpus: pinned } : {}) }]);
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
    this.watchRun(name, {
      run,
      generation: object.metadata.generation,
      handle,
      startedAt: Date.parse(now),
      ...(used ? { runtime: used } : {}),
      ...(on ? { network: on } : {}),
      ...(mounted.length ? { volumes: mounted } : {}),
    });
    this.o.events.record(jobKey(name), { type: "Normal", reason: "Started", message: `Run ${run} started (pid ${handle.pid})` });
    await this.save(name, object);
    const deadline = manifest.spec.activeDeadlineSeconds;
    if (deadline !== undefined) this.o.queue.addAfter(jobKey(name), Math.max(0, Date.parse(object.status.startTime!) + deadline * 1000 - Date.now()));
  }

  private watchRun(name: string, active: ActiveRun, overlapped = false): void {
    if (overlapped) this.overlapped.set(holderOf(name, active.run), Object.assign(active, { name }));
    else this.runs.set(name, active);
    active.handle.wait().then(
      (exit) => this.exited(name, active, exit),
      (error: Error) => this.exited(name, active, undefined, error),
    );
  }

  /** A run ended: record how, and decide between Succeeded, a retry and Failed. */
  /**
   * The daemon is stopping: runs carry on under their supervisors and the next
   * daemon records how they end. This one must not write about them any more
   * (a test's state dir may already be gone).
   */
  shutDown(): void {
    this.stopped = true;
  }

  private async exited(name: string, active: ActiveRun, exit: JobExit | undefined, error?: Error): Promise<void> {
    if (this.stopped) return;
    const current = this.runs.get(name) === active;
    if (current) this.runs.delete(name);
    this.overlapped.delete(holderOf(name, active.run));
    this.admission.release(holderOf(name, active.run));
    if (active.runtime) this.o.onRuntimeReleased?.(active.runtime.name);
    if (active.network) this.o.networks.release(name, active.network.name);
    if (active.volumes) this.o.onVolumeUsersChanged?.(active.volumes);
    try {
      const why =
        active.stopReason ??
        (!exit ? "Lost" : exit.oomKilled ? "OOMKilled" : exit.exitCode === 0 ? undefined : exit.signal ? "Signaled" : "Error");
      const completionTime = new Date().toISOString();
      this.updateRun(name, active.run, {
        phase: why ? "Failed" : "Succeeded",
        completionTime,
        ...(exit?.exitCode !== null && exit?.exitCode !== undefined ? { exitCode: exit.exitCode } : {}),
        ...(exit?.signal ? { signal: exit.signal } : {}),
        ...(why ? { reason: why } : {}),
      });
      const object = this.objects.get(name);
      if (!object) return;
      // A superseded, replaced or overlapped run leaves the Job's own fields to the run that followed it.
      if (!current || active.stopReason === "Superseded" || object.metadata.generation !== active.generation) {
        if (object.metadata.generation === active.generation) await this.trimHistory(name, object.spec);
        await this.save(name, object);
        return;
      }
      const spec = object.spec;
      let status: JobStatus = { ...object.status, completionTime };
      delete status.exitCode;
      delete status.signal;
      delete status.cpus;
      if (exit) {
        if (exit.exitCode !== null) status.exitCode = exit.exitCode;
        if (exit.signal) status.signal = exit.signal;
        status.usage = exit.usage;
      }
      const detail = !exit
        ? `Run ${active.run}: ${error?.message ?? "no exit recorded"}`
        : why === "OOMKilled"
          ? `Run ${active.run} was killed for exceeding its memory limit`
          : why === "DeadlineExceeded"
            ? `Run ${active.run} passed activeDeadlineSeconds (${spec.activeDeadlineSeconds}) and was stopped`
            : exit.signal
              ? `Run ${active.run} was ended by ${exit.signal}`
              : `Run ${active.run} exited with code ${exit.exitCode}`;
      const cron = isCron(spec);
      // backoffLimit counts the tries of one scheduled run for a cron Job, of the whole Job otherwise.
      const tries = cron ? (status.runAttempts ?? 1) : status.attempts;
      if (!why) {
        status = cron ? roundOver(status, "Completed", detail) : this.finish(status, "Succeeded", "Completed", detail);
      } else if (spec.restartPolicy === "OnFailure" && why !== "DeadlineExceeded" && tries <= spec.backoffLimit) {
        const delay = Math.min(MAX_BACKOFF_MS, this.backoffBase * 2 ** (tries - 1));
        status = { ...status, phase: "Pending", reason: why, message: `${detail}; retrying in ${delay} ms`, nextAttemptAt: new Date(Date.now() + delay).toISOString() };
        this.o.queue.addAfter(jobKey(name), delay);
      } else {
        const limitHit = spec.restartPolicy === "OnFailure" && why !== "DeadlineExceeded";
        const reason = limitHit ? "BackoffLimitExceeded" : why;
        const message = limitHit ? `${detail}; backoffLimit ${spec.backoffLimit} reached` : detail;
        status = cron ? roundOver(status, reason, message) : this.finish(status, "Failed", reason, message);
      }
      this.o.events.record(jobKey(name), { type: why ? "Warning" : "Normal", reason: why ?? "Completed", message: detail });
      if (cron) await this.trimHistory(name, spec);
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

  /** Stop every run of the Job, the current one and any overlapping it. */
  private async stopAll(name: string, reason: ActiveRun["stopReason"]): Promise<void> {
    const runs = [...this.allRuns()].filter(([job]) => job === name).map(([, active]) => active);
    await Promise.all(runs.map((active) => this.stop(active, reason)));
  }

  /** The current run carries on beside the Job's next one: it stops being the run its status describes. */
  private detach(name: string, active: ActiveRun): void {
    if (this.runs.get(name) !== active) return;
    this.runs.delete(name);
    this.overlapped.set(holderOf(name, active.run), Object.assign(active, { name }));
  }

  /** The manifest is gone: stop the run, then remove its logs, records and status. */
  private async removed(name: string): Promise<void> {
    await this.stopAll(name, "Superseded");
    await rm(jobLogsDir(this.o.layout, name), { recursive: true, force: true });
    await rm(jobRunsDir(this.o.layout, name), { recursive: true, force: true });
    this.objects.delete(name);
    this.history.delete(name);
    await this.o.statuses.remove("Job", name);
    this.o.events.forget(jobKey(name));
  }

  private addRuns(name: string, records: JobRunRecord[]): void {
    this.history.set(name, [...(this.history.get(name) ?? []), ...records]);
  }

  private updateRun(name: string, run: string, patch: Partial<JobRunRecord>): void {
    const runs = this.history.get(name);
    if (!runs) return;
    this.history.set(name, runs.map((record) => (record.run === run ? { ...record, ...patch } : record)));
  }

  /** A cron Job keeps its newest runs up to its history limits; the others' logs and run records go. */
  private async trimHistory(name: string, spec: JobObject["spec"]): Promise<void> {
    if (!isCron(spec)) return;
    const { kept, removed } = trimRuns(this.history.get(name) ?? [], { successful: spec.successfulRunsHistoryLimit, failed: spec.failedRunsHistoryLimit });
    if (removed.length === 0) return;
    this.history.set(name, kept);
    for (const { run } of removed) {
      if (!run) continue;
      await rm(runLogDir(this.o.layout, name, run), { recursive: true, force: true });
      await rm(runRecordDir(this.o.layout, name, run), { recursive: true, force: true });
    }
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
    const runs = this.history.get(name);
    const status = { ...object.status };
    if (runs?.length) status.runs = runs;
    else delete status.runs;
    object = { ...object, status: withEvents(status, this.o.events.list(jobKey(name))) };
    this.objects.set(name, object);
    await this.o.statuses.write("Job", name, object as unknown as Record<string, unknown>);
  }
}

function fresh(): JobStatus {
  return { phase: "Pending", attempts: 0, conditions: [] };
}

function isCron(spec: JobObject["spec"]): boolean {
  return (spec.schedule as Schedule | undefined)?.cron !== undefined;
}

/** A cron Job's scheduled run is over (succeeded, or failed for good): it waits Scheduled for the next due time. */
function roundOver(status: JobStatus, reason: string, message: string): JobStatus {
  const next: JobStatus = { ...status, phase: "Scheduled", reason, message };
  for (const field of ["scheduledTime", "runAttempts", "nextAttemptAt", "cpus"] as const) delete next[field];
  return next;
}

/** The scheduled time a run record carries, when the run in hand has one. */
function scheduledOf(status: JobStatus): { scheduledTime?: string } {
  return status.scheduledTime ? { scheduledTime: status.scheduledTime } : {};
}

/** What a Job's run holds on the node: its resources' cpu and memory, exclusive CPUs, an explicit cpuset. */
function requestOf(spec: JobObject["spec"]): ResourceRequest {
  const r = resolveResources(spec.resources);
  return {
    cpu: r.cpu ?? 0,
    memoryBytes: r.memoryBytes ?? 0,
    exclusiveCpus: spec.resources?.exclusiveCpus ?? 0,
    ...(r.cpuset !== undefined ? { cpuset: parseCpuList(r.cpuset) } : {}),
  };
}

/** Its place in the capacity queue: priority, then since when the run in hand is ready (a retry's time, its due time, or the spec's first sighting). */
function queueOrder(object: JobObject): { priority: number; since: number } {
  const { status } = object;
  const since = status.nextAttemptAt ?? status.scheduledTime ?? status.observedTime;
  return { priority: object.spec.priority ?? 0, since: since ? Date.parse(since) : Date.now() };
}

/** Who holds a run's resources in the admission: the Job and the run. */
function holderOf(name: string, run: string): string {
  return `${name}/${run}`;
}
