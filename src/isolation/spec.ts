/**
 * The plain description of one isolated job, as the isolation engine takes it.
 * Everything here is already resolved (absolute host paths, bytes, cores): the
 * manifest layer above turns user quantities into these numbers.
 */

/** A host path made visible inside the job's root. */
export interface BindMount {
  /** Absolute host path; must exist. */
  source: string;
  /** Absolute path inside the job's root. */
  target: string;
}

/** A size-capped tmpfs inside the job's root. */
export interface TmpfsMount {
  target: string;
  sizeBytes: number;
}

/**
 * How the job's private root is assembled: a read-only tmpfs skeleton holding
 * read-only binds, read-write binds, sized tmpfs for /tmp and /work, a fresh
 * /proc (sensitive paths masked, /proc/sys read-only) and a minimal /dev.
 */
export interface RootfsPlan {
  readOnly: BindMount[];
  readWrite?: BindMount[];
  /** tmpfs at /tmp (mode 1777). Default 64 MiB. */
  tmpSizeBytes?: number;
  /** tmpfs at /work, owned by the job's user. Default 256 MiB. */
  workSizeBytes?: number;
  /** A host directory whose contents are copied into /work before the job starts (a Job's files). */
  workSeed?: string;
  /** Extra sized tmpfs mounts (memory volumes). */
  tmpfs?: TmpfsMount[];
  /**
   * Host device nodes passed through into the job's /dev (as `docker run
   * --device`), owned by the job's user. A block device given this way is
   * also where the job's IO limit applies.
   */
  devices?: DeviceEntry[];
  /** Symbolic links made in the root's skeleton (merged-/usr hosts: /bin -> usr/bin). */
  symlinks?: SymlinkEntry[];
}

export interface DeviceEntry {
  /** Host path of a character or block device node. */
  source: string;
  /** Path of the node inside the job: /dev/NAME. */
  target: string;
}

export interface SymlinkEntry {
  /** Absolute path of the link inside the root. */
  path: string;
  /** What the link points to, as readlink would show it. */
  target: string;
}

export interface Limits {
  /** CPU cores (0.2 = a fifth of one core). */
  cpu?: number;
  /** Hard memory limit in bytes; swap is off for the job. */
  memoryBytes?: number;
  /**
   * Read and write bandwidth in bytes/s, applied on every block device that
   * holds the job's data (its read-write bind sources and its run directory).
   */
  ioBytesPerSecond?: number;
  /** CPU list the job is pinned to, as in cpuset: "0-3", "1,3". */
  cpuset?: string;
  /** Maximum number of tasks (processes and threads). Default 1024. */
  pids?: number;
}

export interface LogSpec {
  /** Host path of the stdout log file (created, appended to). */
  stdout: string;
  /** Host path of the stderr log file. */
  stderr: string;
  /** Per-stream cap in bytes; beyond it output is dropped and counted. Default 64 MiB. */
  maxBytes?: number;
}

export interface JobSpec {
  /** Unique run id: names the job's cgroup; DNS-1123 label characters. */
  id: string;
  /** argv[0] is an absolute path in the job's root, or a name found on the job's PATH. */
  argv: string[];
  /** The job's exact environment; nothing of the daemon's is added. */
  env: Record<string, string>;
  /** Working directory inside the root. Default /work. */
  workingDir?: string;
  /** Hostname inside the job's UTS namespace. Default: the id. */
  hostname?: string;
  /** Default 65534 (nobody). */
  uid?: number;
  /** Default 65534 (nogroup). */
  gid?: number;
  rootfs: RootfsPlan;
  limits?: Limits;
  logs: LogSpec;
  /**
   * Host directory owned by this run, created if missing: the supervisor keeps
   * its state records here (job.json, run.state, exit.state) so that a new
   * daemon can attach to the job. The job's root is mounted over it inside the
   * job's own mount namespace only, so it needs no directory of its own.
   */
  runDir: string;
  /** Attach the job to a network: a veth pair whose job end is eth0 in the job's namespace. Absent: only lo. */
  network?: NetworkAttachment;
}

/**
 * A job's place on a network, as the network layer has already decided it
 * (names and addresses); the engine only wires it up. The host end lives in
 * the daemon's network namespace and goes away when the job ends.
 */
export interface NetworkAttachment {
  /** Host-side name of the veth pair (1..15 chars), chosen by the caller, unique on the host. */
  hostInterface: string;
  /** Bridge (existing, by name) the host end joins. Absent: a point-to-point link, whose host end gets hostAddress (isolated mode). */
  bridge?: string;
  /** With no bridge: the host end's IPv4 address (same prefix as the job's). */
  hostAddress?: string;
  /** The job's IPv4 address on eth0, e.g. "10.88.0.5", and the prefix length, e.g. 24. */
  address: string;
  prefix: number;
  /** The job's default route goes via this address (the bridge's or hostAddress). */
  gateway: string;
}

/** What a job consumed, read from its cgroup after the last process ended. */
export interface Usage {
  cpuSeconds: number;
  memoryPeakBytes: number;
  ioReadBytes: number;
  ioWriteBytes: number;
}

export interface JobExit {
  /** Exit code of the main process, or null when a signal ended it. */
  exitCode: number | null;
  /** Name of the signal that ended the main process (SIGKILL...), or null. */
  signal: NodeJS.Signals | null;
  /** The kernel's OOM killer killed a process of the job. */
  oomKilled: boolean;
  usage: Usage;
  /** Output bytes dropped beyond the log cap, per stream. */
  droppedBytes: { stdout: number; stderr: number };
  startedAt: Date;
  finishedAt: Date;
}

export const DEFAULT_UID = 65534;
export const DEFAULT_GID = 65534;
export const DEFAULT_PIDS_LIMIT = 1024;
export const DEFAULT_LOG_MAX_BYTES = 64 * 1024 * 1024;
export const DEFAULT_TMP_SIZE_BYTES = 64 * 1024 * 1024;
export const DEFAULT_WORK_SIZE_BYTES = 256 * 1024 * 1024;
export const DEFAULT_WORKING_DIR = "/work";
