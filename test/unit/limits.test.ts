import { execFileSync } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { devNumber, wholeDiskOf, wholeDiskOfPath } from "../../src/isolation/cgroup/block-device.js";
import { hostCpus, parseCpuList, resolveLimits } from "../../src/isolation/cgroup/limits.js";
import { DEFAULT_PIDS_LIMIT } from "../../src/isolation/spec.js";

const MiB = 1024 * 1024;
const isRoot = process.getuid?.() === 0;
const inCi = Boolean(process.env.CI);
const repoDir = join(import.meta.dirname, "../..");

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe("resolveLimits validation", () => {
  const cores = hostCpus().cpus.size;

  it("applies the default pids limit and nothing else when no limits are given", () => {
    expect(resolveLimits(undefined, [])).toEqual({ pids: DEFAULT_PIDS_LIMIT });
    expect(resolveLimits({}, [])).toEqual({ pids: DEFAULT_PIDS_LIMIT });
  });

  it("passes valid limits through", () => {
    expect(resolveLimits({ cpu: 0.25, memoryBytes: 64 * MiB, pids: 10, cpuset: "0" }, [])).toEqual({
      cpu: 0.25,
      memoryBytes: 64 * MiB,
      pids: 10,
      cpuset: "0",
    });
    expect(resolveLimits({ cpu: cores }, []).cpu).toBe(cores);
    expect(resolveLimits({ cpu: 0.01 }, []).cpu).toBe(0.01);
  });

  it("rejects cpu outside 0.01 to the host's cores", () => {
    expect(() => resolveLimits({ cpu: 0 }, [])).toThrow(
      `Cannot apply limit cpu: 0 is out of range (0.01 to ${cores} cores on this host)`,
    );
    expect(() => resolveLimits({ cpu: cores + 1 }, [])).toThrow(`${cores + 1} is out of range`);
    expect(() => resolveLimits({ cpu: Number.NaN }, [])).toThrow("Cannot apply limit cpu: NaN is out of range");
    expect(() => resolveLimits({ cpu: -1 }, [])).toThrow("Cannot apply limit cpu: -1");
  });

  it("rejects memory below 4 MiB or not whole bytes", () => {
    expect(() => resolveLimits({ memoryBytes: 4 * MiB - 1 }, [])).toThrow(
      `Cannot apply limit memoryBytes: ${4 * MiB - 1} is below the minimum of 4194304 bytes (4 MiB)`,
    );
    expect(() => resolveLimits({ memoryBytes: 5.5 * MiB + 0.5 }, [])).toThrow("is not a whole number of bytes");
    expect(resolveLimits({ memoryBytes: 4 * MiB }, []).memoryBytes).toBe(4 * MiB);
  });

  it("rejects pids outside 1 to 4194304", () => {
    expect(() => resolveLimits({ pids: 0 }, [])).toThrow("Cannot apply limit pids: 0 is out of range (1 to 4194304)");
    expect(() => resolveLimits({ pids: 4_194_305 }, [])).toThrow("4194305 is out of range");
    expect(() => resolveLimits({ pids: 2.5 }, [])).toThrow("2.5 is out of range");
    expect(resolveLimits({ pids: 4_194_304 }, []).pids).toBe(4_194_304);
  });

  it("rejects malformed cpusets", () => {
    for (const bad of ["", "a", "0-", "-1", "0,,1", "0 1", "1-0"]) {
      expect(() => resolveLimits({ cpuset: bad }, []), bad).toThrow(`Cannot apply limit cpuset: '${bad}' is not valid`);
    }
  });

  it("rejects cpusets naming CPUs this host does not have", () => {
    expect(() => resolveLimits({ cpuset: "999" }, [])).toThrow(
      `Cannot apply limit cpuset: '999' names CPU 999 which this host does not have (online: ${hostCpus().text})`,
    );
    expect(() => resolveLimits({ cpuset: `0-${cores}` }, [])).toThrow(`names CPU ${cores} which`);
  });

  it("rejects IO rates that are not whole bytes/s of at least 1", () => {
    for (const bad of [0, -5, 1.5, Number.POSITIVE_INFINITY]) {
      expect(() => resolveLimits({ ioBytesPerSecond: bad }, [repoDir])).toThrow(
        `Cannot apply limit ioBytesPerSecond: ${bad} is not a whole number of bytes/s of at least 1`,
      );
    }
  });

  it("does not look at data paths when no IO limit is asked for", () => {
    expect(resolveLimits({ cpu: 1 }, ["/does/not/exist"])).toEqual({ cpu: 1, pids: DEFAULT_PIDS_LIMIT });
  });
});

