/**
 * cgroup v2 backend. Layout under the unified mount:
 *
 *   <root>/<parent>              controllers enabled for everything below
 *   <root>/<parent>/supervisors  leaf for per-job supervisors, so they outlive the daemon's unit
 *   <root>/<parent>/jobs         controllers enabled again for the job leaves
 *   <root>/<parent>/jobs/<id>    one job; its init is born here (CLONE_INTO_CGROUP)
 *
 * Supervisors and jobs are siblings because v2 forbids processes in a group
 * that hands controllers to children ("no internal processes").
 */
import { existsSync, readdirSync } from "node:fs";
import type { Usage } from "../spec.js";
import type { CgroupBackend, JobCgroup, ResolvedLimits } from "./backend.js";
import {
  abandon,
  applyLimit,
  checkJobId,
  createJobDir,
  ensureDir,
  errnoOf,
  keyedValue,
  killProcsOf,
  readCgroupFile,
  removeCgroupDir,
  writeCgroupFile,
  writeIfPresent,
} from "./cgroupfs.js";

export const V2_CONTROLLERS = ["cpu", "cpuset", "memory", "io", "pids"] as const;

const CPU_PERIOD_US = 100_000;
const MIN_CPU_QUOTA_US = 1_000;

/** What this kernel offers, learned once when the parent groups are set up. */
interface V2Features {
  memoryPeak: boolean;
  swapMax: boolean;
  kill: boolean;
}

export class CgroupV2 implements CgroupBackend {
  readonly version = "v2" as const;
  readonly root: string;
  readonly parentDir: string;
  readonly jobsDir: string;
  readonly supervisorsDir: string;
  #features: V2Features | undefined;

  constructor(options: { root: string; parent: string }) {
    this.root = options.root;
    this.parentDir = `${options.root}/${options.parent}`;
    this.jobsDir = `${this.parentDir}/jobs`;
    this.supervisorsDir = `${this.parentDir}/supervisors`;
  }

  create(id: string, limits: ResolvedLimits): JobCgroup {
    checkJobId(id);
    let features = this.#setUp();
    const dir = `${this.jobsDir}/${id}`;
    createJobDir(id, dir, () => {
      this.#features = undefined;
      features = this.#setUp();
    });
    try {
      this.#writeLimits(dir, limits, features);
    } catch (err) {
      abandon([dir], err);
    }
    const memoryFile = features.memoryPeak ? "memory.peak" : "memory.current";
    return {
      version: "v2",
      bornInto: dir,
      placeInto: [],
      leaveTo: [],
      usageFiles: {
        "cpu.stat": `${dir}/cpu.stat`,
        [memoryFile]: `${dir}/${memoryFile}`,
        "memory.events": `${dir}/memory.events`,
        "io.stat": `${dir}/io.stat`,
      },
      removeDirs: [dir],
    };
  }

  supervisorCgroups(): readonly string[] {
    this.#setUp();
    return [this.supervisorsDir];
  }

  killAll(cg: JobCgroup): void {
    const dir = jobDirOf(cg);
    if (this.#setUp().kill) {
      try {
        writeCgroupFile(`${dir}/cgroup.kill`, "1");
        return;
      } catch (err) {
        if (errnoOf(err) === "ENOENT") return; // already removed: nothing left to kill
        throw err;
      }
    }
    killProcsOf(dir);
  }

  remove(cg: JobCgroup): void {
    for (const dir of cg.removeDirs) removeCgroupDir(dir);
  }

