/**
 * The host source: a runtime tree made of host files. Each binary is copied
 * to its host path under isolated/ with the symlinks that lead to it, the
 * loader (PT_INTERP) and every shared library it loads (ldd's transitive
 * answer), each with its own symlink chain; a #! script brings its
 * interpreter. `paths` are copied as they are, symlinks kept as symlinks, and
 * the ELF files among them get their libraries too. Directories on the way
 * keep their host modes, and a symlinked directory on the way (/lib ->
 * usr/lib on a merged-/usr host) is recreated as the same symlink, so paths
 * baked into binaries (/lib64/ld-linux-x86-64.so.2) work in the tree.
 *
 * Nothing else of the host comes along: /etc gets a passwd and group of its
 * own (root and nobody), no ld.so.cache unless a library lives outside the
 * loader's default directories (then `ldconfig -r` makes one for those).
 *
 * Work is planned first (which host paths, how many bytes), then copied, so
 * that progress can say how far the copy is.
 */
import { constants as fsConstants, existsSync, type Stats } from "node:fs";
import { chmod, chown, copyFile, lchown, lstat, mkdir, readdir, readlink, realpath, rm, stat, symlink, utimes, writeFile } from "node:fs/promises";
import { posix } from "node:path";
import { RuntimeSourceError, type BuildContext } from "../build-context.js";
import { inspectFile, isHostArchitecture } from "./elf.js";
import { findExecutable, HOST_PATH_DIRS, mapLimit, run, throwIfAborted, toolEnv } from "./exec.js";

export interface HostSource {
  binaries: string[];
  paths?: string[];
}

const BINARIES = "spec.source.host.binaries";
const PATHS = "spec.source.host.paths";
/** Filesystems joblet makes for every job; copying the host's would be wrong. */
const PSEUDO = ["/proc", "/sys", "/dev"];
/** Top-level directories a merged-/usr host has as symlinks into /usr. */
const MERGED_USR = ["bin", "sbin", "lib", "lib32", "lib64", "libx32", "libo32"];
/** The loader's built-in directories when it cannot be asked (Debian amd64). */
const FALLBACK_SYSTEM_DIRS = ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib", "/usr/lib", "/lib64", "/usr/lib64"];
const CONCURRENCY = 8;
const MAX_SCRIPT_DEPTH = 4;

const PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
const GROUP = "root:x:0:\nnogroup:x:65534:\n";
const NSSWITCH = "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n";

type Entry =
  | { kind: "dir"; mode: number; uid: number; gid: number }
  | { kind: "symlink"; target: string; uid: number; gid: number }
  | { kind: "file"; mode: number; uid: number; gid: number; size: number; atime: Date; mtime: Date };

/** One thing the spec named (a binary or a path) and the host paths it brought first. */
interface Item {
  label: string;
  paths: string[];
}

class Plan {
  readonly entries = new Map<string, Entry>();
  readonly items: Item[] = [];
  totalBytes = 0;
  /** Directories (as ldd named them) libraries were found in. */
  readonly libraryDirs = new Set<string>();
  /** PT_INTERP loaders seen. */
  readonly loaders = new Set<string>();
  private current: Item = { label: "", paths: [] };

  begin(label: string): void {
    this.current = { label, paths: [] };
    this.items.push(this.current);
  }

  private add(path: string, entry: Entry): void {
    if (this.entries.has(path)) return;
    this.entries.set(path, entry);
    this.current.paths.push(path);
    if (entry.kind === "file") this.totalBytes += entry.size;
  }

  addDir(path: string, st: Stats): void {
    this.add(path, { kind: "dir", mode: st.mode & 0o7777, uid: st.uid, gid: st.gid });
  }

  addSymlink(path: string, target: string, st: Stats): void {
    this.add(path, { kind: "symlink", target, uid: st.uid, gid: st.gid });
  }

  addFile(path: string, st: Stats): void {
    // setuid/setgid bits stay on the host: a runtime is not a way to hand out privileges.
    this.add(path, { kind: "file", mode: st.mode & 0o1777, uid: st.uid, gid: st.gid, size: st.size, atime: st.atime, mtime: st.mtime });
  }

  has(path: string): boolean {
    return this.entries.has(path);
  }
}

function isUnder(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir === "/" ? "/" : `${dir}/`);
}

