import { afterEach, describe, expect, it } from "vitest";
import { Informer, type InformerOptions } from "../../src/reconciler/informer.js";
import type { Closer, ObjectSource, WatchHint } from "../../src/reconciler/source.js";

interface Obj {
  spec: { image: string; args?: string[] };
}

/** An in-memory source whose watch events the test fires by hand. */
class FakeSource implements ObjectSource<Obj> {
  objects = new Map<string, Obj>();
  listCalls: (ReadonlySet<string> | undefined)[] = [];
  failNext = 0;
  listDelayMs = 0;
  #onChange: ((hint?: WatchHint) => void) | undefined;
  closed = false;

  async list(changed?: ReadonlySet<string>): Promise<Map<string, Obj>> {
    this.listCalls.push(changed && new Set(changed));
    const snapshot = new Map([...this.objects].map(([k, v]) => [k, structuredClone(v)]));
    if (this.listDelayMs) await new Promise((r) => setTimeout(r, this.listDelayMs));
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error("Cannot read the manifests directory: EIO");
    }
    return snapshot;
  }

  watch(onChange: (hint?: WatchHint) => void): Closer {
    this.#onChange = onChange;
    return { close: () => void (this.closed = true), ready: Promise.resolve() };
  }

  fire(hint?: WatchHint): void {
    this.#onChange?.(hint);
  }
}

type Change = [kind: "add" | "update" | "delete" | "resync", key: string];

function record(informer: Informer<Obj>): Change[] {
  const changes: Change[] = [];
  informer.addHandlers({
    onAdd: (key) => changes.push(["add", key]),
    onUpdate: (key) => changes.push(["update", key]),
    onDelete: (key) => changes.push(["delete", key]),
    onResync: (key) => changes.push(["resync", key]),
  });
  return changes;
}

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("Condition not met in time");
    await new Promise((r) => setTimeout(r, 2));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const informers: Informer<Obj>[] = [];
function makeInformer(source: FakeSource, options: InformerOptions<Obj> = {}): Informer<Obj> {
  const informer = new Informer(source, { resyncIntervalMs: 0, ...options });
  informers.push(informer);
  return informer;
}
afterEach(async () => {
  await Promise.all(informers.splice(0).map((i) => i.stop()));
});

