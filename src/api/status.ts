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
  /** The Job's most recent events, oldest first, for `joblet describe`. */
  events?: JobEvent[];
}

export interface JobEvent {
  type: "Normal" | "Warning";
  reason: string;
  message: string;
  count: number;
  firstTimestamp: string;
  lastTimestamp: string;
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
