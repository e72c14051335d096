import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ts from "typescript";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { resolveLayout, type StateLayout } from "../../src/store/layout.js";
import { FileStatusStore, type StatusStore } from "../../src/store/status-store.js";

const storeDir = join(import.meta.dirname, "../../src/store");
let dir: string;
let layout: StateLayout;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "joblet-store-status-"));
  layout = resolveLayout({ stateDir: dir, env: {} });
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("FileStatusStore", () => {
  it("writes, reads, lists and removes statuses per kind", async () => {
    const store: StatusStore = new FileStatusStore(layout);
    expect(await store.read("Job", "a")).toBeUndefined();
    expect(await store.list("Job")).toEqual([]);
    expect(await store.write("Job", "b", { phase: "Running" })).toBe(true);
    expect(await store.write("Job", "a", { phase: "Pending" })).toBe(true);
    expect(await store.write("Runtime", "a", { ready: true })).toBe(true);
    expect(await store.read("Job", "b")).toEqual({ phase: "Running" });
    expect(await store.list("Job")).toEqual(["a", "b"]);
    expect(await store.list("jobs")).toEqual(["a", "b"]);
    expect(JSON.parse(readFileSync(join(dir, "status/jobs/a.json"), "utf8"))).toEqual({ phase: "Pending" });
    expect(await store.remove("Job", "a")).toBe(true);
    expect(await store.remove("Job", "a")).toBe(false);
    expect(await store.list("Job")).toEqual(["b"]);
    expect(await new FileStatusStore(layout).read("Runtime", "a")).toEqual({ ready: true });
  });

  it("skips writing a status identical to the stored one", async () => {
    const store = new FileStatusStore(layout);
    expect(await store.write("Job", "a", { phase: "Running", attempts: 1 })).toBe(true);
    const inode = statSync(join(dir, "status/jobs/a.json")).ino;
    expect(await store.write("Job", "a", { phase: "Running", attempts: 1 })).toBe(false);
    expect(statSync(join(dir, "status/jobs/a.json")).ino).toBe(inode); // not replaced
    expect(await store.write("Job", "a", { phase: "Running", attempts: 2 })).toBe(true);
    // A fresh store learns what is on disk by reading it.
    const other = new FileStatusStore(layout);
    await other.read("Job", "a");
    expect(await other.write("Job", "a", { phase: "Running", attempts: 2 })).toBe(false);
  });

  it("keeps the order of writes to one key even when they are not awaited", async () => {
    const store = new FileStatusStore(layout);
    const writes = Array.from({ length: 40 }, (_, i) => store.write("Job", "a", { n: i, pad: "x".repeat(i * 1000) }));
    await Promise.all(writes);
    expect((await store.read("Job", "a"))?.n).toBe(39);
  });

  it("refuses names that would leave the status dir, and non-object files", async () => {
    const store = new FileStatusStore(layout);
    await expect(store.write("Job", "../escape", {})).rejects.toThrow(/Name '..\/escape' cannot be used as a file name/);
    await expect(store.read("Job", ".hidden")).rejects.toThrow(/cannot be used/);
    await expect(store.write("Jo/b", "a", {})).rejects.toThrow(/Kind 'Jo\/b' is not a kind name/);
    await store.write("Job", "arr", {});
    writeFileSync(join(dir, "status/jobs/arr.json"), "[1]");
    await expect(new FileStatusStore(layout).read("Job", "arr")).rejects.toThrow(/arr\.json: it holds an array, not an object/);
  });
});

/**
 * The child imports the real status store, transpiled to plain JS next to a script
 * that rewrites one big status forever, each generation filled with its own letter.
 */
function buildWriter(into: string): string {
  for (const name of ["atomic-file", "layout", "status-store"]) {
    const source = readFileSync(join(storeDir, `${name}.ts`), "utf8");
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    });
    writeFileSync(join(into, `${name}.mjs`), outputText.replace(/from "\.\/([a-z-]+)\.js"/g, 'from "./$1.mjs"'));
  }
  const script = join(into, "writer.mjs");
  writeFileSync(
    script,
    `import { FileStatusStore } from "./status-store.mjs";
import { resolveLayout } from "./layout.mjs";
const [stateDir, first] = process.argv.slice(2);
const store = new FileStatusStore(resolveLayout({ stateDir, env: {} }));
process.stdout.write("ready\\n");
for (let gen = Number(first); ; gen++) {
  const letter = String.fromCharCode(97 + (gen % 26));
  await store.write("Job", "victim", { gen, pad: letter.repeat(1024 * 1024) });
}
`,
  );
  return script;
}

function check(path: string): number {
  const status = JSON.parse(readFileSync(path, "utf8")) as { gen: number; pad: string };
  const letter = String.fromCharCode(97 + (status.gen % 26));
  expect(status.pad.length).toBe(1024 * 1024);
  expect(status.pad).toBe(letter.repeat(1024 * 1024));
  return status.gen;
}

describe("atomic status writes", () => {
  let child: ChildProcess | undefined;
  afterEach(() => {
    child?.kill("SIGKILL");
  });

  it("leaves the old or the new status when the writer is killed with SIGKILL at random moments", async () => {
    const bin = mkdtempSync(join(dir, "bin-"));
    const script = buildWriter(bin);
    const path = join(dir, "status/jobs/victim.json");
    const store = new FileStatusStore(layout);
    await store.write("Job", "victim", { gen: 0, pad: "a".repeat(1024 * 1024) });
    let last = 0;
    let advanced = 0;
    for (let kill = 0; kill < 30; kill++) {
      const proc = spawn(process.execPath, [script, dir, String(last + 1)], { stdio: ["ignore", "pipe", "inherit"] });
      child = proc;
      await new Promise<void>((resolve, reject) => {
        proc.stdout!.once("data", () => resolve());
        proc.once("exit", (code) => reject(new Error(`Writer exited early with ${code}`)));
      });
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 60));
      const exited = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGKILL");
      await exited;
      const gen = check(path); // never torn: parses, and holds one generation whole
      expect(gen).toBeGreaterThanOrEqual(last);
      if (gen > last) advanced++;
      last = gen;
    }
    expect(advanced).toBeGreaterThan(0); // the writer did get to write between kills
    await store.sweep();
    expect(readdirSync(join(dir, "status/jobs")).filter((n) => n.endsWith(".tmp"))).toEqual([]);
    expect(await store.list("Job")).toEqual(["victim"]);
  }, 120_000);
});
