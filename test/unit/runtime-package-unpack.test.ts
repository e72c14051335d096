import { execFileSync } from "node:child_process";
import { chmod, link, lstat, mkdir, readdir, readFile, stat, symlink, truncate, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { RuntimeSourceError } from "../../src/runtimes/build-context.js";
import { packRuntime } from "../../src/runtimes/package/pack.js";
import { unpackPackage, type UnpackOptions } from "../../src/runtimes/package/unpack.js";
import {
  craftTarGz,
  craftZip,
  directory,
  file,
  hardlinkItem,
  listTree,
  minimal,
  recordingContext,
  removeTemps,
  sha256,
  symlinkItem,
  tempDir,
  writeTemp,
  type TarItem,
} from "./runtime-package-harness.js";

afterEach(removeTemps);

/** Unpacks `archive` into a fresh dir; returns the dir and the context used. */
async function unpack(archive: Buffer, options?: UnpackOptions, name = "package.tar.gz") {
  const work = await tempDir("unpack");
  const path = await writeTemp(work, name, archive);
  const dir = join(work, "build");
  await mkdir(dir);
  const ctx = recordingContext(dir);
  await unpackPackage(path, dir, ctx, options);
  return { dir, ctx };
}

/** The package must be refused with a RuntimeSourceError matching `message`, leaving `dir` empty. */
async function expectRefused(archive: Buffer, message: RegExp, options?: UnpackOptions, name = "package.tar.gz"): Promise<void> {
  const work = await tempDir("refused");
  const path = await writeTemp(work, name, archive);
  const dir = join(work, "build");
  await mkdir(dir);
  const error = await unpackPackage(path, dir, recordingContext(dir), options).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RuntimeSourceError);
  expect((error as Error).message).toMatch(message);
  expect(await readdir(dir)).toEqual([]);
}

