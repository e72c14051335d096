/**
 * What this node offers jobs. Detected: every online CPU, and MemTotal less a
 * reserve for the system and the daemon (10%, at most 1 GiB). Either may be
 * set instead (`joblet daemon --allocatable-cpu/--allocatable-memory`).
 */
import { readFileSync } from "node:fs";
import { parseCpuList } from "../isolation/index.js";
import type { NodeAllocatable } from "./admission.js";

const GiB = 1024 ** 3;

/** MemTotal less min(10%, 1 GiB). */
export function memoryAllocatable(memTotalBytes: number): number {
  return memTotalBytes - Math.min(Math.floor(memTotalBytes * 0.1), GiB);
}

/** MemTotal from /proc/meminfo, in bytes. */
export function memTotalBytes(meminfo = readFileSync("/proc/meminfo", "utf8")): number {
  const kib = /^MemTotal:\s+(\d+)\s+kB/m.exec(meminfo)?.[1];
  if (kib === undefined) throw new Error("Cannot read MemTotal from /proc/meminfo");
  return Number(kib) * 1024;
}

export function onlineCpus(): number[] {
  return parseCpuList(readFileSync("/sys/devices/system/cpu/online", "utf8").trim());
}

export function nodeAllocatable(overrides: { cpu?: number; memoryBytes?: number } = {}): NodeAllocatable {
  const cpus = onlineCpus();
  return {
    cpu: overrides.cpu ?? cpus.length,
    memoryBytes: overrides.memoryBytes ?? memoryAllocatable(memTotalBytes()),
    cpus,
  };
}
