/**
 * The debian source: a root tree bootstrapped with mmdebstrap (debootstrap
 * when mmdebstrap is not installed) from the host's own apt sources, with
 * the requested packages, then trimmed for use as a read-only job root.
 *
 * - Sources: the host's Debian entries for the suite (and its -updates,
 *   -security), Signed-By kept, written to a deb822 file given to mmdebstrap
 *   as its mirror argument. joblet names no mirror itself.
 * - --variant=essential: Essential:yes packages plus the requested ones and
 *   their dependencies, no Recommends, no apt (nothing installs into a
 *   read-only root). Docs (but their copyright files), man pages, info pages
 *   and translations are never unpacked (dpkg path-exclude).
 * - The bootstrap runs in a mount namespace of its own (unshare --mount), so
 *   the /proc, /sys and /dev mounts it makes inside the tree go away with it,
 *   however it ends (an aborted build is killed, process group and all).
 * - Trimming afterwards: toolchain and -dev packages that came only as
 *   dependencies of non-development packages are purged (Debian's
 *   python3-scipy depends on python3-pythran, which depends on g++ and
 *   boost: half a gigabyte a Python runtime never runs); tests/ directories
 *   of Python packages that no code of theirs imports; /var/cache, /var/log,
 *   apt lists, device nodes, and the host's resolv.conf and hostname that
 *   the bootstrap copied in.
 */
