import type { Command } from "commander";
import type { JobRunRecord, Schedule, VolumeStatus } from "../api/index.js";
import { toYaml } from "../store/index.js";
import { age, duration, humanBytes, nextRun, nextRunTime, source } from "./columns.js";
import { humanDuration } from "./duration.js";
import { type CliIo, CliError, processIo, runVerb } from "./io.js";
import { named, parseKindRef } from "./kinds.js";
import { withBackend } from "./backend.js";
import type { ShownObject } from "./objects.js";
import { type StateOptions, verb } from "./options.js";
import { table } from "./table.js";

const EXAMPLE = `joblet describe job hello
joblet describe job/hello`;

/** `joblet describe`: one object in full, for a human: spec summary, status, conditions, events. */
export function describeCommand(io: CliIo = processIo()): Command {
  return verb(io, "describe", "Show one object in detail: spec, status, usage, conditions and events", EXAMPLE)
    .argument("<kind>", "job, runtime, volume, network (or job/NAME)")
    .argument("[name]", "the object's name")
    .action((kindArg: string, nameArg: string | undefined, options: StateOptions) =>
      runVerb(io, async () => {
        const { kind, name } = parseKindRef(kindArg, nameArg);
        if (name === undefined) throw new CliError(`Describe needs a name: joblet describe ${kind.toLowerCase()} NAME`);
        const shown = await withBackend(options, io, (backend) => backend.get(kind, name));
        if (shown === undefined) throw new CliError(`${named(kind, name)} not found`);
        io.out.write(describe(shown, io.now()));
      }),
    );
}

type Fields = [string, unknown][];

function block(fields: Fields, indent = ""): string {
  const shown = fields.filter(([, v]) => v !== undefined && v !== "" && !(Array.isArray(v) && v.length === 0));
  const width = Math.max(0, ...shown.map(([k]) => k.length)) + 2;
  return shown.map(([k, v]) => `${indent}${`${k}:`.padEnd(width)}${String(v)}\n`).join("");
}

function pairs(map: Record<string, string> | undefined): string | undefined {
  if (map === undefined || Object.keys(map).length === 0) return undefined;
  return Object.entries(map)
    .map(([k, v]) => `${k}=${v}`)
    .join(", ");
}

function jobSpec(spec: Record<string, unknown>): Fields {
  const r = (spec.resources ?? {}) as Record<string, unknown>;
  const resources = ["cpu", "memory", "ioBps", "cpuset", "exclusiveCpus", "pids"].filter((k) => r[k] !== undefined).map((k) => `${k}=${String(r[k])}`);
  const schedule = scheduleText(spec.schedule);
  const cron = typeof spec.schedule === "object" && spec.schedule !== null && "cron" in spec.schedule;
  const env = (spec.env as { name: string; value: string }[] | undefined)?.map((e) => `${e.name}=${e.value}`);
  const files = (spec.files as { path: string; target?: string }[] | undefined)?.map((f) => (f.target ? `${f.path} -> ${f.target}` : f.path));
  const volumes = (spec.volumes as { name: string; readOnly?: boolean }[] | undefined)?.map((v) => (v.readOnly ? `${v.name} (read-only)` : v.name));
  return [
    ["Command", [...((spec.command as string[]) ?? []), ...((spec.args as string[]) ?? [])].map(quote).join(" ")],
    ["Working dir", spec.workingDir],
    ["Runtime", spec.runtime],
    ["Network", spec.network],
    ["Resources", resources.join(", ")],
    ["Env", env?.join(", ")],
    ["Files", files?.join(", ")],
    ["Volumes", volumes?.join(", ")],
    ["Restart policy", spec.restartPolicy],
    ["Backoff limit", spec.backoffLimit],
    ["Deadline", spec.activeDeadlineSeconds === undefined ? undefined : `${String(spec.activeDeadlineSeconds)}s`],
    ["TTL after finished", spec.ttlSecondsAfterFinished === undefined ? undefined : `${String(spec.ttlSecondsAfterFinished)}s`],
    ["Schedule", schedule],
    ["Concurrency policy", cron ? spec.concurrencyPolicy : undefined],
    ["Starting deadline", schedule && spec.startingDeadlineSeconds !== undefined ? `${String(spec.startingDeadlineSeconds)}s` : undefined],
    ["Runs kept", cron ? `${String(spec.successfulRunsHistoryLimit)} succeeded, ${String(spec.failedRunsHistoryLimit)} failed` : undefined],
    ["Priority", spec.priority !== undefined && spec.priority !== 0 ? spec.priority : undefined],
    ["Suspend", spec.suspend === true ? "true" : undefined],
  ];
}