function errnoOf(err: unknown): string | undefined {
  return typeof err === "object" && err !== null && "code" in err ? String((err as { code: unknown }).code) : undefined;
}

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/**
 * Record every directory and symlink on the way to `path` (resolving them
 * one component at a time, as the kernel does) and return the real path it
 * leads to with its lstat. The last component is followed only if `followLast`.
 */
async function walkTo(plan: Plan, path: string, followLast: boolean): Promise<{ real: string; stats: Stats }> {
  const todo = path.split("/").filter((c) => c !== "");
  let current = "/";
  let stats = await lstat("/");
  let hops = 0;
  while (todo.length > 0) {
    const component = todo.shift() as string;
    if (component === ".") continue;
    if (component === "..") {
      current = posix.dirname(current);
      stats = await lstat(current);
      continue;
    }
    const next = current === "/" ? `/${component}` : `${current}/${component}`;
    const st = await lstat(next);
    const last = todo.length === 0;
    if (st.isSymbolicLink() && (!last || followLast)) {
      if (++hops > 40) throw Object.assign(new Error(`Too many levels of symbolic links resolving ${path}`), { code: "ELOOP" });
      const target = await readlink(next);
      plan.addSymlink(next, target, st);
      if (target.startsWith("/")) current = "/";
      todo.unshift(...target.split("/").filter((c) => c !== ""));
      continue;
    }
    if (st.isDirectory()) {
      plan.addDir(next, st);
    } else if (!last) {
      throw Object.assign(new Error(`Not a directory: ${next} (resolving ${path})`), { code: "ENOTDIR" });
    }
    current = next;
    stats = st;
  }
  return { real: current, stats };
}

/** The host file a spec binary names, or a RuntimeSourceError saying where it was looked for. */
async function locateBinary(name: string): Promise<string> {
  if (name.includes("/")) {
    if (!name.startsWith("/")) throw new RuntimeSourceError(`${BINARIES}: '${name}' must be a name looked up on PATH or an absolute path`);
    const st = await stat(name).catch(() => undefined);
    if (!st?.isFile()) throw new RuntimeSourceError(`${BINARIES}: '${name}' is not a file on this host (looked at ${name})`);
    return posix.normalize(name);
  }
  for (const dir of HOST_PATH_DIRS) {
    const candidate = posix.join(dir, name);
    const st = await stat(candidate).catch(() => undefined);
    if (st?.isFile()) return candidate;
  }
  throw new RuntimeSourceError(`${BINARIES}: '${name}' is not a file on this host (looked in ${HOST_PATH_DIRS.join(", ")})`);
}

interface LddResult {
  /** Every file the loader maps, as ldd names it. */
  libraries: string[];
  /** Those of them found by name (not by an absolute path, as the loader is): they need a search directory. */
  searched: string[];
  missing: string[];
}

/** The libraries the host loader would load for `file`, transitively, as ldd prints them. */
async function ldd(lddPath: string, file: string, signal: AbortSignal): Promise<LddResult | "not-dynamic"> {
  const result = await run(lddPath, [file], { env: toolEnv(), signal });
  const text = `${result.stdout}\n${result.stderr}`;
  if (/not a dynamic executable|statically linked/.test(text)) return "not-dynamic";
  if (result.code !== 0) throw new Error(`ldd ${file} failed (exit ${result.code ?? result.signal}): ${result.stderr.trim() || result.stdout.trim()}`);
  const libraries: string[] = [];
  const searched: string[] = [];
  const missing: string[] = [];
  for (const raw of result.stdout.split("\n")) {
    const line = raw.trim();
    let match = /^(.+?) => not found$/.exec(line);
    if (match?.[1]) {
      missing.push(match[1]);
      continue;
    }
    match = /^(.+?) => (\/.+) \(0x[0-9a-f]+\)$/.exec(line);
    if (match?.[1] && match[2]) {
      libraries.push(match[2]);
      if (!match[1].includes("/")) searched.push(match[2]);
      continue;
    }
    match = /^(\/.+) \(0x[0-9a-f]+\)$/.exec(line);
    if (match?.[1]) libraries.push(match[1]);
  }
  return { libraries, searched, missing };
}

