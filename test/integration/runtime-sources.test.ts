import { execFile } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RuntimeSourceError, type BuildContext, type BuildProgress } from "../../src/runtimes/build-context.js";
import { formatDeb822, parseDeb822, parseOneLine, readHostAptSources, sourcesForSuite } from "../../src/runtimes/sources/apt-sources.js";
import { BootstrapProgress, buildFromDebian, unneededPackages } from "../../src/runtimes/sources/debian.js";
import { buildFromHost } from "../../src/runtimes/sources/host.js";
import { requireRoot } from "../helpers/root.js";

const run = promisify(execFile);
const SLOW = 180_000;
/** execFile looks chroot up on this PATH; the job-side commands are absolute paths. */
const CHROOT_ENV = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LC_ALL: "C" };

beforeAll(() => requireRoot("the runtime sources (chroot, mmdebstrap)"));

const temps: string[] = [];

/** Mount points at or below `dir`, from this process's mount table. */
function mountsUnder(dir: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((line) => line.split(" ")[4])
    .filter((point): point is string => point !== undefined && (point === dir || point.startsWith(`${dir}/`)));
}

afterAll(() => {
  for (const dir of temps) {
    const mounted = mountsUnder(dir);
    if (mounted.length > 0) throw new Error(`Not removing ${dir}: still mounted there: ${mounted.join(", ")}`);
    rmSync(dir, { recursive: true, force: true });
  }
});

interface Recorder {
  ctx: BuildContext;
  lines: string[];
  progress: BuildProgress[];
  controller: AbortController;
}

function buildDir(): Recorder {
  const dir = mkdtempSync(join(tmpdir(), "joblet-runtime-src-"));
  temps.push(dir);
  const lines: string[] = [];
  const progress: BuildProgress[] = [];
  const controller = new AbortController();
  const ctx: BuildContext = {
    dir,
    log: (line) => lines.push(line),
    progress: (p) => progress.push(p),
    signal: controller.signal,
  };
  return { ctx, lines, progress, controller };
}

/** A failure of `promise` that must be a RuntimeSourceError. */
async function sourceError(promise: Promise<unknown>): Promise<RuntimeSourceError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof RuntimeSourceError)) throw new Error(`Expected a RuntimeSourceError, got ${err === undefined ? "success" : String(err)}`);
  return err;
}

