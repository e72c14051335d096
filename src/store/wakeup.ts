/**
 * Wakes a loop waiting on the state dir when something in a few directories changes:
 * fs.watch for speed, and a poll timer because fs.watch misses events on some filesystems
 * (NFS, overlay) and cannot watch a directory that does not exist yet (it is tried again
 * at every wait). The poll is quick while a directory is not watched and slow once all
 * are: a hundred idle log followers should not read their Job's status ten times a second
 * each for nothing. A change that arrives while the loop is busy is remembered, so the
 * next wait returns at once instead of sleeping through what was written meanwhile.
 * Used by the API's streams and the CLI's waiting verbs.
 */
import { watch, type FSWatcher } from "node:fs";

export interface PollIntervals {
  /** While every directory is watched: only a safety net (fs.watch on NFS reports nothing). */
  watched: number;
  /** While one is not (it does not exist yet, or watching failed). */
  unwatched: number;
}

export class Wakeup {
  private readonly watchers = new Map<string, FSWatcher>();
  private wake?: () => void;
  private changed = false;
  private closed = false;

  constructor(
    private readonly dirs: readonly string[],
    private readonly poll: PollIntervals,
    private readonly signal: AbortSignal,
  ) {
    signal.addEventListener("abort", this.poke);
    this.watchMissing();
  }

  /** Resolves at the next change (or one since the last call), poll tick, or abort. */
  next(): Promise<void> {
    this.watchMissing();
    if (this.changed || this.signal.aborted || this.closed) {
      this.changed = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(this.poke, this.watchers.size === this.dirs.length ? this.poll.watched : this.poll.unwatched);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  close(): void {
    this.closed = true;
    for (const watcher of this.watchers.values()) watcher.close();
    this.watchers.clear();
    this.signal.removeEventListener("abort", this.poke);
    this.poke();
  }

  private readonly poke = (): void => {
    const wake = this.wake;
    this.wake = undefined;
    if (wake !== undefined) wake();
    else this.changed = true;
  };

  private watchMissing(): void {
    if (this.closed) return;
    for (const dir of this.dirs) {
      if (this.watchers.has(dir)) continue;
      try {
        const watcher = watch(dir, { persistent: false }, this.poke);
        watcher.on("error", () => {
          watcher.close();
          this.watchers.delete(dir); // polling carries on; the next wait watches again
        });
        this.watchers.set(dir, watcher);
      } catch {
        // not there yet
      }
    }
  }
}
