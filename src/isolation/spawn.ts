import { closeSync, readSync } from "node:fs";
import { join } from "node:path";
import type { CgroupBackend, JobCgroup } from "./cgroup/backend.js";
import { detectCgroupBackend } from "./cgroup/detect.js";
import { JobHandle } from "./job-handle.js";
import { native, supervisorExecutable } from "./native.js";
import { prepareJob } from "./prepare.js";
import { readExitState, readJobRecord, readRunState, processStartTime, writeJobRecord } from "./run-records.js";
import type { JobSpec } from "./spec.js";
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
 * mount or process behind, when the spec is invalid or setup fails.
 */
export async function spawnJob(spec: JobSpec, options?: SpawnOptions): Promise<JobHandle> {
  const job = prepareJob(spec);
  const backend = backendFor(options);
  const cgroup = backend.create(spec.id, job.limits);
  let supervisor: { pid: number; pidfd: number; readyFd: number } | undefined;
  try {
    supervisor = native.spawnSupervisor(
      supervisorExecutable,
      encodeSupervisorSpec(job, cgroup),
      join(spec.runDir, "supervisor.log"),
      `joblet-supervisor ${spec.id}`,
    );
    writeJobRecord(spec.runDir, { spec, cgroup, supervisorPid: supervisor.pid });
    const ready = await readReadyLine(supervisor.readyFd);
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
    });
  } catch (e) {
    if (supervisor) await reapFailedSupervisor(supervisor.pidfd);
    backend.killAll(cgroup);
    backend.remove(cgroup);
    throw e;
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

/** The supervisor's one line: "ok INIT_PID START" or "error MESSAGE"; "" if it died first. */
function readReadyLine(fd: number): Promise<string> {
  return new Promise((resolve) => {
    new native.ReadableWatch(fd, () => {
      const buf = Buffer.alloc(4096);
      let text = "";
      try {
        for (;;) {
          const n = readSync(fd, buf, 0, buf.length, null);
          if (n === 0) break;
          text += buf.toString("utf8", 0, n);
          if (text.endsWith("\n")) break;
        }
      } catch {
        // EAGAIN: the supervisor closed nothing yet but wrote what it had
      }
      closeSync(fd);
      resolve(text.trim());
    });
  });
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