describe("host source", () => {
  let python: Recorder;

  beforeAll(async () => {
    python = buildDir();
    await buildFromHost({ binaries: ["python3"], paths: ["/usr/lib/python3.11"] }, python.ctx);
  }, SLOW);

  it("runs python3 with ssl, json and sqlite3 in a chroot of the tree, nothing mounted", async () => {
    const tree = join(python.ctx.dir, "isolated");
    const { stdout } = await run("chroot", [tree, "/usr/bin/python3", "-c", "import ssl, json, sqlite3; print(42)"], {
      env: CHROOT_ENV,
    });
    expect(stdout.trim()).toBe("42");
  });

  it("keeps symlink chains, the loader path and merged-/usr links as the host has them", () => {
    const tree = join(python.ctx.dir, "isolated");
    expect(readlinkSync(join(tree, "usr/bin/python3"))).toBe(readlinkSync("/usr/bin/python3"));
    expect(lstatSync(join(tree, "usr/bin/python3.11")).isFile()).toBe(true);
    for (const top of ["lib", "lib64", "bin"]) {
      const host = lstatSync(`/${top}`);
      if (host.isSymbolicLink()) expect(readlinkSync(join(tree, top))).toBe(readlinkSync(`/${top}`));
    }
    // The loader baked into the binary resolves inside the tree.
    expect(existsSync(join(tree, "lib64/ld-linux-x86-64.so.2"))).toBe(true);
    // libssl comes with its soname link (or file) and the real file behind it.
    expect(existsSync(join(tree, "usr/lib/x86_64-linux-gnu/libssl.so.3"))).toBe(true);
    expect(existsSync(join(tree, "usr/lib/x86_64-linux-gnu/libsqlite3.so.0"))).toBe(true);
  });

  it("brings nothing else of the host: no shell, an /etc of its own", () => {
    const tree = join(python.ctx.dir, "isolated");
    expect(existsSync(join(tree, "bin/sh"))).toBe(false);
    expect(existsSync(join(tree, "usr/bin/sh"))).toBe(false);
    expect(existsSync(join(tree, "usr/bin/bash"))).toBe(false);
    expect(existsSync(join(tree, "etc/ld.so.cache"))).toBe(false);
    expect(existsSync(join(tree, "etc/hostname"))).toBe(false);
    expect(readFileSync(join(tree, "etc/passwd"), "utf8")).toMatch(/^nobody:x:65534:65534:/m);
    expect(readFileSync(join(tree, "etc/group"), "utf8")).toMatch(/^nogroup:x:65534:/m);
    for (const pseudo of ["proc", "sys", "dev", "tmp"]) expect(existsSync(join(tree, pseudo))).toBe(false);
  });

  it("reports copying progress up to the total and logs each item", () => {
    const copying = python.progress.filter((p) => p.phase === "copying");
    expect(copying.length).toBeGreaterThan(1);
    const last = copying.at(-1) as BuildProgress;
    expect(last.totalBytes).toBeGreaterThan(10 * 1024 * 1024);
    expect(last.bytes).toBe(last.totalBytes);
    expect(last.percent).toBe(100);
    expect(python.lines.some((l) => l.includes("binary python3"))).toBe(true);
    expect(python.lines.some((l) => l.includes("path /usr/lib/python3.11"))).toBe(true);
  });

  it("brings a script's interpreter (and only then a shell)", async () => {
    const r = buildDir();
    // zdump is ELF; ldd itself is a bash script on Debian.
    await buildFromHost({ binaries: ["ldd"] }, r.ctx);
    const tree = join(r.ctx.dir, "isolated");
    const shebang = readFileSync("/usr/bin/ldd", "utf8").split("\n")[0] as string;
    const interpreter = shebang.slice(2).trim().split(/\s+/)[0] as string;
    expect(existsSync(join(tree, interpreter))).toBe(true);
    const { stdout } = await run("chroot", [tree, "/usr/bin/ldd", "--version"], { env: CHROOT_ENV });
    expect(stdout).toMatch(/ldd/);
  }, SLOW);

  it("names a missing binary, a relative one and a missing path", async () => {
    const missing = await sourceError(buildFromHost({ binaries: ["no-such-binary-joblet"] }, buildDir().ctx));
    expect(missing.message).toMatch(/^spec\.source\.host\.binaries: 'no-such-binary-joblet' is not a file on this host \(looked in \/usr\/local\/sbin, /);

    const absolute = await sourceError(buildFromHost({ binaries: ["/usr/bin/no-such-binary-joblet"] }, buildDir().ctx));
    expect(absolute.message).toContain("'/usr/bin/no-such-binary-joblet' is not a file on this host");

    const relative = await sourceError(buildFromHost({ binaries: ["bin/true"] }, buildDir().ctx));
    expect(relative.message).toContain("spec.source.host.binaries: 'bin/true'");

    const path = await sourceError(buildFromHost({ binaries: ["true"], paths: ["/usr/share/no-such-dir-joblet"] }, buildDir().ctx));
    expect(path.message).toMatch(/^spec\.source\.host\.paths: '\/usr\/share\/no-such-dir-joblet' does not exist/);

    const pseudo = await sourceError(buildFromHost({ binaries: ["true"], paths: ["/proc/self"] }, buildDir().ctx));
    expect(pseudo.message).toContain("spec.source.host.paths: '/proc/self'");
  });

  it("keeps symlinks in paths as symlinks, not followed", async () => {
    const r = buildDir();
    // /usr/bin/python3 is a symlink to python3.11: as a path it stays a lone symlink.
    await buildFromHost({ binaries: ["true"], paths: ["/usr/bin/python3"] }, r.ctx);
    const tree = join(r.ctx.dir, "isolated");
    expect(lstatSync(join(tree, "usr/bin/python3")).isSymbolicLink()).toBe(true);
    expect(existsSync(join(tree, "usr/bin/python3.11"))).toBe(false);
  });

  it("stops when aborted", async () => {
    const r = buildDir();
    r.controller.abort(new Error("runtime deleted"));
    await expect(buildFromHost({ binaries: ["python3"], paths: ["/usr/lib/python3.11"] }, r.ctx)).rejects.toThrow("runtime deleted");
    const r2 = buildDir();
    const pending = buildFromHost({ binaries: ["python3"], paths: ["/usr/lib/python3.11"] }, r2.ctx);
    setTimeout(() => r2.controller.abort(new Error("runtime changed")), 50);
    await expect(pending).rejects.toThrow("runtime changed");
  }, SLOW);
});

describe("apt sources for a debian build", () => {
  const DEB822 = [
    "Types: deb",
    "# a comment",
    "URIs: http://mirror.example/debian",
    "Suites: bookworm bookworm-updates bookworm-backports",
    "Components: main",
    "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg",
    "",
    "Types: deb deb-src",
    "URIs: http://mirror.example/debian-security",
    "Suites: bookworm-security",
    "Components: main contrib",
    "Signed-By:",
    " -----BEGIN PGP PUBLIC KEY BLOCK-----",
    " .",
    " abc",
    " -----END PGP PUBLIC KEY BLOCK-----",
    "",
    "Types: deb",
    "Enabled: no",
    "URIs: http://mirror.example/debian",
    "Suites: bookworm",
    "Components: non-free",
    "",
  ].join("\n");

  it("reads only sources.list, *.list and *.sources, and keeps the requested suite's Debian entries with Signed-By", async () => {
    const etc = mkdtempSync(join(tmpdir(), "joblet-apt-"));
    temps.push(etc);
    mkdirSync(join(etc, "sources.list.d"));
    writeFileSync(join(etc, "sources.list"), "# nothing\ndeb-src http://mirror.example/debian bookworm main\n");
    writeFileSync(join(etc, "sources.list.d/debian.sources"), DEB822);
    writeFileSync(join(etc, "sources.list.d/thirdparty.list"), "deb [signed-by=/usr/share/keyrings/docker.gpg] https://download.example/linux/debian bookworm stable\n");
    writeFileSync(join(etc, "sources.list.d/other.list.disabled-by-farm"), "deb http://other.example/debian bookworm main\n");
    writeFileSync(join(etc, "sources.list.d/node.sources.disabled-by-farm"), "Types: deb\nURIs: http://other.example/debian\nSuites: bookworm\nComponents: main\n");
    const all = await readHostAptSources(etc);
    expect(all.map((e) => e.uris[0])).toEqual(["http://mirror.example/debian", "http://mirror.example/debian-security", "https://download.example/linux/debian"]);

    const picked = sourcesForSuite(all, "bookworm");
    expect(picked?.substituted).toBe(false);
    expect(picked?.entries.map((e) => [e.uris[0], e.suites])).toEqual([
      ["http://mirror.example/debian", ["bookworm", "bookworm-updates"]],
      ["http://mirror.example/debian-security", ["bookworm-security"]],
    ]);
    const text = formatDeb822(picked?.entries ?? []);
    expect(text).toContain("Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg");
    expect(text).toContain("Signed-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n abc\n");
    expect(text).not.toContain("download.example");
    // What we write, mmdebstrap (and apt) read back the same.
    expect(parseDeb822(text, "x").map((e) => e.suites)).toEqual([["bookworm", "bookworm-updates"], ["bookworm-security"]]);
  });

  it("re-points the host's Debian entries at a suite it has none for", () => {
    const host = parseOneLine(
      [
        "deb http://mirror.example/debian bookworm main contrib",
        "deb http://mirror.example/debian bookworm-updates main contrib",
        "deb [arch=amd64] http://mirror.example/debian-security bookworm-security main",
        "deb http://download.example/linux/debian bookworm stable",
      ].join("\n"),
      "sources.list",
    );
    const trixie = sourcesForSuite(host, "trixie");
    expect(trixie?.substituted).toBe(true);
    expect(trixie?.entries.map((e) => `${e.uris[0]} ${e.suites.join(",")} ${e.components.join(",")}`)).toEqual([
      "http://mirror.example/debian trixie main,contrib",
      "http://mirror.example/debian trixie-updates main,contrib",
      "http://mirror.example/debian-security trixie-security main",
    ]);
    expect(trixie?.entries[2]?.fields).toEqual([["Architectures", "amd64"]]);
    const sid = sourcesForSuite(host, "sid");
    expect(sid?.entries.flatMap((e) => e.suites)).toEqual(["sid"]);
    expect(sourcesForSuite(parseOneLine("deb http://download.example/linux/debian bookworm stable\n", "x"), "bookworm")).toBeUndefined();
  });
});

describe("debian source pieces", () => {
  const pkg = (name: string, depends: string[][] = [], extra: Partial<{ essential: boolean; provides: string[] }> = {}) =>
    [name, { name, essential: extra.essential ?? false, required: false, depends, provides: extra.provides ?? [] }] as const;

  it("purges build tools a runtime package dragged in, keeps them when asked for", () => {
    const installed = new Map([
      pkg("libc6", [], { essential: true }),
      pkg("python3-scipy", [["python3-pythran"], ["libc6"]]),
      pkg("python3-pythran", [["g++", "c++-compiler"], ["libboost-dev"]]),
      pkg("g++", [["g++-12"]]),
      pkg("g++-12", [["gcc-12"], ["libisl23"]]),
      pkg("gcc-12", [["libisl23"]]),
      pkg("libisl23"),
      pkg("libboost-dev", [["libboost1.74-dev"]]),
      pkg("libboost1.74-dev"),
      pkg("build-essential", [["g++"], ["libc6-dev"]]),
      pkg("libc6-dev", [["libc6"]]),
    ]);
    expect(unneededPackages(installed, ["python3-scipy"])).toEqual(["build-essential", "g++", "g++-12", "gcc-12", "libboost-dev", "libboost1.74-dev", "libc6-dev", "libisl23"]);
    expect(unneededPackages(installed, ["python3-scipy", "build-essential"])).toEqual(["libboost-dev", "libboost1.74-dev"]);
    expect(unneededPackages(installed, ["python3-pythran"])).toEqual(["build-essential", "libc6-dev", "python3-scipy"]);
  });

  it("turns mmdebstrap's verbose output into phases with percentages", () => {
    const seen: BuildProgress[] = [];
    const progress = new BootstrapProgress((p) => seen.push(p));
    const lines = [
      "I: running apt-get update...",
      "Get:1 http://mirror.example/debian bookworm InRelease [151 kB]",
      "I: downloading packages with apt...",
      "0 upgraded, 2 newly installed, 0 to remove and 0 not upgraded.",
      "Get:1 http://mirror.example/debian bookworm/main amd64 libc6 amd64 2.36 [2759 kB]",
      "Get:2 http://mirror.example/debian bookworm/main amd64 dash amd64 0.5 [99 kB]",
      "I: extracting archives...",
      "I: installing essential packages...",
      "Unpacking libc6:amd64 (2.36) ...",
      "Unpacking dash (0.5) ...",
      "Setting up libc6:amd64 (2.36) ...",
      "Setting up dash (0.5) ...",
      "I: installing remaining packages inside the chroot...",
      "0 upgraded, 1 newly installed, 0 to remove and 0 not upgraded.",
      "Get:1 http://mirror.example/debian bookworm/main amd64 jq amd64 1.6 [64 kB]",
      "Unpacking jq (1.6) ...",
      "Setting up jq (1.6) ...",
      "I: cleaning package lists and apt cache...",
    ];
    for (const line of lines) progress.line(line);
    const byPhase = (phase: string) => seen.filter((p) => p.phase === phase).map((p) => p.percent);
    expect(seen.map((p) => p.phase).filter((p, i, all) => all.indexOf(p) === i)).toEqual([
      "updating package lists",
      "downloading",
      "unpacking",
      "installing essential packages",
      "installing packages",
      "cleaning up",
    ]);
    expect(byPhase("downloading")).toEqual([undefined, 50, 100]);
    expect(byPhase("installing essential packages")).toEqual([0, 25, 50, 75, 100]);
    expect(byPhase("installing packages")).toEqual([undefined, 33, 66, 100]);
  });

  it("refuses names that are not suites or packages before running anything", async () => {
    const suite = await sourceError(buildFromDebian({ suite: "bookworm; rm -rf /", packages: [] }, buildDir().ctx));
    expect(suite.message).toMatch(/^spec\.source\.debian\.suite: 'bookworm; rm -rf \/'/);
    const bad = await sourceError(buildFromDebian({ suite: "bookworm", packages: ["python3", "$(reboot)"] }, buildDir().ctx));
    expect(bad.message).toMatch(/^spec\.source\.debian\.packages: '\$\(reboot\)' is not a Debian package name/);
  });
});

/** mmdebstrap processes building into `dir`, by their command lines. */
function bootstrapsInto(dir: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, "utf8").includes(dir)) pids.push(Number(name));
    } catch {
      // gone
    }
  }
  return pids;
}