/** "cron 0 3 * * * (Europe/Berlin)", "startAfter 30s", "startAt 2030-01-02T15:04:05Z". */
function scheduleText(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (value === null || typeof value !== "object") return undefined;
  const s = value as Schedule;
  if (s.cron !== undefined) return `cron ${s.cron} (${s.timeZone ?? "UTC"})`;
  return s.startAt !== undefined ? `startAt ${s.startAt}` : s.startAfter !== undefined ? `startAfter ${s.startAfter}` : undefined;
}

/** A word as a shell would need it written. */
export function quote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`;
}

function jobStatus(shown: ShownObject, now: Date): Fields {
  const s = shown.object.status;
  const next = nextRunTime(s);
  const network = s.network as { name: string; ip?: string } | undefined;
  return [
    ["Phase", s.phase],
    ["Run", s.run],
    ["Attempts", s.attempts],
    ["Start time", s.startTime],
    ["Completion time", s.completionTime],
    ["Duration", s.startTime === undefined ? undefined : duration(s, now)],
    ["Exit code", s.exitCode],
    ["Signal", s.signal],
    ["Reason", s.reason],
    ["Message", s.message],
    ["Scheduled time", s.scheduledTime],
    ["Last schedule", s.lastScheduleTime],
    ["Next run", next === undefined ? undefined : `${nextRun(s, now)} (${next})`],
    ["CPUs", s.cpus === undefined ? undefined : `${String(s.cpus)} (exclusive)`],
    ["Network", network === undefined ? undefined : network.ip ? `${network.name} (${network.ip})` : network.name],
    ["Observed generation", s.observedGeneration],
  ];
}

/** A Volume's status: what it is, how full, who uses it, where it lives on the host. */
function volumeStatus(status: Record<string, unknown>): Fields {
  const s = status as Partial<VolumeStatus>;
  const bytes = (n: number | undefined) => (typeof n === "number" ? humanBytes(n) : undefined);
  const percent = typeof s.used === "number" && typeof s.size === "number" && s.size > 0 ? ` (${Math.round((100 * s.used) / s.size)}%)` : "";
  return [
    ["Phase", s.phase],
    ["Type", s.type],
    ["Size", bytes(s.size)],
    ["Used", s.used === undefined ? undefined : `${bytes(s.used)}${percent}`],
    ["Users", s.users?.join(", ") || "<none>"],
    ["Mount path", s.mountPath],
    ["Device", s.device],
    ["Image", s.image],
    ["Created", s.createdAt],
    ["Reason", s.reason],
    ["Message", s.message],
    ["Observed generation", s.observedGeneration],
  ];
}

function usageFields(status: Record<string, unknown>): Fields {
  const u = status.usage as { cpuSeconds?: number; memoryPeakBytes?: number; ioReadBytes?: number; ioWriteBytes?: number } | undefined;
  if (u === undefined) return [];
  const bytes = (n: number | undefined) => (typeof n === "number" ? humanBytes(n) : undefined);
  return [
    ["CPU time", typeof u.cpuSeconds === "number" ? `${u.cpuSeconds.toFixed(2)}s` : undefined],
    ["Memory peak", bytes(u.memoryPeakBytes)],
    ["IO read", bytes(u.ioReadBytes)],
    ["IO write", bytes(u.ioWriteBytes)],
  ];
}

const RUNS_SHOWN = 10;

/** The Runs: section: the latest runs of a Job, missed scheduled times among them. */
function runs(status: Record<string, unknown>, now: Date): string {
  const list = status.runs as JobRunRecord[] | undefined;
  if (!Array.isArray(list) || list.length === 0) return "";
  const shown = list.slice(-RUNS_SHOWN);
  const more = list.length > shown.length ? `  (${list.length - shown.length} earlier not shown)\n` : "";
  const rows = shown.map((r) => [
    r.run ?? "-",
    r.scheduledTime ?? "-",
    r.startTime ?? "-",
    r.startTime === undefined ? "-" : duration(r as unknown as Record<string, unknown>, now),
    r.phase,
    r.exitCode !== undefined ? String(r.exitCode) : (r.signal ?? "-"),
    r.reason ?? "-",
  ]);
  return `Runs:\n${indent(table(["RUN", "SCHEDULED", "STARTED", "DURATION", "PHASE", "EXIT", "REASON"], rows))}${more}`;
}

/** The Conditions: section (also under `runtime info`). */
export function conditions(status: Record<string, unknown>, now: Date): string {
  const list = status.conditions as { type: string; status: string; reason?: string; message?: string; lastTransitionTime?: string }[] | undefined;
  if (!Array.isArray(list) || list.length === 0) return "Conditions:  <none>\n";
  const rows = list.map((c) => [c.type, c.status, c.reason || "-", since(c.lastTransitionTime, now), c.message || "-"]);
  return `Conditions:\n${indent(table(["TYPE", "STATUS", "REASON", "AGE", "MESSAGE"], rows))}`;
}

/** The Events: section (also under `runtime info`). */
export function events(status: Record<string, unknown>, now: Date): string {
  const list = status.events as { type: string; reason: string; message: string; count?: number; lastTimestamp?: string }[] | undefined;
  if (!Array.isArray(list) || list.length === 0) return "Events:  <none>\n";
  const rows = list.map((e) => [e.type, e.reason, `${since(e.lastTimestamp, now)}${(e.count ?? 1) > 1 ? ` (x${e.count})` : ""}`, e.message]);
  return `Events:\n${indent(table(["TYPE", "REASON", "AGE", "MESSAGE"], rows))}`;
}

function since(timestamp: string | undefined, now: Date): string {
  const t = timestamp === undefined ? NaN : Date.parse(timestamp);
  return Number.isNaN(t) ? "-" : humanDuration(now.getTime() - t);
}

function indent(text: string): string {
  return text.replace(/^(?=.)/gm, "  ");
}

/** The whole page, kubectl describe style. */
export function describe(shown: ShownObject, now: Date): string {
  const { object } = shown;
  const meta = object.metadata;
  const isJob = object.kind === "Job";
  let out = block([
    ["Name", meta.name],
    ["Kind", object.kind],
    ["Labels", pairs(meta.labels) ?? "<none>"],
    ["Annotations", pairs(meta.annotations) ?? "<none>"],
    ["Generation", meta.generation],
    ["Source", source(shown)],
    ["Age", age(shown, now)],
  ]);
  if (!shown.hasStatus) out += "Status:      Pending (the daemon has not reported on this object yet)\n";
  out += "Spec:\n";
  out += isJob ? block(jobSpec(object.spec), "  ") : indent(toYaml(object.spec));
  if (shown.hasStatus) {
    out += "Status:\n";
    if (isJob) out += block(jobStatus(shown, now), "  ");
    else if (object.kind === "Volume") out += block(volumeStatus(object.status), "  ");
    else {
      const { conditions: _c, events: _e, ...rest } = object.status;
      if (Object.keys(rest).length > 0) out += indent(toYaml(rest));
    }
    const usage = usageFields(object.status);
    if (usage.length > 0) out += `Usage:\n${block(usage, "  ")}`;
    if (isJob) out += runs(object.status, now);
  }
  out += conditions(object.status, now);
  out += events(object.status, now);
  return out;
}

