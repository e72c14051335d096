/**
 * cgroup v1 backend, for hosts still on hybrid or legacy layouts. Each
 * controller lives in its own hierarchy (some co-mounted, e.g. "cpu,cpuacct"),
 * so one job is one directory per distinct hierarchy:
 *
 *   <mount>/<parent>/<id>           the job
 *   <mount>/<parent>/supervisors    supervisors, once their job's init exists
 *
 * There is no CLONE_INTO_CGROUP across hierarchies: the supervisor enters every
 * `placeInto` directory itself, clones the job's init there (so it never runs
 * outside them), then moves on to the supervisors group.
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
import { parseCpuList } from "./limits.js";

export const V1_CONTROLLERS = ["cpu", "cpuacct", "cpuset", "memory", "blkio", "pids"] as const;
export type V1Controller = (typeof V1_CONTROLLERS)[number];

const CPU_PERIOD_US = 100_000;
const MIN_CPU_QUOTA_US = 1_000;

interface V1Parent {
  /** CPUs the parent cpuset group owns; a job can only be pinned within them. */
  cpus: ReadonlySet<number>;
  cpusText: string;
  /** memory.memsw.* exists only with swap accounting on. */
  memsw: boolean;
}

export class CgroupV1 implements CgroupBackend {
  readonly version = "v1" as const;
  readonly mounts: Readonly<Record<V1Controller, string>>;
  readonly parent: string;
  /** Distinct hierarchy mount points, in controller order. */
  readonly hierarchies: readonly string[];
  #parent: V1Parent | undefined;

  constructor(options: { mounts: Readonly<Record<V1Controller, string>>; parent: string }) {
    this.mounts = options.mounts;
    this.parent = options.parent;
    this.hierarchies = [...new Set(V1_CONTROLLERS.map((c) => options.mounts[c]))];
  }

  create(id: string, limits: ResolvedLimits): JobCgroup {
    checkJobId(id);
    let parent = this.#setUp();
    if (limits.cpuset !== undefined) checkCpusetWithin(limits.cpuset, parent);
    const dirs: string[] = [];
    try {
      for (const mount of this.#hierarchiesFor(limits)) {
        const dir = `${mount}/${this.parent}/${id}`;
        createJobDir(id, dir, () => {
          this.#parent = undefined;
          parent = this.#setUp();
        });
        dirs.push(dir);
      }
      this.#writeLimits(id, limits, parent);
    } catch (err) {
      abandon(dirs, err);
    }
    return {
      version: "v1",
      placeInto: dirs,
      leaveTo: dirs.map((dir) => `${dir.slice(0, dir.lastIndexOf("/"))}/supervisors`),
      usageFiles: {
        "cpuacct.usage": `${this.#dir("cpuacct", id)}/cpuacct.usage`,
        "memory.max_usage_in_bytes": `${this.#dir("memory", id)}/memory.max_usage_in_bytes`,
        "memory.oom_control": `${this.#dir("memory", id)}/memory.oom_control`,
        "blkio.throttle.io_service_bytes_recursive": `${this.#dir("blkio", id)}/blkio.throttle.io_service_bytes_recursive`,
      },
      removeDirs: dirs,
    };
  }

  supervisorCgroups(): readonly string[] {
    this.#setUp();
    return this.hierarchies.map((mount) => `${mount}/${this.parent}/supervisors`);
  }

  killAll(cg: JobCgroup): void {
    if (cg.version !== "v1") throw new Error(`Cannot handle a ${cg.version} job cgroup with the cgroup v1 backend`);
    // Every hierarchy tracks the same processes; pids is the one made for counting them.
    const pidsDir = cg.placeInto.find((dir) => dir.startsWith(`${this.mounts.pids}/`));
    for (const dir of pidsDir !== undefined ? [pidsDir] : cg.placeInto) killProcsOf(dir);
  }

  remove(cg: JobCgroup): void {
    for (const dir of cg.removeDirs) removeCgroupDir(dir);
  }

  listJobs(): string[] {
    this.#setUp();
    const ids = new Set<string>();
    for (const mount of this.hierarchies) {
      for (const e of readdirSync(`${mount}/${this.parent}`, { withFileTypes: true })) {
        if (e.isDirectory() && e.name !== "supervisors") ids.add(e.name);
      }
    }
    return [...ids];
  }

  removeOrphan(id: string): void {
    checkJobId(id);
    const dirs = this.hierarchies.map((mount) => `${mount}/${this.parent}/${id}`).filter((dir) => existsSync(dir));
    for (const dir of dirs) killProcsOf(dir);
    for (const dir of dirs) removeCgroupDir(dir);
  }

  parseUsage(snapshot: Readonly<Record<string, string>>): { usage: Usage; oomKilled: boolean } {
    let ioReadBytes = 0;
    let ioWriteBytes = 0;
    // "MAJ:MIN Read N" / "MAJ:MIN Write N" per device, plus per-device and overall Total lines.
    for (const line of (snapshot["blkio.throttle.io_service_bytes_recursive"] ?? "").split("\n")) {
      const [, op, value] = line.split(" ");
      if (op === "Read") ioReadBytes += Number(value) || 0;
      else if (op === "Write") ioWriteBytes += Number(value) || 0;
    }
    return {
      usage: {
        cpuSeconds: (Number(snapshot["cpuacct.usage"]?.trim()) || 0) / 1e9,
        memoryPeakBytes: Number(snapshot["memory.max_usage_in_bytes"]?.trim()) || 0,
        ioReadBytes,
        ioWriteBytes,
      },
      oomKilled: keyedValue(snapshot["memory.oom_control"], "oom_kill") > 0,
    };
  }