describe("Informer", () => {
  it("emits adds for the first list and reports sync", async () => {
    const source = new FakeSource();
    source.objects.set("job/a", { spec: { image: "x" } });
    source.objects.set("job/b", { spec: { image: "y" } });
    const informer = makeInformer(source);
    const changes = record(informer);
    expect(informer.hasSynced()).toBe(false);
    await informer.start();
    expect(informer.hasSynced()).toBe(true);
    await informer.waitForSync();
    expect(changes).toEqual([
      ["add", "job/a"],
      ["add", "job/b"],
    ]);
    expect(informer.get("job/a")).toEqual({ spec: { image: "x" } });
    expect(source.listCalls).toEqual([undefined]); // The first list is a full one.
  });

  it("turns watch events into add, update and delete by comparing with the cache", async () => {
    const source = new FakeSource();
    source.objects.set("job/a", { spec: { image: "x", args: ["1"] } });
    source.objects.set("job/b", { spec: { image: "y" } });
    const informer = makeInformer(source);
    const changes = record(informer);
    await informer.start();
    changes.length = 0;

    source.objects.set("job/a", { spec: { image: "x", args: ["2"] } }); // Deep change.
    source.objects.delete("job/b");
    source.objects.set("job/c", { spec: { image: "z" } });
    source.fire({ path: "/m/a.yaml" });
    await until(() => changes.length === 3);
    expect(changes.sort()).toEqual([
      ["add", "job/c"],
      ["delete", "job/b"],
      ["update", "job/a"],
    ]);
    expect(source.listCalls.at(-1)).toEqual(new Set(["/m/a.yaml"]));
    expect(informer.keys().sort()).toEqual(["job/a", "job/c"]);

    // The same content again (a rewrite, a touch) is not an update.
    changes.length = 0;
    const lists = source.listCalls.length;
    source.fire({ path: "/m/a.yaml" });
    await until(() => source.listCalls.length > lists);
    await sleep(20);
    expect(changes).toEqual([]);
  });

  it("coalesces a burst of events into one list, and hints without a path into a full list", async () => {
    const source = new FakeSource();
    const informer = makeInformer(source, { debounceMs: 10 });
    const changes = record(informer);
    await informer.start();
    const before = source.listCalls.length;
    for (let i = 0; i < 100; i++) {
      source.objects.set(`job/${i}`, { spec: { image: "x" } });
      source.fire({ path: `/m/${i}.yaml` });
    }
    source.fire();
    await until(() => changes.length === 100);
    await sleep(30);
    expect(source.listCalls.length - before).toBe(1);
    expect(source.listCalls.at(-1)).toBeUndefined();
  });

  it("never overlaps lists and lists once more after events that came during one", async () => {
    const source = new FakeSource();
    const informer = makeInformer(source, { debounceMs: 1 });
    const changes = record(informer);
    await informer.start();
    source.listDelayMs = 30;
    source.objects.set("job/a", { spec: { image: "1" } });
    source.fire({ path: "a" });
    await until(() => source.listCalls.length === 2); // The slow list has begun.
    source.objects.set("job/a", { spec: { image: "2" } });
    source.fire({ path: "a" });
    source.fire({ path: "b" });
    await until(() => informer.get("job/a")?.spec.image === "2");
    expect(source.listCalls).toHaveLength(3);
    expect(source.listCalls[2]).toEqual(new Set(["a", "b"]));
    expect(changes).toEqual([
      ["add", "job/a"],
      ["update", "job/a"],
    ]);
  });

  it("compares with a version function when one is given", async () => {
    const source = new FakeSource();
    source.objects.set("job/a", { spec: { image: "x" } });
    const informer = makeInformer(source, { version: (o) => o.spec.image });
    const changes = record(informer);
    await informer.start();
    source.objects.set("job/a", { spec: { image: "x", args: ["ignored by the version"] } });
    await informer.resync();
    expect(changes).toEqual([["add", "job/a"]]);
    source.objects.set("job/a", { spec: { image: "y" } });
    await informer.resync();
    expect(changes.at(-1)).toEqual(["update", "job/a"]);
  });

  it("repairs missed events with a periodic full list that also re-announces every key", async () => {
    const source = new FakeSource();
    source.objects.set("job/a", { spec: { image: "x" } });
    const informer = makeInformer(source, { resyncIntervalMs: 40 });
    const changes = record(informer);
    await informer.start();
    source.objects.set("job/b", { spec: { image: "y" } }); // No watch event: a missed one.
    await until(() => changes.some(([kind, key]) => kind === "add" && key === "job/b"));
    expect(changes).toContainEqual(["resync", "job/a"]);
    expect(changes.filter(([kind]) => kind === "add")).toEqual([
      ["add", "job/a"],
      ["add", "job/b"],
    ]);
  });

  it("keeps the cache when a list fails and retries", async () => {
    const source = new FakeSource();
    source.objects.set("job/a", { spec: { image: "x" } });
    const errors: unknown[] = [];
    const informer = makeInformer(source, { retryMs: 20, onError: (e) => errors.push(e) });
    const changes = record(informer);
    await informer.start();
    source.failNext = 2;
    source.objects.set("job/b", { spec: { image: "y" } });
    source.fire({ path: "b" });
    await until(() => errors.length === 2);
    expect(informer.keys()).toEqual(["job/a"]); // No mass deletion on a failed read.
    await until(() => informer.get("job/b") !== undefined);
    expect(source.listCalls.at(-1)).toEqual(new Set(["b"])); // The hint survived the failures.
    expect(changes).toEqual([
      ["add", "job/a"],
      ["add", "job/b"],
    ]);
  });

  it("waits for a first list that fails, and onChange gives keys for every kind of change", async () => {
    const source = new FakeSource();
    source.failNext = 1;
    source.objects.set("job/a", { spec: { image: "x" } });
    const informer = makeInformer(source, { retryMs: 10 });
    const keys: string[] = [];
    informer.onChange((key) => keys.push(key));
    await informer.start();
    expect(informer.hasSynced()).toBe(true);
    source.objects.delete("job/a");
    await informer.resync();
    expect(keys).toEqual(["job/a", "job/a"]);
  });

  it("stops watching and emits nothing after stop", async () => {
    const source = new FakeSource();
    const informer = makeInformer(source);
    const changes = record(informer);
    await informer.start();
    await informer.stop();
    expect(source.closed).toBe(true);
    source.objects.set("job/a", { spec: { image: "x" } });
    source.fire();
    await sleep(20);
    expect(changes).toEqual([]);
  });
});