  listJobs(): string[] {
    this.#setUp();
    return readdirSync(this.jobsDir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  }

  removeOrphan(id: string): void {
    checkJobId(id);
    const dir = `${this.jobsDir}/${id}`;
    killProcsOf(dir);
    removeCgroupDir(dir);
  }

  parseUsage(snapshot: Readonly<Record<string, string>>): { usage: Usage; oomKilled: boolean } {
    const cpuUsec = keyedValue(snapshot["cpu.stat"], "usage_usec");
    const memory = snapshot["memory.peak"] ?? snapshot["memory.current"];
    let ioReadBytes = 0;
    let ioWriteBytes = 0;
    // io.stat: one line per device, "MAJ:MIN rbytes=N wbytes=N rios=N ..."
    for (const line of (snapshot["io.stat"] ?? "").split("\n")) {
      for (const field of line.split(" ")) {
        if (field.startsWith("rbytes=")) ioReadBytes += Number(field.slice(7)) || 0;
        else if (field.startsWith("wbytes=")) ioWriteBytes += Number(field.slice(7)) || 0;
      }
    }
    return {
      usage: {
        cpuSeconds: cpuUsec / 1e6,
        memoryPeakBytes: Number(memory?.trim()) || 0,
        ioReadBytes,
        ioWriteBytes,
      },
      oomKilled: keyedValue(snapshot["memory.events"], "oom_kill") > 0,
    };
  }

  /**
   * Creates the parent groups once per process; idempotent across processes
   * and daemon restarts because existing directories are simply reused.
   */
  #setUp(): V2Features {
    if (this.#features !== undefined) return this.#features;
    const available = new Set(readCgroupFile(`${this.root}/cgroup.controllers`).split(" ").filter(Boolean));
    const missing = V2_CONTROLLERS.filter((c) => !available.has(c));
    if (missing.length > 0) {
      throw new Error(
        `Cannot use cgroup v2 at ${this.root}: controller ${missing.join(", ")} is not available there (cgroup.controllers: ${[...available].join(" ") || "none"})`,
      );
    }
    const enable = V2_CONTROLLERS.map((c) => `+${c}`).join(" ");
    try {
      // The root may not delegate every controller yet (no systemd, fresh boot).
      const delegated = readCgroupFile(`${this.root}/cgroup.subtree_control`).split(" ");
      if (!V2_CONTROLLERS.every((c) => delegated.includes(c))) writeCgroupFile(`${this.root}/cgroup.subtree_control`, enable);
      ensureDir(this.parentDir);
      writeCgroupFile(`${this.parentDir}/cgroup.subtree_control`, enable);
      ensureDir(this.supervisorsDir);
      ensureDir(this.jobsDir);
      writeCgroupFile(`${this.jobsDir}/cgroup.subtree_control`, enable);
    } catch (err) {
      throw new Error(`Cannot set up the joblet cgroup ${this.parentDir} (enabling ${enable}): ${errnoOf(err) ?? String(err)}`);
    }
    this.#features = {
      memoryPeak: existsSync(`${this.jobsDir}/memory.peak`),
      swapMax: existsSync(`${this.jobsDir}/memory.swap.max`),
      kill: existsSync(`${this.jobsDir}/cgroup.kill`),
    };
    return this.#features;
  }

  #writeLimits(dir: string, limits: ResolvedLimits, features: V2Features): void {
    applyLimit("pids", `${dir}/pids.max`, String(limits.pids));
    if (limits.cpu !== undefined) {
      const quota = Math.max(MIN_CPU_QUOTA_US, Math.round(limits.cpu * CPU_PERIOD_US));
      applyLimit("cpu", `${dir}/cpu.max`, `${quota} ${CPU_PERIOD_US}`);
    }
    if (limits.memoryBytes !== undefined) {
      applyLimit("memoryBytes", `${dir}/memory.max`, String(limits.memoryBytes));
      // Without swap.max the job could swap past its limit; the file is absent when swap accounting is off.
      if (features.swapMax) applyLimit("memoryBytes", `${dir}/memory.swap.max`, "0");
    }
    // One OOM kill takes the whole job down, so it cannot limp on half-killed.
    writeIfPresent(`${dir}/memory.oom.group`, "1");
    if (limits.cpuset !== undefined) applyLimit("cpuset", `${dir}/cpuset.cpus`, limits.cpuset);
    if (limits.io !== undefined) {
      const rate = limits.io.bytesPerSecond;
      for (const device of limits.io.devices) {
        applyLimit("ioBytesPerSecond", `${dir}/io.max`, `${device} rbps=${rate} wbps=${rate}`);
      }
    }
  }
}

function jobDirOf(cg: JobCgroup): string {
  if (cg.version !== "v2" || cg.bornInto === undefined) {
    throw new Error(`Cannot handle a ${cg.version} job cgroup with the cgroup v2 backend`);
  }
  return cg.bornInto;
}
