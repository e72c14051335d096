/**
 * kind: Job. Field names are Kubernetes' (command, args, env, workingDir,
 * restartPolicy, backoffLimit, activeDeadlineSeconds, ttlSecondsAfterFinished,
 * suspend) so that people and tools who know Kubernetes Jobs read them right.
 * Quantities stay as written; resolveResources turns them into numbers.
 */
import { z } from "zod";
import { absolutePath, bytes, checked, cores, envName, int, objectName, relativePath, relativePathProblem, uniqueBy } from "./fields.js";
import { manifestSchema } from "./meta.js";
import { parseBytes, parseCores } from "./quantity.js";
import { scheduleSchema } from "./schedule.js";

const CPU_LIST = /^\d+(-\d+)?(,\d+(-\d+)?)*$/;

/** Why `list` is not a cpuset list ("0-3", "1,3"), or undefined. */
export function cpuListProblem(list: string): string | undefined {
  if (!CPU_LIST.test(list)) return "is not a CPU list (e.g. 0-3, 1,3)";
  for (const range of list.split(",")) {
    const [low = 0, high = low] = range.split("-").map(Number);
    if (low > high) return `has the range '${range}' backwards`;
  }
  return undefined;
}

const envVar = z.strictObject({
  name: envName("Variable name."),
  value: z.string().default("").meta({ description: "Value; empty when omitted, as in Kubernetes." }),
});

/** Jobs land in /work; a target may be written relative to it or as /work/... */
function workTargetProblem(target: string): string | undefined {
  if (target.startsWith("/")) {
    if (target === "/work" || !target.startsWith("/work/")) return "must be a path under /work";
    return relativePathProblem(target.slice("/work/".length));
  }
  return relativePathProblem(target);
}

const file = z.strictObject({
  path: relativePath("File or directory to copy, relative to the manifest file; no '..', not absolute."),
  target: checked(z.string(), workTargetProblem)
    .optional()
    .meta({ description: "Where it lands, relative to /work (or /work/...). Default: the path's last component." }),
});

const resources = z
  .strictObject({
    cpu: cores("CPU limit in cores: 0.5, 250m, 2. A running job reserves it from the node's allocatable CPU.").optional(),
    memory: bytes("Memory limit: 512Mi, 1Gi, or bytes. Exceeding it is an OOM kill (reason OOMKilled). A running job reserves it from the node's allocatable memory.").optional(),
    ioBps: bytes("Read and write bandwidth limit in bytes per second: 10Mi, 1000000.").optional(),
    cpuset: checked(z.string(), cpuListProblem).optional().meta({ description: "CPUs to pin the job to: \"0-3\", \"1,3\"." }),
    exclusiveCpus: int(1, "Pin the job to this many whole CPUs that the scheduler picks and no other exclusive job holds.").optional(),
    pids: int(1, "Maximum number of processes and threads. Default 1024.").optional(),
  })
  .superRefine((r, ctx) => {
    if (r.cpuset !== undefined && r.exclusiveCpus !== undefined) {
      ctx.addIssue({ code: "custom", path: ["exclusiveCpus"], message: "cannot be set with cpuset: pin explicitly or let the scheduler choose, not both" });
    }
  });

const volumeMount = z.strictObject({
  name: objectName("Name of a Volume, mounted at /volumes/<name>."),
  readOnly: z.boolean().default(false).meta({ description: "Mount read-only." }),
});

/** Network modes that are not Network objects (issue 6): none is loopback only. */
export const NETWORK_MODES = ["none", "bridge", "isolated"] as const;

// A Runtime reference is NAME or NAME@VERSION; versions install side by side.
const RUNTIME_REF = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(@[0-9A-Za-z][0-9A-Za-z.+_-]*)?$/;

export const jobSpecSchema = z.strictObject({
  command: z.array(z.string()).min(1).meta({ description: "argv: an absolute path or a name on the job's PATH, then its arguments." }),
  args: z.array(z.string()).optional().meta({ description: "Arguments appended to command." }),
  env: uniqueBy(envVar, (v) => v.name, "the variable")
    .optional()
    .meta({ description: "The job's environment: nothing of the daemon's is passed on." }),
  workingDir: absolutePath("Working directory inside the job. Default /work.").optional(),
  files: z.array(file).optional().meta({ description: "Files copied into /work before the job starts." }),
  resources: resources.optional(),
  restartPolicy: z.enum(["Never", "OnFailure"]).default("Never").meta({ description: "OnFailure retries a failed run up to backoffLimit times, with growing delay." }),
  backoffLimit: int(0, "Retries before the Job is Failed (reason BackoffLimitExceeded).").default(6),
  activeDeadlineSeconds: int(1, "Seconds a run may take before it is stopped (reason DeadlineExceeded).").optional(),
  ttlSecondsAfterFinished: int(0, "Seconds after finishing until the run's logs and work data are removed.").optional(),
  suspend: z.boolean().default(false).meta({ description: "A suspended Job does not start; a running one is stopped." }),
  runtime: checked(z.string(), (ref) => (RUNTIME_REF.test(ref) ? undefined : "is not a runtime name (e.g. python-3.11-ml, java-17@1.0)"))
    .optional()
    .meta({ description: "Runtime whose isolated/ tree becomes the job's root: NAME or NAME@VERSION." }),
  volumes: uniqueBy(volumeMount, (v) => v.name, "the volume").optional(),
  network: objectName("none (loopback only), bridge, isolated, or the name of a Network.").default("none"),
  schedule: scheduleSchema.optional(),
  concurrencyPolicy: z
    .enum(["Allow", "Forbid", "Replace"])
    .default("Allow")
    .meta({ description: "With a cron schedule, when a run is due while the previous one still runs: Allow it alongside, Forbid it (it waits), or Replace the running one." }),
  startingDeadlineSeconds: int(0, "A scheduled run that cannot start within this many seconds of its time (the daemon was down) is recorded as missed. Default: no deadline.").optional(),
  successfulRunsHistoryLimit: int(0, "Succeeded runs of a cron Job kept in status.runs, with their logs.").default(3),
  failedRunsHistoryLimit: int(0, "Failed and missed runs of a cron Job kept in status.runs, with their logs.").default(1),
  priority: z.int().default(0).meta({ description: "Order of jobs waiting for capacity: higher first, then first come first served; waiting raises it (aging)." }),
});

export const jobSchema = manifestSchema("Job", jobSpecSchema);

export type JobManifest = z.input<typeof jobSchema>;
export type JobManifestWithDefaults = z.output<typeof jobSchema>;
export type JobSpec = JobManifest["spec"];
export type JobResources = NonNullable<JobSpec["resources"]>;

/** Resources in the units the isolation engine takes (its Limits shape). */
export interface ResolvedResources {
  cpu?: number;
  memoryBytes?: number;
  ioBytesPerSecond?: number;
  cpuset?: string;
  pids?: number;
}

/** Quantities to numbers; throws naming the field when one is invalid (it was validated, so only on misuse). */
export function resolveResources(resources: JobResources | undefined): ResolvedResources {
  const out: ResolvedResources = {};
  if (resources === undefined) return out;
  if (resources.cpu !== undefined) out.cpu = parseCores(resources.cpu, "cpu");
  if (resources.memory !== undefined) out.memoryBytes = parseBytes(resources.memory, "memory");
  if (resources.ioBps !== undefined) out.ioBytesPerSecond = parseBytes(resources.ioBps, "ioBps");
  if (resources.cpuset !== undefined) out.cpuset = resources.cpuset;
  if (resources.pids !== undefined) out.pids = resources.pids;
  return out;
}