import { existsSync, type Dirent } from "node:fs";
import { lstat, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { posix } from "node:path";
import { RuntimeSourceError, type BuildContext, type BuildProgress } from "../build-context.js";
import { formatDeb822, readHostAptSources, redactUri, sourcesForSuite, type AptEntry } from "./apt-sources.js";
import { findExecutable, run, throwIfAborted, toolEnv } from "./exec.js";

export interface DebianSource {
  suite: string;
  packages: string[];
}

const SUITE = "spec.source.debian.suite";
const PACKAGES = "spec.source.debian.packages";
const SUITE_NAME = /^[A-Za-z0-9][A-Za-z0-9.+_-]*$/;
/** A package name (policy 5.6.7), optionally :arch and =version. Also what makes it safe in a shell hook. */
const PACKAGE_NAME = /^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?(=[A-Za-z0-9.+~:-]+)?$/;
const MERGED_USR_HOOKS = "/usr/share/mmdebstrap/hooks/maybe-merged-usr";
const PATH_EXCLUDES = [
  "path-exclude=/usr/share/doc/*",
  "path-include=/usr/share/doc/*/copyright",
  "path-exclude=/usr/share/man/*",
  "path-exclude=/usr/share/info/*",
  "path-exclude=/usr/share/locale/*",
  "path-exclude=/usr/share/lintian/*",
];
/** Packages only needed to build software: kept when asked for (or needed by one asked for), purged when they come in otherwise. */
const BUILD_ONLY = [
  /-dev$/,
  /^(gcc|g\+\+|cpp|gfortran)(-\d+)?(-[a-z0-9_-]+-linux-gnu[a-z0-9]*)?$/,
  /^binutils(-.+)?$/,
  /^lib(asan|tsan|lsan|ubsan|hwasan)\d+$/,
  /^libc-dev-bin$/,
];
const MAX_LOG_LINES_KEPT = 400;
const MAN_SECTIONS = ["1", "2", "3", "4", "5", "6", "7", "8"];

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/**
 * Turns mmdebstrap's --verbose output (its "I:" phase lines, apt's "Get:",
 * dpkg's "Unpacking"/"Setting up") into phases with a percentage.
 */
export class BootstrapProgress {
  private phase = "preparing";
  private total = 0;
  private done = 0;
  private steps = 1;
  private counting: RegExp | undefined;
  private essentialCount = 0;
  private lastPercent = -1;

  constructor(private readonly report: (p: BuildProgress) => void) {}

  private start(phase: string, steps: number, counting?: RegExp, total = 0): void {
    this.phase = phase;
    this.steps = steps;
    this.counting = counting;
    this.total = total;
    this.done = 0;
    this.lastPercent = -1;
    this.report(total > 0 ? { phase, percent: 0 } : { phase });
  }

  line(line: string): void {
    if (line.startsWith("I: ")) {
      if (/^I: running apt-get update|^I: running --setup-hook/.test(line)) this.start("updating package lists", 1);
      else if (/^I: downloading packages/.test(line)) this.start("downloading", 1, /^Get:\d+ /);
      else if (/^I: extracting archives/.test(line)) this.start("unpacking", 1);
      else if (/^I: installing essential packages/.test(line)) this.start("installing essential packages", 2, /^(Unpacking|Setting up) /, this.essentialCount);
      else if (/^I: installing remaining packages/.test(line)) this.start("installing packages", 3, /^(Get:\d+|Unpacking|Setting up) /);
      else if (/^I: cleaning package lists/.test(line)) this.start("cleaning up", 1);
      // debootstrap's phases
      else if (/^I: Retrieving |^I: Validating /.test(line)) {
        if (this.phase !== "downloading") this.start("downloading", 1);
      } else if (/^I: Extracting /.test(line)) {
        if (this.phase !== "unpacking") this.start("unpacking", 1);
      } else if (/^I: (Installing|Unpacking|Configuring) /.test(line)) {
        if (this.phase !== "installing packages") this.start("installing packages", 1);
      }
      return;
    }
    const planned = /^(\d+) upgraded, (\d+) newly installed/.exec(line);
    if (planned) {
      const count = Number(planned[1]) + Number(planned[2]);
      if (this.phase === "downloading") this.essentialCount = count;
      if (this.phase === "downloading" || this.phase === "installing packages") this.total = count;
      return;
    }
    if (this.counting?.test(line) && this.total > 0) {
      this.done++;
      const percent = Math.min(100, Math.floor((this.done / (this.total * this.steps)) * 100));
      if (percent !== this.lastPercent) {
        this.lastPercent = percent;
        this.report({ phase: this.phase, percent });
      }
    }
  }
}

/** What failed, from apt's, mmdebstrap's or debootstrap's own words: a RuntimeSourceError when the spec is to blame. */
export function diagnose(lines: string[], source: DebianSource): Error | undefined {
  const suite = source.suite;
  for (const line of lines) {
    let match = /Unable to locate package (\S+)/.exec(line);
    if (match?.[1]) return new RuntimeSourceError(`${PACKAGES}: '${match[1]}' is not a package in ${suite} (apt: Unable to locate package ${match[1]})`);
    match = /Package '([^']+)' has no installation candidate/.exec(line);
    if (match?.[1]) return new RuntimeSourceError(`${PACKAGES}: '${match[1]}' is not a package in ${suite} (apt: it has no installation candidate)`);
    match = /Version '([^']+)' for '([^']+)' was not found/.exec(line);
    if (match?.[1] && match[2]) return new RuntimeSourceError(`${PACKAGES}: '${match[2]}=${match[1]}' is not a package in ${suite} (apt: version ${match[1]} was not found)`);
    match = /Couldn't find these debs: (.+)$/.exec(line);
    if (match?.[1]) {
      const first = match[1].trim().split(/\s+/)[0] as string;
      return new RuntimeSourceError(`${PACKAGES}: '${first}' is not a package in ${suite} (debootstrap: couldn't find ${match[1].trim()})`);
    }
  }
  for (const line of lines) {
    const match = /The repository '(\S+) (\S+) Release' does not have a Release file/.exec(line);
    if (match?.[2] === suite) return new RuntimeSourceError(`${SUITE}: '${suite}' is not a suite of ${redactUri(match[1] as string)} (apt: no Release file)`);
    if (/Failed getting release file .*\/dists\/([^/]+)\/Release/.exec(line)?.[1] === suite || /No such script: .*\/scripts\//.test(line)) {
      return new RuntimeSourceError(`${SUITE}: '${suite}' is not a suite debootstrap can fetch (${line.replace(/^E: /, "")})`);
    }
  }
  if (lines.some((l) => /Unable to correct problems, you have held broken packages|but it is not installable|but it is not going to be installed/.test(l))) {
    const why = lines.filter((l) => /Depends:|is not installable|not going to be installed/.test(l)).slice(0, 6).map((l) => l.trim());
    return new RuntimeSourceError(`${PACKAGES}: ${source.packages.join(", ")} cannot be installed together in ${suite} (apt: ${why.join("; ") || "broken packages"})`);
  }
  return undefined;
}

