// Every cgroup limit hit for real, through whichever backend this host has:
// v1 on the hybrid CI hosts, v2 inside ../shared/tools/cgroup2-vm (run by .ci/run).
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { detectCgroupBackend, spawnJob } from "../../src/isolation/index.js";
import { readJobRecord } from "../../src/isolation/run-records.js";
import { scratchBlockDevice } from "../helpers/block-dir.js";
import { expectDirectWritesThrottled } from "../helpers/direct-writes.js";
import { JobLab, jobletCgroupDirs } from "../helpers/jobs.js";
import { inCgroup2Vm, requireRoot } from "../helpers/root.js";

const lab = new JobLab();
// Emulated VM: everything runs 7-18x slower, so time-based margins widen there.
const slow = inCgroup2Vm ? 10 : 1;

beforeAll(() => {
  requireRoot("cgroup limits");
  lab.probe();
});
afterAll(() => lab.cleanup());

describe(`cgroup limits (${detectCgroupBackend().version})`, () => {
  it("picks v2 on a pure unified hierarchy and v1 on a hybrid one", () => {
    const unified = readFileSync("/proc/self/mountinfo", "utf8").split("\n").some((l) => / \/sys\/fs\/cgroup .* - cgroup2 /.test(l));
    expect(detectCgroupBackend().version).toBe(unified ? "v2" : "v1");
    if (inCgroup2Vm) expect(detectCgroupBackend().version).toBe("v2");
  });

  it("OOM-kills a 200 MB allocation under a 50 MiB limit and reports it", async () => {
    const { exit, stdout } = await lab.run({ argv: ["/probe/job-probe", "alloc", "200"], limits: { memoryBytes: 50 * 1024 * 1024 } });
    expect(stdout).not.toContain("allocated");
    expect(exit.oomKilled).toBe(true);
    expect(exit.signal).toBe("SIGKILL");
    expect(exit.exitCode).toBeNull();
    expect(exit.usage.memoryPeakBytes).toBeGreaterThan(40 * 1024 * 1024);
    expect(exit.usage.memoryPeakBytes).toBeLessThanOrEqual(50 * 1024 * 1024);
  });

  it("lets the same allocation finish under a 300 MiB limit, not OOM-killed", async () => {
    const { exit, stdout } = await lab.run({ argv: ["/probe/job-probe", "alloc", "200"], limits: { memoryBytes: 300 * 1024 * 1024 } });
    expect(stdout).toContain("allocated");
    expect(exit).toMatchObject({ exitCode: 0, oomKilled: false });
  });

  it("throttles a busy loop to 0.2 CPU: 2 s of spinning gets its 0.4 s share, not 2 s", async () => {
    // 0.2 CPU over the job's lifetime (2 s of spinning plus start and exit) is
    // the entitlement; the bound is that share plus two 100 ms CFS periods'
    // worth of quota (0.04 s), as a period can start mid-run.
    const { exit } = await lab.run({ argv: ["/probe/job-probe", "spin", "2000"], limits: { cpu: 0.2 } });
    expect(exit.exitCode).toBe(0);
    const lifetime = (exit.finishedAt.getTime() - exit.startedAt.getTime()) / 1000;
    expect(exit.usage.cpuSeconds).toBeLessThanOrEqual(0.2 * lifetime + 0.04);
    expect(exit.usage.cpuSeconds).toBeLessThan(0.5);
    expect(exit.usage.cpuSeconds).toBeGreaterThan(0.3); // it ran at its share, not starved
  });

  it("contains a fork bomb under pids.max 64 and the host stays responsive", async () => {
    const spec = lab.spec({ argv: ["/probe/job-probe", "forkbomb"], limits: { pids: 64 } });
    const handle = await spawnJob(spec);
    const cgroup = readJobRecord(spec.runDir).cgroup;
    const pidsDir = cgroup.bornInto ?? cgroup.placeInto.find((d) => existsSync(join(d, "pids.max")))!;
    await new Promise((r) => setTimeout(r, 1000 * Math.min(slow, 3)));
    const current = Number(readFileSync(join(pidsDir, "pids.current"), "utf8"));
    const started = Date.now();
    const probe = spawnSync("/bin/true");
    const hostLatency = Date.now() - started;
    const events = readFileSync(join(pidsDir, "pids.events"), "utf8");
    const exit = await handle.stop(100);
    expect(current).toBeLessThanOrEqual(64);
    expect(current).toBeGreaterThanOrEqual(60); // the bomb really ran into the limit
    expect(Number(/max (\d+)/.exec(events)?.[1])).toBeGreaterThan(0);
    expect(probe.status).toBe(0);
    expect(hostLatency).toBeLessThan(1000 * slow);
    // stop() ended it: by SIGTERM, or by SIGKILL if 64 forking processes kept init off the CPU past the grace period.
    expect(["SIGTERM", "SIGKILL"]).toContain(exit.signal);
    expect(jobletCgroupDirs().filter((d) => d.includes(spec.id))).toEqual([]);
  });

  it("pins the job to its cpuset: affinity equals the cpuset", async () => {
    const cpus = readFileSync("/sys/devices/system/cpu/online", "utf8").trim();
    const last = cpus.split(/[-,]/).at(-1)!;
    const { stdout } = await lab.run({ argv: ["/bin/grep", "Cpus_allowed_list", "/proc/self/status"], limits: { cpuset: last } });
    expect(stdout.trim()).toBe(`Cpus_allowed_list:\t${last}`);
  });

  it("holds direct writes under a 1 MiB/s IO limit to at most 1.5 MiB/s, on a disk passed into the job", async () => {
    const scratch = scratchBlockDevice(lab.base);
    try {
      await expectDirectWritesThrottled(lab, "/dev/scratch", {
        rootfs: { ...lab.spec({ argv: ["x"] }).rootfs, devices: [{ source: scratch.device, target: "/dev/scratch" }] },
        uid: 0, // owner of the node; still no capabilities
      });
    } finally {
      scratch.cleanup();
    }
  });

  it("reads usage back: CPU seconds, peak memory, IO bytes", async () => {
    const { exit } = await lab.run({ argv: ["/probe/job-probe", "alloc", "20"], limits: { memoryBytes: 256 * 1024 * 1024 } });
    expect(exit.usage.cpuSeconds).toBeGreaterThan(0);
    expect(exit.usage.memoryPeakBytes).toBeGreaterThanOrEqual(20 * 1024 * 1024);
  });

  it("runs the job inside its cgroup and its supervisor outside, in joblet/supervisors", async () => {
    const spec = lab.spec({ argv: ["/bin/sleep", "30"], limits: { memoryBytes: 64 << 20 } });
    const handle = await spawnJob(spec);
    try {
      const groups = (pid: number) =>
        Object.fromEntries(
          readFileSync(`/proc/${pid}/cgroup`, "utf8").trim().split("\n").map((line) => {
            const [, controllers, path] = line.split(":");
            return [controllers || "unified", path];
          }),
        );
      const job = groups(handle.pid);
      const supervisor = groups(handle.supervisorPid);
      if (detectCgroupBackend().version === "v2") {
        expect(job.unified).toBe(`/joblet/jobs/${spec.id}`);
        expect(supervisor.unified).toBe("/joblet/supervisors");
      } else {
        for (const controller of ["memory", "pids", "blkio", "cpuacct"]) {
          expect(job[controller], controller).toBe(`/joblet/${spec.id}`);
          expect(supervisor[controller], controller).toBe("/joblet/supervisors");
        }
        // No cpu or cpuset limit: the job needs no group there and stays beside its supervisor.
        expect(job.cpu).toBe("/joblet/supervisors");
        expect(job.cpuset).toBe("/joblet/supervisors");
      }
    } finally {
      await handle.stop(100);
    }
  });

  it("removes the job's cgroups when the job ends", async () => {
    const { spec } = await lab.run({ argv: ["/bin/true"], limits: { cpu: 0.5, memoryBytes: 64 << 20, pids: 16 } });
    expect(jobletCgroupDirs().filter((d) => d.includes(spec.id))).toEqual([]);
  });
});
