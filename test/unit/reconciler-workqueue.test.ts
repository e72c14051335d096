import { afterEach, describe, expect, it, vi } from "vitest";
import { ExponentialBackoff } from "../../src/reconciler/rate-limiter.js";
import { WorkQueue } from "../../src/reconciler/workqueue.js";

afterEach(() => {
  vi.useRealTimers();
});

/** Takes every key that is ready now, marking each done. */
async function drainReady<K>(queue: WorkQueue<K>): Promise<K[]> {
  const keys: K[] = [];
  while (queue.len() > 0) {
    const key = (await queue.get()) as K;
    keys.push(key);
    queue.done(key);
  }
  return keys;
}

describe("WorkQueue", () => {
  it("queues a key once however often it is added, in first-added order", async () => {
    const queue = new WorkQueue();
    for (let i = 0; i < 5; i++) {
      queue.add("job/a");
      queue.add("job/b");
    }
    queue.add("job/a");
    expect(queue.len()).toBe(2);
    expect(await drainReady(queue)).toEqual(["job/a", "job/b"]);
    expect(queue.len()).toBe(0);
  });

  it("keeps a key being processed from a second worker and re-queues it once after done", async () => {
    const queue = new WorkQueue();
    queue.add("job/a");
    const first = await queue.get();
    expect(first).toBe("job/a");

    queue.add("job/a");
    queue.add("job/a");
    expect(queue.len()).toBe(0); // Held back while processing.
    let second: string | undefined;
    const waiting = queue.get().then((key) => (second = key));
    await Promise.resolve();
    expect(second).toBeUndefined();

    queue.done("job/a");
    await waiting;
    expect(second).toBe("job/a");
    queue.done("job/a");
    expect(queue.len()).toBe(0); // Only once, not once per add.
  });

  it("hands a key added to an idle queue to a waiting worker", async () => {
    const queue = new WorkQueue();
    const got = queue.get();
    queue.add("job/x");
    expect(await got).toBe("job/x");
    expect(queue.isProcessing("job/x")).toBe(true);
  });

  it("never lets two workers hold one key while adds keep coming", async () => {
    const queue = new WorkQueue();
    const keys = Array.from({ length: 8 }, (_, i) => `job/${i}`);
    const active = new Map<string, number>();
    let maxActive = 0;
    let processed = 0;
    const lastSeen = new Map<string, number>();
    let addedVersion = 0;
    const addedAt = new Map<string, number>();

    const worker = async (): Promise<void> => {
      for (let key = await queue.get(); key !== undefined; key = await queue.get()) {
        const now = (active.get(key) ?? 0) + 1;
        active.set(key, now);
        maxActive = Math.max(maxActive, now);
        const version = addedAt.get(key) ?? 0;
        // Yield a few times so other workers and the adder run meanwhile.
        for (let i = 0; i < 1 + (processed % 3); i++) await new Promise((r) => setImmediate(r));
        lastSeen.set(key, Math.max(lastSeen.get(key) ?? 0, version));
        active.set(key, now - 1);
        processed++;
        queue.done(key);
      }
    };
    const workers = Array.from({ length: 6 }, () => worker());

    for (let round = 0; round < 400; round++) {
      for (let i = 0; i < 5; i++) {
        const key = keys[(round * 7 + i * 3) % keys.length] as string;
        addedAt.set(key, ++addedVersion);
        queue.add(key);
      }
      if (round % 4 === 0) await new Promise((r) => setImmediate(r));
    }
    await queue.shutDownWithDrain();
    await Promise.all(workers);

    expect(maxActive).toBe(1);
    expect(processed).toBeGreaterThan(keys.length);
    // Level-triggered guarantee: every key was processed after its last add.
    for (const key of keys) expect(lastSeen.get(key)).toBe(addedAt.get(key));
  });

  it("adds delayed keys when due, earliest first, and the earliest of two delays wins", async () => {
    vi.useFakeTimers();
    const queue = new WorkQueue();
    queue.addAfter("c", 30);
    queue.addAfter("a", 10);
    queue.addAfter("b", 20);
    queue.addAfter("a", 50); // Later than the pending 10 ms: ignored.
    queue.addAfter("b", 5); // Earlier: replaces the pending 20 ms.
    expect(queue.len()).toBe(0);

    await vi.advanceTimersByTimeAsync(5);
    expect(await drainReady(queue)).toEqual(["b"]);
    await vi.advanceTimersByTimeAsync(5);
    expect(await drainReady(queue)).toEqual(["a"]);
    await vi.advanceTimersByTimeAsync(20);
    expect(await drainReady(queue)).toEqual(["c"]);
    await vi.advanceTimersByTimeAsync(100);
    expect(queue.len()).toBe(0); // Superseded delays do not fire later.
  });

  it("backs off per key exponentially from 5 ms up to the cap, and forget resets it", async () => {
    vi.useFakeTimers();
    const queue = new WorkQueue({ maxMs: 100 });
    const delays: number[] = [];
    for (let attempt = 0; attempt < 7; attempt++) {
      const start = Date.now();
      queue.addRateLimited("job/a");
      let waited = 0;
      while (queue.len() === 0) {
        await vi.advanceTimersByTimeAsync(1);
        waited++;
        expect(waited).toBeLessThan(1000);
      }
      delays.push(Date.now() - start);
      await drainReady(queue);
    }
    expect(delays).toEqual([5, 10, 20, 40, 80, 100, 100]);
    expect(queue.numRequeues("job/a")).toBe(7);
    expect(queue.numRequeues("job/b")).toBe(0);

    queue.forget("job/a");
    expect(queue.numRequeues("job/a")).toBe(0);
    queue.addRateLimited("job/a");
    await vi.advanceTimersByTimeAsync(4);
    expect(queue.len()).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(queue.len()).toBe(1);
  });

  it("rejects a backoff whose cap is below its base", () => {
    expect(() => new ExponentialBackoff({ baseMs: 10, maxMs: 5 })).toThrow(/cap 5 ms/);
  });

  it("shutDown wakes blocked workers with undefined and ignores later adds", async () => {
    const queue = new WorkQueue();
    const waiting = [queue.get(), queue.get()];
    queue.addAfter("late", 1);
    queue.shutDown();
    expect(await Promise.all(waiting)).toEqual([undefined, undefined]);
    queue.add("job/a");
    expect(queue.len()).toBe(0);
    expect(await queue.get()).toBeUndefined();
    await new Promise((r) => setTimeout(r, 10));
    expect(queue.len()).toBe(0); // The delayed add was cancelled.
  });

  it("shutDown drops queued keys; shutDownWithDrain hands them out and waits for done", async () => {
    const dropping = new WorkQueue();
    dropping.add("a");
    dropping.shutDown();
    expect(await dropping.get()).toBeUndefined();

    const queue = new WorkQueue();
    queue.add("a");
    queue.add("b");
    const held = (await queue.get()) as string;
    let drained = false;
    const draining = queue.shutDownWithDrain().then(() => (drained = true));
    queue.add("c"); // Ignored while draining.
    expect(await queue.get()).toBe("b");
    queue.done("b");
    await new Promise((r) => setImmediate(r));
    expect(drained).toBe(false); // "a" is still processing.
    const blocked = queue.get();
    queue.done(held);
    await draining;
    expect(drained).toBe(true);
    expect(await blocked).toBeUndefined();
    expect(await queue.get()).toBeUndefined();
  });
});