/** The command `#!/usr/bin/env [-S] [-i] [VAR=value] cmd args` runs, if the line names one. */
function envCommand(argument: string | undefined): string | undefined {
  if (!argument) return undefined;
  const words = argument.split(/\s+/).filter((w) => w !== "");
  for (let i = 0; i < words.length; i++) {
    const word = words[i] as string;
    if (word === "-u" || word === "--unset" || word === "-C" || word === "--chdir") {
      i++;
      continue;
    }
    if (word.startsWith("-") || word.includes("=")) continue;
    return word;
  }
  return undefined;
}

class HostBuilder {
  private readonly plan = new Plan();
  private readonly lddCache = new Map<string, Promise<LddResult | "not-dynamic">>();
  private readonly tree: string;
  private readonly excluded: string[];

  constructor(
    private readonly ctx: BuildContext,
    private readonly lddPath: string,
    buildDir: string,
  ) {
    this.tree = posix.join(ctx.dir, "isolated");
    this.excluded = [...PSEUDO, buildDir];
  }

  private lddOf(file: string): Promise<LddResult | "not-dynamic"> {
    let pending = this.lddCache.get(file);
    if (!pending) {
      pending = ldd(this.lddPath, file, this.ctx.signal);
      this.lddCache.set(file, pending);
    }
    return pending;
  }

  /** Copy a library or loader the way it is reached: the path as named, with its chain. */
  private async addReached(path: string): Promise<void> {
    const { real, stats } = await walkTo(this.plan, path, true);
    if (!stats.isFile()) throw new Error(`${path} (${real}) is not a regular file`);
    this.plan.addFile(real, stats);
  }

  private async addLibraries(deps: LddResult): Promise<void> {
    for (const library of deps.searched) this.plan.libraryDirs.add(posix.dirname(posix.normalize(library)));
    for (const library of deps.libraries) await this.addReached(library);
  }

  async addBinary(name: string): Promise<void> {
    const hostPath = await locateBinary(name);
    this.plan.begin(`binary ${name} (${hostPath})`);
    await this.addExecutable(hostPath, name, 0);
  }

  /** An executable as invoked at `hostPath`: its chain, the file, and what it needs to start. */
  private async addExecutable(hostPath: string, name: string, depth: number): Promise<void> {
    throwIfAborted(this.ctx.signal);
    const { real, stats } = await walkTo(this.plan, hostPath, true);
    if (!stats.isFile()) throw new RuntimeSourceError(`${BINARIES}: '${name}' (${hostPath}) is not a regular file on this host`);
    this.plan.addFile(real, stats);
    const kind = await inspectFile(real);
    if (kind.kind === "elf") {
      const { elf } = kind;
      if (!(await isHostArchitecture(elf))) {
        throw new RuntimeSourceError(`${BINARIES}: '${name}' (${real}) is an ELF file for another machine type (${elf.machine}), not this host's`);
      }
      if (elf.interpreter) {
        this.plan.loaders.add(elf.interpreter);
        await this.addReached(elf.interpreter).catch((err: unknown) => {
          throw new RuntimeSourceError(`${BINARIES}: '${name}' (${real}) needs the loader ${elf.interpreter}, which is not on this host (${errnoOf(err) ?? String(err)})`);
        });
      }
      if (!elf.dynamic) return;
      // The real path: the loader takes $ORIGIN of a program from /proc/self/exe, which is resolved.
      const deps = await this.lddOf(real);
      if (deps === "not-dynamic") return;
      if (deps.missing.length > 0) {
        throw new RuntimeSourceError(`${BINARIES}: '${name}' (${real}) needs ${deps.missing.join(", ")}, which ldd does not find on this host`);
      }
      await this.addLibraries(deps);
      return;
    }
    if (kind.kind === "script") {
      if (depth >= MAX_SCRIPT_DEPTH) throw new RuntimeSourceError(`${BINARIES}: '${name}' is a script whose interpreters nest more than ${MAX_SCRIPT_DEPTH} deep`);
      const interpreter = kind.interpreter;
      if (!interpreter.startsWith("/")) {
        throw new RuntimeSourceError(`${BINARIES}: '${name}' (${real}) is a script for '${interpreter}', which is not an absolute path`);
      }
      const st = await stat(interpreter).catch(() => undefined);
      if (!st?.isFile()) throw new RuntimeSourceError(`${BINARIES}: '${name}' (${real}) is a script for ${interpreter}, which is not a file on this host`);
      await this.addExecutable(interpreter, `${name}'s interpreter ${interpreter}`, depth + 1);
      if (posix.basename(interpreter) === "env") {
        const command = envCommand(kind.argument);
        if (command) {
          const located = await locateBinary(command).catch(() => {
            throw new RuntimeSourceError(`${BINARIES}: '${name}' (${real}) runs '${command}' through env, which is not a file on this host (looked in ${HOST_PATH_DIRS.join(", ")})`);
          });
          await this.addExecutable(located, `${name}'s interpreter ${command}`, depth + 1);
        }
      }
    }
    // Anything else (data, a script without #!) is copied as it is.
  }

