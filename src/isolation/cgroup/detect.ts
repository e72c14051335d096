/**
 * Chooses the cgroup backend for this host: v2 when /sys/fs/cgroup is the
 * unified hierarchy, else v1 when every controller a job needs has a v1
 * hierarchy. `JOBLET_CGROUP=v1|v2` forces one. The mount table is read once
 * per process; spawns reuse the answer.
 */
import { readFileSync } from "node:fs";
import type { CgroupBackend } from "./backend.js";
import { CgroupV1, V1_CONTROLLERS, type V1Controller } from "./v1.js";
import { CgroupV2 } from "./v2.js";

export const CGROUP_ROOT = "/sys/fs/cgroup";
export const DEFAULT_CGROUP_PARENT = "joblet";

export interface CgroupMounts {
  /** Mount point of the unified hierarchy when it is mounted at /sys/fs/cgroup. */
  v2?: string;
  /** v1 controller -> its hierarchy's mount point (co-mounted controllers share one). */
  v1: Partial<Record<V1Controller, string>>;
}

/** Undoes mountinfo's octal escapes (\040 for a space and the like). */
function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** Reads cgroup mounts from /proc/self/mountinfo text (see proc(5) for the field layout). */
export function parseCgroupMounts(mountinfo: string): CgroupMounts {
  const mounts: CgroupMounts = { v1: {} };
  const wanted = new Set<string>(V1_CONTROLLERS);
  for (const line of mountinfo.split("\n")) {
    // Optional fields end at "-"; after it come fstype, source and super options.
    const [before, after] = line.split(" - ");
    if (before === undefined || after === undefined) continue;
    const mountPoint = before.split(" ")[4];
    const [fsType, , superOptions = ""] = after.split(" ");
    if (mountPoint === undefined) continue;
    const path = unescapeMountPath(mountPoint);
    if (fsType === "cgroup2" && path === CGROUP_ROOT) mounts.v2 = path;
    if (fsType !== "cgroup") continue;
    for (const option of superOptions.split(",")) {
      // The first mount of a hierarchy wins; later ones are usually bind mounts of it.
      if (wanted.has(option)) mounts.v1[option as V1Controller] ??= path;
    }
  }
  return mounts;
}

let cachedMounts: CgroupMounts | undefined;
const backends = new Map<string, CgroupBackend>();

function hostMounts(): CgroupMounts {
  cachedMounts ??= parseCgroupMounts(readFileSync("/proc/self/mountinfo", "utf8"));
  return cachedMounts;
}

function checkParent(parent: string): string {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(parent)) {
    throw new Error(`Cannot use cgroup parent '${parent}': it must be a single directory name (letters, digits, '_', '.', '-')`);
  }
  return parent;
}

function completeV1(mounts: CgroupMounts): Record<V1Controller, string> | undefined {
  return V1_CONTROLLERS.every((c) => mounts.v1[c] !== undefined) ? (mounts.v1 as Record<V1Controller, string>) : undefined;
}

function describeV1(mounts: CgroupMounts): string {
  const missing = V1_CONTROLLERS.filter((c) => mounts.v1[c] === undefined);
  return `v1 hierarchies for ${V1_CONTROLLERS.join(", ")} (missing: ${missing.join(", ")})`;
}

function memoized(key: string, make: () => CgroupBackend): CgroupBackend {
  let backend = backends.get(key);
  if (backend === undefined) {
    backend = make();
    backends.set(key, backend);
  }
  return backend;
}

function v2Backend(root: string, parent: string): CgroupBackend {
  return memoized(`v2:${parent}`, () => new CgroupV2({ root, parent }));
}

function v1Backend(mounts: Record<V1Controller, string>, parent: string): CgroupBackend {
  return memoized(`v1:${parent}`, () => new CgroupV1({ mounts, parent }));
}

/**
 * The cgroup backend for this host. Repeated calls with the same parent get
 * the same backend, so its one-time parent setup is not repeated per job.
 */
export function detectCgroupBackend(options: { parent?: string } = {}): CgroupBackend {
  const parent = checkParent(options.parent ?? process.env.JOBLET_CGROUP_PARENT ?? DEFAULT_CGROUP_PARENT);
  const forced = process.env.JOBLET_CGROUP;
  const mounts = hostMounts();
  const v1 = completeV1(mounts);
  if (forced !== undefined && forced !== "") {
    if (forced === "v2") {
      if (mounts.v2 === undefined) {
        throw new Error(`Cannot use cgroup v2 (JOBLET_CGROUP=v2): ${CGROUP_ROOT} is not a cgroup2 mount`);
      }
      return v2Backend(mounts.v2, parent);
    }
    if (forced === "v1") {
      if (v1 === undefined) throw new Error(`Cannot use cgroup v1 (JOBLET_CGROUP=v1): this host lacks ${describeV1(mounts)}`);
      return v1Backend(v1, parent);
    }
    throw new Error(`Cannot use JOBLET_CGROUP='${forced}': it must be 'v1' or 'v2'`);
  }
  if (mounts.v2 !== undefined) return v2Backend(mounts.v2, parent);
  if (v1 !== undefined) return v1Backend(v1, parent);
  throw new Error(`Cannot find a cgroup v2 mount at ${CGROUP_ROOT} nor ${describeV1(mounts)}`);
}
