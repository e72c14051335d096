import { execFile } from "node:child_process";
import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RuntimeSourceError, type BuildContext, type BuildProgress } from "../../src/runtimes/build-context.js";
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
