/**
 * The few file operations both cgroup backends share. cgroupfs files are
 * tiny kernel interfaces: every write is one syscall the kernel validates, so
 * errors carry the file and the value to say exactly what was refused.
 */
import { closeSync, constants, mkdirSync, openSync, readFileSync, rmdirSync, writeSync } from "node:fs";

export function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/**
 * Writes without O_CREAT (which cgroupfs refuses): a missing file then fails
 * with ENOENT, meaning "this kernel or controller lacks the knob".
 */
export function writeCgroupFile(path: string, value: string): void {
  const fd = openSync(path, constants.O_WRONLY | constants.O_TRUNC);
  try {
    writeSync(fd, value);
  } finally {
    closeSync(fd);
  }
}

/** Like writeCgroupFile, but reports false instead of throwing when the file does not exist. */
export function writeIfPresent(path: string, value: string): boolean {
  try {
    writeCgroupFile(path, value);
    return true;
  } catch (err) {
    if (errnoOf(err) === "ENOENT") return false;
    throw err;
  }
}

export function readCgroupFile(path: string): string {
  return readFileSync(path, "utf8").trim();
}

/** Writes one limit knob, turning the kernel's refusal into a sentence naming the field and value. */
export function applyLimit(field: string, path: string, value: string): void {
  try {
    writeCgroupFile(path, value);
  } catch (err) {
    const code = errnoOf(err) ?? String(err);
    const reason = code === "ENOENT" ? "the file does not exist (controller not enabled?)" : `the kernel refused it (${code})`;
    throw new Error(`Cannot apply limit ${field}: writing '${value}' to ${path} failed: ${reason}`);
  }
}

/** mkdir that treats an existing directory as success; for shared parent groups. */
export function ensureDir(path: string): boolean {
  try {
    mkdirSync(path);
    return true;
  } catch (err) {
    if (errnoOf(err) === "EEXIST") return false;
    throw err;
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Blocks the thread briefly; cgroup teardown waits on the kernel, not on our event loop. */
export function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

export function pidsOf(dir: string): number[] {
  let text: string;
  try {
    text = readFileSync(`${dir}/cgroup.procs`, "utf8");
  } catch (err) {
    if (errnoOf(err) === "ENOENT") return [];
    throw err;
  }
  const pids: number[] = [];
  for (const line of text.split("\n")) if (line !== "") pids.push(Number(line));
  return pids;
}

/**
 * SIGKILLs what `cgroup.procs` lists until it is empty. Repeated because a
 * process may fork between our read and our kill; bounded so that a stuck
 * (D-state) process cannot hang the caller.
 */
export function killProcsOf(dir: string, rounds = 100): void {
  for (let round = 0; round < rounds; round++) {
    const pids = pidsOf(dir);
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch (err) {
        if (errnoOf(err) !== "ESRCH") throw err;
      }
    }
    sleepSync(10);
  }
}

const REMOVE_PATIENCE_MS = 5_000;

/**
 * rmdir that waits out EBUSY: killed processes leave the cgroup only once
 * the kernel has finished tearing them down. A missing directory is success.
 */
export function removeCgroupDir(dir: string): void {
  const deadline = Date.now() + REMOVE_PATIENCE_MS;
  for (;;) {
    try {
      rmdirSync(dir);
      return;
    } catch (err) {
      const code = errnoOf(err);
      if (code === "ENOENT") return;
      if (code !== "EBUSY" || Date.now() > deadline) {
        const pids = code === "EBUSY" ? ` (processes still inside: ${pidsOf(dir).join(", ") || "none listed"})` : "";
        throw new Error(`Cannot remove cgroup ${dir}: ${code ?? String(err)}${pids}`);
      }
      sleepSync(10);
    }
  }
}

/**
 * Undoes a half-made job cgroup and rethrows why it failed; a cleanup
 * failure is added to the message rather than hiding the first error.
 */
export function abandon(dirs: readonly string[], cause: unknown): never {
  const leftovers: string[] = [];
  for (const dir of [...dirs].reverse()) {
    try {
      removeCgroupDir(dir);
    } catch (err) {
      leftovers.push((err as Error).message);
    }
  }
  if (leftovers.length === 0) throw cause;
  throw new Error(`${(cause as Error).message} (cleaning up also failed: ${leftovers.join("; ")})`, { cause });
}

export function jobDirError(id: string, dir: string, err: unknown): Error {
  return new Error(`Cannot create the cgroup of job '${id}' at ${dir}: ${errnoOf(err) ?? String(err)}`);
}

/** A run id names directories: refuse anything that could step outside the parent. */
export function checkJobId(id: string): void {
  if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(id)) {
    throw new Error(`Cannot create a cgroup for job '${id}': the id must be a DNS-1123 label (lowercase letters, digits, '-', at most 63)`);
  }
}

/** The number after `key` in a "key value" per line file such as cpu.stat; 0 when absent. */
export function keyedValue(text: string | undefined, key: string): number {
  if (text === undefined) return 0;
  for (const line of text.split("\n")) {
    const space = line.indexOf(" ");
    if (space > 0 && line.slice(0, space) === key) return Number(line.slice(space + 1)) || 0;
  }
  return 0;
}

/**
 * Create a job's cgroup directory, which must not exist yet. If the parent
 * group has gone (someone removed it since it was set up), `setUpAgain`
 * recreates it and creation is tried once more.
 */
export function createJobDir(id: string, dir: string, setUpAgain: () => void): void {
  let created: boolean;
  try {
    created = ensureDir(dir);
  } catch (err) {
    if (errnoOf(err) !== "ENOENT") throw jobDirError(id, dir, err);
    setUpAgain();
    try {
      created = ensureDir(dir);
    } catch (again) {
      throw jobDirError(id, dir, again);
    }
  }
  if (!created) throw new Error(`Cannot create the cgroup of job '${id}': ${dir} already exists`);
}
