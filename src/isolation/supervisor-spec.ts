import type { JobCgroup } from "./cgroup/backend.js";
import type { PreparedJob } from "./prepare.js";

/**
 * The job as the supervisor reads it on fd 3: "key\0value\0" records, fields
 * of one value split by 0x1f (see addon/supervisor/spec.c). NUL-separated so
 * arguments and environment values need no escaping.
 */
export function encodeSupervisorSpec(job: PreparedJob, cgroup: JobCgroup, netnsInherited: boolean): Buffer {
  const records: string[] = [];
  const put = (key: string, ...fields: (string | number)[]) => records.push(key, fields.join("\x1f"));
  const { spec } = job;
  put("id", spec.id);
  put("hostname", job.hostname);
  put("uid", job.uid);
  put("gid", job.gid);
  put("cwd", job.workingDir);
  put("exec", job.execPath);
  for (const arg of spec.argv) put("arg", arg);
  for (const [key, value] of Object.entries(spec.env)) put("env", `${key}=${value}`);
  put("root", spec.runDir);
  if (spec.rootfs.workSeed) put("seed", spec.rootfs.workSeed);
  for (const op of job.mounts) {
    if (op.kind === "tmpfs") put("mount", "tmpfs", "", op.target, op.sizeBytes, op.mode.toString(8), op.ownedByJob ? 1 : 0);
    else if (op.kind === "symlink") put("mount", "symlink", op.linkTo, op.target, 0, 0, 0);
    // A device carries its type as the source and MAJ:MIN packed as (major << 20 | minor), the kernel's own encoding.
    else if (op.kind === "device") put("mount", "device", op.type, op.target, op.major * 2 ** 20 + op.minor, op.mode.toString(8), 1);
    else put("mount", op.kind, op.source, op.target, 0, 0, 0);
  }
  if (cgroup.bornInto) put("cgroup.born", cgroup.bornInto);
  for (const dir of cgroup.placeInto) put("cgroup.place", dir);
  for (const dir of cgroup.leaveTo) put("cgroup.leave", dir);
  for (const [name, path] of Object.entries(cgroup.usageFiles)) put("usage", name, path);
  for (const dir of cgroup.removeDirs) put("cgroup.remove", dir);
  put("log.stdout", spec.logs.stdout);
  put("log.stderr", spec.logs.stderr);
  put("log.max", job.logMaxBytes);
  put("state", spec.runDir);
  if (netnsInherited) put("netns", "inherited");
  // eth0 itself is already in that namespace: the init gives it its address and route.
  if (spec.network) put("net.eth0", spec.network.address, spec.network.prefix, spec.network.gateway);
  return Buffer.from(records.join("\0") + "\0");
}
