/** Wakes a waiting verb when status files change (see Wakeup), and a sleep that an abort ends. */
import { Wakeup } from "../store/wakeup.js";

export interface Waker {
  /** Resolves at the next change notification or poll tick (or at once when aborted). */
  next(): Promise<void>;
  close(): void;
}

/** Wakes on a change in `dir` (the kind's status dir) or every `pollMs`. */
export function watchDir(dir: string, pollMs: number, signal?: AbortSignal): Waker {
  return new Wakeup([dir], { watched: pollMs, unwatched: pollMs }, signal ?? new AbortController().signal);
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
