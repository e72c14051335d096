/**
 * One build of a Runtime, start to end: the source fills a temp directory,
 * the runtime's config is merged (the source's runtime.yml, then the
 * manifest), every mount is checked to stay inside isolated/, the tree is
 * made read-only and readable for jobs, and only then is the directory
 * renamed into place. Whatever fails, nothing half-built is ever installed.
 */
import { arch, totalmem } from "node:os";
import { lstat, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseBytes, type RuntimeBuild, type RuntimeConfig, type RuntimeManifestWithDefaults, type RuntimeMount } from "../api/index.js";
import type { StateLayout } from "../store/index.js";
import { RuntimeSourceError, type BuildContext } from "./build-context.js";
import { BUILD_RECORD, buildPath, readBuildRecord, tempBuildPath } from "./installed.js";
import { fetchVerified } from "./package/fetch.js";
import { unpackPackage } from "./package/unpack.js";
import { formatRuntimeYml, parseRuntimeYml, type RuntimeYml } from "./runtime-yml.js";
import { buildFromDebian } from "./sources/debian.js";
import { copyRuntimeDirectory } from "./sources/directory.js";
import { buildFromHost } from "./sources/host.js";
import { isEnginePath, normalizeTree, prepareMountTarget, resolveInTree } from "./tree.js";

export type RuntimeSpecWithDefaults = RuntimeManifestWithDefaults["spec"];

/** A build's id: the same spec always gives the same id, so re-applying it finds the build done. */
export function buildId(generation: string): string {
  return generation.slice(0, 16);
}

export function sourceKind(spec: RuntimeSpecWithDefaults): string {
  return Object.keys(spec.source).find((k) => (spec.source as Record<string, unknown>)[k] !== undefined) ?? "unknown";
}

/**
 * Builds `name` from its spec, or returns the build that already exists for
 * this generation (a daemon stopped between finishing a build and recording it).
 */
