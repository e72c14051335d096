import { closeSync } from "node:fs";
import { constants } from "node:os";
import type { CgroupBackend, JobCgroup } from "./cgroup/backend.js";
import { native } from "./native.js";
import { removeJobVeth } from "./net-links.js";
import { parseExitRecord, readExitState } from "./run-records.js";
import type { JobExit } from "./spec.js";
import type { SupervisorChannel } from "./supervisor-channel.js";

export const DEFAULT_GRACE_PERIOD_MS = 10_000;

export interface HandleParts {
  id: string;
  runDir: string;
  backend: CgroupBackend;
  cgroup: JobCgroup;
  supervisorPid: number;
  /** -1 when the job had already ended when we attached. */
  supervisorPidfd: number;
  initPid: number;
  initPidfd: number;
  startedAt: Date;
  /** The spawning daemon's line to the supervisor; absent after an attach. */
  channel?: SupervisorChannel;
  /** Host end of the job's veth pair, removed when the job ends. */
  hostInterface?: string | undefined;
}

/**
 * A running (or finished) job. The daemon that spawned it hears the exit
 * record over the supervisor's channel as soon as the cgroup is gone; one that
 * attached after a restart watches the supervisor through a pidfd and reads
 * the record the supervisor wrote before exiting.
 */
export class JobHandle {
  readonly id: string;
  /** Host pid of the job's init (PID 1 inside the job). */
  readonly pid: number;
  readonly supervisorPid: number;
  readonly runDir: string;
  private readonly exit: Promise<JobExit>;
  private initPidfd: number;
  private finished = false;

  constructor(private readonly parts: HandleParts) {
    this.id = parts.id;
    this.pid = parts.initPid;
    this.supervisorPid = parts.supervisorPid;
    this.runDir = parts.runDir;
    this.initPidfd = parts.initPidfd;
    const supervisorGone = parts.supervisorPidfd < 0 ? Promise.resolve() : this.watch(parts.supervisorPidfd);
    this.exit = parts.channel
      ? parts.channel.exitRecord.then((record) => (record ? this.settle(record) : supervisorGone.then(() => this.settle())))
      : supervisorGone.then(() => this.settle());
    // wait() may be called late or never; the rejection is the caller's to see then.
    this.exit.catch(() => undefined);
  }

  /** Resolves when the job has ended and its exit, usage and logs are final. */
  wait(): Promise<JobExit> {
    return this.exit;
  }

  /** Send a signal to the job's init, which forwards it to the main process. False once the job is gone. */
  signal(signal: NodeJS.Signals | number): boolean {
    if (this.finished || this.initPidfd < 0) return false;
    const signo = typeof signal === "number" ? signal : constants.signals[signal];
    if (signo === undefined) throw new Error(`Cannot signal job '${this.id}': unknown signal '${signal}'`);
    return native.pidfdSendSignal(this.initPidfd, signo);
  }

  /**
   * SIGTERM to the main process; after the grace period, SIGKILL to every
   * process in the job's cgroup. Resolves with the exit.
   */
  async stop(gracePeriodMs = DEFAULT_GRACE_PERIOD_MS): Promise<JobExit> {
    if (this.finished) return this.exit;
    this.signal("SIGTERM");
    const timer = setTimeout(() => this.kill(), gracePeriodMs);
    try {
      return await this.exit;
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGKILL every process of the job at once. */
  kill(): void {
    if (this.finished) return;
    this.parts.backend.killAll(this.parts.cgroup);
    this.signal("SIGKILL");
  }

  /** Resolves when the supervisor has exited; reaps it when it is our child. */
  private watch(pidfd: number): Promise<void> {
    return new Promise<void>((resolve) => {
      new native.ReadableWatch(pidfd, () => {
        native.reap(pidfd);
        closeSync(pidfd);
        resolve();
      });
    });
  }

  /** The exit from the record sent over the channel, else from the one on disk; the job's veth goes first. */
  private async settle(record?: string): Promise<JobExit> {
    this.finished = true;
    if (this.initPidfd >= 0) {
      closeSync(this.initPidfd);
      this.initPidfd = -1;
    }
    const { backend, cgroup, runDir, supervisorPid, startedAt, hostInterface } = this.parts;
    try {
      const exit = record ? parseExitRecord(record, backend, startedAt) : readExitState(runDir, backend, startedAt);
      if (exit) return exit;
      // The supervisor was killed before it could record anything: whatever is
      // left of the job has no owner, so end it rather than leak it.
      backend.killAll(cgroup);
      backend.remove(cgroup);
      throw new Error(`Job '${this.id}' lost its supervisor (pid ${supervisorPid}) before the exit was recorded`);
    } finally {
      if (hostInterface) await removeJobVeth(this.id, hostInterface);
    }
  }
}
