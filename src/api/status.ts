/**
 * What the daemon stores for every object and `joblet get` prints:
 * status/<kind-plural>/<name>.json holds the object as the controller last
 * accepted it (the last good spec, defaults applied) together with its status.
 * The daemon writes these files; the CLI only reads them.
 */

export type ConditionStatus = "True" | "False" | "Unknown";

export interface Condition {
  type: string;
  status: ConditionStatus;
  /** CamelCase, machine-readable: InvalidManifest, Conflict, OOMKilled... */
  reason: string;
  message: string;
  /** RFC 3339. */
  lastTransitionTime: string;
}

export type JobPhase = "Pending" | "Scheduled" | "Running" | "Succeeded" | "Failed";

export interface JobUsage {
  cpuSeconds: number;
  memoryPeakBytes: number;
  ioReadBytes: number;
  ioWriteBytes: number;
}

export interface JobStatus {
  /** The metadata.generation this status describes. */
  observedGeneration?: string;
  phase: JobPhase;
  /** Complete, Failed, Suspended, and Ready (False when the manifest is broken or conflicts). */
  conditions: Condition[];
  /** The current (or last) run: logs in logs/jobs/<name>/<run>/{stdout,stderr}.log. */
  run?: string;
  /** The runtime the current run uses: the Runtime's name and the build's path, kept until the run ends. */
  runtime?: { name: string; build: string };
  /** The Volumes the current (or last) run mounts: a Volume is not removed while a run that mounts it is Running. */
  volumes?: string[];
  /** Runs started for the current spec. */
  attempts: number;
  startTime?: string;
  completionTime?: string;
  exitCode?: number;
  signal?: string;
  /** Why the Job is Failed (or its last run ended): OOMKilled, DeadlineExceeded, BackoffLimitExceeded, Error, ... */
  reason?: string;
  message?: string;
  usage?: JobUsage;
  /** The manifest file the spec came from, relative to the manifests dir. */
  source?: { file: string };
  network?: { name: string; ip?: string };
  /** An OnFailure retry waits until then (RFC 3339): the delay grows with each attempt. */
  nextAttemptAt?: string;
  /** ttlSecondsAfterFinished passed: the run's logs and work data were removed. */
  expired?: boolean;
  /** When this daemon first saw the current spec (RFC 3339): startAfter counts from it, and the queue is first come first served by it. */
  observedTime?: string;
  /** The time the run in hand is scheduled for: a one-shot's start time, or a cron run's due time while it waits or runs. */
  scheduledTime?: string;
  /** Cron: the latest due time taken (started or recorded missed); after a restart, times after it are due. */
  lastScheduleTime?: string;
  /** Cron: the next due time after lastScheduleTime. */
  nextScheduleTime?: string;
  /** Cron: runs started for the scheduled time in hand (the first and its retries), for backoffLimit. */
  runAttempts?: number;
  /** CPUs the current run is pinned to exclusively (resources.exclusiveCpus), as a CPU list. */
  cpus?: string;
  /** The Job's runs, oldest first; a cron Job's are trimmed to its history limits, their logs with them. */
  runs?: JobRunRecord[];
  /** The Job's most recent events, oldest first, for `joblet describe`. */
  events?: JobEvent[];
}

export type JobRunPhase = "Running" | "Succeeded" | "Failed" | "Missed";

/** One run of a Job (logs/jobs/<name>/<run>/), or a scheduled time that was missed (no run, no logs). */
export interface JobRunRecord {
  run?: string;
  scheduledTime?: string;
  startTime?: string;
  completionTime?: string;
  phase: JobRunPhase;
  exitCode?: number;
  signal?: string;
  reason?: string;
  /** CPUs the run held exclusively. */
  cpus?: string;
}

export interface JobEvent {
  type: "Normal" | "Warning";
  reason: string;
  message: string;
  count: number;
  firstTimestamp: string;
  lastTimestamp: string;
}

export type RuntimePhase = "Pending" | "Building" | "Ready" | "Failed";

