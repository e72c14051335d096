/**
 * The original Joblet's `run` flags, turned into a Job manifest. Their meanings are kept
 * so its users can move over: --max-cpu is a percentage of one core, --max-memory MiB,
 * --max-iobps bytes per second, --cpu-cores a cpuset list, --max-runtime seconds.
 */
import { randomInt } from "node:crypto";
import { basename, resolve } from "node:path";
import { readdir, stat } from "node:fs/promises";
import { rfc3339Ms, scheduleDurationMs, type JobManifest, type Schedule } from "../api/index.js";
import type { Upload } from "./desired.js";
import { CliError } from "./io.js";

export interface RunFlags {
  name?: string;
  runtime?: string;
  maxCpu?: string;
  maxMemory?: string;
  maxIobps?: string;
  cpuCores?: string;
  upload?: string[];
  uploadDir?: string;
  volume?: string[];
  network?: string;
  env?: string[];
  schedule?: string;
  maxRuntime?: string;
}

const ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";

export function randomName(): string {
  let suffix = "";
  for (let i = 0; i < 6; i++) suffix += ALPHABET[randomInt(ALPHABET.length)];
  return `run-${suffix}`;
}

function positive(flag: string, value: string, integer: boolean): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new CliError(`${flag} '${value}' is not a ${integer ? "whole number" : "number"} greater than zero`);
  }
  return n;
}

/**
 * --schedule WHEN as spec.schedule: "30min", "1hour", "2h30m" (the original Joblet's
 * relative times) start that long after now, as startAt; an RFC 3339 time is startAt;
 * anything else is a cron expression, which the schema checks.
 */
export function scheduleFrom(when: string, now: Date): Schedule {
  const trimmed = when.trim();
  if (rfc3339Ms(trimmed) !== undefined) return { startAt: trimmed };
  const ms = scheduleDurationMs(trimmed);
  if (ms === undefined) return { cron: trimmed };
  // Whole seconds, rounded up: never before the time asked for.
  return { startAt: new Date(Math.ceil((now.getTime() + ms) / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, "Z") };
}

/** Uploads land in /work under their own name; --upload-dir puts the directory's contents there. */
export async function runUploads(flags: RunFlags, cwd: string): Promise<Upload[]> {
  const uploads: Upload[] = [];
  const add = (source: string, flag: string): void => {
    const rel = basename(source);
    if (uploads.some((u) => u.rel === rel)) throw new CliError(`${flag} '${source}' would land on /work/${rel}, which another upload already uses`);
    uploads.push({ source, rel });
  };
  for (const file of flags.upload ?? []) {
    const path = resolve(cwd, file);
    if ((await stat(path).catch(() => undefined)) === undefined) throw new CliError(`--upload '${file}' does not exist`);
    add(path, "--upload");
  }
  if (flags.uploadDir !== undefined) {
    const dir = resolve(cwd, flags.uploadDir);
    const entries = await readdir(dir).catch(() => {
      throw new CliError(`--upload-dir '${flags.uploadDir}' is not a readable directory`);
    });
    for (const entry of entries.sort()) add(resolve(dir, entry), "--upload-dir");
  }
  return uploads;
}

/** The Job manifest for `joblet run FLAGS -- CMD ARGS`. */
export function runManifest(name: string, argv: string[], flags: RunFlags, uploads: Upload[], now: Date): JobManifest {
  const [command, ...args] = argv;
  if (command === undefined) throw new CliError("Run needs a command: joblet run [flags] -- CMD [ARG...]");
  const spec: JobManifest["spec"] = { command: [command] };
  if (args.length > 0) spec.args = args;
  if (flags.env !== undefined) {
    spec.env = flags.env.map((pair) => {
      const eq = pair.indexOf("=");
      if (eq <= 0) throw new CliError(`--env '${pair}' is not NAME=VALUE`);
      return { name: pair.slice(0, eq), value: pair.slice(eq + 1) };
    });
  }
  if (uploads.length > 0) spec.files = uploads.map((u) => ({ path: u.rel }));
  const resources: NonNullable<JobManifest["spec"]["resources"]> = {};
  if (flags.maxCpu !== undefined) resources.cpu = positive("--max-cpu", flags.maxCpu, false) / 100;
  if (flags.maxMemory !== undefined) resources.memory = `${positive("--max-memory", flags.maxMemory, true)}Mi`;
  if (flags.maxIobps !== undefined) resources.ioBps = positive("--max-iobps", flags.maxIobps, true);
  if (flags.cpuCores !== undefined) resources.cpuset = flags.cpuCores;
  if (Object.keys(resources).length > 0) spec.resources = resources;
  if (flags.maxRuntime !== undefined) spec.activeDeadlineSeconds = positive("--max-runtime", flags.maxRuntime, true);
  if (flags.runtime !== undefined) spec.runtime = flags.runtime;
  if (flags.volume !== undefined) spec.volumes = flags.volume.map((v) => ({ name: v }));
  if (flags.network !== undefined) spec.network = flags.network;
  if (flags.schedule !== undefined) spec.schedule = scheduleFrom(flags.schedule, now);
  return { apiVersion: "joblet/v1", kind: "Job", metadata: { name }, spec };
}
