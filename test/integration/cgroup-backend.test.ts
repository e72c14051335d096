import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { CgroupBackend, JobCgroup, ResolvedLimits } from "../../src/isolation/cgroup/backend.js";
import { wholeDiskOfPath } from "../../src/isolation/cgroup/block-device.js";
import { detectCgroupBackend, parseCgroupMounts } from "../../src/isolation/cgroup/detect.js";
import { CgroupV1 } from "../../src/isolation/cgroup/v1.js";
import { CgroupV2 } from "../../src/isolation/cgroup/v2.js";
import { requireRoot } from "../helpers/root.js";

const MiB = 1024 * 1024;
const isRoot = process.getuid?.() === 0;
const inCi = Boolean(process.env.CI);
if (!isRoot && inCi) throw new Error("CI is set but the cgroup backend tests cannot run: they need root");
// Never skipped: without root every test here fails, so a run that proved nothing cannot pass.
beforeAll(() => requireRoot("the cgroup backends"));

const repoDir = join(import.meta.dirname, "../..");
const parentName = `joblet-test-${process.pid}`;
let serial = 0;
const nextId = () => `t-${process.pid}-${++serial}`;

function read(path: string): string {
  return readFileSync(path, "utf8").trim();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A whole disk for IO limits: the repository's, else the first hardware-backed disk. */
function someDisk(): string {
  const ofRepo = wholeDiskOfPath(repoDir);
  if (ofRepo !== undefined) return ofRepo;
  for (const name of readdirSync("/sys/block")) {
    if (existsSync(`/sys/block/${name}/device`)) return read(`/sys/block/${name}/dev`);
  }
  throw new Error("No block device on this host to put an IO limit on");
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
}

/** What the supervisor does before the job runs: move the process into the job's cgroup(s). */
function place(cg: JobCgroup, pid: number): void {
  const dirs = cg.version === "v2" ? [cg.bornInto!] : cg.placeInto;
  for (const dir of dirs) writeFileSync(join(dir, "cgroup.procs"), String(pid));
}

/** Where a job's cgroup directories would be, whether or not create() made them. */
function candidateDirs(backend: CgroupBackend, id: string): string[] {
  if (backend instanceof CgroupV2) return [join(backend.jobsDir, id)];
  if (backend instanceof CgroupV1) return backend.hierarchies.map((mount) => join(mount, backend.parent, id));
  throw new Error("Unknown backend");
}

function snapshot(cg: JobCgroup): Record<string, string> {
  return Object.fromEntries(Object.entries(cg.usageFiles).map(([key, path]) => [key, readFileSync(path, "utf8")]));
}

describe("parseCgroupMounts", () => {
  const hybrid = [
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
    "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct",
    "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset",
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory",
    "38 31 0:35 / /sys/fs/cgroup/blk\\040io rw,relatime - cgroup cgroup rw,blkio",
    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids",
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd",
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw",
    "",
  ].join("\n");

  it("maps co-mounted v1 controllers to their shared directory and ignores a side cgroup2", () => {
    expect(parseCgroupMounts(hybrid)).toEqual({
      v1: {
        cpu: "/sys/fs/cgroup/cpu,cpuacct",
        cpuacct: "/sys/fs/cgroup/cpu,cpuacct",
        cpuset: "/sys/fs/cgroup/cpuset",
        memory: "/sys/fs/cgroup/memory",
        blkio: "/sys/fs/cgroup/blk io",
        pids: "/sys/fs/cgroup/pids",
      },
    });
  });

  it("recognises a pure unified layout", () => {
    const unified = "33 32 0:29 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n";
    expect(parseCgroupMounts(unified)).toEqual({ v2: "/sys/fs/cgroup", v1: {} });
  });
});

describe("detectCgroupBackend", () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env.JOBLET_CGROUP = saved.JOBLET_CGROUP;
    if (saved.JOBLET_CGROUP === undefined) delete process.env.JOBLET_CGROUP;
  });

  it("picks the same backend for repeated calls and honours JOBLET_CGROUP", () => {
    const backend = detectCgroupBackend({ parent: parentName });
    expect(detectCgroupBackend({ parent: parentName })).toBe(backend);
    process.env.JOBLET_CGROUP = backend.version;
    expect(detectCgroupBackend({ parent: parentName })).toBe(backend);
    process.env.JOBLET_CGROUP = backend.version === "v1" ? "v2" : "v1";
    expect(() => detectCgroupBackend({ parent: parentName })).toThrow(`Cannot use cgroup ${process.env.JOBLET_CGROUP}`);
    process.env.JOBLET_CGROUP = "v3";
    expect(() => detectCgroupBackend({ parent: parentName })).toThrow("Cannot use JOBLET_CGROUP='v3': it must be 'v1' or 'v2'");
  });

  it("refuses parent names that are not one directory", () => {
    expect(() => detectCgroupBackend({ parent: "../etc" })).toThrow("Cannot use cgroup parent '../etc'");
  });
});

