/**
 * The OCI bundle crun and runc run: written once, shaped like a hardened joblet
 * job (nobody, no capabilities, no new privileges, read-only root of host /usr,
 * private namespaces, real cgroup limits).
 */
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { UsrLayout } from "./host.js";

export interface BundleShape {
  args: string[];
  env: Record<string, string>;
  uid: number;
  gid: number;
  memoryBytes: number;
  /** CPU cores, turned into a CFS quota over a 100 ms period. */
  cpu: number;
  pids: number;
}

const CFS_PERIOD_US = 100_000;

/** The /proc and /dev mounts and the masked/read-only paths of `crun spec`, minus /sys. */
const DEFAULT_MOUNTS = [
  { destination: "/proc", type: "proc", source: "proc" },
  { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
  {
    destination: "/dev/pts",
    type: "devpts",
    source: "devpts",
    options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
  },
  { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
  { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
];
const MASKED_PATHS = [
  "/proc/acpi",
  "/proc/asound",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
];
const READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

export function bundleConfig(shape: BundleShape, usr: UsrLayout): object {
  const roBind = (path: string) => ({ destination: path, type: "bind", source: path, options: ["rbind", "ro", "nosuid", "nodev"] });
  return {
    ociVersion: "1.0.2",
    process: {
      terminal: false,
      user: { uid: shape.uid, gid: shape.gid },
      args: shape.args,
      env: Object.entries(shape.env).map(([k, v]) => `${k}=${v}`),
      cwd: "/",
      capabilities: { bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: "rootfs", readonly: true },
    hostname: "bench",
    mounts: [...DEFAULT_MOUNTS, roBind("/usr"), ...usr.binds.map(roBind)],
    linux: {
      resources: {
        devices: [{ allow: false, access: "rwm" }],
        // swap equal to the limit: no swap, as joblet gives its jobs.
        memory: { limit: shape.memoryBytes, swap: shape.memoryBytes },
        cpu: { quota: Math.round(shape.cpu * CFS_PERIOD_US), period: CFS_PERIOD_US },
        pids: { limit: shape.pids },
      },
      namespaces: ["pid", "network", "ipc", "uts", "mount", "cgroup"].map((type) => ({ type })),
      maskedPaths: MASKED_PATHS,
      readonlyPaths: READONLY_PATHS,
    },
  };
}

/**
 * Write `config.json` and a skeleton `rootfs/` (mount points and the merged-usr
 * symlinks; the runtime binds /usr into it on every run) into `dir`.
 */
export async function writeBundle(dir: string, shape: BundleShape, usr: UsrLayout): Promise<void> {
  const rootfs = join(dir, "rootfs");
  for (const mountPoint of ["usr", "proc", "dev", ...usr.binds.map((b) => b.slice(1))]) {
    await mkdir(join(rootfs, mountPoint), { recursive: true, mode: 0o755 });
  }
  for (const [path, target] of usr.symlinks) {
    await symlink(target, join(rootfs, path));
  }
  await writeFile(join(dir, "config.json"), JSON.stringify(bundleConfig(shape, usr), null, 2) + "\n");
}
