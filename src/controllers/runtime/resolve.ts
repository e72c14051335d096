/**
 * Which installed build a Job's `spec.runtime` means. `NAME@VERSION` names
 * one Runtime; `NAME` names the Runtime called NAME if there is one, else the
 * highest version of NAME@* that is installed, as the original Joblet's
 * `--runtime=python-3.11-ml` picks the latest.
 */
import type { RuntimeBuild, RuntimeStatus } from "../../api/index.js";

export type RuntimeResolution = { ok: true; name: string; build: RuntimeBuild } | { ok: false; message: string };

interface Installed {
  status: RuntimeStatus;
}

export function resolveRuntime(ref: string, objects: ReadonlyMap<string, Installed>): RuntimeResolution {
  const exact = objects.get(ref);
  if (exact) {
    if (exact.status.current) return { ok: true, name: ref, build: exact.status.current };
    return { ok: false, message: `Runtime '${ref}' is not ready: ${describe(exact.status)}` };
  }
  if (ref.includes("@")) return { ok: false, message: `Runtime '${ref}' does not exist` };
  const versions = [...objects.entries()].filter(([name]) => name.startsWith(`${ref}@`));
  const installed = versions
    .filter(([, o]) => o.status.current)
    .sort(([a], [b]) => compareVersions(b.slice(ref.length + 1), a.slice(ref.length + 1)));
  const best = installed[0];
  if (best) return { ok: true, name: best[0], build: best[1].status.current! };
  if (versions.length) return { ok: false, message: `No version of Runtime '${ref}' is ready (${versions.map(([n, o]) => `${n}: ${describe(o.status)}`).join("; ")})` };
  return { ok: false, message: `Runtime '${ref}' does not exist` };
}

function describe(status: RuntimeStatus): string {
  if (status.phase === "Building") {
    const p = status.progress;
    return `building${p ? ` (${p.phase}${p.percent !== undefined ? ` ${Math.round(p.percent)}%` : ""})` : ""}`;
  }
  if (status.phase === "Failed") return `its build failed: ${(status.message ?? "").split("\n")[0]}`;
  return status.phase.toLowerCase();
}

/** Dotted versions compared part by part, numbers as numbers: 1.10.0 > 1.9.2 > 1.9. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.+_-]/);
  const pb = b.split(/[.+_-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const nx = /^\d+$/.test(x) ? Number(x) : NaN;
    const ny = /^\d+$/.test(y) ? Number(y) : NaN;
    const diff = !Number.isNaN(nx) && !Number.isNaN(ny) ? nx - ny : x.localeCompare(y);
    if (diff !== 0) return Math.sign(diff);
  }
  return 0;
}
