import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { open, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { watchDirectory, type DirectoryWatchOptions } from "../../src/reconciler/directory-watcher.js";
import { isIgnoredName } from "../../src/reconciler/ignored-files.js";
import { Informer } from "../../src/reconciler/informer.js";
import type { Closer, ObjectSource, WatchHint } from "../../src/reconciler/source.js";

/**
 * The smallest file-based source: every non-ignored file's text, keyed by relative path. Like
 * a YAML file without documents, an empty file holds no object: a file just created and not
 * yet written is not an object yet.
 */
class TextFileSource implements ObjectSource<string> {
  hints: (WatchHint | undefined)[] = [];
  constructor(
    readonly dir: string,
    readonly options: DirectoryWatchOptions = {},
  ) {}

  async list(): Promise<Map<string, string>> {
    const result = new Map<string, string>();
    const walk = (dir: string): void => {
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        return; // Not there (yet): no objects.
      }
      for (const name of names) {
        if (isIgnoredName(name)) continue;
        const path = join(dir, name);
        try {
          if (statSync(path).isDirectory()) walk(path);
          else {
            const text = readFileSync(path, "utf8");
            if (text !== "") result.set(relative(this.dir, path), text);
          }
        } catch {
          // Removed between readdir and read: it is simply gone.
        }
      }
    };
    walk(this.dir);
    return result;
  }

  watch(onChange: (hint?: WatchHint) => void): Closer {
    return watchDirectory(
      this.dir,
      (hint) => {
        this.hints.push(hint);
        onChange(hint);
      },
      this.options,
    );
  }
}

type Change = [kind: "add" | "update" | "delete", key: string, content?: string];

let root: string;
const cleanups: (() => Promise<void> | void)[] = [];

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "joblet-watch-"));
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  rmSync(root, { recursive: true, force: true });
});

async function startInformer(
  dir: string,
  options: DirectoryWatchOptions = {},
): Promise<{ informer: Informer<string>; source: TextFileSource; changes: Change[] }> {
  const source = new TextFileSource(dir, options);
  const informer = new Informer(source, { resyncIntervalMs: 0 });
  const changes: Change[] = [];
  informer.addHandlers({
    onAdd: (key, obj) => changes.push(["add", key, obj]),
    onUpdate: (key, _old, obj) => changes.push(["update", key, obj]),
    onDelete: (key) => changes.push(["delete", key]),
  });
  cleanups.push(() => informer.stop());
  await informer.start();
  return { informer, source, changes };
}

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await sleep(5);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * After the final state is reached, nothing more may arrive: long enough for chokidar's
 * 100 ms unlink pairing, our settle time and a re-list, with a margin for a loaded host.
 */
const QUIET_MS = 400;