describe("cgroup backend on this host", () => {
  const backend = isRoot ? detectCgroupBackend({ parent: parentName }) : (undefined as unknown as CgroupBackend);
  const made: JobCgroup[] = [];
  const children: ChildProcess[] = [];

  function create(limits: ResolvedLimits): { id: string; cg: JobCgroup } {
    const id = nextId();
    const cg = backend.create(id, limits);
    made.push(cg);
    return { id, cg };
  }

  /** Starts `sh -c script` held at a `read` until it has been placed into the job's cgroup. */
  function startIn(cg: JobCgroup, script: string): ChildProcess {
    const child = spawn("sh", ["-c", `read go; ${script}`], { stdio: ["pipe", "ignore", "inherit"] });
    children.push(child);
    place(cg, child.pid!);
    child.stdin!.end("go\n");
    return child;
  }

  afterEach(async () => {
    for (const child of children.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited(child);
    }
    for (const cg of made.splice(0)) {
      try {
        backend.killAll(cg);
        backend.remove(cg);
      } catch (err) {
        console.error("cleanup failed:", err);
      }
    }
  });

  function parentDirs(): string[] {
    return backend instanceof CgroupV2
      ? [backend.jobsDir, backend.supervisorsDir, backend.parentDir]
      : (backend as CgroupV1).hierarchies.flatMap((mount) => [join(mount, parentName, "supervisors"), join(mount, parentName)]);
  }

  afterAll(() => {
    if (!isRoot) return;
    for (const dir of parentDirs()) if (existsSync(dir)) rmdirSync(dir);
  });

  it("sets its parent groups up again when someone removed them", () => {
    const first = create({ pids: 10 });
    backend.remove(first.cg);
    for (const dir of parentDirs()) rmdirSync(dir);
    const { cg } = create({ pids: 20, cpuset: "0" });
    for (const dir of cg.removeDirs) expect(existsSync(dir), dir).toBe(true);
  });

  it(`creates a job cgroup with every limit written`, () => {
    const disk = someDisk();
    const { cg } = create({
      cpu: 0.5,
      memoryBytes: 64 * MiB,
      io: { bytesPerSecond: MiB, devices: [disk] },
      cpuset: "0",
      pids: 100,
    });
    expect(cg.version).toBe(backend.version);
    expect(cg.removeDirs.every((dir) => existsSync(dir))).toBe(true);
    if (cg.version === "v2") {
      const dir = cg.bornInto!;
      expect(cg.placeInto).toEqual([]);
      expect(cg.removeDirs).toEqual([dir]);
      const v2 = backend as CgroupV2;
      expect(cg.leaveTo).toEqual([]);
      expect(backend.supervisorCgroups()).toEqual([v2.supervisorsDir]);
      expect(existsSync(v2.supervisorsDir)).toBe(true);
      expect(read(join(dir, "cpu.max"))).toBe("50000 100000");
      expect(read(join(dir, "memory.max"))).toBe(String(64 * MiB));
      if (existsSync(join(dir, "memory.swap.max"))) expect(read(join(dir, "memory.swap.max"))).toBe("0");
      expect(read(join(dir, "memory.oom.group"))).toBe("1");
      expect(read(join(dir, "io.max"))).toBe(`${disk} rbps=${MiB} wbps=${MiB} riops=max wiops=max`);
      expect(read(join(dir, "cpuset.cpus"))).toBe("0");
      expect(read(join(dir, "pids.max"))).toBe("100");
    } else {
      const v1 = backend as CgroupV1;
      const dirOf = (controller: keyof CgroupV1["mounts"]) => cg.placeInto.find((d) => d.startsWith(`${v1.mounts[controller]}/`))!;
      expect(cg.bornInto).toBeUndefined();
      expect(cg.leaveTo).toEqual(cg.placeInto.map((dir) => join(dir, "..", "supervisors")));
      expect(backend.supervisorCgroups()).toEqual(v1.hierarchies.map((mount) => join(mount, parentName, "supervisors")));
      for (const dir of backend.supervisorCgroups()) expect(existsSync(dir), dir).toBe(true);
      expect(cg.placeInto).toEqual(cg.removeDirs);
      expect(cg.placeInto.length).toBe(v1.hierarchies.length);
      expect(read(join(dirOf("cpu"), "cpu.cfs_period_us"))).toBe("100000");
      expect(read(join(dirOf("cpu"), "cpu.cfs_quota_us"))).toBe("50000");
      expect(read(join(dirOf("memory"), "memory.limit_in_bytes"))).toBe(String(64 * MiB));
      const memsw = join(dirOf("memory"), "memory.memsw.limit_in_bytes");
      if (existsSync(memsw)) expect(read(memsw)).toBe(String(64 * MiB));
      else expect(read(join(dirOf("memory"), "memory.swappiness"))).toBe("0");
      expect(read(join(dirOf("blkio"), "blkio.throttle.read_bps_device"))).toBe(`${disk} ${MiB}`);
      expect(read(join(dirOf("blkio"), "blkio.throttle.write_bps_device"))).toBe(`${disk} ${MiB}`);
      expect(read(join(dirOf("cpuset"), "cpuset.cpus"))).toBe("0");
      expect(read(join(dirOf("cpuset"), "cpuset.mems"))).not.toBe("");
      expect(read(join(dirOf("pids"), "pids.max"))).toBe("100");
    }
    for (const file of Object.values(cg.usageFiles)) expect(existsSync(file), file).toBe(true);
  });

  it("refuses a second cgroup with the same id", () => {
    const { id } = create({ pids: 10 });
    expect(() => backend.create(id, { pids: 10 })).toThrow(`Cannot create the cgroup of job '${id}'`);
  });

  it("kills every process of the job and removes its directories", async () => {
    const { cg } = create({ pids: 100 });
    const child = startIn(cg, "sleep 1000 & sleep 1000; wait");
    // Wait until both sleeps run so that the kill has a process tree to take down.
    const procs = join(cg.version === "v2" ? cg.bornInto! : cg.placeInto[0]!, "cgroup.procs");
    for (let i = 0; i < 500 && read(procs).split("\n").length < 3; i++) await sleep(10);
    expect(read(procs).split("\n").length).toBe(3);

    backend.killAll(cg);
    expect(await exited(child)).toEqual({ code: null, signal: "SIGKILL" });
    for (let i = 0; i < 500 && read(procs) !== ""; i++) await sleep(10);
    expect(read(procs)).toBe("");

    backend.remove(cg);
    for (const dir of cg.removeDirs) expect(existsSync(dir), dir).toBe(false);
    backend.remove(cg); // idempotent
    backend.killAll(cg); // nothing left to kill, no error
  });

  it("removes its cgroup when the kernel refuses a limit", () => {
    for (const impossible of [
      { pids: 10, cpu: 1, cpuset: "999" },
      { pids: 10, cpu: 1, memoryBytes: 64 * MiB, io: { bytesPerSecond: MiB, devices: ["4095:4095"] } },
    ]) {
      const id = nextId();
      expect(() => backend.create(id, impossible)).toThrow(/^Cannot apply limit (cpuset|ioBytesPerSecond): /);
      for (const dir of candidateDirs(backend, id)) expect(existsSync(dir), dir).toBe(false);
    }
  });

  it("reports the CPU time and memory a finished job used", async () => {
    const { cg } = create({ pids: 100 });
    const child = startIn(cg, "i=0; while [ $i -lt 50000 ]; do i=$((i+1)); done");
    expect(await exited(child)).toEqual({ code: 0, signal: null });
    const { usage, oomKilled } = backend.parseUsage(snapshot(cg));
    expect(usage.cpuSeconds).toBeGreaterThan(0);
    expect(usage.cpuSeconds).toBeLessThan(600);
    expect(usage.memoryPeakBytes).toBeGreaterThan(0);
    expect(usage.ioReadBytes).toBeGreaterThanOrEqual(0);
    expect(usage.ioWriteBytes).toBeGreaterThanOrEqual(0);
    expect(oomKilled).toBe(false);
  });

  it("reports an OOM kill when the job outgrows its memory limit", async () => {
    const { cg } = create({ pids: 100, memoryBytes: 16 * MiB });
    // dd touches its whole 64 MiB buffer: four times the limit.
    const child = startIn(cg, "exec dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null");
    expect((await exited(child)).signal).toBe("SIGKILL");
    const { usage, oomKilled } = backend.parseUsage(snapshot(cg));
    expect(oomKilled).toBe(true);
    expect(usage.memoryPeakBytes).toBeGreaterThan(8 * MiB);
    expect(usage.memoryPeakBytes).toBeLessThanOrEqual(16 * MiB);
  });
});