interface DpkgPackage {
  name: string;
  essential: boolean;
  required: boolean;
  depends: string[][];
  provides: string[];
}

/** Installed packages of a tree, from its dpkg status file. */
async function installedPackages(tree: string): Promise<Map<string, DpkgPackage>> {
  const text = await readFile(posix.join(tree, "var/lib/dpkg/status"), "utf8");
  const packages = new Map<string, DpkgPackage>();
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    let last = "";
    for (const line of stanza.split("\n")) {
      if (/^[ \t]/.test(line)) {
        if (last) fields.set(last, `${fields.get(last) ?? ""} ${line.trim()}`);
        continue;
      }
      const field = /^([^\s:]+):\s*(.*)$/.exec(line);
      if (field?.[1]) {
        last = field[1].toLowerCase();
        fields.set(last, field[2] ?? "");
      }
    }
    const name = fields.get("package");
    if (!name || !/ installed$/.test(fields.get("status") ?? "")) continue;
    const relation = (value: string | undefined): string[][] =>
      (value ?? "")
        .split(",")
        .map((group) =>
          group
            .split("|")
            .map((alt) => alt.trim().split(/[\s(:]/)[0] as string)
            .filter((alt) => alt !== ""),
        )
        .filter((group) => group.length > 0);
    packages.set(name, {
      name,
      essential: fields.get("essential") === "yes",
      required: fields.get("priority") === "required",
      depends: [...relation(fields.get("pre-depends")), ...relation(fields.get("depends"))],
      provides: relation(fields.get("provides")).flat(),
    });
  }
  return packages;
}

/**
 * Installed packages nothing needs once build-only packages pulled in by
 * non-development packages are set aside: reachable from the Essential and
 * required packages and the requested ones over Depends/Pre-Depends, where a
 * build-only package is followed only from a requested package or from
 * another build-only package that was followed.
 */
export function unneededPackages(installed: Map<string, DpkgPackage>, requested: string[]): string[] {
  const wanted = new Set(requested.map((p) => p.split(/[:=]/)[0] as string));
  const providers = new Map<string, string[]>();
  for (const pkg of installed.values()) {
    for (const name of [pkg.name, ...pkg.provides]) providers.set(name, [...(providers.get(name) ?? []), pkg.name]);
  }
  const buildOnly = (name: string): boolean => BUILD_ONLY.some((re) => re.test(name));
  const kept = new Set<string>();
  const queue = [...installed.values()].filter((p) => p.essential || p.required || wanted.has(p.name)).map((p) => p.name);
  while (queue.length > 0) {
    const name = queue.pop() as string;
    if (kept.has(name)) continue;
    kept.add(name);
    const pkg = installed.get(name);
    if (!pkg) continue;
    const mayPullBuildOnly = wanted.has(name) || buildOnly(name);
    for (const group of pkg.depends) {
      for (const alternative of group) {
        for (const target of providers.get(alternative) ?? []) {
          if (buildOnly(target) && !wanted.has(target) && !mayPullBuildOnly) continue;
          if (!kept.has(target)) queue.push(target);
        }
      }
    }
  }
  return [...installed.keys()].filter((name) => !kept.has(name)).sort();
}

/** Mount points at or under `dir` in this process's mount namespace. */
async function mountsUnder(dir: string): Promise<string[]> {
  const text = await readFile("/proc/self/mountinfo", "utf8").catch(() => "");
  const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
  return text
    .split("\n")
    .map((line) => line.split(" ")[4])
    .filter((p): p is string => p !== undefined)
    .map(unescape)
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
}

/** Remove what a directory holds, keeping the directory. */
async function emptyDir(dir: string): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) await rm(posix.join(dir, name), { recursive: true, force: true });
}

/** Bytes of regular files in a tree (without following symlinks). */
async function treeSize(dir: string): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  const walk = async (path: string): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await readdir(path, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const child = posix.join(path, entry.name);
      if (entry.isDirectory()) await walk(child);
      else if (entry.isFile()) {
        files++;
        bytes += (await lstat(child)).size;
      }
    }
  };
  await walk(dir);
  return { files, bytes };
}