  async addPath(given: string): Promise<void> {
    if (!given.startsWith("/")) throw new RuntimeSourceError(`${PATHS}: '${given}' is not an absolute path`);
    const path = posix.normalize(given).replace(/(.)\/+$/, "$1");
    if (path === "/") throw new RuntimeSourceError(`${PATHS}: '${given}' is the whole host filesystem; name the directories the runtime needs`);
    const pseudo = PSEUDO.find((p) => isUnder(path, p));
    if (pseudo) throw new RuntimeSourceError(`${PATHS}: '${given}' is in ${pseudo}, which joblet mounts in every job itself`);
    const st = await lstat(path).catch(() => undefined);
    if (!st) throw new RuntimeSourceError(`${PATHS}: '${given}' does not exist on this host`);
    this.plan.begin(`path ${path}`);
    const parent = await walkTo(this.plan, posix.dirname(path), true);
    const leaf = posix.join(parent.real, posix.basename(path));
    const elfCandidates: string[] = [];
    await this.walkTree(leaf, await lstat(leaf), elfCandidates);
    await this.addElfDependencies(elfCandidates, path);
  }

  /** Copy a host tree as it is: directories recursed, symlinks kept, regular files noted for the ELF pass. */
  private async walkTree(path: string, st: Stats, elfCandidates: string[]): Promise<void> {
    throwIfAborted(this.ctx.signal);
    if (this.excluded.some((dir) => isUnder(path, dir))) {
      this.ctx.log(`host: skipping ${path} (joblet's own or a pseudo filesystem)`);
      return;
    }
    if (st.isSymbolicLink()) {
      this.plan.addSymlink(path, await readlink(path), st);
    } else if (st.isDirectory()) {
      this.plan.addDir(path, st);
      const names = (await readdir(path)).sort();
      for (const name of names) {
        const child = posix.join(path, name);
        const childStat = await lstat(child).catch(() => undefined);
        if (childStat) await this.walkTree(child, childStat, elfCandidates);
      }
    } else if (st.isFile()) {
      this.plan.addFile(path, st);
      if (st.size >= 52) elfCandidates.push(path);
    } else {
      this.ctx.log(`host: skipping ${path}: not a regular file, directory or symlink`);
    }
  }

  /** The libraries (and loaders) of every ELF file found under a copied path. */
  private async addElfDependencies(files: string[], given: string): Promise<void> {
    const found = await mapLimit(files, CONCURRENCY, async (file) => {
      throwIfAborted(this.ctx.signal);
      const kind = await inspectFile(file).catch(() => ({ kind: "other" as const }));
      if (kind.kind !== "elf") return undefined;
      if (!(await isHostArchitecture(kind.elf))) {
        this.ctx.log(`host: ${file} is an ELF file for another machine type; copied without its libraries`);
        return undefined;
      }
      if (!kind.elf.dynamic || (kind.elf.type !== 2 && kind.elf.type !== 3)) return undefined;
      const deps = await this.lddOf(file);
      return { file, interpreter: kind.elf.interpreter, deps };
    });
    const copiedNames = new Set([...this.plan.entries.keys()].map((p) => posix.basename(p)));
    let libraries = 0;
    for (const result of found) {
      if (!result) continue;
      if (result.interpreter) {
        this.plan.loaders.add(result.interpreter);
        await this.addReached(result.interpreter);
      }
      if (result.deps === "not-dynamic") continue;
      // A plugin's missing library is often one its host program has loaded
      // already (libjava.so needs libjvm.so): fine if the copy brings it.
      const missing = result.deps.missing.filter((name) => !copiedNames.has(name));
      if (missing.length > 0) {
        this.ctx.log(`host: warning: ${result.file} (under ${PATHS} '${given}') needs ${missing.join(", ")}, which ldd does not find on this host`);
      }
      await this.addLibraries(result.deps);
      libraries += result.deps.libraries.length;
    }
    if (libraries > 0) this.ctx.log(`host: ${given}: ${found.filter(Boolean).length} ELF files checked for libraries`);
  }