describe("parseCpuList", () => {
  it("expands ranges and lists", () => {
    expect(parseCpuList("0-3,5")).toEqual([0, 1, 2, 3, 5]);
    expect(parseCpuList("7")).toEqual([7]);
  });

  it("agrees with the kernel's online list", () => {
    const online = readFileSync("/sys/devices/system/cpu/online", "utf8").trim();
    expect(hostCpus().text).toBe(online);
    expect(hostCpus().cpus.has(0)).toBe(true);
  });
});

describe("block devices", () => {
  it("splits glibc dev_t values into major:minor", () => {
    expect(devNumber(statSync("/dev/null", { bigint: true }).rdev)).toBe("1:3");
    // major 259 and minor 300 need the high bits of both halves.
    const major = 259n;
    const minor = 300n;
    const dev = (minor & 0xffn) | ((major & 0xfffn) << 8n) | ((minor & ~0xffn) << 12n) | ((major & ~0xfffn) << 32n);
    expect(devNumber(dev)).toBe("259:300");
  });

  it("finds no block device behind pseudo filesystems", () => {
    expect(wholeDiskOfPath("/proc")).toBeUndefined();
    expect(wholeDiskOfPath("/sys")).toBeUndefined();
    expect(() => resolveLimits({ ioBytesPerSecond: 1000 }, ["/proc", "/sys"])).toThrow(
      "Cannot limit IO to 1000 bytes/s: none of /proc, /sys is on a block device",
    );
    expect(() => resolveLimits({ ioBytesPerSecond: 1000 }, [])).toThrow(
      "Cannot limit IO to 1000 bytes/s: the job has no data paths",
    );
  });

  it("names a missing data path", () => {
    expect(() => resolveLimits({ ioBytesPerSecond: 1000 }, ["/does/not/exist"])).toThrow(
      "Cannot limit IO on /does/not/exist: ENOENT",
    );
  });

  it("resolves the repository's filesystem to the whole disk util-linux reports", () => {
    // findmnt and lsblk are the independent oracle: they know the disk by name.
    const source = run("findmnt", ["-no", "SOURCE", "-T", repoDir]);
    if (!source.startsWith("/dev/")) {
      // e.g. overlay over 9p in the cgroup2 VM: nothing to throttle there.
      expect(wholeDiskOfPath(repoDir)).toBeUndefined();
      return;
    }
    const parent = run("lsblk", ["-ndo", "PKNAME", source]);
    const disk = parent === "" ? source : `/dev/${parent}`;
    const expected = run("lsblk", ["-ndo", "MAJ:MIN", disk]);
    expect(resolveLimits({ ioBytesPerSecond: MiB }, [repoDir, join(repoDir, "src"), "/proc"])).toEqual({
      pids: DEFAULT_PIDS_LIMIT,
      io: { bytesPerSecond: MiB, devices: [expected] },
    });
  });
});

/** A one-partition MBR: partition 1 from sector 2048 to the end, type Linux. */
function mbr(totalSectors: number): Buffer {
  const sector = Buffer.alloc(512);
  const entry = 446;
  sector[entry + 4] = 0x83;
  sector.writeUInt32LE(2048, entry + 8);
  sector.writeUInt32LE(totalSectors - 2048, entry + 12);
  sector[510] = 0x55;
  sector[511] = 0xaa;
  return sector;
}

/** The sysfs name of partition 1 of `disk`: "sda1", but "loop0p1" after a trailing digit. */
function firstPartitionName(disk: string): string {
  return /\d$/.test(disk) ? `${disk}p1` : `${disk}1`;
}

/**
 * Gives the kernel a partition on `disk` (a /dev path already holding our
 * MBR). Some kernels (this host's) are built without the MBR parser, so when
 * the partition scan finds nothing, partx adds it by hand (BLKPG).
 */
