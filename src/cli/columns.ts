/**
 * The columns `get` shows per kind. Jobs are what users look at most and carry phase,
 * exit code and timing; Runtimes their version, source, size and build progress (the
 * same table `joblet runtime list` prints); Volumes their type, size, use and users;
 * Networks their block, gateway, egress and leased addresses.
 */
import { humanBytes, type Kind, type NetworkStatus, type RuntimeStatus, type VolumeStatus } from "../api/index.js";
import { humanDuration } from "./duration.js";
import { condition, type ShownObject } from "./objects.js";
import { APPLIED_FROM } from "./desired.js";

export interface Columns {
  headers: string[];
  row(shown: ShownObject, now: Date): string[];
}

function text(value: unknown): string {
  return value === undefined || value === null || value === "" ? "-" : String(value);
}

function time(value: unknown): number | undefined {
  if (typeof value !== "string") return undefined;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : t;
}

/** Time since `start` (ms), or "-". */
function since(start: number | undefined, now: Date): string {
  return start === undefined ? "-" : humanDuration(now.getTime() - start);
}

/** Since a Job's run started or a Volume was made; else since the status was first written. */
export function age(shown: ShownObject, now: Date): string {
  const status = shown.object.status;
  return since(time(status.startTime) ?? time(status.createdAt) ?? shown.seen?.getTime(), now);
}

/** How long the run took, or has been running so far. */
export function duration(status: Record<string, unknown>, now: Date): string {
  const start = time(status.startTime);
  if (start === undefined) return "-";
  return humanDuration((time(status.completionTime) ?? now.getTime()) - start);
}

export function usage(status: Record<string, unknown>): { cpu: string; memory: string } {
  const u = status.usage as { cpuSeconds?: number; memoryPeakBytes?: number } | undefined;
  return {
    cpu: typeof u?.cpuSeconds === "number" ? `${u.cpuSeconds.toFixed(2)}s` : "-",
    memory: typeof u?.memoryPeakBytes === "number" ? humanBytes(u.memoryPeakBytes) : "-",
  };
}

/** 1.5Mi rather than 1572864: peaks are rarely round. */
export { humanBytes };

/** A one-shot's start time while it waits for it, else a cron Job's next due time (RFC 3339). */
export function nextRunTime(status: Record<string, unknown>): string | undefined {
  const next = status.phase === "Scheduled" && typeof status.scheduledTime === "string" ? status.scheduledTime : status.nextScheduleTime;
  return typeof next === "string" ? next : undefined;
}

/**
 * When a scheduled Job runs next: "in 45s", or "due" once the time has come and the run
 * waits (for capacity, or for the previous run under Forbid); "-" when nothing is scheduled.
 */
export function nextRun(status: Record<string, unknown>, now: Date): string {
  const t = time(nextRunTime(status));
  if (t === undefined) return "-";
  return t > now.getTime() ? `in ${humanDuration(t - now.getTime())}` : "due";
}
export function source(shown: ShownObject): string {
  const file = (shown.object.status.source as { file?: string } | undefined)?.file;
  return text(file ?? shown.object.metadata.annotations?.[APPLIED_FROM]);
}

/** An exit code, or the signal that ended the run. */
function exit(status: Record<string, unknown>): string {
  if (typeof status.exitCode === "number") return String(status.exitCode);
  return text(status.signal);
}

const jobColumns = (wide: boolean): Columns => ({
  headers: ["NAME", "PHASE", "EXIT", "ATTEMPTS", "AGE", "DURATION", "NEXT", ...(wide ? ["RUN", "REASON", "CPU", "MEMORY", "SOURCE"] : [])],
  row(shown, now) {
    const s = shown.object.status;
    const base = [shown.object.metadata.name, text(s.phase), exit(s), text(s.attempts ?? 0), age(shown, now), duration(s, now), nextRun(s, now)];
    if (!wide) return base;
    const u = usage(s);
    // A broken or conflicting manifest is the reason to show when the run has none.
    return [...base, text(s.run), text(reasonOf(shown.object)), u.cpu, u.memory, source(shown)];
  },
});

/** The object's own reason (a failure's), else the Ready condition's when it is False: a broken or conflicting manifest. */
function reasonOf(object: ShownObject["object"]): string | undefined {
  const reason = object.status.reason;
  if (typeof reason === "string") return reason;
  const ready = condition(object, "Ready");
  return ready?.status === "False" ? ready.reason : undefined;
}

type RuntimeShown = Partial<RuntimeStatus>;
type VolumeShown = Partial<VolumeStatus>;

/** A Runtime's version: its installed build's, else its spec's, else what its name has after '@'. */
export function runtimeVersion(object: ShownObject["object"]): string | undefined {
  const status = object.status as RuntimeShown;
  const spec = object.spec as { version?: unknown } | undefined;
  const at = object.metadata.name.indexOf("@");
  const version = status.current?.config?.version ?? spec?.version ?? (at === -1 ? undefined : object.metadata.name.slice(at + 1));
  return typeof version === "string" && version !== "" ? version : undefined;
}