export async function buildRuntime(
  layout: StateLayout,
  name: string,
  spec: RuntimeSpecWithDefaults,
  generation: string,
  ctx: Omit<BuildContext, "dir">,
): Promise<RuntimeBuild> {
  const id = buildId(generation);
  const final = buildPath(layout, name, id);
  const done = await readBuildRecord(final);
  if (done) {
    ctx.log(`build ${id} is already installed`);
    return done;
  }
  await rm(final, { recursive: true, force: true });
  const dir = tempBuildPath(layout, name, id);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const started = Date.now();
  const context: BuildContext = { ...ctx, dir };
  try {
    await fillFromSource(spec, context);
    const isolated = join(dir, "isolated");
    const tree = await lstat(isolated).catch(() => undefined);
    if (!tree?.isDirectory()) throw new RuntimeSourceError(`spec.source.${sourceKind(spec)}: the source made no isolated/ tree`);
    const yml = await readSourceYml(dir);
    const config = await runtimeConfig(name, spec, yml, isolated, ctx.log);
    checkRequirements(config);
    ctx.progress({ phase: "checking files" });
    const summary = await normalizeTree(isolated, (s) => ctx.progress({ phase: "checking files", bytes: s.sizeBytes }));
    await writeRuntimeYml(dir, name, config, yml?.text);
    const build: RuntimeBuild = {
      id,
      generation,
      path: final,
      source: sourceKind(spec),
      sizeBytes: summary.sizeBytes,
      files: summary.files,
      builtAt: new Date().toISOString(),
      durationMs: Date.now() - started,
      config,
    };
    await writeFile(join(dir, BUILD_RECORD), `${JSON.stringify(build, null, 2)}\n`, { mode: 0o644 });
    await rename(dir, final);
    ctx.log(`installed build ${id}: ${summary.files} files, ${summary.sizeBytes} bytes in ${build.durationMs} ms`);
    return build;
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

async function fillFromSource(spec: RuntimeSpecWithDefaults, ctx: BuildContext): Promise<void> {
  const source = spec.source;
  if (source.debian) return buildFromDebian(source.debian, ctx);
  if (source.host) return buildFromHost({ binaries: source.host.binaries, ...(source.host.paths ? { paths: source.host.paths } : {}) }, ctx);
  if (source.directory) return copyRuntimeDirectory(source.directory, ctx);
  if (source.package) {
    const download = `${ctx.dir}.package`;
    try {
      await fetchVerified(source.package, download, ctx);
      await unpackPackage(download, ctx.dir, ctx);
    } finally {
      await rm(download, { force: true });
    }
    return;
  }
  throw new RuntimeSourceError("spec.source: must set exactly one of debian, host, package, directory");
}

async function readSourceYml(dir: string): Promise<{ parsed: RuntimeYml; text: string } | undefined> {
  const path = join(dir, "runtime.yml");
  const st = await lstat(path).catch(() => undefined);
  if (!st) return undefined;
  if (!st.isFile()) throw new RuntimeSourceError("runtime.yml: is not a regular file");
  const text = await readFile(path, "utf8");
  return { parsed: parseRuntimeYml(text, "runtime.yml"), text };
}

/**
 * The config jobs get: the source's runtime.yml, overridden field by field by
 * the manifest. Mount sources are resolved inside isolated/ and mount targets
 * made to exist in the tree; what the original's files hold that joblet
 * provides itself (/proc, /tmp...) or cannot give (writable runtime files) is
 * dropped or made read-only, with a line in the build log. The same in a
 * manifest is an error: there the user can fix it.
 */
async function runtimeConfig(
  name: string,
  spec: RuntimeSpecWithDefaults,
  yml: { parsed: RuntimeYml } | undefined,
  isolated: string,
  log: (line: string) => void,
): Promise<RuntimeConfig> {
  const fromFile = yml?.parsed;
  const mounts: RuntimeMount[] = [];
  const add = async (source: string, target: string, what: string) => {
    const resolvedSource = await resolveInTree(isolated, source, `${what}.source`);
    const isDir = (await lstat(join(isolated, resolvedSource))).isDirectory();
    const resolvedTarget = await prepareMountTarget(isolated, target, isDir, `${what}.target`);
    // The tree is already the job's root: a mount of a path onto itself adds nothing.
    if (resolvedSource === resolvedTarget) return;
    mounts.push({ source: resolvedSource.slice(1), target: resolvedTarget });
  };
  if (spec.mounts) {
    for (const [i, m] of spec.mounts.entries()) {
      const what = `spec.mounts[${i}]`;
      if (!m.readOnly) throw new RuntimeSourceError(`${what}.readOnly: runtime files are read-only to jobs; give jobs writable space with a Volume`);
      if (!m.target.startsWith("/") || isEnginePath(m.target)) throw new RuntimeSourceError(`${what}.target: '${m.target}' is mounted by joblet itself`);
      await add(m.source, m.target, what);
    }
  } else {
    for (const [i, m] of (fromFile?.mounts ?? []).entries()) {
      const what = `runtime.yml: mounts[${i}]`;
      const inTree = m.source === "isolated" ? "" : m.source.startsWith("isolated/") ? m.source.slice("isolated/".length) : undefined;
      if (inTree === undefined) throw new RuntimeSourceError(`${what}.source: '${m.source}' is not under isolated/; a runtime's mounts come from its own tree`);
      if (isEnginePath(m.target)) {
        log(`${what}: target '${m.target}' is provided by joblet itself; mount dropped`);
        continue;
      }
      if (!m.readOnly) log(`${what}: '${m.target}' mounted read-only (runtime files are read-only to jobs)`);
      for (const file of m.selective ?? [""]) {
        if (file.includes("/")) throw new RuntimeSourceError(`${what}.selective: '${file}' is not a file name`);
        await add(file ? `${inTree}/${file}` : inTree, file ? `${m.target}/${file}` : m.target, what);
      }
    }
  }
  const config: RuntimeConfig = { mounts, environment: { ...(fromFile?.environment ?? {}), ...(spec.environment ?? {}) } };
  const version = spec.version ?? (name.includes("@") ? name.slice(name.indexOf("@") + 1) : fromFile?.version);
  if (version !== undefined) config.version = version;
  const description = spec.description ?? fromFile?.description;
  if (description !== undefined) config.description = description;
  const requirements = spec.requirements
    ? {
        ...(spec.requirements.architectures ? { architectures: spec.requirements.architectures } : {}),
        ...(spec.requirements.minMemory !== undefined ? { minMemoryBytes: parseBytes(spec.requirements.minMemory, "spec.requirements.minMemory") } : {}),
      }
    : fromFile?.requirements;
  if (requirements) config.requirements = requirements;
  const test = spec.test ?? fromFile?.test;
  if (test) config.test = { command: test.command };
  return config;
}

/** Names this host's architecture goes by: Debian's, the kernel's and Node's. */
export function hostArchitectures(): string[] {
  const names: Record<string, string[]> = { x64: ["amd64", "x86_64", "x64"], arm64: ["arm64", "aarch64"], arm: ["armhf", "arm", "armv7l"] };
  return names[arch()] ?? [arch()];
}

function checkRequirements(config: RuntimeConfig): void {
  const wanted = config.requirements?.architectures;
  if (wanted?.length && !wanted.some((a) => hostArchitectures().includes(a.toLowerCase()))) {
    throw new RuntimeSourceError(`requirements.architectures: [${wanted.join(", ")}] does not include this host's ${hostArchitectures()[0]}`);
  }
  const memory = config.requirements?.minMemoryBytes;
  if (memory !== undefined && memory > totalmem()) {
    throw new RuntimeSourceError(`requirements.minMemory: ${memory} bytes is more than this host has (${totalmem()})`);
  }
}

/** Writes joblet's runtime.yml; the source's own, when it differs, is kept as runtime.yml.original. */
async function writeRuntimeYml(dir: string, name: string, config: RuntimeConfig, original: string | undefined): Promise<void> {
  const text = formatRuntimeYml(name, config);
  if (original === text) return;
  const keep = join(dir, "runtime.yml.original");
  if (original !== undefined && !(await lstat(keep).catch(() => undefined))) await rename(join(dir, "runtime.yml"), keep);
  await writeFile(join(dir, "runtime.yml"), text, { mode: 0o644 });
}
