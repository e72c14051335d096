/**
 * Wakes a waiting verb when status files change: fs.watch on the kind's status dir for
 * speed, and a poll timer because fs.watch misses events on some filesystems (NFS,
 * overlay) and cannot watch a directory the daemon has not created yet.
 */
import { watch, type FSWatcher } from "node:fs";

export interface Waker {
  /** Resolves at the next change notification or poll tick (or at once when aborted). */
  next(): Promise<void>;
  close(): void;
}

export function watchDir(dir: string, pollMs: number, signal?: AbortSignal): Waker {
  let wake: (() => void) | undefined;
  const poke = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  let watcher: FSWatcher | undefined;
  const tryWatch = (): void => {
    if (watcher !== undefined) return;
    try {
      watcher = watch(dir, { persistent: false }, poke);
      watcher.on("error", () => {
        watcher?.close();
        watcher = undefined;
      });
    } catch {
      watcher = undefined; // not there yet: the poll carries on and tries again
    }
  };
  signal?.addEventListener("abort", poke);
  return {
    next() {
      tryWatch();
      return new Promise<void>((resolve) => {
        const timer = setTimeout(poke, pollMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
        if (signal?.aborted) poke();
      });
    },
    close() {
      watcher?.close();
      signal?.removeEventListener("abort", poke);
      poke();
    },
  };
}

/** Resolves after `ms`, or early when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done);
  });
}
