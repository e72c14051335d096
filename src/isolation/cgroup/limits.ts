/**
 * Turns a job's requested limits into values every backend can write as-is:
 * ranges checked against this host, defaults filled in, and the IO limit
 * bound to the whole disks that actually hold the job's data.
 */
import { readFileSync } from "node:fs";
import { DEFAULT_PIDS_LIMIT, type Limits } from "../spec.js";
import type { ResolvedLimits } from "./backend.js";
import { wholeDiskOfPath } from "./block-device.js";

export const MIN_CPU_CORES = 0.01;
export const MIN_MEMORY_BYTES = 4 * 1024 * 1024;
/** The kernel's PID_MAX_LIMIT on 64-bit: no cgroup can hold more tasks. */
export const MAX_PIDS = 4_194_304;

let onlineCpus: Set<number> | undefined;
let onlineCpusText = "";

/** Online CPUs of the host, read once: hotplug during a daemon's life is rare enough. */
export function hostCpus(): { cpus: ReadonlySet<number>; text: string } {
  if (onlineCpus === undefined) {
    onlineCpusText = readFileSync("/sys/devices/system/cpu/online", "utf8").trim();
    onlineCpus = new Set(parseCpuList(onlineCpusText));
  }
  return { cpus: onlineCpus, text: onlineCpusText };
}

const CPU_LIST = /^\d+(-\d+)?(,\d+(-\d+)?)*$/;

/** Parses the kernel's cpulist format ("0-3,5"); throws on anything else. */
export function parseCpuList(list: string): number[] {
  if (!CPU_LIST.test(list)) {
    throw new Error(`'${list}' is not a CPU list (expected numbers and ranges such as '0-3,5')`);
  }
  const cpus: number[] = [];
  for (const part of list.split(",")) {
    const [first, last = first] = part.split("-").map(Number) as [number, number?];
    if (last < first) throw new Error(`'${list}' is not a CPU list: range ${part} runs backwards`);
    for (let cpu = first; cpu <= last; cpu++) cpus.push(cpu);
  }
  return cpus;
}

function fail(field: string, value: unknown, reason: string): never {
  const shown = typeof value === "string" ? `'${value}'` : String(value);
  throw new Error(`Cannot apply limit ${field}: ${shown} ${reason}`);
}

function checkCpu(cpu: number): void {
  const cores = hostCpus().cpus.size;
  if (!Number.isFinite(cpu) || cpu < MIN_CPU_CORES || cpu > cores) {
    fail("cpu", cpu, `is out of range (${MIN_CPU_CORES} to ${cores} cores on this host)`);
  }
}

function checkMemory(bytes: number): void {
  if (!Number.isSafeInteger(bytes)) fail("memoryBytes", bytes, "is not a whole number of bytes");
  if (bytes < MIN_MEMORY_BYTES) fail("memoryBytes", bytes, `is below the minimum of ${MIN_MEMORY_BYTES} bytes (4 MiB)`);
}

function checkPids(pids: number): void {
  if (!Number.isSafeInteger(pids) || pids < 1 || pids > MAX_PIDS) {
    fail("pids", pids, `is out of range (1 to ${MAX_PIDS})`);
  }
}

function checkCpuset(list: string): void {
  let cpus: number[];
  try {
    cpus = parseCpuList(list);
  } catch (err) {
    fail("cpuset", list, `is not valid: ${(err as Error).message}`);
  }
  const host = hostCpus();
  const missing = cpus.filter((cpu) => !host.cpus.has(cpu));
  if (missing.length > 0) {
    fail("cpuset", list, `names CPU ${missing.join(", ")} which this host does not have (online: ${host.text})`);
  }
}

function checkIoRate(bytesPerSecond: number): void {
  if (!Number.isSafeInteger(bytesPerSecond) || bytesPerSecond < 1) {
    fail("ioBytesPerSecond", bytesPerSecond, "is not a whole number of bytes/s of at least 1");
  }
}

/** The distinct whole disks under `dataPaths`; paths on no block device are passed over. */
function disksHolding(dataPaths: readonly string[]): string[] {
  const disks = new Set<string>();
  for (const path of dataPaths) {
    let disk: string | undefined;
    try {
      disk = wholeDiskOfPath(path);
    } catch (err) {
      throw new Error(`Cannot limit IO on ${path}: ${(err as Error).message}`);
    }
    if (disk !== undefined) disks.add(disk);
  }
  return [...disks];
}

/**
 * Validates `limits` and resolves them for this host. `dataPaths` are the
 * host paths the job reads and writes (its read-write binds and run dir);
 * they are only looked at when an IO limit is asked for.
 */
export function resolveLimits(limits: Limits | undefined, dataPaths: readonly string[]): ResolvedLimits {
  const resolved: ResolvedLimits = { pids: DEFAULT_PIDS_LIMIT };
  if (limits === undefined) return resolved;
  if (limits.cpu !== undefined) {
    checkCpu(limits.cpu);
    resolved.cpu = limits.cpu;
  }
  if (limits.memoryBytes !== undefined) {
    checkMemory(limits.memoryBytes);
    resolved.memoryBytes = limits.memoryBytes;
  }
  if (limits.pids !== undefined) {
    checkPids(limits.pids);
    resolved.pids = limits.pids;
  }
  if (limits.cpuset !== undefined) {
    checkCpuset(limits.cpuset);
    resolved.cpuset = limits.cpuset;
  }
  if (limits.ioBytesPerSecond !== undefined) {
    const rate = limits.ioBytesPerSecond;
    checkIoRate(rate);
    const devices = disksHolding(dataPaths);
    if (devices.length === 0) {
      const where = dataPaths.length === 0 ? "the job has no data paths" : `none of ${dataPaths.join(", ")} is on a block device`;
      throw new Error(`Cannot limit IO to ${rate} bytes/s: ${where}`);
    }
    resolved.io = { bytesPerSecond: rate, devices };
  }
  return resolved;
}
