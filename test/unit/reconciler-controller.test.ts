import { describe, expect, it } from "vitest";
import { pino } from "pino";
import { runController, type ControllerLogger } from "../../src/reconciler/controller.js";
import { WorkQueue } from "../../src/reconciler/workqueue.js";

function recordingLogger(): ControllerLogger & { errors: { obj: Record<string, unknown>; msg: string }[] } {
  const errors: { obj: Record<string, unknown>; msg: string }[] = [];
  return {
    errors,
    error: (obj, msg) => errors.push({ obj: obj as Record<string, unknown>, msg }),
    debug: () => {},
  };
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe("runController", () => {
  it("retries a failing key with growing delays, logs the key, and forgets the backoff on success", async () => {
    const queue = new WorkQueue({ baseMs: 5 });
    const logger = recordingLogger();
    const attempts: number[] = [];
    const succeeded = deferred();
    const controller = runController({
      name: "job",
      queue,
      workers: 2,
      logger,
      async reconcile(key) {
        attempts.push(performance.now());
        if (attempts.length < 5) throw new Error(`not yet (${key})`);
        succeeded.resolve();
      },
    });
    queue.add("job/flaky");
    await succeeded.promise;
    await controller.stop();

    expect(attempts).toHaveLength(5);
    const gaps = attempts.slice(1).map((t, i) => t - (attempts[i] as number));
    // 5, 10, 20, 40 ms: each wait at least its backoff, and growing overall.
    [5, 10, 20, 40].forEach((min, i) => expect(gaps[i]).toBeGreaterThanOrEqual(min - 1));
    expect(gaps[3]).toBeGreaterThan(gaps[0] as number);
    expect(logger.errors).toHaveLength(4);
    expect(logger.errors[0]?.obj).toMatchObject({ controller: "job", key: "job/flaky", retries: 1 });
    expect(logger.errors[3]?.obj).toMatchObject({ retries: 4 });
    expect(logger.errors[0]?.msg).toContain("job/flaky");
    expect(queue.numRequeues("job/flaky")).toBe(0);
  });

  it("treats a synchronous throw like a rejection", async () => {
    const queue = new WorkQueue();
    let calls = 0;
    const second = deferred();
    const controller = runController({
      name: "sync",
      queue,
      reconcile: (() => {
        calls++;
        if (calls === 1) throw new Error("boom");
        second.resolve();
        return Promise.resolve();
      }) as (key: string) => Promise<void>,
    });
    queue.add("a");
    await second.promise;
    await controller.stop();
    expect(calls).toBe(2);
  });

  it("requeues after the delay a reconcile asks for", async () => {
    const queue = new WorkQueue();
    const times: number[] = [];
    const twice = deferred();
    const controller = runController({
      name: "poll",
      queue,
      async reconcile() {
        times.push(performance.now());
        if (times.length === 2) {
          twice.resolve();
          return {};
        }
        return { requeueAfter: 30 };
      },
    });
    queue.add("job/poll");
    await twice.promise;
    await controller.stop();
    expect((times[1] as number) - (times[0] as number)).toBeGreaterThanOrEqual(29);
  });

  it("looks again at once when the delay asked for has already run out (a slow reconcile)", async () => {
    const queue = new WorkQueue();
    let calls = 0;
    const again = deferred();
    const controller = runController({
      name: "late",
      queue,
      async reconcile() {
        calls++;
        if (calls === 2) again.resolve();
        // The retry time was computed before a write that took longer than what was left.
        return calls === 1 ? { requeueAfter: -3 } : {};
      },
    });
    queue.add("job/late");
    await Promise.race([again.promise, new Promise((r) => setTimeout(r, 1000))]);
    await controller.stop();
    expect(calls).toBe(2);
  });

  it("runs keys concurrently on several workers, never one key twice, and stop waits for in-flight work", async () => {
    const queue = new WorkQueue();
    const active = new Map<string, number>();
    let maxPerKey = 0;
    let concurrent = 0;
    let maxConcurrent = 0;
    let finished = 0;
    const controller = runController({
      name: "many",
      queue,
      workers: 4,
      async reconcile(key) {
        const n = (active.get(key) ?? 0) + 1;
        active.set(key, n);
        maxPerKey = Math.max(maxPerKey, n);
        maxConcurrent = Math.max(maxConcurrent, ++concurrent);
        await new Promise((r) => setTimeout(r, 2));
        active.set(key, n - 1);
        concurrent--;
        finished++;
      },
    });
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 10; i++) queue.add(`job/${i}`);
      await new Promise((r) => setTimeout(r, 1));
    }
    await controller.stop();
    expect(concurrent).toBe(0); // Nothing still running after stop().
    expect(maxPerKey).toBe(1);
    expect(maxConcurrent).toBe(4);
    expect(finished).toBeGreaterThanOrEqual(10);
  });

  it("stop({drain: true}) reconciles the keys already queued", async () => {
    const queue = new WorkQueue();
    const seen: string[] = [];
    const controller = runController({
      name: "drain",
      queue,
      async reconcile(key) {
        await new Promise((r) => setTimeout(r, 1));
        seen.push(key);
      },
    });
    for (const key of ["a", "b", "c"]) queue.add(key);
    await controller.stop({ drain: true });
    expect(seen).toEqual(["a", "b", "c"]);
  });

  it("accepts a pino logger and rejects a worker count that is not a positive integer", async () => {
    const queue = new WorkQueue();
    const logger = pino({ level: "silent" });
    const controller = runController({ name: "p", queue, logger, reconcile: async () => {} });
    await controller.stop();
    expect(() => runController({ name: "job", queue, workers: 0, reconcile: async () => {} })).toThrow(
      "Cannot run controller 'job' with 0 workers",
    );
  });
});
