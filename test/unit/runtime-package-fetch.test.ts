import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdir, readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RuntimeSourceError } from "../../src/runtimes/build-context.js";
import { fetchVerified } from "../../src/runtimes/package/fetch.js";
import { unpackPackage } from "../../src/runtimes/package/unpack.js";
import { craftTarGz, minimal, recordingContext, removeTemps, sha256, tempDir, writeTemp } from "./runtime-package-harness.js";

let server: Server;
let base: string;
let pkg: Buffer;
/** Responses of /stall, held open so the test decides when they end. */
const stalled: ServerResponse[] = [];
let stallStarted: () => void = () => {};

beforeAll(async () => {
  // Incompressible and big enough for several progress reports.
  pkg = await craftTarGz(minimal({ header: { name: "isolated/blob", type: "file" }, body: randomBytes(600_000) }));
  server = createServer((req, res) => {
    const url = req.url ?? "/";
    if (url === "/pkg.tar.gz") {
      res.writeHead(200, { "content-length": pkg.length, "content-type": "application/gzip" });
      // In pieces, so the client sees a stream.
      let at = 0;
      const step = () => {
        if (at >= pkg.length) return void res.end();
        const piece = pkg.subarray(at, at + 64 * 1024);
        at += piece.length;
        res.write(piece, step);
      };
      return step();
    }
    if (url === "/redirect") return void res.writeHead(302, { location: "/again" }).end();
    if (url === "/again") return void res.writeHead(301, { location: `${base}/pkg.tar.gz` }).end();
    if (url.startsWith("/loop")) return void res.writeHead(302, { location: `/loop${url.length}` }).end();
    if (url === "/missing") return void res.writeHead(404).end("no such package");
    if (url === "/broken") return void res.writeHead(503).end();
    if (url === "/stall") {
      res.writeHead(200, { "content-length": pkg.length });
      res.write(pkg.subarray(0, pkg.length / 2));
      stalled.push(res);
      stallStarted();
      return;
    }
    res.writeHead(500).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const res of stalled) res.destroy();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

afterEach(removeTemps);

async function setup() {
  const work = await tempDir("fetch");
  const dir = join(work, "build");
  await mkdir(dir);
  return { work, dir, dest: join(work, "package"), ctx: recordingContext(dir) };
}

async function failure(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => {
      throw new Error("expected a failure");
    },
    (e: unknown) => e as Error,
  );
}

describe("fetchVerified", () => {
  it("downloads over HTTP through redirects, reports progress, and the result unpacks", async () => {
    const { dir, dest, ctx } = await setup();
    const got = await fetchVerified({ url: `${base}/redirect`, sha256: sha256(pkg) }, dest, ctx);
    expect(got).toEqual({ bytes: pkg.length });
    expect((await readFile(dest)).equals(pkg)).toBe(true);
    const downloading = ctx.progresses.filter((p) => p.phase === "downloading");
    expect(downloading.length).toBeGreaterThan(2);
    expect(downloading.at(-1)).toEqual({ phase: "downloading", bytes: pkg.length, totalBytes: pkg.length, percent: 100 });
    for (let i = 1; i < downloading.length; i++) expect(downloading[i]!.bytes!).toBeGreaterThan(downloading[i - 1]!.bytes!);
    await unpackPackage(dest, dir, ctx);
    expect((await readdir(dir)).sort()).toEqual(["isolated", "runtime.yml"]);
  });

  it("accepts an upper-case sha256", async () => {
    const { dest, ctx } = await setup();
    await expect(fetchVerified({ url: `${base}/pkg.tar.gz`, sha256: sha256(pkg).toUpperCase() }, dest, ctx)).resolves.toEqual({ bytes: pkg.length });
  });

  it("names the URL and the status of a 404 (permanent) and a 503 (transient)", async () => {
    const { dest, ctx } = await setup();
    const missing = await failure(fetchVerified({ url: `${base}/missing`, sha256: sha256(pkg) }, dest, ctx));
    expect(missing).toBeInstanceOf(RuntimeSourceError);
    expect(missing.message).toBe(`spec.source.package.url: GET ${base}/missing answered 404 Not Found`);
    const broken = await failure(fetchVerified({ url: `${base}/broken`, sha256: sha256(pkg) }, dest, ctx));
    expect(broken).not.toBeInstanceOf(RuntimeSourceError);
    expect(broken.message).toMatch(new RegExp(`${base}/broken answered 503`));
    await expect(stat(dest)).rejects.toThrow(/ENOENT/);
  });

  it("gives up after 5 redirects", async () => {
    const { dest, ctx } = await setup();
    const e = await failure(fetchVerified({ url: `${base}/loop`, sha256: sha256(pkg) }, dest, ctx));
    expect(e).toBeInstanceOf(RuntimeSourceError);
    expect(e.message).toMatch(/more than 5 redirects/);
  });

  it("removes the file on a checksum mismatch, so nothing is unpacked", async () => {
    const { dir, dest, ctx } = await setup();
    const wrong = "0".repeat(64);
    const e = await failure(fetchVerified({ url: `${base}/pkg.tar.gz`, sha256: wrong }, dest, ctx));
    expect(e).toBeInstanceOf(RuntimeSourceError);
    expect(e.message).toBe(`spec.source.package.sha256: checksum mismatch for ${base}/pkg.tar.gz: expected ${wrong}, got ${sha256(pkg)}`);
    await expect(stat(dest)).rejects.toThrow(/ENOENT/);
    expect(await readdir(dir)).toEqual([]);
  });

  it("aborts mid-download and removes the partial file", async () => {
    const { dest, ctx } = await setup();
    const started = new Promise<void>((resolve) => (stallStarted = resolve));
    const fetching = failure(fetchVerified({ url: `${base}/stall`, sha256: sha256(pkg) }, dest, ctx));
    await started;
    // Wait for bytes to arrive, so the abort really lands mid-body.
    while (!ctx.progresses.some((p) => (p.bytes ?? 0) > 0)) await new Promise((r) => setTimeout(r, 5));
    ctx.controller.abort(new Error("runtime deleted"));
    const e = await fetching;
    expect(e.message).toBe("runtime deleted");
    await expect(stat(dest)).rejects.toThrow(/ENOENT/);
  });

  it("fails (transiently) when the server goes quiet", async () => {
    const { dest, ctx } = await setup();
    const e = await failure(fetchVerified({ url: `${base}/stall`, sha256: sha256(pkg) }, dest, ctx, { idleTimeoutMs: 300 }));
    expect(e).not.toBeInstanceOf(RuntimeSourceError);
    expect(e.message).toMatch(/nothing received for 0.3 s/);
    await expect(stat(dest)).rejects.toThrow(/ENOENT/);
  });

  it("reads a local path, and names spec.source.package.path when it is missing", async () => {
    const { work, dest, ctx } = await setup();
    const path = await writeTemp(work, "local.tar.gz", pkg);
    await expect(fetchVerified({ path, sha256: sha256(pkg) }, dest, ctx)).resolves.toEqual({ bytes: pkg.length });
    expect(ctx.progresses.at(-1)).toEqual({ phase: "reading", bytes: pkg.length, totalBytes: pkg.length, percent: 100 });
    const gone = join(work, "nope.tar.gz");
    const e = await failure(fetchVerified({ path: gone, sha256: sha256(pkg) }, dest, ctx));
    expect(e).toBeInstanceOf(RuntimeSourceError);
    expect(e.message).toBe(`spec.source.package.path: ${gone} does not exist`);
    const fifo = join(work, "fifo");
    execFileSync("mkfifo", [fifo]);
    await expect(fetchVerified({ path: fifo, sha256: sha256(pkg) }, dest, ctx)).rejects.toThrow(`spec.source.package.path: ${fifo} is not a regular file`);
    const mismatch = await failure(fetchVerified({ path, sha256: "a".repeat(64) }, dest, ctx));
    expect(mismatch.message).toBe(`spec.source.package.sha256: checksum mismatch for ${path}: expected ${"a".repeat(64)}, got ${sha256(pkg)}`);
  });

  it("refuses a malformed source", async () => {
    const { dest, ctx } = await setup();
    await expect(fetchVerified({ sha256: sha256(pkg) }, dest, ctx)).rejects.toThrow(/exactly one of path, url/);
    await expect(fetchVerified({ url: `${base}/pkg.tar.gz`, sha256: "abc" }, dest, ctx)).rejects.toThrow(/spec\.source\.package\.sha256: 'abc' is not 64 hex digits/);
    await expect(fetchVerified({ url: "ftp://127.0.0.1/x", sha256: sha256(pkg) }, dest, ctx)).rejects.toThrow(/is not http:\/\/ or https:\/\//);
  });
});
