import { isDeepStrictEqual } from "node:util";
import type { Closer, ObjectSource, WatchHint } from "./source.js";

export interface InformerHandlers<T> {
  onAdd?(key: string, obj: T): void;
  onUpdate?(key: string, oldObj: T, newObj: T): void;
  onDelete?(key: string, oldObj: T): void;
  /** Every cached key after a periodic full re-list, so controllers also repair drift. */
  onResync?(key: string, obj: T): void;
}

export interface InformerOptions<T> {
  /** Quiet time after a watch event before re-listing, so bursts cost one list. Default 5 ms. */
  debounceMs?: number;
  /** Upper bound on that wait under a steady stream of events. Default 100 ms. */
  maxDelayMs?: number;
  /** Period of the full re-list that repairs missed events; 0 disables. Default 30 s. */
  resyncIntervalMs?: number;
  /** Delay before retrying a failed list. Default 1 s. */
  retryMs?: number;
  /** Identifies an object's content; by default objects are compared deeply. */
  version?: (obj: T) => unknown;
  /** Reports list failures (the cache is kept as it was). */
  onError?: (err: unknown) => void;
}

/**
 * Keeps a cache of a source's objects and turns "something changed" into per-key add, update
 * and delete notifications by comparing each fresh list with the cache.
 *
 * Lists never overlap: events during a list cause exactly one more list after it. An update
 * is reported only when an object really changed, so rewriting a file with the same content
 * wakes nobody.
 */
export class Informer<T> {
  readonly #source: ObjectSource<T>;
  readonly #debounceMs: number;
  readonly #maxDelayMs: number;
  readonly #resyncIntervalMs: number;
  readonly #retryMs: number;
  readonly #same: (a: T, b: T) => boolean;
  readonly #onError: (err: unknown) => void;

  #cache = new Map<string, T>();
  #handlers = new Set<InformerHandlers<T>>();
  #watch: Closer | undefined;
  #started = false;
  #stopped = false;
  #synced = false;
  #syncWaiters: (() => void)[] = [];

  /** Paths hinted since the last list; `undefined` once any event gave no path. */
  #changedPaths: Set<string> | undefined = new Set();
  #fullListDue = false;
  #resyncDue = false;
  #listRequested = false;
  #debounceTimer: NodeJS.Timeout | undefined;
  #firstEventAt = 0;
  #resyncTimer: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #listing: Promise<void> | undefined;
  /** Callers of `resync()`, released when a list that started after their call ends. */
  #nextListWaiters: (() => void)[] = [];

  constructor(source: ObjectSource<T>, options: InformerOptions<T> = {}) {
    this.#source = source;
    this.#debounceMs = options.debounceMs ?? 5;
    this.#maxDelayMs = options.maxDelayMs ?? 100;
    this.#resyncIntervalMs = options.resyncIntervalMs ?? 30_000;
    this.#retryMs = options.retryMs ?? 1_000;
    const version = options.version;
    this.#same = version ? (a, b) => Object.is(version(a), version(b)) : (a, b) => isDeepStrictEqual(a, b);
    this.#onError = options.onError ?? (() => {});
  }

  /** Subscribes to changes; returns the unsubscribe function. */
  addHandlers(handlers: InformerHandlers<T>): () => void {
    this.#handlers.add(handlers);
    return () => this.#handlers.delete(handlers);
  }

  /** Subscribes with one callback for every kind of change: what a level-triggered controller needs. */
  onChange(callback: (key: string) => void): () => void {
    return this.addHandlers({
      onAdd: (key) => callback(key),
      onUpdate: (key) => callback(key),
      onDelete: (key) => callback(key),
      onResync: (key) => callback(key),
    });
  }

