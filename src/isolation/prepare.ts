import { existsSync, statSync } from "node:fs";
import { posix } from "node:path";
import { resolveLimits } from "./cgroup/limits.js";
import type { ResolvedLimits } from "./cgroup/backend.js";
import { InvalidJobSpecError } from "./errors.js";
import { DEFAULT_PATH, RootView, resolveCommand } from "./root-paths.js";
import {
  DEFAULT_GID,
  DEFAULT_LOG_MAX_BYTES,
  DEFAULT_TMP_SIZE_BYTES,
  DEFAULT_UID,
  DEFAULT_WORK_SIZE_BYTES,
  DEFAULT_WORKING_DIR,
  type JobSpec,
} from "./spec.js";

/** One step of building the root, in the order the supervisor performs them. */
export type MountOp =
  | { kind: "ro" | "rw"; source: string; target: string }
  | { kind: "tmpfs"; target: string; sizeBytes: number; mode: number; ownedByJob: boolean }
  | { kind: "symlink"; target: string; linkTo: string }
  | { kind: "device"; target: string; type: "b" | "c"; major: number; minor: number; mode: number };

/** A spec checked and resolved down to what the supervisor executes. */
export interface PreparedJob {
  spec: JobSpec;
  execPath: string;
  workingDir: string;
  hostname: string;
  uid: number;
  gid: number;
  mounts: MountOp[];
  limits: ResolvedLimits;
  logMaxBytes: number;
}

const ID = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const HOSTNAME = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$/;
/** The supervisor makes these itself; a bind there would hide them. */
const RESERVED = ["/proc", "/dev", "/sys"];
const MAX_ID = 2 ** 31 - 2;

/**
 * Check everything that can be checked before a cgroup, process or mount
 * exists, so that a bad spec fails cleanly with the field and value named.
 */
export function prepareJob(spec: JobSpec): PreparedJob {
  const fail = (reason: string): never => {
    throw new InvalidJobSpecError(spec.id, reason);
  };
  if (!ID.test(spec.id)) fail(`id '${spec.id}' is not a DNS-1123 label (lowercase letters, digits, '-', at most 63)`);
  const hostname = spec.hostname ?? spec.id;
  if (!HOSTNAME.test(hostname)) fail(`hostname '${hostname}' is not a valid host name`);
  if (!Array.isArray(spec.argv) || spec.argv.length === 0 || !spec.argv[0]) fail("argv is empty");
  if (spec.argv.length > 256) fail(`argv has ${spec.argv.length} entries (at most 256)`);
  for (const arg of spec.argv) if (arg.includes("\0")) fail(`argument '${arg.replace(/\0/g, "\\0")}' holds a NUL byte`);
  const env = Object.entries(spec.env);
  if (env.length > 256) fail(`env has ${env.length} variables (at most 256)`);
  for (const [key, value] of env) {
    if (!key || key.includes("=") || key.includes("\0")) fail(`environment variable name '${key}' is not valid`);
    if (value.includes("\0")) fail(`environment variable ${key} holds a NUL byte`);
  }
  const uid = spec.uid ?? DEFAULT_UID;
  const gid = spec.gid ?? DEFAULT_GID;
  for (const [field, value] of [["uid", uid], ["gid", gid]] as const) {
    if (!Number.isInteger(value) || value < 0 || value > MAX_ID) fail(`${field} ${value} is out of range (0 to ${MAX_ID})`);
  }
  if (!posix.isAbsolute(spec.runDir)) fail(`run directory '${spec.runDir}' is not an absolute path`);
  for (const [stream, path] of [["stdout", spec.logs.stdout], ["stderr", spec.logs.stderr]] as const) {
    // The run dir itself is made by spawnJob, so logs may go there.
    const dir = posix.dirname(path);
    if (!posix.isAbsolute(path) || !(dir === posix.normalize(spec.runDir) || existsSync(dir))) fail(`${stream} log '${path}' is not in an existing directory`);
  }
  const logMaxBytes = spec.logs.maxBytes ?? DEFAULT_LOG_MAX_BYTES;
  if (!Number.isInteger(logMaxBytes) || logMaxBytes < 1) fail(`log cap ${logMaxBytes} is not a positive number of bytes`);

  const mounts = planMounts(spec, uid, fail);
  const workingDir = posix.normalize(spec.workingDir ?? DEFAULT_WORKING_DIR);
  if (!posix.isAbsolute(workingDir)) fail(`working directory '${workingDir}' is not absolute`);
  const command = spec.argv[0] as string;
  const execPath = resolveCommand(new RootView(spec.rootfs), command, spec.env.PATH ?? DEFAULT_PATH, workingDir);
  if (!execPath) fail(`command '${command}' is not an executable file in the job's root`);

  let limits: ResolvedLimits;
  try {
    const dataPaths = [
      ...(spec.rootfs.readWrite ?? []).map((b) => b.source),
      ...(spec.rootfs.devices ?? []).map((d) => d.source),
      spec.runDir,
    ];
    limits = resolveLimits(spec.limits, dataPaths);
  } catch (e) {
    return fail((e as Error).message.replace(/^Cannot /, "cannot "));
  }
  return { spec, execPath: execPath as string, workingDir, hostname, uid, gid, mounts, limits, logMaxBytes };
}

