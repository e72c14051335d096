/** Facts about the host that shape the peers' command lines and go into the report. */
import { lstatSync, readFileSync, readlinkSync } from "node:fs";
import { cpus, release, version } from "node:os";
import { runCapture } from "./proc.js";

export interface CgroupMount {
  mountPoint: string;
  /** v1: the controllers (or name=...) of the hierarchy; v2: the enabled controllers. */
  controllers: string[];
}

export interface CgroupLayout {
  kind: "v1" | "v2" | "hybrid" | "none";
  v1: CgroupMount[];
  v2: CgroupMount[];
}

/** Unescape the octal escapes (\040 for a space) the kernel uses in mountinfo. */
function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function readCgroupLayout(): CgroupLayout {
  const v1: CgroupMount[] = [];
  const v2: CgroupMount[] = [];
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const mountPoint = unescapeMountPath(line.slice(0, sep).split(" ")[4] ?? "");
    const [fsType, , superOptions = ""] = line.slice(sep + 3).split(" ");
    if (fsType === "cgroup") {
      const known = new Set(["rw", "ro", "relatime", "noatime", "nosuid", "nodev", "noexec", "clone_children", "xattr"]);
      v1.push({ mountPoint, controllers: superOptions.split(",").filter((o) => !known.has(o) && !o.startsWith("release_agent")) });
    } else if (fsType === "cgroup2") {
      let controllers: string[] = [];
      try {
        controllers = readFileSync(`${mountPoint}/cgroup.controllers`, "utf8").trim().split(/\s+/).filter(Boolean);
      } catch {
        // unreadable: report it as empty
      }
      v2.push({ mountPoint, controllers });
    }
  }
  const kind = v1.length > 0 && v2.length > 0 ? "hybrid" : v1.length > 0 ? "v1" : v2.length > 0 ? "v2" : "none";
  return { kind, v1, v2 };
}

export function describeCgroupLayout(l: CgroupLayout): string {
  const v1 = l.v1.map((m) => m.controllers.join(",")).join(" ");
  const v2 = l.v2.map((m) => `${m.mountPoint} [${m.controllers.join(" ") || "no controllers"}]`).join(", ");
  switch (l.kind) {
    case "hybrid":
      return `hybrid: v1 hierarchies (${v1}), cgroup2 at ${v2}`;
    case "v1":
      return `v1 only (${v1})`;
    case "v2":
      return `v2 only at ${v2}`;
    default:
      return "no cgroup filesystem mounted";
  }
}

/**
 * How the host's top-level library and binary directories relate to /usr. On a
 * merged-usr host (Debian 12) /bin, /lib... are symlinks to usr/...; a sandbox
 * then needs only a bind of /usr plus the same symlinks. Real directories are
 * bound read-only instead.
 */
export interface UsrLayout {
  /** [path in the root, symlink target], e.g. ["/bin", "usr/bin"]. */
  symlinks: [string, string][];
  /** Top-level directories that are real on this host and must be bound. */
  binds: string[];
}

export function readUsrLayout(): UsrLayout {
  const symlinks: [string, string][] = [];
  const binds: string[] = [];
  for (const name of ["bin", "sbin", "lib", "lib32", "lib64", "libx32"]) {
    const path = `/${name}`;
    let st;
    try {
      st = lstatSync(path);
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) {
      const target = readlinkSync(path);
      const inUsr = target.replace(/^\/+/, "");
      if (!inUsr.startsWith("usr/")) {
        throw new Error(`Cannot lay out the sandbox root: ${path} points to '${target}', outside /usr`);
      }
      symlinks.push([path, inUsr]);
    } else if (st.isDirectory()) {
      binds.push(path);
    }
  }
  return { symlinks, binds };
}

export interface HostFacts {
  kernel: string;
  cpu: string;
  cgroupLayout: string;
  node: string;
  tools: Record<string, string>;
}

async function firstLine(file: string, args: string[]): Promise<string> {
  const r = await runCapture(file, args, 10_000);
  return (r.stdout || r.stderr).split("\n")[0]?.trim() || `(no version output, ${r.code})`;
}

export async function readHostFacts(tools: Record<string, string | undefined>, layout: CgroupLayout): Promise<HostFacts> {
  const versions: Record<string, string> = {};
  for (const [name, path] of Object.entries(tools)) {
    versions[name] = path ? `${await firstLine(path, ["--version"])} (${path})` : "missing";
  }
  const c = cpus();
  return {
    kernel: `${release()} ${version()}`,
    cpu: `${c.length} x ${c[0]?.model ?? "unknown"}`,
    cgroupLayout: describeCgroupLayout(layout),
    node: process.version,
    tools: versions,
  };
}
