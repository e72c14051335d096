import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DesiredStore, toYaml } from "../../src/store/desired-store.js";
import {
  DEFAULT_STATE_DIR,
  ensureLayout,
  kindPlural,
  resolveLayout,
  runRecordDir,
  statusFile,
} from "../../src/store/layout.js";
import { isManifestError, readManifestFile } from "../../src/store/manifest-reader.js";

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "joblet-store-layout-"));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("state dir layout", () => {
  it("takes the option, then JOBLET_STATE_DIR, then /var/lib/joblet", () => {
    expect(resolveLayout({ env: {} }).stateDir).toBe(DEFAULT_STATE_DIR);
    expect(resolveLayout({ env: { JOBLET_STATE_DIR: "/e" } }).stateDir).toBe("/e");
    const layout = resolveLayout({ stateDir: "/o", env: { JOBLET_STATE_DIR: "/e" } });
    expect(layout).toEqual({
      stateDir: "/o",
      manifestsDir: "/o/manifests",
      statusDir: "/o/status",
      logsDir: "/o/logs",
      runtimesDir: "/o/runtimes",
      volumesDir: "/o/volumes",
      runDir: "/o/run",
    });
    expect(resolveLayout({ stateDir: "/o", manifestsDir: "/git/checkout", env: {} }).manifestsDir).toBe("/git/checkout");
  });

  it("computes per-object paths and refuses unsafe names", () => {
    const layout = resolveLayout({ stateDir: "/s", env: {} });
    expect(statusFile(layout, "Job", "a")).toBe("/s/status/jobs/a.json");
    expect(statusFile(layout, "network", "n1")).toBe("/s/status/networks/n1.json");
    expect(runRecordDir(layout, "a", "2")).toBe("/s/run/jobs/a/2");
    expect(kindPlural("Runtime")).toBe("runtimes");
    expect(kindPlural("volumes")).toBe("volumes");
    for (const bad of ["..", "../x", "a/b", ".a", "", "a\0b"]) expect(() => statusFile(layout, "Job", bad)).toThrow(/cannot be used as a file name/);
  });

  it("creates the directories, but not a manifests dir outside the state dir", async () => {
    const layout = resolveLayout({ stateDir: join(dir, "state"), env: {} });
    await ensureLayout(layout);
    for (const sub of ["manifests", "status", "logs", "runtimes", "volumes", "run/jobs"]) {
      expect(statSync(join(dir, "state", sub)).isDirectory()).toBe(true);
    }
    const external = resolveLayout({ stateDir: join(dir, "s2"), manifestsDir: join(dir, "checkout"), env: {} });
    await ensureLayout(external);
    expect(existsSync(join(dir, "checkout"))).toBe(false);
  });
});

describe("DesiredStore", () => {
  it("writes manifests as YAML that reads back the same, skips unchanged ones and deletes", async () => {
    const layout = resolveLayout({ stateDir: dir, env: {} });
    const store = new DesiredStore(layout);
    const manifest = {
      apiVersion: "joblet/v1",
      kind: "Job",
      metadata: { name: "demo", labels: { on: "yes", mode: "0755" } },
      spec: { command: ["echo", "no"] },
    };
    expect(await store.write("Job", "demo", manifest)).toBe(true);
    expect(store.path("Job", "demo")).toBe(join(dir, "manifests/jobs/demo.yaml"));
    expect(readFileSync(store.path("Job", "demo"), "utf8")).toBe(toYaml(manifest));
    expect(await store.write("Job", "demo", manifest)).toBe(false);
    const read = await readManifestFile(store.path("Job", "demo"));
    expect(isManifestError(read) ? read.error : read.documents.map((d) => d.doc)).toEqual([manifest]);
    expect(await store.list("Job")).toEqual(["demo"]);
    expect(await store.remove("Job", "demo")).toBe(true);
    expect(await store.remove("Job", "demo")).toBe(false);
    expect(await store.list("Job")).toEqual([]);
  });
});