  /** /bin -> usr/bin and friends, as the host has them, for each one the tree has a target for. */
  async addMergedUsrLinks(): Promise<void> {
    this.plan.begin("merged-/usr links");
    for (const name of MERGED_USR) {
      const st = await lstat(`/${name}`).catch(() => undefined);
      if (!st?.isSymbolicLink()) continue;
      const target = await readlink(`/${name}`);
      const resolved = posix.normalize(posix.resolve("/", target));
      if (!isUnder(resolved, "/usr")) continue;
      const used = [...this.plan.entries.keys()].some((p) => isUnder(p, resolved));
      if (used) this.plan.addSymlink(`/${name}`, target, st);
    }
  }

  /** Copy the plan into isolated/, item by item, with byte progress. */
  async copy(): Promise<void> {
    const { ctx, plan, tree } = this;
    const totalBytes = plan.totalBytes;
    let bytes = 0;
    const report = (): void => ctx.progress({ phase: "copying", bytes, totalBytes, percent: totalBytes > 0 ? Math.min(100, (bytes / totalBytes) * 100) : 100 });
    report();
    await mkdir(tree, { recursive: true });
    const dirs: [string, Extract<Entry, { kind: "dir" }>][] = [];
    for (const item of plan.items) {
      if (item.paths.length === 0) continue;
      const files: [string, Extract<Entry, { kind: "file" }>][] = [];
      let itemBytes = 0;
      for (const path of item.paths) {
        throwIfAborted(ctx.signal);
        const entry = plan.entries.get(path) as Entry;
        const dest = posix.join(tree, path);
        if (entry.kind === "dir") {
          await mkdir(dest, { recursive: true, mode: 0o755 });
          dirs.push([dest, entry]);
        } else if (entry.kind === "symlink") {
          await symlink(entry.target, dest);
          await lchown(dest, entry.uid, entry.gid).catch(() => undefined);
        } else {
          files.push([path, entry]);
          itemBytes += entry.size;
        }
      }
      await mapLimit(files, CONCURRENCY, async ([path, entry]) => {
        throwIfAborted(ctx.signal);
        const dest = posix.join(tree, path);
        await copyFile(path, dest, fsConstants.COPYFILE_FICLONE);
        await chown(dest, entry.uid, entry.gid).catch(() => undefined);
        await chmod(dest, entry.mode);
        // Keep mtimes: Python's __pycache__ is only valid for sources with the recorded mtime.
        await utimes(dest, entry.atime, entry.mtime);
        bytes += entry.size;
        report();
      });
      const links = item.paths.length - files.length - item.paths.filter((p) => plan.entries.get(p)?.kind === "dir").length;
      ctx.log(`host: copied ${item.label}: ${files.length} files (${mib(itemBytes)}), ${links} symlinks`);
    }
    for (const [dest, entry] of dirs.reverse()) {
      await chown(dest, entry.uid, entry.gid).catch(() => undefined);
      await chmod(dest, entry.mode);
    }
    report();
  }

  /** passwd, group and nsswitch.conf of the tree's own (unless a path brought the host's). */
  async writeEtc(): Promise<void> {
    const etc = posix.join(this.tree, "etc");
    await mkdir(etc, { recursive: true, mode: 0o755 });
    const files: [string, string][] = [
      ["passwd", PASSWD],
      ["group", GROUP],
      ["nsswitch.conf", NSSWITCH],
    ];
    for (const [name, content] of files) {
      if (this.plan.has(`/etc/${name}`)) continue;
      await writeFile(posix.join(etc, name), content, { mode: 0o644 });
    }
    this.ctx.log("host: wrote /etc/passwd, /etc/group (root, nobody/nogroup 65534) and /etc/nsswitch.conf");
  }

