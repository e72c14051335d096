import type { Limits, Usage } from "../spec.js";

/**
 * What the per-job supervisor needs to know about a job's cgroup, whichever
 * backend made it. The supervisor is plain C and knows no cgroup version: it
 * is told which directory the job's init is born into (v2, CLONE_INTO_CGROUP),
 * or which directories to enter itself so that the init it clones is born in
 * them and where to go back to afterwards (v1); which files to snapshot for
 * usage; and which directories to remove when the job ends.
 */
export interface JobCgroup {
  readonly version: "v1" | "v2";
  /** v2: the job's cgroup directory, used with CLONE_INTO_CGROUP. */
  readonly bornInto?: string;
  /** v1: one directory per hierarchy the job needs, entered by the supervisor just before it clones the job's init. */
  readonly placeInto: readonly string[];
  /** v1: the supervisors group of each of those hierarchies, where the supervisor goes back once the init exists. */
  readonly leaveTo: readonly string[];
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
  /**
   * Where supervisors live, set up on first use: a group outside the daemon's
   * own (stopping the daemon's unit must leave jobs alone) and outside any
   * job's limits. The fork server moves there once; supervisors are born there.
   */
  supervisorCgroups(): readonly string[];
  /** SIGKILL every process in the job's cgroup. */
  killAll(cg: JobCgroup): void;
  /** Ids of every job cgroup under the joblet parent group, for the orphan sweep. */
  listJobs(): string[];
  /** SIGKILL what runs in a job cgroup nobody owns, and remove it. */
  removeOrphan(id: string): void;
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