  /** Starts watching, lists once and resolves when the cache holds that first list. */
  async start(): Promise<void> {
    if (this.#started) return this.waitForSync();
    this.#started = true;
    // Watch first, list second: a change in between is then seen twice, never missed.
    this.#watch = this.#source.watch((hint) => this.#onWatchEvent(hint));
    await this.#watch.ready;
    if (this.#stopped) return;
    this.#fullListDue = true;
    this.#scheduleList(0);
    if (this.#resyncIntervalMs > 0) {
      this.#resyncTimer = setInterval(() => {
        this.#resyncDue = true;
        this.#fullListDue = true;
        this.#scheduleList(0);
      }, this.#resyncIntervalMs);
      this.#resyncTimer.unref();
    }
    return this.waitForSync();
  }

  /** Whether the cache holds at least one complete list. */
  hasSynced(): boolean {
    return this.#synced;
  }

  waitForSync(): Promise<void> {
    if (this.#synced || this.#stopped) return Promise.resolve();
    return new Promise((resolve) => this.#syncWaiters.push(resolve));
  }

  get(key: string): T | undefined {
    return this.#cache.get(key);
  }

  keys(): string[] {
    return [...this.#cache.keys()];
  }

  /** A snapshot of the cache. */
  list(): Map<string, T> {
    return new Map(this.#cache);
  }

  /** Lists everything now and resolves when the cache reflects it (e.g. for tests, `joblet get`). */
  resync(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.#nextListWaiters.push(resolve));
    this.#fullListDue = true;
    this.#scheduleList(0);
    return done;
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#debounceTimer);
    clearInterval(this.#resyncTimer);
    clearTimeout(this.#retryTimer);
    await this.#watch?.close();
    await this.#listing;
    for (const waiter of [...this.#syncWaiters.splice(0), ...this.#nextListWaiters.splice(0)]) waiter();
  }

  #onWatchEvent(hint?: WatchHint): void {
    if (this.#stopped) return;
    if (hint?.path === undefined) this.#changedPaths = undefined;
    else this.#changedPaths?.add(hint.path);
    this.#scheduleList(this.#debounceMs);
  }

  /** Debounces with a ceiling: waits for `delay` of quiet, but no longer than maxDelayMs overall. */
  #scheduleList(delay: number): void {
    if (this.#stopped) return;
    const now = Date.now();
    if (!this.#listRequested) {
      this.#listRequested = true;
      this.#firstEventAt = now;
    }
    if (this.#listing) return; // The list in flight runs another when it finishes.
    const wait = Math.max(0, Math.min(delay, this.#firstEventAt + this.#maxDelayMs - now));
    clearTimeout(this.#debounceTimer);
    this.#debounceTimer = setTimeout(() => {
      this.#debounceTimer = undefined;
      this.#listing = this.#runList().finally(() => {
        this.#listing = undefined;
        if (this.#listRequested) this.#scheduleList(this.#debounceMs);
      });
    }, wait);
  }

  async #runList(): Promise<void> {
    const waiters = this.#nextListWaiters.splice(0);
    try {
      await this.#listOnce();
    } finally {
      for (const waiter of waiters) waiter();
    }
  }

  async #listOnce(): Promise<void> {
    this.#listRequested = false;
    const full = this.#fullListDue || this.#changedPaths === undefined;
    const changed = full ? undefined : this.#changedPaths;
    const resync = this.#resyncDue;
    this.#fullListDue = false;
    this.#resyncDue = false;
    this.#changedPaths = new Set();
    let next: Map<string, T>;
    try {
      next = await this.#source.list(changed);
    } catch (err) {
      if (this.#stopped) return;
      this.#onError(err);
      // Keep the cache; a half-read source must not look like mass deletion.
      if (full) this.#fullListDue = true;
      else for (const path of changed ?? []) this.#changedPaths?.add(path);
      this.#resyncDue ||= resync;
      clearTimeout(this.#retryTimer);
      this.#retryTimer = setTimeout(() => this.#scheduleList(0), this.#retryMs);
      this.#retryTimer.unref();
      return;
    }
    if (this.#stopped) return;
    this.#apply(next, resync);
    if (!this.#synced) {
      this.#synced = true;
      for (const waiter of this.#syncWaiters.splice(0)) waiter();
    }
  }

  #apply(next: Map<string, T>, resync: boolean): void {
    const previous = this.#cache;
    this.#cache = next;
    for (const [key, oldObj] of previous) {
      if (!next.has(key)) this.#emit((h) => h.onDelete?.(key, oldObj));
    }
    for (const [key, obj] of next) {
      const oldObj = previous.get(key);
      if (oldObj === undefined && !previous.has(key)) this.#emit((h) => h.onAdd?.(key, obj));
      else if (!this.#same(oldObj as T, obj)) this.#emit((h) => h.onUpdate?.(key, oldObj as T, obj));
      else if (resync) this.#emit((h) => h.onResync?.(key, obj));
    }
  }

  #emit(call: (handlers: InformerHandlers<T>) => void): void {
    for (const handlers of this.#handlers) {
      try {
        call(handlers);
      } catch (err) {
        // One faulty subscriber must not starve the others of events.
        this.#onError(err);
      }
    }
  }
}