describe("watchDirectory with an Informer", () => {
  it("reports a write-then-rename as one change of the final content", async () => {
    await writeFile(join(root, "job.yaml"), "v1");
    const { informer, changes } = await startInformer(root);
    expect(changes).toEqual([["add", "job.yaml", "v1"]]);
    changes.length = 0;

    await writeFile(join(root, "job.yaml.tmp"), "v2-partial");
    await writeFile(join(root, "job.yaml.tmp"), "v2");
    await rename(join(root, "job.yaml.tmp"), join(root, "job.yaml"));
    // And a new file the same way.
    await writeFile(join(root, ".new.yaml.tmp"), "n1");
    await rename(join(root, ".new.yaml.tmp"), join(root, "new.yaml"));

    await until(() => informer.get("job.yaml") === "v2" && informer.get("new.yaml") === "n1", "the renamed files");
    await sleep(QUIET_MS);
    expect(changes.sort()).toEqual([
      ["add", "new.yaml", "n1"],
      ["update", "job.yaml", "v2"],
    ]);
  });

  it("reports a vim-style save (swap file, backup rename, new write, backup delete) as one update", async () => {
    await writeFile(join(root, "job.yaml"), "v1");
    const { informer, changes } = await startInformer(root);
    changes.length = 0;

    const swap = join(root, ".job.yaml.swp");
    await writeFile(swap, "swap");
    await writeFile(join(root, "4913"), ""); // vim probes whether it may create files.
    await rm(join(root, "4913"));
    await rename(join(root, "job.yaml"), join(root, "job.yaml~"));
    await writeFile(join(root, "job.yaml"), "v2");
    await rm(join(root, "job.yaml~"));
    await rm(swap);

    await until(() => informer.get("job.yaml") === "v2", "the saved content");
    await sleep(QUIET_MS);
    expect(changes).toEqual([["update", "job.yaml", "v2"]]);
  });

  it("reports truncate then write in two steps as one update of the final content", async () => {
    await writeFile(join(root, "job.yaml"), "version: 1\n");
    const { informer, changes } = await startInformer(root);
    changes.length = 0;

    const handle = await open(join(root, "job.yaml"), "r+");
    await handle.truncate(0);
    await sleep(12); // Within the default 20 ms settle time.
    await handle.write("version: 2\n", 0);
    await handle.close();

    await until(() => informer.get("job.yaml") === "version: 2\n", "the written content");
    await sleep(QUIET_MS);
    expect(changes).toEqual([["update", "job.yaml", "version: 2\n"]]);
  });

  it("still sees the final write when a writer pauses longer than the settle time", async () => {
    // chokidar throttles a second change of a file within 50 ms; the raw events must not be lost.
    await writeFile(join(root, "job.yaml"), "v1");
    const { informer } = await startInformer(root, { settleMs: 10 });
    const handle = await open(join(root, "job.yaml"), "r+");
    await handle.truncate(0);
    await sleep(30);
    await handle.write("v2", 0);
    await handle.close();
    await until(() => informer.get("job.yaml") === "v2", "the final write");
  });

  it("reports nothing at all for dot-files, backups, swap and temp files", async () => {
    const { source, changes } = await startInformer(root);
    for (const name of [".hidden.yaml", "job.yaml~", "job.yaml.swp", ".job.yaml.swo", "job.tmp", "4913", "#job.yaml#"]) {
      await writeFile(join(root, name), "x");
    }
    mkdirSync(join(root, ".git", "objects"), { recursive: true });
    await writeFile(join(root, ".git", "objects", "ab.yaml"), "x");
    await sleep(QUIET_MS);
    expect(source.hints).toEqual([]);
    expect(changes).toEqual([]);
  });

  it("only reports files with the given extensions when asked to", async () => {
    const { informer, source } = await startInformer(root, { extensions: [".yaml", ".json"] });
    await writeFile(join(root, "notes.txt"), "x");
    await writeFile(join(root, "job.json"), "{}");
    await until(() => informer.get("job.json") === "{}", "the json file");
    await sleep(QUIET_MS);
    expect(source.hints).toEqual([{ path: join(root, "job.json") }]);
  });

  it("follows files in subdirectories, new subtrees and removed ones", async () => {
    mkdirSync(join(root, "jobs"));
    const { informer, changes } = await startInformer(root);
    await writeFile(join(root, "jobs", "a.yaml"), "a");
    await until(() => informer.get(join("jobs", "a.yaml")) === "a", "the nested file");
    await rm(join(root, "jobs", "a.yaml"));
    await until(() => informer.get(join("jobs", "a.yaml")) === undefined, "the deletion");
    mkdirSync(join(root, "more", "deep"), { recursive: true });
    await writeFile(join(root, "more", "deep", "b.yaml"), "b");
    await until(() => informer.get(join("more", "deep", "b.yaml")) === "b", "a file in a new subtree");
    rmSync(join(root, "more"), { recursive: true });
    await until(() => informer.keys().length === 0, "the removed subtree");
    await sleep(QUIET_MS);
    expect(changes).toEqual([
      ["add", join("jobs", "a.yaml"), "a"],
      ["delete", join("jobs", "a.yaml")],
      ["add", join("more", "deep", "b.yaml"), "b"],
      ["delete", join("more", "deep", "b.yaml")],
    ]);
  });

  it("waits for a directory that does not exist yet", async () => {
    const dir = join(root, "state", "manifests");
    const { informer, changes } = await startInformer(dir);
    expect(informer.keys()).toEqual([]);
    mkdirSync(join(root, "state"));
    mkdirSync(dir);
    await writeFile(join(dir, "job.yaml"), "v1");
    await until(() => informer.get("job.yaml") === "v1", "the file in the new directory");
    await writeFile(join(dir, "job.yaml"), "v2");
    await until(() => informer.get("job.yaml") === "v2", "the edit");
    await sleep(QUIET_MS);
    expect(changes).toEqual([
      ["add", "job.yaml", "v1"],
      ["update", "job.yaml", "v2"],
    ]);
  });

  it("follows the directory when it is replaced by another one", async () => {
    const dir = join(root, "manifests");
    mkdirSync(dir);
    await writeFile(join(dir, "same.yaml"), "s");
    await writeFile(join(dir, "edited.yaml"), "e1");
    await writeFile(join(dir, "removed.yaml"), "r");
    const { informer, changes } = await startInformer(dir);
    changes.length = 0;

    const next = join(root, ".manifests.next");
    mkdirSync(next);
    await writeFile(join(next, "same.yaml"), "s");
    await writeFile(join(next, "edited.yaml"), "e2");
    await writeFile(join(next, "added.yaml"), "a");
    renameSync(dir, join(root, ".manifests.old"));
    renameSync(next, dir);
    rmSync(join(root, ".manifests.old"), { recursive: true });

    await until(() => informer.get("added.yaml") === "a" && informer.get("edited.yaml") === "e2", "the new tree");
    await sleep(QUIET_MS);
    expect(informer.keys().sort()).toEqual(["added.yaml", "edited.yaml", "same.yaml"]);
    expect(changes.sort()).toEqual([
      ["add", "added.yaml", "a"],
      ["delete", "removed.yaml"],
      ["update", "edited.yaml", "e2"],
    ]);

    // And the watch goes on in the new directory.
    await writeFile(join(dir, "later.yaml"), "l");
    await until(() => informer.get("later.yaml") === "l", "a file in the replaced directory");
  });

  it("ends with 500 keys, each added once, when 500 files are written at once", async () => {
    const { informer, changes } = await startInformer(root);
    const names = Array.from({ length: 500 }, (_, i) => `job-${i}.yaml`);
    await Promise.all(names.map((name) => writeFile(join(root, name), `name: ${name}\n`)));
    await until(() => informer.keys().length === 500 && names.every((n) => informer.get(n) === `name: ${n}\n`), "500 keys");
    await sleep(QUIET_MS);
    const adds = changes.filter(([kind]) => kind === "add").map(([, key]) => key);
    expect(adds.sort()).toEqual([...names].sort());
    expect(changes.filter(([kind]) => kind === "delete")).toEqual([]);
    expect(changes.filter(([kind]) => kind === "update")).toEqual([]);
  });

  it("stops reporting after close", async () => {
    const onChange: (WatchHint | undefined)[] = [];
    const watch = watchDirectory(root, (hint) => onChange.push(hint));
    await watch.ready;
    await watch.close();
    await writeFile(join(root, "job.yaml"), "x");
    await sleep(100);
    expect(onChange).toEqual([]);
  });
});