describe("debian source (needs this host's apt sources and the network to their archive)", () => {
  it("names an unknown package", async () => {
    const r = buildDir();
    const err = await sourceError(buildFromDebian({ suite: "bookworm", packages: ["python3", "joblet-no-such-package"] }, r.ctx));
    expect(err.message).toMatch(/^spec\.source\.debian\.packages: 'joblet-no-such-package' is not a package in bookworm \(/);
    expect(r.lines.some((l) => l.includes("Unable to locate package joblet-no-such-package"))).toBe(true);
    expect(mountsUnder(r.ctx.dir)).toEqual([]);
  }, SLOW);

  it("names an unknown suite", async () => {
    const r = buildDir();
    const err = await sourceError(buildFromDebian({ suite: "joblet-no-such-suite", packages: [] }, r.ctx));
    expect(err.message).toMatch(/^spec\.source\.debian\.suite: 'joblet-no-such-suite' is not a suite/);
  }, SLOW);

  it("builds a small root that runs, with no device nodes, mounts or caches left", async () => {
    const r = buildDir();
    await buildFromDebian({ suite: "bookworm", packages: ["jq"] }, r.ctx);
    const tree = join(r.ctx.dir, "isolated");
    expect(mountsUnder(r.ctx.dir)).toEqual([]);
    const { stdout } = await run("chroot", [tree, "/usr/bin/jq", "-n", "6*7"], { env: CHROOT_ENV });
    expect(stdout.trim()).toBe("42");
    for (const dir of ["dev", "proc", "sys", "var/cache", "var/log", "var/lib/apt/lists"]) expect(readdirSync(join(tree, dir))).toEqual([]);
    expect(existsSync(join(tree, "etc/resolv.conf"))).toBe(false);
    expect(readdirSync(join(tree, "usr/share/doc/jq"))).toEqual(["copyright"]);
    expect(existsSync(join(tree, "usr/share/man/man1"))).toBe(false);
    expect(existsSync(join(r.ctx.dir, ".debian-sources"))).toBe(false);
    expect(readdirSync(r.ctx.dir)).toEqual(["isolated"]);
    const phases = new Set(r.progress.map((p) => p.phase));
    for (const phase of ["downloading", "installing packages", "trimming"]) expect(phases).toContain(phase);
  }, SLOW);

  it("stops when aborted: the bootstrap is killed and nothing stays mounted", async () => {
    const r = buildDir();
    const pending = buildFromDebian({ suite: "bookworm", packages: ["jq"] }, r.ctx);
    const settled = pending.then(
      () => "finished",
      (err: unknown) => `failed: ${String(err)}`,
    );
    // Abort once dpkg is at work inside the tree (its /proc and /dev are mounted then).
    let timer: NodeJS.Timeout | undefined;
    const installing = new Promise<string>((resolve) => {
      timer = setInterval(() => {
        if (r.progress.some((p) => p.phase === "installing essential packages")) resolve("installing");
      }, 50);
    });
    const first = await Promise.race([installing, settled]);
    clearInterval(timer);
    if (first !== "installing") throw new Error(`The build ${first} before it could be aborted`);
    r.controller.abort(new Error("runtime deleted"));
    await expect(pending).rejects.toThrow("runtime deleted");
    expect(bootstrapsInto(r.ctx.dir)).toEqual([]);
    expect(mountsUnder(r.ctx.dir)).toEqual([]);
  }, SLOW);
});