/** debian, host, package or directory: the installed build's source, else the one the spec sets. */
export function runtimeSource(object: ShownObject["object"]): string | undefined {
  const current = (object.status as RuntimeShown).current?.source;
  if (typeof current === "string") return current;
  const source = (object.spec as { source?: unknown } | undefined)?.source;
  return source !== null && typeof source === "object" ? Object.keys(source)[0] : undefined;
}

/** True or False as the Ready condition says; "Building 42%" while a build is under way. */
export function runtimeReady(object: ShownObject["object"]): string {
  const status = object.status as RuntimeShown;
  if (status.phase === "Building") {
    const percent = status.progress?.percent;
    return typeof percent === "number" ? `Building ${Math.floor(percent)}%` : "Building";
  }
  return condition(object, "Ready")?.status ?? (status.phase === "Ready" ? "True" : "False");
}

/** Since the installed build was made; else since the build under way started; else since the status was written. */
function runtimeAge(shown: ShownObject, now: Date): string {
  const status = shown.object.status as RuntimeShown;
  return since(time(status.current?.builtAt) ?? time(status.progress?.startedAt) ?? shown.seen?.getTime(), now);
}

/** Why a Runtime is not (or no longer) Ready: the failure's reason, the build's phase, or Ready's reason when False. */
function runtimeReason(object: ShownObject["object"]): string | undefined {
  const status = object.status as RuntimeShown;
  return status.phase === "Building" ? status.progress?.phase : reasonOf(object);
}

/** `get runtimes` and `runtime list`: one table for both. */
const runtimeColumns = (wide: boolean): Columns => ({
  headers: ["NAME", "VERSION", "SOURCE", "SIZE", "READY", "AGE", ...(wide ? ["FILES", "BUILD", "REASON", "PATH"] : [])],
  row(shown, now) {
    const object = shown.object;
    const current = (object.status as RuntimeShown).current;
    const size = typeof current?.sizeBytes === "number" ? humanBytes(current.sizeBytes) : undefined;
    const base = [object.metadata.name, text(runtimeVersion(object)), text(runtimeSource(object)), text(size), runtimeReady(object), runtimeAge(shown, now)];
    return wide ? [...base, text(current?.files), text(current?.id), text(runtimeReason(object)), text(current?.path)] : base;
  },
});

type NetworkShown = Partial<NetworkStatus>;

/** `get networks`: the block, its gateway, egress, and how many of its addresses jobs hold. */
const networkColumns = (wide: boolean): Columns => ({
  headers: ["NAME", "CIDR", "GATEWAY", "EGRESS", "JOBS", "READY", "AGE", ...(wide ? ["BRIDGE", "HOST-PORTS", "REASON", "MESSAGE"] : [])],
  row(shown, now) {
    const object = shown.object;
    const status = object.status as NetworkShown;
    const spec = object.spec as { cidr?: string; egress?: boolean } | undefined;
    const addresses = status.addresses ? `${status.addresses.used}/${status.addresses.capacity}` : undefined;
    const ready = condition(object, "Ready");
    const base = [
      object.metadata.name,
      text(status.cidr ?? spec?.cidr),
      text(status.gateway),
      text(status.egress ?? spec?.egress ?? false),
      text(addresses),
      status.phase === "Terminating" ? "Terminating" : text(ready?.status ?? "False"),
      age(shown, now),
    ];
    return wide ? [...base, text(status.bridge), text(status.hostPorts?.join(",")), text(status.reason), text(status.message)] : base;
  },
});

/** At most three names, then how many more: a busy volume must not stretch the table. */
function names(list: readonly string[] | undefined): string {
  if (!list?.length) return "-";
  return list.length <= 3 ? list.join(",") : `${list.slice(0, 3).join(",")} +${list.length - 3}`;
}

/** `get volumes`: what each volume is, how full it is and which running jobs mount it. */
const volumeColumns = (wide: boolean): Columns => ({
  headers: ["NAME", "TYPE", "SIZE", "USED", "USERS", "STATUS", "AGE", ...(wide ? ["RECLAIM", "DEVICE", "REASON", "PATH"] : [])],
  row(shown, now) {
    const object = shown.object;
    const status = object.status as VolumeShown;
    const spec = object.spec as { type?: string; size?: string | number; reclaimPolicy?: string } | undefined;
    const size = typeof status.size === "number" ? humanBytes(status.size) : spec?.size;
    const used = typeof status.used === "number" ? humanBytes(status.used) : undefined;
    const base = [
      object.metadata.name,
      text(status.type ?? spec?.type),
      text(size),
      text(used),
      names(status.users),
      text(status.phase),
      age(shown, now),
    ];
    return wide ? [...base, text(spec?.reclaimPolicy), text(status.device), text(reasonOf(object)), text(status.mountPath)] : base;
  },
});

export function columnsFor(kind: Kind, wide: boolean): Columns {
  if (kind === "Volume") return volumeColumns(wide);
  if (kind === "Network") return networkColumns(wide);
  return kind === "Job" ? jobColumns(wide) : runtimeColumns(wide);
}
