// A Job's uploads as a remote apply sends them (src/cli/upload-envelope.ts).
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { envelopeFiles, MAX_UPLOAD_BYTES, normalizeUpload } from "../../src/cli/upload-envelope.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "joblet-upload-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function file(rel: string, text: string, mode = 0o644): string {
  const path = join(dir, rel);
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
}

describe("upload envelope", () => {
  it("sends a file as itself and a directory as its files (sorted, below its path), with modes, following symlinks", async () => {
    const tool = file("tool.sh", "#!/bin/sh\n", 0o755);
    file("data/b.txt", "b", 0o600);
    file("data/a/deep.txt", "deep");
    symlinkSync(tool, join(dir, "data", "link"));
    const files = await envelopeFiles([normalizeUpload({ source: tool, rel: "./tool.sh" }, "x"), { source: join(dir, "data"), rel: "data" }], "x");
    expect(files).toEqual([
      { path: "tool.sh", mode: 0o755, content: Buffer.from("#!/bin/sh\n").toString("base64") },
      { path: "data/a/deep.txt", mode: 0o644, content: Buffer.from("deep").toString("base64") },
      { path: "data/b.txt", mode: 0o600, content: Buffer.from("b").toString("base64") },
      { path: "data/link", mode: 0o755, content: Buffer.from("#!/bin/sh\n").toString("base64") },
    ]);
  });

  it("writes paths as the API wants them and refuses ones that leave the manifest's directory", () => {
    expect(normalizeUpload({ source: "/s", rel: "./a//b/" }, "x").rel).toBe("a/b");
    expect(() => normalizeUpload({ source: "/s", rel: "a/../../b" }, "job.yaml:1: job 'j'")).toThrow(
      "job.yaml:1: job 'j': cannot send 'a/../../b' to a remote daemon: a file's path must be below the manifest's directory",
    );
    expect(() => normalizeUpload({ source: "/s", rel: "." }, "x")).toThrow("cannot send '.'");
  });

  it("refuses an empty directory, a missing file and more than the daemon's cap before reading anything", async () => {
    mkdirSync(join(dir, "empty"));
    await expect(envelopeFiles([{ source: join(dir, "empty"), rel: "empty" }], "w")).rejects.toThrow("w: 'empty' is an empty directory, and a remote daemon is sent files only");
    file("tree/a.txt", "a");
    mkdirSync(join(dir, "tree", "cache"));
    await expect(envelopeFiles([{ source: join(dir, "tree"), rel: "tree" }], "w")).rejects.toThrow("w: 'tree/cache' is an empty directory");
    await expect(envelopeFiles([{ source: join(dir, "gone"), rel: "gone" }], "w")).rejects.toThrow(`w: file 'gone' does not exist (looked for ${join(dir, "gone")})`);
    const big = file("big.bin", "");
    truncateSync(big, MAX_UPLOAD_BYTES + 1); // sparse: nothing is read to find it too big
    await expect(envelopeFiles([{ source: big, rel: "big.bin" }], "w")).rejects.toThrow(`w: the uploaded files come to ${MAX_UPLOAD_BYTES + 1} bytes (64.0Mi), more than the ${MAX_UPLOAD_BYTES} (64Mi) a Job may carry`);
  });
});
