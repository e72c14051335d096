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
  type NetworkAttachment,
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

  if (spec.network !== undefined) checkNetwork(spec.network, fail);

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

/** Interface names the kernel takes (at most 15 bytes), kept to characters no tool has to quote. */
const INTERFACE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;
const OCTET = "(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";
const IPV4 = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

/** An IPv4 address as an unsigned 32-bit number; undefined when text is not one (no leading zeros, as inet_pton). */
function ipv4(text: unknown): number | undefined {
  const match = typeof text === "string" ? IPV4.exec(text) : null;
  return match ? match.slice(1, 5).reduce((acc, octet) => acc * 256 + Number(octet), 0) : undefined;
}

/**
 * The attachment must be wireable as given: the veth is made before the job
 * starts and eth0 is configured inside it, so a bad value found there would
 * cost a half-made job.
 */
function checkNetwork(net: NetworkAttachment, fail: (reason: string) => never): void {
  if (!INTERFACE.test(net.hostInterface ?? "")) fail(`network.hostInterface '${net.hostInterface}' is not an interface name (1 to 15 letters, digits, '_', '.', '-')`);
  if (net.bridge !== undefined && !INTERFACE.test(net.bridge)) fail(`network.bridge '${net.bridge}' is not an interface name (1 to 15 letters, digits, '_', '.', '-')`);
  if (net.bridge === net.hostInterface) fail(`network.hostInterface '${net.hostInterface}' is also the bridge's name`);
  if (!Number.isInteger(net.prefix) || net.prefix < 1 || net.prefix > 30) fail(`network.prefix ${net.prefix} is not a prefix length from 1 to 30`);
  const mask = (0xffffffff << (32 - net.prefix)) >>> 0;
  const block = (a: number) => (a & mask) >>> 0;
  const address = ipv4(net.address);
  if (address === undefined) return fail(`network.address '${net.address}' is not an IPv4 address`);
  const cidr = `${net.address}/${net.prefix}`;
  if (address === block(address) || address === (block(address) | ~mask) >>> 0) fail(`network.address '${cidr}' is the network or broadcast address of its block`);
  const onLink = (field: string, text: string | undefined) => {
    const other = ipv4(text);
    if (other === undefined) return fail(`network.${field} '${text}' is not an IPv4 address`);
    if (block(other) !== block(address)) fail(`network.${field} '${text}' is not in the job's block ${cidr}`);
    if (other === address) fail(`network.${field} '${text}' is the job's own address`);
  };
  onLink("gateway", net.gateway);
  if (net.bridge === undefined) {
    if (net.hostAddress === undefined) fail("network.hostAddress is required for a point-to-point link (no network.bridge)");
    onLink("hostAddress", net.hostAddress);
  } else if (net.hostAddress !== undefined) fail(`network.hostAddress '${net.hostAddress}' is only for a point-to-point link, but network.bridge is '${net.bridge}'`);
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
