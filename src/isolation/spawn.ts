import { closeSync, mkdirSync, writeSync } from "node:fs";
import type { CgroupBackend, JobCgroup } from "./cgroup/backend.js";
import { detectCgroupBackend } from "./cgroup/detect.js";
import { JobHandle } from "./job-handle.js";
import { native, supervisorExecutable } from "./native.js";
import { createJobVeth, removeJobVeth } from "./net-links.js";
import { prepareJob } from "./prepare.js";
import { readExitState, readJobRecord, readRunState, processStartTime, writeJobRecord } from "./run-records.js";
import type { JobSpec, NetworkAttachment } from "./spec.js";
import { SupervisorChannel } from "./supervisor-channel.js";
import { encodeSupervisorSpec } from "./supervisor-spec.js";

export interface SpawnOptions {
  /** The cgroup backend; by default the one this host supports (v2, else v1). */
  backend?: CgroupBackend;
}

let defaultBackend: CgroupBackend | undefined;
function backendFor(options: SpawnOptions | undefined): CgroupBackend {
  return options?.backend ?? (defaultBackend ??= detectCgroupBackend());
}

/**
 * Start one fully isolated job. Resolves once its main process has been
 * exec'd inside its namespaces, cgroup and root; rejects, leaving no cgroup,
 * mount, process or veth behind, when the spec is invalid or setup fails.
 */
export async function spawnJob(spec: JobSpec, options?: SpawnOptions): Promise<JobHandle> {
  const job = prepareJob(spec);
  mkdirSync(spec.runDir, { recursive: true });
  const backend = backendFor(options);
  const netnsFd = spec.network ? wiredNetns(spec.id, spec.network) : native.takeNetns();
  let cgroup: JobCgroup | undefined;
  let supervisor: { pid: number; pidfd: number } | undefined;
  try {
    // The supervisor is forked now and waits for its spec, which names the
    // cgroup: creating the cgroup overlaps the supervisor's start.
    const { readyFd, specFd } = native.requestSupervisor(
      supervisorExecutable,
      backend.supervisorCgroups(),
      `joblet-supervisor ${spec.id}`,
      netnsFd,
    );
    const channel = new SupervisorChannel(readyFd);
    try {
      cgroup = backend.create(spec.id, job.limits);
      writeSync(specFd, encodeSupervisorSpec(job, cgroup, netnsFd >= 0));
    } finally {
      // EOF: the spec is complete or, when creating the cgroup failed, absent, and the supervisor gives up.
      closeSync(specFd);
      supervisor = native.supervisorStarted();
    }
    // Written while the supervisor sets the job up on the other CPU.
    writeJobRecord(spec.runDir, { spec, cgroup, supervisorPid: supervisor.pid });
    const ready = await channel.ready;
    const match = /^ok (\d+) (\d+)$/.exec(ready);
    if (!match) throw new Error(`Cannot start job '${spec.id}': ${ready.replace(/^error /, "") || "its supervisor exited before the job started"}`);
    const initPid = Number(match[1]);
    return new JobHandle({
      id: spec.id,
      runDir: spec.runDir,
      backend,
      cgroup,
      supervisorPid: supervisor.pid,
      supervisorPidfd: supervisor.pidfd,
      initPid,
      initPidfd: openPidfd(initPid),
      startedAt: new Date(),
      channel,
      hostInterface: spec.network?.hostInterface,
    });
  } catch (e) {
    if (supervisor) await reapFailedSupervisor(supervisor.pidfd);
    if (cgroup) {
      backend.killAll(cgroup);
      backend.remove(cgroup);
    }
    if (spec.network) await removeJobVeth(spec.id, spec.network.hostInterface);
    throw e;
  }
}

/**
 * The job's network namespace, its end of the veth pair already inside as
 * eth0, before the supervisor exists: the init only has to configure it. A
 * namespace from the pool when one is ready, else one made now.
 */
function wiredNetns(id: string, network: NetworkAttachment): number {
  let fd = native.takeNetns();
  try {
    if (fd < 0) fd = native.makeNetns();
    createJobVeth(fd, network);
    return fd;
  } catch (e) {
    if (fd >= 0) closeSync(fd);
    throw new Error(`Cannot start job '${id}': ${(e as Error).message}`);
  }
}

/**
 * Re-adopt a job from its run directory after a daemon restart: running jobs
 * are watched again; one that ended meanwhile resolves with its recorded exit.
 */
export async function attachJob(runDir: string, options?: SpawnOptions): Promise<JobHandle> {
  const record = readJobRecord(runDir);
  const backend = backendFor(options);
  if (backend.version !== record.cgroup.version) {
    throw new Error(`Cannot attach to job '${record.spec.id}': it was started with cgroup ${record.cgroup.version}, this host uses ${backend.version}`);
  }
  const state = await runStateOf(runDir, record.supervisorPid);
  const parts = {
    id: record.spec.id,
    runDir,
    backend,
    cgroup: record.cgroup,
    supervisorPid: record.supervisorPid,
    supervisorPidfd: -1,
    initPid: state?.initPid ?? -1,
    initPidfd: -1,
    startedAt: state?.startedAt ?? new Date(NaN),
    hostInterface: record.spec.network?.hostInterface,
  };
  if (state && !readExitState(runDir, backend, parts.startedAt)) {
    parts.supervisorPidfd = openVerified(record.supervisorPid, state.supervisorStart);
    parts.initPidfd = openVerified(state.initPid, state.initStart);
  }
  return new JobHandle(parts);
}

/**
 * run.state appears once the job runs. A daemon killed mid-spawn may leave a
 * supervisor still starting its job: wait for it while that supervisor lives.
 */
async function runStateOf(runDir: string, supervisorPid: number) {
  for (let waited = 0; ; waited += 10) {
    const state = readRunState(runDir);
    if (state || processStartTime(supervisorPid) === undefined || waited > 10_000) return state;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A pidfd for pid only if it is still the same process (pids are reused). */
function openVerified(pid: number, startTime: number): number {
  const fd = openPidfd(pid);
  if (fd >= 0 && processStartTime(pid) !== startTime) {
    closeSync(fd);
    return -1;
  }
  return fd;
}

function openPidfd(pid: number): number {
  try {
    return native.pidfdOpen(pid);
  } catch {
    return -1; // already gone
  }
}

function reapFailedSupervisor(pidfd: number): Promise<void> {
  return new Promise((resolve) => {
    new native.ReadableWatch(pidfd, () => {
      native.reap(pidfd);
      closeSync(pidfd);
      resolve();
    });
  });
}
