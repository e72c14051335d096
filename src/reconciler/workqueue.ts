import { Fifo } from "./fifo.js";
import { ExponentialBackoff, type ExponentialBackoffOptions, type RateLimiter } from "./rate-limiter.js";

export interface WorkQueueOptions<K> extends ExponentialBackoffOptions {
  /** Replaces the default per-key exponential backoff used by `addRateLimited`. */
  rateLimiter?: RateLimiter<K>;
}

interface Delayed {
  readyAt: number;
  timer: NodeJS.Timeout;
}

type QueueState = "running" | "draining" | "shutDown";

/**
 * A queue of object keys to reconcile, with client-go workqueue semantics.
 *
 * Level-triggered controllers only need to know *which* object to look at, never how often it
 * changed, so a key waiting in the queue absorbs any number of further `add`s. A key handed to
 * a worker stays out of reach of the other workers until `done(key)`; an `add` in the meantime
 * marks it dirty and it is queued again on `done`, so the change is never lost and the object
 * is never reconciled twice at once.
 */
export class WorkQueue<K = string> {
  /** Keys ready to be handed out, in order. Each appears at most once. */
  #queue = new Fifo<K>();
  /** Keys that need processing: those in #queue plus those re-added while processing. */
  #dirty = new Set<K>();
  /** Keys handed to a worker and not yet `done`. */
  #processing = new Set<K>();
  /** Keys waiting for `addAfter` / `addRateLimited`, with the earliest time they are due. */
  #delayed = new Map<K, Delayed>();
  /** Workers blocked in `get()`. */
  #waiters = new Fifo<(key: K | undefined) => void>();
  #state: QueueState = "running";
  #drained: Promise<void> | undefined;
  #resolveDrained: (() => void) | undefined;
  readonly #limiter: RateLimiter<K>;

  constructor(options: WorkQueueOptions<K> = {}) {
    this.#limiter = options.rateLimiter ?? new ExponentialBackoff<K>(options);
  }

  /** Queues `key` unless it is queued already; ignored after shutdown. */
  add(key: K): void {
    if (this.#state !== "running") return;
    if (this.#dirty.has(key)) return;
    if (this.#processing.has(key)) {
      // Picked up again by `done`, so that no second worker sees it meanwhile.
      this.#dirty.add(key);
      return;
    }
    const waiter = this.#waiters.shift();
    if (waiter) {
      this.#processing.add(key);
      waiter(key);
      return;
    }
    this.#dirty.add(key);
    this.#queue.push(key);
  }

  /** Adds `key` once `ms` have passed. With several pending delays the earliest wins. */
  addAfter(key: K, ms: number): void {
    if (this.#state !== "running") return;
    if (!(ms > 0)) {
      // A pending delay stays: it may be a deliberate later check (a deadline, a TTL).
      this.add(key);
      return;
    }
    const readyAt = Date.now() + ms;
    const pending = this.#delayed.get(key);
    if (pending && pending.readyAt <= readyAt) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.#delayed.delete(key);
      this.add(key);
    }, ms);
    // A pending retry alone must not keep a process (a CLI, a test run) alive.
    timer.unref();
    this.#delayed.set(key, { readyAt, timer });
  }

  /** Adds `key` after its backoff: 5 ms, 10 ms, 20 ms, ... up to the cap, until `forget`. */
  addRateLimited(key: K): void {
    if (this.#state !== "running") return;
    this.addAfter(key, this.#limiter.when(key));
  }

  /** Clears the failure history of `key`, so its next `addRateLimited` waits the base delay. */
  forget(key: K): void {
    this.#limiter.forget(key);
  }

  /** How many times `key` was rate-limited since it was last forgotten. */
  numRequeues(key: K): number {
    return this.#limiter.numRequeues(key);
  }

  /**
   * Waits for the next key and marks it as processing; the caller must call `done(key)`.
   * Resolves `undefined` once the queue is shut down (after draining, with `shutDownWithDrain`).
   */
  get(): Promise<K | undefined> {
    const key = this.#queue.shift();
    if (key !== undefined) {
      this.#dirty.delete(key);
      this.#processing.add(key);
      return Promise.resolve(key);
    }
    if (this.#state === "shutDown" || (this.#state === "draining" && this.#processing.size === 0)) {
      return Promise.resolve(undefined);
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Marks `key` as finished; if it was added while processing, it is queued again now. */
  done(key: K): void {
    if (!this.#processing.delete(key)) return;
    if (this.#dirty.has(key) && this.#state !== "shutDown") {
      const waiter = this.#waiters.shift();
      if (waiter) {
        this.#dirty.delete(key);
        this.#processing.add(key);
        waiter(key);
      } else {
        this.#queue.push(key);
      }
    }
    if (this.#state === "draining" && this.#queue.length === 0 && this.#processing.size === 0) {
      this.#finishDrain();
    }
  }

  /** Number of keys ready to be handed out (not counting those processing or delayed). */
  len(): number {
    return this.#queue.length;
  }

  /** Whether `key` is currently handed to a worker. */
  isProcessing(key: K): boolean {
    return this.#processing.has(key);
  }

  get shuttingDown(): boolean {
    return this.#state !== "running";
  }

  /**
   * Stops at once: new and delayed adds are dropped, queued keys are discarded and blocked
   * `get()` calls resolve `undefined`. Keys being processed may still be `done`. Losing the
   * queue is safe because controllers are level-triggered: the next start re-lists everything.
   */
  shutDown(): void {
    this.#state = "shutDown";
    this.#clearDelays();
    this.#queue.clear();
    this.#dirty.clear();
    this.#wakeAllWithUndefined();
    this.#resolveDrained?.();
  }

  /**
   * Stops accepting new keys (delayed ones are dropped) but hands out those already queued;
   * resolves once every key is done. `get()` then resolves `undefined`.
   */
  shutDownWithDrain(): Promise<void> {
    if (this.#state === "shutDown") return Promise.resolve();
    if (this.#drained) return this.#drained;
    this.#state = "draining";
    this.#clearDelays();
    this.#drained = new Promise((resolve) => (this.#resolveDrained = resolve));
    if (this.#queue.length === 0 && this.#processing.size === 0) this.#finishDrain();
    return this.#drained;
  }

  #finishDrain(): void {
    this.#wakeAllWithUndefined();
    this.#resolveDrained?.();
  }

  #wakeAllWithUndefined(): void {
    for (let waiter = this.#waiters.shift(); waiter; waiter = this.#waiters.shift()) waiter(undefined);
  }

  #clearDelays(): void {
    for (const { timer } of this.#delayed.values()) clearTimeout(timer);
    this.#delayed.clear();
  }
}
