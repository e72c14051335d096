import type { Limits, Usage } from "../spec.js";

/**
 * What the per-job supervisor needs to know about a job's cgroup, whichever
 * backend made it. The supervisor is plain C and knows no cgroup version: it
 * is told which directory to be born into (v2), which `cgroup.procs` files to
 * place the job in before it runs anything (v1), which files to snapshot for
 * usage, and which directories to remove when the job ends.
 */
export interface JobCgroup {
  readonly version: "v1" | "v2";
  /** v2: the job's cgroup directory, used with CLONE_INTO_CGROUP. */
  readonly bornInto?: string;
  /** v1: one directory per hierarchy; the job's init is placed in each before it runs. */
  readonly placeInto: readonly string[];
  /** v2: a leaf outside the daemon's cgroup where supervisors live, so they outlive the daemon's unit. */
  readonly supervisorCgroup?: string;
  /** Files read after the last process ended, keyed by a backend-private name. */
  readonly usageFiles: Readonly<Record<string, string>>;
  /** Directories removed when the job ends, deepest first. */
  readonly removeDirs: readonly string[];
}

export interface CgroupBackend {
  readonly version: "v1" | "v2";
  /**
   * Create the job's cgroup(s) under the joblet parent group and write every
   * limit. Throws (and leaves nothing behind) when a limit cannot be applied.
   * `ioDevices` are "MAJ:MIN" of whole block devices to throttle.
   */
  create(id: string, limits: ResolvedLimits): JobCgroup;
  /** SIGKILL every process in the job's cgroup. */
  killAll(cg: JobCgroup): void;
  /** Remove the job's cgroup directories (after its processes are gone). Idempotent. */
  remove(cg: JobCgroup): void;
  /** Turn the raw usage snapshot (file name -> contents) into numbers. */
  parseUsage(snapshot: Readonly<Record<string, string>>): { usage: Usage; oomKilled: boolean };
}

/** Limits with defaults applied and IO devices resolved. */
export interface ResolvedLimits extends Omit<Limits, "ioBytesPerSecond"> {
  pids: number;
  io?: { bytesPerSecond: number; devices: string[] };
}