/** A bind of a path of the runtime's tree into the job, as installed (source resolved inside isolated/). */
export interface RuntimeMount {
  /** Relative to the runtime's isolated/ tree, symlinks resolved inside it. */
  source: string;
  /** Absolute path inside the job. */
  target: string;
}

/** What a runtime gives a job, merged from the source's runtime.yml and the manifest. */
export interface RuntimeConfig {
  version?: string;
  description?: string;
  mounts: RuntimeMount[];
  environment: Record<string, string>;
  requirements?: { architectures?: string[]; minMemoryBytes?: number };
  test?: { command: string[] };
}

export interface RuntimeBuild {
  /** Names the build's directory: runtimes/.builds/<name>/<id>. */
  id: string;
  /** The metadata.generation it was built from. */
  generation: string;
  /** Absolute path of the build (runtime.yml + isolated/). */
  path: string;
  source: string;
  sizeBytes: number;
  files: number;
  builtAt: string;
  durationMs: number;
  config: RuntimeConfig;
}

export interface RuntimeStatus {
  observedGeneration?: string;
  phase: RuntimePhase;
  /** Ready (a build is installed and usable) and Valid (the manifest parses). */
  conditions: Condition[];
  /** The installed build jobs start on; kept while a changed spec is rebuilt beside it. */
  current?: RuntimeBuild;
  /** The build under way: what it is doing and how far it got. */
  progress?: { phase: string; bytes?: number; totalBytes?: number; percent?: number; startedAt: string };
  /** The last build's log (absolute path); its tail is in `message` when the build failed. */
  buildLog?: string;
  reason?: string;
  message?: string;
  /** Builds of the current spec that failed in a row: the retry delay doubles with each. */
  failures?: number;
  /** A failed build of a transient cause is tried again then (RFC 3339). */
  nextAttemptAt?: string;
  events?: JobEvent[];
}

export type NetworkPhase = "Pending" | "Ready" | "Terminating" | "Failed";

export interface NetworkStatus {
  observedGeneration?: string;
  phase: NetworkPhase;
  /** Ready (jobs can be put on it) and Valid (the manifest parses). */
  conditions: Condition[];
  cidr?: string;
  /** The bridge's own address: the jobs' default route. */
  gateway?: string;
  /** The host's bridge interface. */
  bridge?: string;
  egress?: boolean;
  hostPorts?: number[];
  /** Addresses leased to running jobs, and how many the block has. */
  addresses?: { used: number; capacity: number };
  /** The running jobs on it, with their addresses. */
  users?: { job: string; ip: string }[];
  reason?: string;
  message?: string;
  events?: JobEvent[];
}

export type VolumePhase = "Pending" | "Ready" | "Terminating" | "Failed";

export interface VolumeStatus {
  observedGeneration?: string;
  phase: VolumePhase;
  /** Ready (jobs can mount it) and Valid (the manifest parses). */
  conditions: Condition[];
  /** What is mounted, which stays what it was when a change of spec.type is refused. */
  type?: "filesystem" | "memory";
  /** The size in bytes the volume was made or last resized to: its hard limit. */
  size?: number;
  /** Bytes in use (statfs), as of the last reconcile. */
  used?: number;
  /** The running Jobs that mount it. */
  users?: string[];
  /** Host path of the mount; jobs get a bind of it at /volumes/<name>. */
  mountPath?: string;
  /** The loop device a filesystem volume's image is attached to. */
  device?: string;
  /** A filesystem volume's ext4 image; kept when the Volume is deleted with reclaimPolicy Retain. */
  image?: string;
  /** When the volume was first mounted (RFC 3339). */
  createdAt?: string;
  reason?: string;
  message?: string;
  /** Failed attempts in a row: the retry delay doubles with each. */
  failures?: number;
  nextAttemptAt?: string;
  events?: JobEvent[];
}

export interface StoredObject<Spec = unknown, Status = unknown> {
  apiVersion: "joblet/v1";
  kind: string;
  metadata: {
    name: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    generation: string;
  };
  spec: Spec;
  status: Status;
}
