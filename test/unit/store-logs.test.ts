import { appendFileSync, closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { resolveLayout } from "../../src/store/layout.js";
import { followLog, readTail, runLogPaths } from "../../src/store/log-files.js";

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "joblet-store-logs-"));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("readTail", () => {
  it("returns the last N lines, with or without a final newline", async () => {
    const path = join(dir, "a.log");
    writeFileSync(path, "one\ntwo\nthree\nfour\n");
    expect((await readTail(path, 2)).data.toString()).toBe("three\nfour\n");
    expect((await readTail(path, 10)).data.toString()).toBe("one\ntwo\nthree\nfour\n");
    expect((await readTail(path, 0)).data.toString()).toBe("");
    writeFileSync(path, "one\ntwo\nthree");
    expect((await readTail(path, 1)).data.toString()).toBe("three");
    expect((await readTail(path, 2)).data.toString()).toBe("two\nthree");
    expect((await readTail(join(dir, "missing.log"), 5)).data.length).toBe(0);
  });

  it("finds lines across chunk boundaries", async () => {
    const path = join(dir, "b.log");
    const all = Array.from({ length: 500 }, (_, i) => `line ${i} ${"é".repeat(i % 7)}`);
    writeFileSync(path, `${all.join("\n")}\n`);
    const tail = await readTail(path, 123, 7);
    expect(tail.data.toString()).toBe(`${all.slice(-123).join("\n")}\n`);
  });

  it("reads only the end of a 50 MB file for its last 10 lines", async () => {
    const path = join(dir, "big.log");
    const fd = openSync(path, "w");
    const block = Buffer.from(`${"x".repeat(99)}\n`.repeat(10_000)); // 1 MB of 100-byte lines
    for (let i = 0; i < 50; i++) writeSync(fd, block);
    writeSync(fd, "the end\n");
    closeSync(fd);
    const started = performance.now();
    const tail = await readTail(path, 10);
    const elapsed = performance.now() - started;
    const text = tail.data.toString();
    expect(text.split("\n")).toHaveLength(11);
    expect(text.endsWith("the end\n")).toBe(true);
    expect(tail.end).toBe(50 * block.length + 8);
    expect(tail.bytesRead).toBeLessThanOrEqual(64 * 1024);
    expect(elapsed).toBeLessThan(500); // generous: reading 50 MB is not what takes the time here
  });
});

describe("followLog", () => {
  it("yields appended data and ends once the job has ended and the file is read", async () => {
    const path = join(dir, "f.log");
    writeFileSync(path, "before\n");
    let end!: () => void;
    const ended = new Promise<void>((r) => (end = r));
    const seen: string[] = [];
    const done = (async () => {
      for await (const chunk of followLog(path, { ended, pollMs: 50 })) seen.push(chunk.toString());
    })();
    for (let i = 0; i < 5; i++) {
      await sleep(30);
      appendFileSync(path, `line ${i}\n`);
    }
    appendFileSync(path, "last words\n"); // written just before the end is announced
    end();
    await done;
    expect(seen.join("")).toBe("before\nline 0\nline 1\nline 2\nline 3\nline 4\nlast words\n");
  });

  it("waits for a file that does not exist yet and starts where asked", async () => {
    const path = join(dir, "later.log");
    let end!: () => void;
    const ended = new Promise<void>((r) => (end = r));
    const seen: string[] = [];
    const done = (async () => {
      for await (const chunk of followLog(path, { ended, from: 3, pollMs: 20 })) seen.push(chunk.toString());
    })();
    await sleep(60);
    writeFileSync(path, "abcdef");
    await sleep(60);
    expect(seen.join("")).toBe("def");
    end();
    await done;
  });

  it("stops when aborted even though the job goes on", async () => {
    const path = join(dir, "g.log");
    writeFileSync(path, "x");
    const controller = new AbortController();
    const chunks: string[] = [];
    const done = (async () => {
      for await (const chunk of followLog(path, { signal: controller.signal, pollMs: 10_000 })) chunks.push(chunk.toString());
    })();
    await sleep(50);
    controller.abort();
    await done; // would hang (and time out) if the abort did not wake the follower
    expect(chunks).toEqual(["x"]);
  });
});

it("names a run's log files under logs/jobs/<name>/<run>/", () => {
  const layout = resolveLayout({ stateDir: "/s", env: {} });
  expect(runLogPaths(layout, "demo", "3")).toEqual({
    dir: "/s/logs/jobs/demo/3",
    stdout: "/s/logs/jobs/demo/3/stdout.log",
    stderr: "/s/logs/jobs/demo/3/stderr.log",
  });
});
