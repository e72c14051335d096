import { closeSync, openSync, readFileSync, readdirSync, rmSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { pino, type Logger } from "pino";
import { JobController, jobKey } from "../controllers/job/controller.js";
import { engineId } from "../controllers/job/launch.js";
import { NetworkController, networkKey } from "../controllers/network/controller.js";
import { RuntimeController, runtimeKey } from "../controllers/runtime/controller.js";
import { VolumeController, volumeKey } from "../controllers/volume/controller.js";
import { detectCgroupBackend } from "../isolation/index.js";
import { reconcileSeconds } from "../metrics/index.js";
import { nodeAllocatable } from "../scheduler/index.js";
import { EventLog, Informer, runController, WorkQueue, type ReconcileResult } from "../reconciler/index.js";
import { startApiServer, type ApiTimeouts, type RunningApiServer } from "../server/server.js";
import { ensureLayout, FileStatusStore, jobRunsDir, resolveLayout, type StateLayout } from "../store/index.js";
import { ManifestDirectorySource } from "./manifest-source.js";

export interface DaemonOptions {
  stateDir?: string;
  manifestsDir?: string;
  /** Reconciles at once (default 4). */
  workers?: number;
  gracePeriodMs?: number;
  backoffBaseMs?: number;
  /** Full re-list of the manifests dir (default 30 s): repairs missed events and drift. */
  resyncMs?: number;
  /** A removed manifest stops its Job after this long (default 1 s). */
  removalGraceMs?: number;
  /** Runtime builds run at once (default 2): each can use a CPU and a lot of IO. */
  runtimeWorkers?: number;
  /** The built-in "bridge" network's block (default 172.20.0.0/16). */
  bridgeCidr?: string;
  /** The block "isolated" jobs get their address pairs from (default 172.21.0.0/16). */
  isolatedCidr?: string;
  /** Serve the remote API here (`--listen HOST:PORT`); needs `tlsDir`. */
  listen?: { host: string; port: number };
  /** ca.crt, server.crt and server.key of the remote API (`--tls-dir`, made by `joblet certs init`). */
  tlsDir?: string;
  /** Shorter API timeouts, for tests of slow clients. */
  apiTimeouts?: Partial<ApiTimeouts>;
  /** Cores jobs may reserve (`--allocatable-cpu`); default every online CPU. */
  allocatableCpu?: number;
  /** Memory jobs may reserve (`--allocatable-memory`); default MemTotal less 10% (at most 1 GiB). */
  allocatableMemoryBytes?: number;
  /** Waiting this long for capacity counts as one priority level (default 60 s). */
  priorityAgingMs?: number;
  /** Test hook: run six-field (seconds-first) cron schedules, for tests that cannot wait minutes. */
  cronSeconds?: boolean;
  logger?: Logger;
}

/** What of a Job's spec says what it may be waiting for. */
interface WaitedOn {
  runtime?: string;
  volumes?: { name: string }[];
  network?: string;
}

export interface RunningDaemon {
  layout: StateLayout;
  /** Where the remote API listens, when it was asked for (the port chosen when 0 was given). */
  api?: { host: string; port: number };
  /** Keys queued or being reconciled: 0 once the daemon has caught up with the manifests. */
  pending(): number;
  /** Stop watching and reconciling. Running jobs keep running: their supervisors own them. */
  stop(): Promise<void>;
}

/** Daemon logs: pino JSON, readable when a person watches a terminal. */
export async function daemonLogger(): Promise<Logger> {
  if (!process.stderr.isTTY) return pino({ base: { pid: process.pid } }, process.stderr);
  const { default: pretty } = await import("pino-pretty");
  return pino({ base: undefined }, pretty({ destination: 2, colorize: true, ignore: "pid,hostname" }));
}

export async function startDaemon(o: DaemonOptions = {}): Promise<RunningDaemon> {
  if (o.listen !== undefined && o.tlsDir === undefined) throw new Error("Cannot serve the remote API without its certificates: give --tls-dir DIR (made by joblet certs init --dir DIR)");
  const layout = resolveLayout({
    ...(o.stateDir !== undefined ? { stateDir: o.stateDir } : {}),
    ...(o.manifestsDir !== undefined ? { manifestsDir: o.manifestsDir } : {}),
  });
  await ensureLayout(layout);
  const releaseLock = lockStateDir(layout);
  const logger = o.logger ?? (await daemonLogger());
  try {
    const statuses = new FileStatusStore(layout);
    const source = new ManifestDirectorySource(layout.manifestsDir);
    const informer = new Informer(source, {
      // The watcher already waits for writes to settle.
      debounceMs: 1,
      resyncIntervalMs: o.resyncMs ?? 30_000,
      onError: (err) => logger.error({ err }, "cannot read the manifests directory"),
    });
    const queue = new WorkQueue<string>();
    const runtimeQueue = new WorkQueue<string>();
    const networkQueue = new WorkQueue<string>();
    const volumeQueue = new WorkQueue<string>();
    const events = new EventLog();
    // Jobs waiting for a runtime, volume or network are woken when it is Ready (or gone, to say
    // so); running ones have what they need and are left alone.
    const wakeJobs = (needs: (spec: WaitedOn) => boolean) => {
      const running = controller.activeRuns();
      for (const [key, entry] of informer.list()) {
        if (!key.startsWith("Job/") || running.has(key.slice(4))) continue;
        const spec = (entry.manifest as { spec?: WaitedOn } | undefined)?.spec;
        if (spec && needs(spec)) queue.add(key);
      }
    };
    const wakeJobsOn = (runtime: string) => wakeJobs(({ runtime: wanted }) => wanted !== undefined && (wanted === runtime || runtime.startsWith(`${wanted}@`)));
    const wakeJobsOnVolume = (volume: string) => wakeJobs(({ volumes }) => volumes?.some((v) => v.name === volume) ?? false);
    const wakeJobsOnNetwork = (network: string) => wakeJobs((spec) => spec.network === network);
    // What every controller gets; each kind has its own queue.
    const sharedBy = (kindQueue: WorkQueue<string>) => ({
      layout,
      statuses,
      desired: informer,
      queue: kindQueue,
      events,
      logger,
      ...(o.removalGraceMs !== undefined ? { removalGraceMs: o.removalGraceMs } : {}),
    });
    const runtimes: RuntimeController = new RuntimeController({
      ...sharedBy(runtimeQueue),
      buildsInUse: () => controller.buildsInUse(),
      onReady: wakeJobsOn,
    });
    const volumes: VolumeController = new VolumeController({
      ...sharedBy(volumeQueue),
      users: () => controller.volumeUsers(),
      onReady: wakeJobsOnVolume,
    });
    const networks: NetworkController = new NetworkController({
      ...sharedBy(networkQueue),
      onReady: wakeJobsOnNetwork,
      ...(o.bridgeCidr !== undefined ? { bridgeCidr: o.bridgeCidr } : {}),
      ...(o.isolatedCidr !== undefined ? { isolatedCidr: o.isolatedCidr } : {}),
    });
    const controller = new JobController({
      runtimes,
      networks: {
        attach: (job, run, network) => networks.attach(job, run, network),
        release: (job, network) => {
          networks.release(job, network);
          wakeJobsOnNetwork(network);
        },
      },
      onRuntimeReleased: (name) => runtimeQueue.add(runtimeKey(name)),
      volumes,
      onVolumeUsersChanged: (names) => names.forEach((name) => volumeQueue.add(volumeKey(name))),
      ...sharedBy(queue),
      ...(o.gracePeriodMs !== undefined ? { gracePeriodMs: o.gracePeriodMs } : {}),
      ...(o.backoffBaseMs !== undefined ? { backoffBaseMs: o.backoffBaseMs } : {}),
      allocatable: nodeAllocatable({
        ...(o.allocatableCpu !== undefined ? { cpu: o.allocatableCpu } : {}),
        ...(o.allocatableMemoryBytes !== undefined ? { memoryBytes: o.allocatableMemoryBytes } : {}),
      }),
      ...(o.priorityAgingMs !== undefined ? { priorityAgingMs: o.priorityAgingMs } : {}),
      ...(o.cronSeconds ? { cronSeconds: true } : {}),
    });

    const runtimeNames = await runtimes.adopt();
    const networkNames = await networks.adopt();
    // Mounted before any job starts: a job never finds its volume's mount point empty.
    const volumeNames = await volumes.adopt();
    await controller.adopt();
    for (const job of await networks.adoptLeases(controller.networkLeases())) {
      logger.warn({ key: jobKey(job) }, "a running job's network is gone: it runs on, unreachable by its peers");
    }
    await networks.sweep();
    sweepOrphans(layout, controller.activeRuns(), new Set(await statuses.list("Job")), logger);

    informer.onChange((key) => {
      if (key.startsWith("Job/")) queue.add(key);
      else if (key.startsWith("Runtime/")) runtimeQueue.add(key);
      else if (key.startsWith("Network/")) networkQueue.add(key);
      else if (key.startsWith("Volume/")) volumeQueue.add(key);
    });
    await informer.start();
    // Jobs whose manifests went away while no daemon ran are stopped and cleaned up too.
    for (const name of await statuses.list("Job")) queue.add(jobKey(name));
    for (const name of runtimeNames) runtimeQueue.add(runtimeKey(name));
    for (const name of networkNames) networkQueue.add(networkKey(name));
    for (const name of volumeNames) volumeQueue.add(volumeKey(name));
    if (source.orphanProblems.length) logger.warn({ problems: source.orphanProblems }, "manifests that name no object");

    // Keys being reconciled right now, for pending(): a queue's length misses them.
    let inFlight = 0;
    const counted =
      (controller: string, reconcile: (key: string) => Promise<ReconcileResult | void>) =>
      async (key: string): Promise<ReconcileResult | void> => {
        inFlight++;
        try {
          return await reconcileSeconds.time(() => reconcile(key), { controller });
        } finally {
          inFlight--;
        }
      };
    const runningRuntimes = runController({
      name: "runtime",
      queue: runtimeQueue,
      workers: o.runtimeWorkers ?? 2,
      reconcile: counted("runtime", (key) => runtimes.reconcile(key)),
      logger,
    });
    const runningNetworks = runController({
      name: "network",
      queue: networkQueue,
      reconcile: counted("network", (key) => networks.reconcile(key)),
      logger,
    });
    const runningVolumes = runController({
      name: "volume",
      queue: volumeQueue,
      workers: 2,
      reconcile: counted("volume", (key) => volumes.reconcile(key)),
      logger,
    });
    const running = runController({
      name: "job",
      queue,
      workers: o.workers ?? 4,
      reconcile: counted("job", (key) => controller.reconcile(key)),
      logger,
    });
    const stopControllers = async () => {
      await informer.stop();
      await running.stop();
      controller.shutDown();
      await runningRuntimes.stop();
      await runningNetworks.stop();
      // Volumes stay mounted: running jobs use them, and the next daemon adopts them.
      await runningVolumes.stop();
      await runtimes.stop();
    };
    let api: RunningApiServer | undefined;
    if (o.listen !== undefined) {
      try {
        api = await startApiServer({
          layout,
          tlsDir: o.tlsDir!,
          host: o.listen.host,
          port: o.listen.port,
          logger,
          ...(o.apiTimeouts !== undefined ? { timeouts: o.apiTimeouts } : {}),
          queueDepths: () => ({ job: queue.len(), runtime: runtimeQueue.len(), network: networkQueue.len(), volume: volumeQueue.len() }),
        });
      } catch (e) {
        await stopControllers();
        throw e;
      }
    }
    logger.info({ stateDir: layout.stateDir, manifests: layout.manifestsDir, cgroup: detectCgroupBackend().version }, "joblet daemon started");
    return {
      layout,
      ...(api !== undefined ? { api: { host: api.host, port: api.port } } : {}),
      pending: () => queue.len() + runtimeQueue.len() + networkQueue.len() + volumeQueue.len() + inFlight,
      async stop() {
        // Remote callers first: nothing should be applied while the controllers wind down.
        await api?.close();
        await stopControllers();
        releaseLock();
        logger.info("joblet daemon stopped; running jobs carry on under their supervisors");
      },
    };
  } catch (e) {
    releaseLock();
    throw e;
  }
}

/**
 * One daemon per state dir: two would both start every Job. The lock is a pid
 * file created exclusively; one left by a daemon that died is taken over.
 */
function lockStateDir(layout: StateLayout): () => void {
  const path = join(layout.runDir, "daemon.pid");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, "wx", 0o644);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const holder = Number(readFileSync(path, "utf8").trim());
      if (holder && holder !== process.pid && isAlive(holder)) {
        throw new Error(`Cannot start the daemon: another joblet daemon (pid ${holder}) uses ${layout.stateDir}`);
      }
      unlinkSync(path);
    }
  }
  throw new Error(`Cannot start the daemon: cannot take the lock ${path}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * After a restart: runs recorded in this state dir that no daemon watches any
 * more (a daemon killed mid-start, a manifest deleted while no daemon ran) are
 * ended and their cgroups removed; run records of Jobs that no longer exist
 * go too. Only this state dir's runs are considered: another daemon on the
 * host, over another state dir, shares the joblet cgroup parent.
 */
function sweepOrphans(layout: StateLayout, active: ReadonlyMap<string, ReadonlySet<string>>, known: ReadonlySet<string>, logger: Logger): void {
  const backend = detectCgroupBackend();
  const cgroups = new Set(backend.listJobs());
  const runsRoot = join(layout.runDir, "jobs");
  for (const name of listDir(runsRoot)) {
    for (const run of listDir(join(runsRoot, name))) {
      const id = engineId(name, run);
      if (active.get(name)?.has(run) || !cgroups.has(id)) continue;
      try {
        backend.removeOrphan(id);
        logger.warn({ key: jobKey(name), run, cgroup: id }, "ended an orphaned run");
      } catch (err) {
        logger.error({ key: jobKey(name), run, cgroup: id, err }, "cannot remove an orphaned run's cgroup");
      }
    }
    if (!known.has(name)) {
      rmSync(jobRunsDir(layout, name), { recursive: true, force: true });
      logger.warn({ key: jobKey(name) }, "removed the run records of a Job that no longer exists");
    }
  }
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
