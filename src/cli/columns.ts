/**
 * The columns `get` shows per kind. Jobs are what users look at most and carry phase,
 * exit code and timing; the other kinds report readiness through a Ready condition.
 */
import { formatBytes, type Kind } from "../api/index.js";
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

export function age(shown: ShownObject, now: Date): string {
  const start = time(shown.object.status.startTime) ?? shown.seen?.getTime();
  return start === undefined ? "-" : humanDuration(now.getTime() - start);
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
export function humanBytes(bytes: number): string {
  const exact = formatBytes(bytes);
  if (exact !== String(bytes) || bytes < 1024) return exact;
  const units = ["Ki", "Mi", "Gi", "Ti"];
  let value = bytes / 1024;
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  return `${value.toFixed(1)}${units[i]}`;
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
  headers: ["NAME", "PHASE", "EXIT", "ATTEMPTS", "AGE", "DURATION", ...(wide ? ["RUN", "REASON", "CPU", "MEMORY", "SOURCE"] : [])],
  row(shown, now) {
    const s = shown.object.status;
    const base = [shown.object.metadata.name, text(s.phase), exit(s), text(s.attempts ?? 0), age(shown, now), duration(s, now)];
    if (!wide) return base;
    const u = usage(s);
    // A broken or conflicting manifest is the reason to show when the run has none.
    const notReady = condition(shown.object, "Ready");
    const reason = s.reason ?? (notReady?.status === "False" ? notReady.reason : undefined);
    return [...base, text(s.run), text(reason), u.cpu, u.memory, source(shown)];
  },
});

const readyColumns = (wide: boolean): Columns => ({
  headers: ["NAME", "READY", "REASON", "AGE", ...(wide ? ["MESSAGE", "SOURCE"] : [])],
  row(shown, now) {
    const ready = condition(shown.object, "Ready");
    const base = [shown.object.metadata.name, text(ready?.status ?? shown.object.status.phase), text(ready?.reason), age(shown, now)];
    return wide ? [...base, text(ready?.message), source(shown)] : base;
  },
});

export function columnsFor(kind: Kind, wide: boolean): Columns {
  return kind === "Job" ? jobColumns(wide) : readyColumns(wide);
}