  /**
   * The tree has no ld.so.cache, so the loader finds libraries in its
   * built-in directories only. Libraries ldd found elsewhere (through the
   * host's cache) get an ld.so.conf and a cache made by `ldconfig -r`.
   */
  async linkerCache(): Promise<void> {
    const system = new Set<string>();
    for (const loader of this.plan.loaders) for (const dir of await systemSearchDirs(loader, this.ctx.signal)) system.add(dir);
    if (system.size === 0) FALLBACK_SYSTEM_DIRS.forEach((d) => system.add(d));
    const isDefault = (dir: string): boolean => system.has(dir) || system.has(dir.replace(/\/glibc-hwcaps\/[^/]+$/, ""));
    const extra = [...this.plan.libraryDirs].filter((dir) => !isDefault(dir)).sort();
    if (extra.length === 0) return;
    const ldconfig = findExecutable("ldconfig");
    if (!ldconfig) throw new Error(`Libraries outside the loader's directories (${extra.join(", ")}) need an ld.so.cache, and ldconfig is not on this host`);
    if (!this.plan.has("/etc/ld.so.conf")) await writeFile(posix.join(this.tree, "etc/ld.so.conf"), `${extra.join("\n")}\n`, { mode: 0o644 });
    const hadCacheDir = existsSync(posix.join(this.tree, "var/cache/ldconfig"));
    const result = await run(ldconfig, ["-X", "-r", this.tree], { env: toolEnv(), signal: this.ctx.signal });
    if (result.code !== 0) throw new Error(`ldconfig -r ${this.tree} failed (exit ${result.code ?? result.signal}): ${result.stderr.trim()}`);
    if (!hadCacheDir) await rm(posix.join(this.tree, "var/cache/ldconfig"), { recursive: true, force: true });
    this.ctx.log(`host: libraries in ${extra.join(", ")} are outside the loader's default directories: wrote /etc/ld.so.conf and ran ldconfig -r`);
  }

  get planned(): Plan {
    return this.plan;
  }
}

const searchDirsCache = new Map<string, Promise<string[]>>();

/** The loader's built-in search directories, as `<loader> --help` lists them. */
function systemSearchDirs(loader: string, signal: AbortSignal): Promise<string[]> {
  let pending = searchDirsCache.get(loader);
  if (!pending) {
    pending = run(loader, ["--help"], { env: toolEnv(), signal })
      .then((result) => [...result.stdout.matchAll(/^\s+(\/\S+) \(system search path\)$/gm)].map((m) => m[1] as string))
      .catch(() => []);
    searchDirsCache.set(loader, pending);
  }
  return pending;
}

/** Fill ctx.dir/isolated/ with the source's binaries, their libraries and loader, and its paths. */
export async function buildFromHost(source: HostSource, ctx: BuildContext): Promise<void> {
  throwIfAborted(ctx.signal);
  if (source.binaries.length === 0 && (source.paths ?? []).length === 0) {
    throw new RuntimeSourceError(`${BINARIES}: names no binary`);
  }
  const lddPath = findExecutable("ldd");
  if (!lddPath) throw new Error("The host source needs ldd (glibc's, in libc-bin), which is not on this host's PATH");
  const buildDir = await realpath(ctx.dir).catch(() => ctx.dir);
  const builder = new HostBuilder(ctx, lddPath, buildDir);

  ctx.progress({ phase: "resolving" });
  for (const name of source.binaries) {
    if (name.trim() === "") throw new RuntimeSourceError(`${BINARIES}: an entry is empty`);
    await builder.addBinary(name);
  }
  for (const path of source.paths ?? []) await builder.addPath(path);
  await builder.addMergedUsrLinks();
  const plan = builder.planned;
  const files = [...plan.entries.values()].filter((e) => e.kind === "file").length;
  ctx.log(`host: ${plan.entries.size} entries to copy (${files} files, ${mib(plan.totalBytes)}) for ${source.binaries.length} binaries and ${(source.paths ?? []).length} paths`);

  try {
    await builder.copy();
  } catch (err) {
    if (errnoOf(err) === "ENOENT") throw new Error(`A host file vanished while it was being copied: ${String(err)}`);
    throw err;
  }
  await builder.writeEtc();
  await builder.linkerCache();
  ctx.progress({ phase: "copying", bytes: plan.totalBytes, totalBytes: plan.totalBytes, percent: 100 });
}