describe("packRuntime -> unpackPackage", () => {
  it("round-trips files, modes, nested directories, symlinks and runtime.yml byte for byte", async () => {
    const src = await tempDir("runtime");
    const yml = Buffer.from("name: python-3.11-ml\nversion: '1.0'\n# ünïcödé, no trailing newline", "utf8");
    await writeFile(join(src, "runtime.yml"), yml);
    await writeFile(join(src, "runtime.yml.original"), "original: true\n");
    const iso = join(src, "isolated");
    await mkdir(join(iso, "usr/lib/python3/dist-packages/a/b/c"), { recursive: true });
    await mkdir(join(iso, "empty"), { recursive: true });
    await mkdir(join(iso, "tmp"));
    await chmod(join(iso, "tmp"), 0o1777);
    await mkdir(join(iso, "usr/bin"));
    await writeFile(join(iso, "usr/bin/tool"), "#!/bin/sh\necho hi\n");
    await chmod(join(iso, "usr/bin/tool"), 0o755);
    await writeFile(join(iso, "usr/bin/suid"), "x");
    await chmod(join(iso, "usr/bin/suid"), 0o4755);
    await writeFile(join(iso, "usr/lib/world-writable"), "w");
    await chmod(join(iso, "usr/lib/world-writable"), 0o666);
    await writeFile(join(iso, "usr/lib/empty-file"), "");
    const big = randomBytes(3 * 1024 * 1024 + 17);
    await writeFile(join(iso, "usr/lib/python3/dist-packages/a/b/c/big.bin"), big);
    const longName = `${"d".repeat(90)}/${"e".repeat(90)}/${"f".repeat(60)}.py`;
    await mkdir(join(iso, "usr/lib", longName, ".."), { recursive: true });
    await writeFile(join(iso, "usr/lib", longName), "long");
    await writeFile(join(iso, "usr/lib/naïve-名前.txt"), "utf8 name");
    await symlink("tool", join(iso, "usr/bin/tool-link"));
    await symlink("/usr/lib", join(iso, "lib64"));
    await symlink("../lib/missing", join(iso, "usr/bin/dangling"));
    await link(join(iso, "usr/bin/tool"), join(iso, "usr/bin/tool-hard"));
    execFileSync("mkfifo", [join(iso, "usr/lib/a-fifo")]);
    const mtime = new Date("2021-03-04T05:06:07Z");
    await utimes(join(iso, "usr/bin/tool"), mtime, mtime);

    const out = join(await tempDir("out"), "python-3.11-ml.tar.gz");
    const packed = await packRuntime(src, out);
    const archive = await readFile(out);
    expect(packed).toEqual({ sha256: sha256(archive), bytes: archive.length });
    expect(await readFile(`${out}.sha256`, "utf8")).toBe(`${packed.sha256}  python-3.11-ml.tar.gz\n`);
    await expect(stat(`${out}.tmp`)).rejects.toThrow(/ENOENT/);

    const { dir, ctx } = await unpack(archive);
    expect((await readdir(dir)).sort()).toEqual(["isolated", "runtime.yml", "runtime.yml.original"]);
    expect((await readFile(join(dir, "runtime.yml"))).equals(yml)).toBe(true);
    expect(await readFile(join(dir, "runtime.yml.original"), "utf8")).toBe("original: true\n");

    const expected = await listTree(iso);
    delete expected["usr/lib/a-fifo"]; // fifos are not packed
    // Policy: no set-id/sticky bits, no group/other write.
    expected["usr/bin/suid"]!.mode = 0o755;
    expected["usr/lib/world-writable"]!.mode = 0o644;
    expected["tmp"]!.mode = 0o755;
    const got = await listTree(join(dir, "isolated"));
    expect(got).toEqual(expected);
    expect(got["usr/bin/tool-hard"]).toMatchObject({ type: "file", sha256: sha256("#!/bin/sh\necho hi\n") });
    expect(got["usr/lib/python3/dist-packages/a/b/c/big.bin"]!.sha256).toBe(sha256(big));
    expect((await stat(join(dir, "isolated/usr/bin/tool"))).mtime.getTime()).toBe(mtime.getTime());
    expect((await stat(join(dir, "isolated/usr/bin/tool"))).uid).toBe(0);

    const last = ctx.progresses.at(-1);
    expect(last).toMatchObject({ phase: "unpacking", bytes: archive.length, totalBytes: archive.length, percent: 100 });
  });

  it("packs runtime.yml first and the tree in sorted order, reproducibly", async () => {
    const src = await tempDir("runtime");
    await writeFile(join(src, "runtime.yml"), "name: x\n");
    await mkdir(join(src, "isolated/b"), { recursive: true });
    await writeFile(join(src, "isolated/c"), "c");
    await writeFile(join(src, "isolated/a"), "a");
    await writeFile(join(src, "isolated/b/z"), "z");
    await writeFile(join(src, "README"), "not packed");
    const outDir = await tempDir("out");
    const one = await packRuntime(src, join(outDir, "one.tar.gz"));
    const two = await packRuntime(src, join(outDir, "two.tar.gz"));
    expect(one.sha256).toBe(two.sha256);
    const names = execFileSync("tar", ["-tzf", join(outDir, "one.tar.gz")], { encoding: "utf8" }).trim().split("\n");
    expect(names).toEqual(["runtime.yml", "isolated/", "isolated/a", "isolated/b/", "isolated/b/z", "isolated/c"]);
  });

  it("refuses to pack a directory that is not a runtime", async () => {
    const src = await tempDir("runtime");
    await mkdir(join(src, "isolated"));
    await expect(packRuntime(src, join(src, "out.tar.gz"))).rejects.toThrow(/no runtime\.yml/);
  });
});

