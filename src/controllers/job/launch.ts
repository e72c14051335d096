import { createHash } from "node:crypto";
import { cp, mkdir, readdir, realpath, stat } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { resolveResources, type JobManifestWithDefaults, type RuntimeBuild } from "../../api/index.js";
import { minimalHostRoot, type JobSpec as EngineSpec } from "../../isolation/index.js";
import type { JobAttachment } from "../../network/live-network.js";
import { runtimeRoot } from "../../runtimes/job-root.js";
import { runLogDir, runRecordDir, type StateLayout } from "../../store/index.js";
import type { VolumeMount } from "../volume/controller.js";

/** Total bytes of a Job's `files` staged for one run. The job's /work tmpfs caps what it can grow to. */
export const MAX_FILES_BYTES = 64 * 1024 * 1024;

/** Images set PATH; a job on the host's minimal root gets the usual one unless its spec sets its own. */
const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** A run of a Job: generation prefix and attempt, e.g. "3f2a9c1b-2". */
export function runId(generation: string, attempt: number): string {
  return `${generation.slice(0, 8)}-${attempt}`;
}

/**
 * The isolation engine's id for a run (it names the run's cgroup): a DNS label
 * of at most 63 characters that stays unique however long the Job's name is.
 */
export function engineId(name: string, run: string): string {
  if (name.length <= 40) return `${name}-${run}`;
  const hash = createHash("sha256").update(name).digest("hex").slice(0, 6);
  return `${name.slice(0, 33).replace(/-+$/, "")}-${hash}-${run}`;
}

/** Where a run keeps its supervisor records and its staged files, under run/jobs/<name>/<run>/. */
export function runPaths(layout: StateLayout, name: string, run: string) {
  const base = runRecordDir(layout, name, run);
  return { base, supervisor: join(base, "supervisor"), files: join(base, "files"), logs: runLogDir(layout, name, run) };
}

/**
 * Copy a Job's `files` (paths relative to its manifest) into the run's staging
 * directory, which the job's init copies into /work. Refuses a path that
 * leaves the manifest's directory, even through a symlink, and a total over
 * MAX_FILES_BYTES.
 */
async function stageFiles(manifest: JobManifestWithDefaults, manifestFile: string, target: string): Promise<boolean> {
  const files = manifest.spec.files ?? [];
  if (files.length === 0) return false;
  const base = await realpath(dirname(manifestFile));
  let total = 0;
  for (const file of files) {
    const source = await realpath(resolve(base, file.path)).catch(() => {
      throw new Error(`file '${file.path}' does not exist next to ${manifestFile}`);
    });
    if (relative(base, source).startsWith("..")) throw new Error(`file '${file.path}' leaves the manifest's directory`);
    total += await treeSize(source);
    if (total > MAX_FILES_BYTES) throw new Error(`files add up to more than ${MAX_FILES_BYTES} bytes (at '${file.path}')`);
    const into = (file.target ?? file.path.split("/").pop()!).replace(/^\/work\//, "");
    await mkdir(dirname(join(target, into)), { recursive: true });
    await cp(source, join(target, into), { recursive: true, dereference: false, errorOnExist: false });
  }
  return true;
}

async function treeSize(path: string): Promise<number> {
  const st = await stat(path);
  if (!st.isDirectory()) return st.size;
  let total = 0;
  for (const entry of await readdir(path)) total += await treeSize(join(path, entry));
  return total;
}

/**
 * Everything the engine needs for one run of a Job, with its directories made
 * and files staged. On a runtime, the root is the runtime's tree and its
 * variables come first, the Job's own overriding them; otherwise the root is
 * the host's minimal set.
 */
export async function engineSpecFor(
  layout: StateLayout,
  manifest: JobManifestWithDefaults,
  manifestFile: string,
  run: string,
  runtime?: RuntimeBuild,
  network?: JobAttachment,
  volumes: readonly VolumeMount[] = [],
): Promise<EngineSpec> {
  const name = manifest.metadata.name;
  const paths = runPaths(layout, name, run);
  // The supervisor dir is made by spawnJob; the logs dir is ours.
  await mkdir(paths.logs, { recursive: true });
  const seeded = await stageFiles(manifest, manifestFile, paths.files);
  const fromRuntime = runtime ? runtimeRoot(runtime.path, runtime.config, DEFAULT_PATH) : undefined;
  const env: Record<string, string> = fromRuntime ? { ...fromRuntime.env } : { PATH: DEFAULT_PATH };
  for (const variable of manifest.spec.env ?? []) env[variable.name] = variable.value;
  const root = fromRuntime ? { readOnly: [...fromRuntime.readOnly], symlinks: [...fromRuntime.symlinks] } : minimalHostRoot();
  const spec: EngineSpec = {
    id: engineId(name, run),
    hostname: name,
    argv: [...manifest.spec.command, ...(manifest.spec.args ?? [])],
    env,
    rootfs: { ...root, ...(seeded ? { workSeed: paths.files } : {}) },
    limits: resolveResources(manifest.spec.resources),
    logs: { stdout: join(paths.logs, "stdout.log"), stderr: join(paths.logs, "stderr.log") },
    runDir: paths.supervisor,
  };
  if (manifest.spec.workingDir !== undefined) spec.workingDir = manifest.spec.workingDir;
  // Binds of the volumes' host mounts; a volume's root belongs to the job user, so a read-write one is writable.
  for (const volume of volumes) {
    const bind = { source: volume.hostPath, target: `/volumes/${volume.name}` };
    if (volume.readOnly) spec.rootfs.readOnly.push(bind);
    else (spec.rootfs.readWrite ??= []).push(bind);
  }
  if (network) {
    spec.network = network.attachment;
    // Peers by name: the network's hosts file, which the daemon keeps current.
    spec.rootfs.readOnly.push({ source: network.hostsFile, target: "/etc/hosts" });
  }
  return spec;
}