  /**
   * The hierarchies a job needs: usage always comes from cpuacct, memory and
   * blkio, and pids carries the default limit; cpu and cpuset only when the
   * job is limited there (a job placed in neither stays in its supervisor's
   * group, which has every CPU and no quota). Each one skipped saves a mkdir,
   * a migration and an rmdir per job.
   */
  #hierarchiesFor(limits: ResolvedLimits): string[] {
    const controllers: V1Controller[] = ["cpuacct", "memory", "blkio", "pids"];
    if (limits.cpu !== undefined) controllers.push("cpu");
    if (limits.cpuset !== undefined) controllers.push("cpuset");
    const wanted = new Set(controllers.map((c) => this.mounts[c]));
    return this.hierarchies.filter((mount) => wanted.has(mount));
  }

  #dir(controller: V1Controller, id: string): string {
    return `${this.mounts[controller]}/${this.parent}/${id}`;
  }

  /** Creates the parent group in every hierarchy once per process; existing ones are reused. */
  #setUp(): V1Parent {
    if (this.#parent !== undefined) return this.#parent;
    try {
      for (const mount of this.hierarchies) ensureDir(`${mount}/${this.parent}`);
      const cpuset = `${this.mounts.cpuset}/${this.parent}`;
      // A new v1 cpuset group starts with no CPUs and no memory nodes, and
      // refuses tasks until given some: seed ours from the hierarchy root and
      // let clone_children hand them down to every job.
      for (const file of ["cpuset.cpus", "cpuset.mems"]) {
        if (readCgroupFile(`${cpuset}/${file}`) === "") {
          writeCgroupFile(`${cpuset}/${file}`, readCgroupFile(`${this.mounts.cpuset}/${file}`));
        }
      }
      writeCgroupFile(`${cpuset}/cgroup.clone_children`, "1");
      // After the cpuset seed, so the supervisors group inherits CPUs and memory nodes.
      for (const mount of this.hierarchies) ensureDir(`${mount}/${this.parent}/supervisors`);
    } catch (err) {
      throw new Error(`Cannot set up the joblet cgroups (${this.parent}) under ${this.hierarchies.join(", ")}: ${errnoOf(err) ?? String(err)}`);
    }
    const memory = `${this.mounts.memory}/${this.parent}`;
    try {
      // Recent kernels always use the hierarchy and reject the knob; older ones need it for limits to nest.
      writeIfPresent(`${memory}/memory.use_hierarchy`, "1");
    } catch {
      // Not writable once the group has children or when forced on: either way hierarchy is in effect.
    }
    const cpusText = readCgroupFile(`${this.mounts.cpuset}/${this.parent}/cpuset.cpus`);
    this.#parent = {
      cpus: new Set(parseCpuList(cpusText)),
      cpusText,
      memsw: existsSync(`${memory}/memory.memsw.limit_in_bytes`),
    };
    return this.#parent;
  }

  #writeLimits(id: string, limits: ResolvedLimits, parent: V1Parent): void {
    applyLimit("pids", `${this.#dir("pids", id)}/pids.max`, String(limits.pids));
    if (limits.cpu !== undefined) {
      const cpu = this.#dir("cpu", id);
      const quota = Math.max(MIN_CPU_QUOTA_US, Math.round(limits.cpu * CPU_PERIOD_US));
      applyLimit("cpu", `${cpu}/cpu.cfs_period_us`, String(CPU_PERIOD_US));
      applyLimit("cpu", `${cpu}/cpu.cfs_quota_us`, String(quota));
    }
    const memory = this.#dir("memory", id);
    if (limits.memoryBytes !== undefined) {
      const bytes = String(limits.memoryBytes);
      // memsw (memory + swap) may never be below the memory limit: set the limit first.
      applyLimit("memoryBytes", `${memory}/memory.limit_in_bytes`, bytes);
      if (parent.memsw) applyLimit("memoryBytes", `${memory}/memory.memsw.limit_in_bytes`, bytes);
    }
    // Without swap accounting there is no memsw knob; keep the job out of swap this way instead.
    if (!parent.memsw) applyLimit("memoryBytes", `${memory}/memory.swappiness`, "0");
    if (limits.cpuset !== undefined) applyLimit("cpuset", `${this.#dir("cpuset", id)}/cpuset.cpus`, limits.cpuset);
    if (limits.io !== undefined) {
      const blkio = this.#dir("blkio", id);
      const rate = limits.io.bytesPerSecond;
      for (const device of limits.io.devices) {
        applyLimit("ioBytesPerSecond", `${blkio}/blkio.throttle.read_bps_device`, `${device} ${rate}`);
        applyLimit("ioBytesPerSecond", `${blkio}/blkio.throttle.write_bps_device`, `${device} ${rate}`);
      }
    }
  }
}

function checkCpusetWithin(list: string, parent: V1Parent): void {
  let cpus: number[];
  try {
    cpus = parseCpuList(list);
  } catch (err) {
    throw new Error(`Cannot apply limit cpuset: '${list}' is not valid: ${(err as Error).message}`);
  }
  const outside = cpus.filter((cpu) => !parent.cpus.has(cpu));
  if (outside.length > 0) {
    throw new Error(
      `Cannot apply limit cpuset: '${list}' names CPU ${outside.join(", ")} outside the joblet cpuset (${parent.cpusText})`,
    );
  }
}