describe("unpackPackage layouts", () => {
  it("unpacks a zip of the original Joblet layout, stripping its top-level directory", async () => {
    const zip = await craftZip([
      { name: "python-3.11-ml/", directory: true },
      { name: "python-3.11-ml/README.md", body: "# readme" },
      { name: "python-3.11-ml/setup.sh", body: "#!/bin/bash\n", mode: 0o100755 },
      { name: "python-3.11-ml/isolated/usr/bin/python3.11", body: "ELF", mode: 0o100755 },
      { name: "python-3.11-ml/isolated/usr/bin/python3", body: "python3.11", mode: 0o120777 },
      { name: "python-3.11-ml/isolated/usr/lib/empty/", directory: true, mode: 0o40700 },
      { name: "python-3.11-ml/isolated/etc/os-release", body: "ID=debian\n" },
      { name: "python-3.11-ml/runtime.yml", body: "name: python-3.11-ml\n" },
    ]);
    // Named .tar.gz on purpose: the format comes from the bytes.
    const { dir, ctx } = await unpack(zip, undefined, "python-3.11-ml.tar.gz");
    expect((await readdir(dir)).sort()).toEqual(["isolated", "runtime.yml"]);
    expect(await readFile(join(dir, "runtime.yml"), "utf8")).toBe("name: python-3.11-ml\n");
    expect(await listTree(join(dir, "isolated"))).toEqual({
      etc: { type: "dir", mode: 0o755 },
      "etc/os-release": { type: "file", mode: 0o644, sha256: sha256("ID=debian\n") },
      usr: { type: "dir", mode: 0o755 },
      "usr/bin": { type: "dir", mode: 0o755 },
      "usr/bin/python3": { type: "symlink", mode: 0o777, target: "python3.11" },
      "usr/bin/python3.11": { type: "file", mode: 0o755, sha256: sha256("ELF") },
      "usr/lib": { type: "dir", mode: 0o755 },
      "usr/lib/empty": { type: "dir", mode: 0o700 },
    });
    expect(ctx.logs.join("\n")).toMatch(/skipping 'python-3.11-ml\/README.md'/);
    expect(ctx.logs.join("\n")).toMatch(/from the top-level directory 'python-3.11-ml\/'/);
  });

  it("unpacks a tar with './' prefixes, a wrapping directory written after its tree, and hardlinks", async () => {
    const archive = await craftTarGz([
      directory("./"),
      directory("./rt/"),
      file("./rt/isolated/bin/sh", "shell", 0o755),
      hardlinkItem("./rt/isolated/bin/bash", "./rt/isolated/bin/sh"),
      file("./rt/install.sh", "ignored"),
      file("./rt/runtime.yml", "name: rt\n"),
      file("./NOTES", "ignored"),
    ]);
    const { dir } = await unpack(archive);
    expect(await listTree(dir)).toEqual({
      isolated: { type: "dir", mode: 0o755 },
      "isolated/bin": { type: "dir", mode: 0o755 },
      "isolated/bin/bash": { type: "file", mode: 0o755, sha256: sha256("shell") },
      "isolated/bin/sh": { type: "file", mode: 0o755, sha256: sha256("shell") },
      "runtime.yml": { type: "file", mode: 0o644, sha256: sha256("name: rt\n") },
    });
    const [a, b] = await Promise.all([stat(join(dir, "isolated/bin/sh")), stat(join(dir, "isolated/bin/bash"))]);
    expect(a.ino).toBe(b.ino);
  });

  it("prefers runtime.yml at the root over one in a directory, and keeps a rootfs path named like the layout", async () => {
    const archive = await craftTarGz(
      minimal(file("isolated/runtime.yml", "a file of the rootfs"), file("isolated/isolated/x", "nested"), file("other/runtime.yml", "not this")),
    );
    const { dir } = await unpack(archive);
    expect(await readFile(join(dir, "runtime.yml"), "utf8")).toBe("name: minimal\n");
    expect(await readFile(join(dir, "isolated/runtime.yml"), "utf8")).toBe("a file of the rootfs");
    expect(await readFile(join(dir, "isolated/isolated/x"), "utf8")).toBe("nested");
    expect(await readdir(dir)).toEqual(expect.arrayContaining(["isolated", "runtime.yml"]));
    expect(await readdir(dir)).toHaveLength(2);
  });

  it("keeps symlinks that stay in the tree and absolute ones", async () => {
    const archive = await craftTarGz(
      minimal(
        symlinkItem("isolated/usr/bin/python3", "python3.11"),
        symlinkItem("isolated/lib", "usr/lib"),
        symlinkItem("isolated/usr/lib/up", "../.."),
        symlinkItem("isolated/etc/mtab", "/proc/self/mounts"),
      ),
    );
    const { dir } = await unpack(archive);
    const tree = await listTree(join(dir, "isolated"));
    expect(tree["usr/bin/python3"]).toMatchObject({ type: "symlink", target: "python3.11" });
    expect(tree["lib"]).toMatchObject({ type: "symlink", target: "usr/lib" });
    expect(tree["usr/lib/up"]).toMatchObject({ type: "symlink", target: "../.." });
    expect(tree["etc/mtab"]).toMatchObject({ type: "symlink", target: "/proc/self/mounts" });
  });
});