/** Whether a Python source imports a `tests` module (import x.tests, from .tests import, from . import tests). */
const IMPORTS_TESTS = /^\s*(?:from\s+[\w.]*\btests\b[\w.]*\s+import|import\s+[\w.]*\btests\b|from\s+[\w.]+\s+import\s+(?:\(?[\w\s,]*\b)?tests\b)/m;

/**
 * tests/ directories of Python packages in dist-packages, removed where no
 * code of the package outside its tests (and conftest.py, pytest's) imports
 * one. They hold test suites and their data only: pandas/tests alone is 36 MiB.
 */
async function trimPythonTests(tree: string, log: (line: string) => void): Promise<number> {
  let removedBytes = 0;
  const roots: string[] = [];
  for (const lib of ["usr/lib/python3/dist-packages", "usr/local/lib/python3/dist-packages"]) {
    if (existsSync(posix.join(tree, lib))) roots.push(posix.join(tree, lib));
  }
  for (const root of roots) {
    for (const top of await readdir(root, { withFileTypes: true })) {
      if (!top.isDirectory() || top.name === "__pycache__" || top.name.endsWith(".dist-info") || top.name.endsWith(".egg-info")) continue;
      const packageDir = posix.join(root, top.name);
      const testDirs: string[] = [];
      let imported = false;
      const walk = async (dir: string): Promise<void> => {
        for (const entry of await readdir(dir, { withFileTypes: true })) {
          const child = posix.join(dir, entry.name);
          if (entry.isDirectory()) {
            if (entry.name === "tests") testDirs.push(child);
            else await walk(child);
          } else if (entry.isFile() && entry.name.endsWith(".py") && entry.name !== "conftest.py" && !imported) {
            if (IMPORTS_TESTS.test(await readFile(child, "utf8"))) imported = true;
          }
        }
      };
      await walk(packageDir);
      if (testDirs.length === 0) continue;
      if (imported) {
        log(`trim: keeping tests/ of ${top.name}: its code imports a tests module`);
        continue;
      }
      let bytes = 0;
      for (const dir of testDirs) {
        bytes += (await treeSize(dir)).bytes;
        await rm(dir, { recursive: true, force: true });
      }
      removedBytes += bytes;
      log(`trim: removed ${testDirs.length} tests/ directories of ${top.name} (${mib(bytes)})`);
    }
  }
  return removedBytes;
}

class DebianBuilder {
  private readonly tree: string;
  private readonly lines: string[] = [];
  private readonly errorLines: string[] = [];

  constructor(
    private readonly source: DebianSource,
    private readonly ctx: BuildContext,
  ) {
    this.tree = posix.join(ctx.dir, "isolated");
  }

  private keep(line: string): void {
    this.ctx.log(line);
    this.lines.push(line);
    if (this.lines.length > MAX_LOG_LINES_KEPT) this.lines.shift();
    if (/^(E|W): |Unable to locate|no installation candidate|Couldn't find these debs|not installable|not going to be installed|Depends:/.test(line)) {
      this.errorLines.push(line);
    }
  }

  /** Run a bootstrap tool in its own mount namespace, every line logged and parsed for progress. */
  private async bootstrap(tool: string, args: string[]): Promise<void> {
    const progress = new BootstrapProgress((p) => this.ctx.progress(p));
    const unshare = findExecutable("unshare");
    const [file, argv] = unshare ? [unshare, ["--mount", "--propagation", "private", "--", tool, ...args]] : [tool, args];
    this.ctx.log(`debian: ${posix.basename(tool)} ${args.map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(" ")}`);
    const result = await run(file, argv, {
      env: toolEnv({ DEBIAN_FRONTEND: "noninteractive", DEBCONF_NONINTERACTIVE_SEEN: "true" }),
      signal: this.ctx.signal,
      collect: false,
      killGraceMs: 15_000,
      onLine: (line) => {
        this.keep(line);
        progress.line(line);
      },
    });
    if (result.code === 0) return;
    const diagnosed = diagnose(this.errorLines, this.source);
    if (diagnosed) throw diagnosed;
    const tail = (this.errorLines.length > 0 ? this.errorLines : this.lines).slice(-12).join("\n");
    throw new Error(`${posix.basename(tool)} failed (exit ${result.code ?? result.signal}) building ${this.source.suite}:\n${tail}`);
  }

  async mmdebstrap(tool: string, sourcesFile: string): Promise<void> {
    const { packages } = this.source;
    const args = ["--mode=root", "--format=directory", "--variant=essential", "--verbose", '--aptopt=APT::Install-Recommends "false"'];
    // Man pages are not unpacked, but maintainer scripts still point update-alternatives
    // links into these directories (openjdk's postinst fails without them); trimTree removes them.
    args.push(`--setup-hook=mkdir -p ${MAN_SECTIONS.map((n) => `"$1/usr/share/man/man${n}"`).join(" ")}`);
    if (existsSync(MERGED_USR_HOOKS)) args.push(`--hook-dir=${MERGED_USR_HOOKS}`);
    if (packages.length > 0) {
      args.push(`--include=${packages.join(",")}`);
      // Find an unknown package right after apt-get update (seconds), not after installing the essential set.
      const names = packages.join(" ");
      args.push(
        `--setup-hook=cd "$1" && { [ -e "$1/var/cache/apt/pkgcache.bin" ] || APT_CONFIG="$MMDEBSTRAP_APT_CONFIG" apt-get update --error-on=any; } && APT_CONFIG="$MMDEBSTRAP_APT_CONFIG" apt-get install --simulate --quiet --no-install-recommends ${names} > /dev/null`,
      );
    }
    for (const option of PATH_EXCLUDES) args.push(`--dpkgopt=${option}`);
    args.push(this.source.suite, this.tree, sourcesFile);
    await this.bootstrap(tool, args);
  }

  async debootstrap(tool: string, entries: AptEntry[]): Promise<void> {
    const main = entries.find((e) => e.suites.includes(this.source.suite)) ?? entries[0];
    const uri = main?.uris[0];
    if (!main || !uri) throw new Error(`No apt source for ${this.source.suite} to give debootstrap`);
    // debootstrap has no dpkg options: the excludes go where the tree's dpkg reads its configuration.
    await mkdir(posix.join(this.tree, "etc/dpkg/dpkg.cfg.d"), { recursive: true });
    await writeFile(posix.join(this.tree, "etc/dpkg/dpkg.cfg.d/joblet-excludes"), `${PATH_EXCLUDES.join("\n")}\n`);
    const args = ["--variant=minbase", "--merged-usr"];
    if (this.source.packages.length > 0) args.push(`--include=${this.source.packages.join(",")}`);
    if (main.components.length > 0) args.push(`--components=${main.components.join(",")}`);
    const signedBy = main.fields.find(([key]) => key.toLowerCase() === "signed-by")?.[1].trim();
    if (signedBy && /^\/\S+$/.test(signedBy) && existsSync(signedBy)) args.push(`--keyring=${signedBy}`);
    args.push(this.source.suite, this.tree, uri);
    await this.bootstrap(tool, args);
  }

  /** Purge build-only packages that no requested package needs (see unneededPackages). */
  async purgeUnneeded(): Promise<void> {
    if (!existsSync(posix.join(this.tree, "var/lib/dpkg/status"))) return;
    const unneeded = unneededPackages(await installedPackages(this.tree), this.source.packages);
    if (unneeded.length === 0) return;
    this.ctx.log(`trim: purging ${unneeded.length} packages only build tools need: ${unneeded.join(" ")}`);
    const before = await treeSize(posix.join(this.tree, "usr"));
    const unshare = findExecutable("unshare");
    const chroot = findExecutable("chroot");
    if (!unshare || !chroot) throw new Error("Trimming a debian runtime needs unshare and chroot (util-linux, coreutils)");
    const result = await run(
      unshare,
      ["--mount", "--propagation", "private", `--mount-proc=${posix.join(this.tree, "proc")}`, "--", chroot, this.tree, "dpkg", "--purge", "--force-depends", ...unneeded],
      {
        env: toolEnv({ DEBIAN_FRONTEND: "noninteractive" }),
        signal: this.ctx.signal,
        collect: false,
        onLine: (line) => this.keep(line),
      },
    );
    if (result.code !== 0) throw new Error(`dpkg --purge of build-only packages failed (exit ${result.code ?? result.signal}): ${this.lines.slice(-8).join("\n")}`);
    const after = await treeSize(posix.join(this.tree, "usr"));
    this.ctx.log(`trim: purging build-only packages saved ${mib(before.bytes - after.bytes)}`);
  }

  /** What a read-only job root does not need, and what the bootstrap copied from this host. */
  async trimTree(): Promise<void> {
    const { tree } = this;
    const mounted = await mountsUnder(tree);
    if (mounted.length > 0) throw new Error(`Refusing to trim ${tree}: something is still mounted in it (${mounted.join(", ")})`);
    for (const dir of ["var/cache", "var/log", "var/lib/apt/lists", "dev", "proc", "sys", "run", "tmp"]) {
      await emptyDir(posix.join(tree, dir));
    }
    // Only directories and dangling alternatives links are left there (pages are never unpacked).
    await rm(posix.join(tree, "usr/share/man"), { recursive: true, force: true });
    // Copies of this host's files the bootstrap put in; a job gets its own.
    for (const file of ["etc/resolv.conf", "etc/hostname"]) await rm(posix.join(tree, file), { force: true });
    const tests = await trimPythonTests(tree, (line) => this.ctx.log(line));
    if (tests > 0) this.ctx.log(`trim: Python tests/ directories: ${mib(tests)}`);
  }
}

/** Fill ctx.dir/isolated/ with a Debian `suite` root holding `packages`. */
export async function buildFromDebian(source: DebianSource, ctx: BuildContext): Promise<void> {
  throwIfAborted(ctx.signal);
  if (!SUITE_NAME.test(source.suite)) throw new RuntimeSourceError(`${SUITE}: '${source.suite}' is not a suite name (like bookworm, trixie, stable)`);
  for (const pkg of source.packages) {
    if (!PACKAGE_NAME.test(pkg)) throw new RuntimeSourceError(`${PACKAGES}: '${pkg}' is not a Debian package name`);
  }
  const mmdebstrap = findExecutable("mmdebstrap");
  const debootstrap = mmdebstrap ? undefined : findExecutable("debootstrap");
  if (!mmdebstrap && !debootstrap) {
    throw new RuntimeSourceError(`spec.source.debian: building a Debian runtime needs mmdebstrap on this host (apt-get install mmdebstrap)`);
  }

  const sources = sourcesForSuite(await readHostAptSources(), source.suite);
  if (!sources) {
    throw new Error("This host's apt sources (/etc/apt/sources.list, /etc/apt/sources.list.d/*.list, *.sources) name no Debian archive to build a runtime from");
  }
  for (const entry of sources.entries) {
    ctx.log(`debian: source ${entry.uris.map(redactUri).join(" ")} ${entry.suites.join(" ")} ${entry.components.join(" ")} (from ${entry.origin})`);
  }
  if (sources.substituted) ctx.log(`debian: this host has no apt source for ${source.suite}; using its Debian archives with the suite replaced`);

  const started = Date.now();
  const builder = new DebianBuilder(source, ctx);
  const work = posix.join(ctx.dir, ".debian-sources");
  await mkdir(work, { recursive: true, mode: 0o700 });
  try {
    if (mmdebstrap) {
      const sourcesFile = posix.join(work, "joblet.sources");
      await writeFile(sourcesFile, formatDeb822(sources.entries), { mode: 0o600 });
      await builder.mmdebstrap(mmdebstrap, sourcesFile);
    } else {
      ctx.log("debian: mmdebstrap is not installed; using debootstrap (no -updates/-security sources)");
      await builder.debootstrap(debootstrap as string, sources.entries);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  const bootstrapped = Date.now();

  ctx.progress({ phase: "trimming" });
  await builder.purgeUnneeded();
  await builder.trimTree();
  const size = await treeSize(posix.join(ctx.dir, "isolated"));
  ctx.log(
    `debian: ${source.suite} with ${source.packages.join(", ") || "no extra packages"}: ${size.files} files, ${mib(size.bytes)}; ` +
      `bootstrap ${((bootstrapped - started) / 1000).toFixed(1)} s, trimming ${((Date.now() - bootstrapped) / 1000).toFixed(1)} s`,
  );
  ctx.progress({ phase: "trimming", percent: 100 });
}