async function addPartition(disk: string): Promise<string> {
  const name = disk.slice("/dev/".length);
  const sysfs = `/sys/block/${name}/${firstPartitionName(name)}`;
  for (let i = 0; i < 25 && !existsSync(sysfs); i++) await sleep(20);
  if (!existsSync(sysfs)) run("partx", ["--add", disk]);
  const node = `/dev/${firstPartitionName(name)}`;
  for (let i = 0; i < 100 && !existsSync(node); i++) await sleep(20);
  if (!existsSync(node)) throw new Error(`${node} did not appear`);
  return node;
}

function mountedDevices(): string {
  return readFileSync("/proc/self/mountinfo", "utf8");
}

describe("partitions on a real block device", () => {
  const canLoop = isRoot && existsSync("/dev/loop-control") && existsSync("/dev/loop0");
  // The cgroup2 VM has no loop driver but a throw-away scratch disk; never touch a disk elsewhere.
  const scratch = "/dev/vda";
  const canScratch =
    isRoot && process.env.CI_CGROUP2_VM === "1" && existsSync(scratch) && !mountedDevices().includes(` ${scratch} `);
  if (!canLoop && !canScratch && inCi) {
    throw new Error("CI is set but no block device can be partitioned here (need root and loop devices)");
  }
  const cleanups: Array<() => void> = [];

  afterEach(() => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      try {
        cleanup();
      } catch (err) {
        console.error("cleanup failed:", err);
      }
    }
  });

  async function loopWithPartition(work: string): Promise<{ disk: string; partition: string }> {
    const image = join(work, "disk.img");
    const fd = openSync(image, "w");
    writeSync(fd, mbr((32 * MiB) / 512), 0, 512, 0);
    closeSync(fd);
    execFileSync("truncate", ["-s", String(32 * MiB), image]);
    const disk = run("losetup", ["--find", "--show", "--partscan", image]);
    cleanups.push(() => run("losetup", ["--detach", disk]));
    return { disk, partition: await addPartition(disk) };
  }

  it("maps a partition's device number to its whole disk", async () => {
    if (!canLoop && !canScratch) throw new Error("Cannot test partitions: needs root and a loop device (or the cgroup2 VM's scratch disk)");
    let disk: string;
    let partition: string;
    if (canLoop) {
      const work = mkdtempSync(join(tmpdir(), "joblet-limits-"));
      cleanups.push(() => rmSync(work, { recursive: true, force: true }));
      ({ disk, partition } = await loopWithPartition(work));
    } else {
      disk = scratch;
      const sectors = Number(run("blockdev", ["--getsz", scratch]));
      const fd = openSync(scratch, "r+");
      writeSync(fd, mbr(sectors), 0, 512, 0);
      closeSync(fd);
      cleanups.push(() => run("partx", ["--delete", scratch]));
      partition = await addPartition(scratch);
    }
    const diskNumber = devNumber(statSync(disk, { bigint: true }).rdev);
    const partitionNumber = devNumber(statSync(partition, { bigint: true }).rdev);
    expect(partitionNumber).not.toBe(diskNumber);
    expect(wholeDiskOf(partitionNumber)).toBe(diskNumber);
    expect(wholeDiskOf(diskNumber)).toBe(diskNumber);
  });

  it("maps a file on a partition's filesystem to the whole loop disk", async () => {
    if (!canLoop) throw new Error("Cannot test a filesystem on a partition: needs root and a loop device");
    const work = mkdtempSync(join(tmpdir(), "joblet-limits-"));
    cleanups.push(() => rmSync(work, { recursive: true, force: true }));
    const { disk, partition } = await loopWithPartition(work);
    run("mkfs.ext4", ["-q", "-F", partition]);
    const mountPoint = join(work, "mnt");
    execFileSync("mkdir", [mountPoint]);
    run("mount", [partition, mountPoint]);
    cleanups.push(() => run("umount", [mountPoint]));

    const diskNumber = devNumber(statSync(disk, { bigint: true }).rdev);
    const partitionNumber = devNumber(statSync(partition, { bigint: true }).rdev);
    expect(devNumber(statSync(mountPoint, { bigint: true }).dev)).toBe(partitionNumber);
    // Two paths on the same disk and one on none give one device.
    expect(resolveLimits({ ioBytesPerSecond: 4096 }, [mountPoint, join(mountPoint, "lost+found"), "/proc"]).io).toEqual({
      bytesPerSecond: 4096,
      devices: [diskNumber],
    });
  });
});