describe("unpackPackage refuses", () => {
  it("an entry with '..'", async () => {
    await expectRefused(await craftTarGz(minimal(file("isolated/../../evil", "x"))), /archive entry 'isolated\/\.\.\/\.\.\/evil' has a '\.\.' segment/);
  });

  it("an absolute entry path", async () => {
    await expectRefused(await craftTarGz(minimal(file("/etc/evil", "x"))), /archive entry '\/etc\/evil' is an absolute path/);
  });

  it("an entry with a backslash", async () => {
    await expectRefused(await craftTarGz(minimal(file("isolated\\..\\evil", "x"))), /archive entry 'isolated\\\.\.\\evil' contains a backslash/);
  });

  it("a symlink pointing out of the runtime tree", async () => {
    await expectRefused(
      await craftTarGz(minimal(symlinkItem("isolated/x", "../../etc/passwd"))),
      /symlink 'isolated\/x' -> '\.\.\/\.\.\/etc\/passwd' points out of the runtime tree/,
    );
    await expectRefused(await craftTarGz(minimal(symlinkItem("isolated/a/b", "../../runtime.yml"))), /symlink 'isolated\/a\/b' -> '\.\.\/\.\.\/runtime\.yml' points out/);
  });

  it("a symlink outside isolated/, or as runtime.yml", async () => {
    await expectRefused(await craftTarGz(minimal(symlinkItem("runtime.yml.original", "isolated/bin/true"))), /symlink 'runtime\.yml\.original' is outside isolated\//);
    await expectRefused(
      await craftTarGz([symlinkItem("runtime.yml", "isolated/etc/x"), directory("isolated"), file("isolated/etc/x", "y")]),
      /runtime\.yml is a symlink, not a regular file/,
    );
  });

  it("a file written through a symlink of the archive, and never writes outside", async () => {
    const outside = await tempDir("outside");
    await expectRefused(
      await craftTarGz(minimal(symlinkItem("isolated/lib", outside), file("isolated/lib/pwned", "owned"))),
      /archive entry 'isolated\/lib' appears twice/,
    );
    expect(await readdir(outside)).toEqual([]);
  });

  it("hardlinks out of the tree or to nothing", async () => {
    await expectRefused(await craftTarGz(minimal(hardlinkItem("isolated/h", "../etc/passwd"))), /hardlink 'isolated\/h' -> '\.\.\/etc\/passwd': the target has a '\.\.' segment/);
    await expectRefused(await craftTarGz(minimal(hardlinkItem("isolated/h", "/etc/passwd"))), /hardlink 'isolated\/h' -> '\/etc\/passwd': the target is an absolute path/);
    await expectRefused(await craftTarGz(minimal(hardlinkItem("isolated/h", "runtime.yml"))), /hardlink 'isolated\/h' -> 'runtime\.yml' points out of the runtime tree/);
    await expectRefused(await craftTarGz(minimal(hardlinkItem("isolated/h", "isolated/nothing"))), /hardlink 'isolated\/h' -> 'isolated\/nothing' names no file/);
  });

  it("a duplicate entry", async () => {
    await expectRefused(await craftTarGz(minimal(file("isolated/bin/true", "again"))), /archive entry 'isolated\/bin\/true' appears twice/);
  });

  it("a package without runtime.yml, or without isolated/", async () => {
    await expectRefused(await craftTarGz([directory("isolated"), file("isolated/x", "x")]), /^package has no runtime\.yml \(at its root or in one top-level directory\)$/);
    await expectRefused(await craftTarGz([file("a/b/runtime.yml", "too deep"), file("a/b/isolated/x", "x")]), /package has no runtime\.yml/);
    await expectRefused(await craftTarGz([file("runtime.yml", "name: x\n"), file("README", "x")]), /package has no isolated\/ directory/);
    await expectRefused(await craftTarGz([file("a/runtime.yml", "a"), file("b/runtime.yml", "b"), file("a/isolated/x", "x")]), /runtime\.yml in more than one top-level directory \('a\/', 'b\/'\)/);
  });

  it("a device node or fifo entry", async () => {
    await expectRefused(
      await craftTarGz(minimal({ header: { name: "isolated/dev/null", type: "character-device", devmajor: 1, devminor: 3 } })),
      /archive entry 'isolated\/dev\/null' is a character-device/,
    );
    await expectRefused(await craftTarGz(minimal({ header: { name: "isolated/pipe", type: "fifo" } })), /archive entry 'isolated\/pipe' is a fifo/);
  });

  it("a truncated .tar.gz", async () => {
    const src = await tempDir("runtime");
    await writeFile(join(src, "runtime.yml"), "name: x\n");
    await mkdir(join(src, "isolated"));
    await writeFile(join(src, "isolated/data"), randomBytes(200_000));
    const out = join(await tempDir("out"), "x.tar.gz");
    await packRuntime(src, out);
    await truncate(out, Math.floor((await stat(out)).size / 2));
    await expectRefused(await readFile(out), /^corrupt package: /);
  });

  it("random bytes behind gzip's magic, and a gzip'd non-tar", async () => {
    await expectRefused(Buffer.concat([Buffer.from([0x1f, 0x8b]), randomBytes(4096)]), /^corrupt package: /);
    const { gzipSync } = await import("node:zlib");
    await expectRefused(gzipSync(randomBytes(4096)), /^corrupt package: /);
  });

  it("a file that is no archive", async () => {
    await expectRefused(Buffer.from("just some text\n"), /is neither a \.tar\.gz nor a \.zip package/);
    await expectRefused(Buffer.alloc(0), /is neither a \.tar\.gz nor a \.zip package/);
  });

  it("more bytes or entries than allowed (zip and tar bombs)", async () => {
    const items = minimal(file("isolated/big", Buffer.alloc(100_000)));
    await expectRefused(await craftTarGz(items), /package unpacks to more than 50000 bytes \(at archive entry 'isolated\/big'\)/, { maxBytes: 50_000 });
    const many: TarItem[] = minimal(...Array.from({ length: 20 }, (_, i) => file(`isolated/f${i}`, "")));
    await expectRefused(await craftTarGz(many), /package has more than 10 entries/, { maxEntries: 10 });
    const zip = await craftZip([
      { name: "runtime.yml", body: "name: x\n" },
      { name: "isolated/zeros", body: Buffer.alloc(1_000_000) },
    ]);
    expect(zip.length).toBeLessThan(10_000);
    await expectRefused(zip, /package unpacks to more than 100000 bytes/, { maxBytes: 100_000 }, "bomb.zip");
  });

  it("zip entries with '..' or an absolute path, with their own words", async () => {
    // yazl refuses such names, so they are patched in after (same length, both headers).
    const patch = (zip: Buffer, from: string, to: string) => {
      const out = Buffer.from(zip);
      let at = out.indexOf(from);
      expect(at).toBeGreaterThan(-1);
      while (at !== -1) {
        out.write(to, at, "latin1");
        at = out.indexOf(from, at + 1);
      }
      return out;
    };
    const zip = await craftZip([
      { name: "runtime.yml", body: "name: x\n" },
      { name: "isolated/XX/evil", body: "x" },
    ]);
    await expectRefused(patch(zip, "isolated/XX/evil", "isolated/../evil"), /archive entry 'isolated\/\.\.\/evil' has a '\.\.' segment/, undefined, "p.zip");
    await expectRefused(patch(zip, "isolated/XX/evil", "/etc/passwd_evil"), /archive entry '\/etc\/passwd_evil' is an absolute path/, undefined, "p.zip");
    await expectRefused(patch(zip, "isolated/XX/evil", "isolated\\XX\\evil"), /contains a backslash/, undefined, "p.zip");
  });

  it("a zip symlink pointing out, a damaged zip entry, and a truncated zip", async () => {
    const out = await craftZip([
      { name: "runtime.yml", body: "name: x\n" },
      { name: "isolated/escape", body: "../../../etc/shadow", mode: 0o120777 },
    ]);
    await expectRefused(out, /symlink 'isolated\/escape' -> '\.\.\/\.\.\/\.\.\/etc\/shadow' points out of the runtime tree/, undefined, "p.zip");

    const content = "ABCDEFGHIJKLMNOPQRSTUVWXYZ".repeat(4);
    const zip = await craftZip([
      { name: "runtime.yml", body: "name: x\n" },
      { name: "isolated/data", body: content },
    ]);
    // yazl deflates; flip a byte inside the compressed data of the second entry.
    const damaged = Buffer.from(zip);
    const at = damaged.indexOf("isolated/data") + "isolated/data".length + 2;
    damaged[at] = damaged[at]! ^ 0xff;
    await expectRefused(damaged, /^corrupt package: /, undefined, "p.zip");
    await expectRefused(zip.subarray(0, zip.length - 30), /^corrupt package: /, undefined, "p.zip");
  });

  it("when aborted mid-unpack, and leaves the dir empty", async () => {
    const work = await tempDir("abort");
    const blobs = Array.from({ length: 8 }, (_, i) => file(`isolated/blob${i}`, randomBytes(1024 * 1024)));
    const path = await writeTemp(work, "p.tar.gz", await craftTarGz(minimal(...blobs)));
    const dir = join(work, "build");
    await mkdir(dir);
    const ctx = recordingContext(dir);
    const seen: number[] = [];
    ctx.progress = (p) => {
      seen.push(p.bytes ?? 0);
      if (seen.length === 2) ctx.controller.abort(new Error("runtime changed"));
    };
    await expect(unpackPackage(path, dir, ctx)).rejects.toThrow("runtime changed");
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(seen.at(-1)!).toBeLessThan((await stat(path)).size);
    expect(await readdir(dir)).toEqual([]);
  });

  it("nothing when aborted before starting, and leaves the dir empty", async () => {
    const work = await tempDir("abort");
    const path = await writeTemp(work, "p.tar.gz", await craftTarGz(minimal()));
    const dir = join(work, "build");
    await mkdir(dir);
    const ctx = recordingContext(dir);
    ctx.controller.abort(new Error("runtime deleted"));
    await expect(unpackPackage(path, dir, ctx)).rejects.toThrow("runtime deleted");
    expect(await readdir(dir)).toEqual([]);
    expect((await lstat(dir)).isDirectory()).toBe(true);
  });
});