function planMounts(spec: JobSpec, uid: number, fail: (reason: string) => never): MountOp[] {
  const plan = spec.rootfs;
  const ops: MountOp[] = [];
  for (const [kind, binds] of [["ro", plan.readOnly], ["rw", plan.readWrite ?? []]] as const) {
    for (const bind of binds) {
      if (!posix.isAbsolute(bind.source)) fail(`bind source '${bind.source}' is not an absolute path`);
      try {
        statSync(bind.source);
      } catch {
        fail(`bind source '${bind.source}' does not exist`);
      }
      ops.push({ kind, source: bind.source, target: bind.target });
    }
  }
  const size = (field: string, bytes: number | undefined, fallback: number): number => {
    const value = bytes ?? fallback;
    if (!Number.isInteger(value) || value < 4096) fail(`${field} ${value} is not a size of at least 4096 bytes`);
    return value;
  };
  const taken = (target: string) => ops.some((op) => posix.normalize(op.target) === target);
  if (!taken("/tmp")) ops.push({ kind: "tmpfs", target: "/tmp", sizeBytes: size("tmpSizeBytes", plan.tmpSizeBytes, DEFAULT_TMP_SIZE_BYTES), mode: 0o1777, ownedByJob: false });
  if (plan.workSeed !== undefined) {
    if (!posix.isAbsolute(plan.workSeed) || !existsSync(plan.workSeed)) fail(`work seed '${plan.workSeed}' is not an existing absolute path`);
    if (taken("/work")) fail("a work seed needs the /work tmpfs, but /work is a bind");
  }
  if (!taken("/work")) ops.push({ kind: "tmpfs", target: "/work", sizeBytes: size("workSizeBytes", plan.workSizeBytes, DEFAULT_WORK_SIZE_BYTES), mode: 0o755, ownedByJob: true });
  for (const t of plan.tmpfs ?? []) ops.push({ kind: "tmpfs", target: t.target, sizeBytes: size(`tmpfs ${t.target} size`, t.sizeBytes, 0), mode: 0o755, ownedByJob: true });
  for (const link of plan.symlinks ?? []) ops.push({ kind: "symlink", target: link.path, linkTo: link.target });
  const devices = (plan.devices ?? []).map((d) => planDevice(d.source, d.target, fail));
  const deviceTargets = devices.map((d) => d.target);
  const twice = deviceTargets.find((t, i) => deviceTargets.indexOf(t) !== i);
  if (twice) fail(`device target '${twice}' is used twice`);

  const seen = new Set<string>();
  for (const op of ops) {
    const target = posix.normalize(op.target);
    if (!posix.isAbsolute(target) || target === "/") fail(`mount target '${op.target}' must be an absolute path below /`);
    if (op.target.split("/").includes("..")) fail(`mount target '${op.target}' may not contain '..'`);
    if (RESERVED.some((r) => target === r || target.startsWith(r + "/"))) fail(`mount target '${op.target}' is reserved (${RESERVED.join(", ")} are made by joblet)`);
    if (seen.has(target)) fail(`mount target '${target}' is used twice`);
    seen.add(target);
    op.target = target;
  }
  // Parents before children: a bind below a tmpfs must land on top of it.
  const depth = (p: string) => p.split("/").length;
  const ordered = ops.map((op, i) => ({ op, i })).sort((a, b) => depth(a.op.target) - depth(b.op.target) || a.i - b.i).map((x) => x.op);
  return [...ordered, ...devices];
}

/** A device node for the job's /dev, checked on the host now. */
function planDevice(source: string, target: string, fail: (reason: string) => never): MountOp {
  const name = target.startsWith("/dev/") ? target.slice(5) : "";
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) || ["null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "fd", "stdin", "stdout", "stderr", "ptmx"].includes(name)) {
    fail(`device target '${target}' must be /dev/NAME, not one joblet makes itself`);
  }
  let st;
  try {
    st = statSync(source, { bigint: true });
  } catch {
    return fail(`device '${source}' does not exist`);
  }
  if (!st.isBlockDevice() && !st.isCharacterDevice()) fail(`device '${source}' is not a block or character device`);
  const rdev = st.rdev;
  return {
    kind: "device",
    target,
    type: st.isBlockDevice() ? "b" : "c",
    major: Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn)),
    minor: Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn)),
    mode: Number(st.mode & 0o777n),
  };
}
