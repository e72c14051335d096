import { statSync } from "node:fs";
import { dirname, extname, join, resolve, sep } from "node:path";
import { FSWatcher } from "chokidar";
import { isIgnoredPath } from "./ignored-files.js";
import type { Closer, WatchHint } from "./source.js";

export interface DirectoryWatchOptions {
  /**
   * Quiet time, after the last filesystem event, before changes are reported (ms). Editors
   * save in several steps (write a temp file and rename it, move the original to `name~`,
   * truncate then write); reporting only after a pause means one change of the final
   * content. Kept small because it adds to every apply's latency. Default 20.
   */
  settleMs?: number;
  /** Under a continuous stream of events, report at least this often (ms). Default 1000. */
  maxSettleMs?: number;
  /** Only files with these extensions (e.g. `[".yaml", ".yml", ".json"]`); default all. */
  extensions?: readonly string[];
  onError?: (err: unknown) => void;
}

export interface DirectoryWatch extends Closer {
  /** Resolves once the initial scan is done and changes are being reported. */
  ready: Promise<void>;
}

/**
 * Watches a directory tree (the manifests directory) and calls `onChange` once per settled
 * burst: `{path}` for each changed file, or no hint when directories came or went (a git
 * checkout, the directory being created or replaced) and a full re-list is needed.
 *
 * The watch is anchored at the parent (or the nearest existing ancestor) so that the
 * directory may not exist yet, or be deleted and re-created, without losing the watch;
 * everything outside the directory is ignored there and costs nothing beyond the parent's
 * own entry list.
 */
export function watchDirectory(
  dir: string,
  onChange: (hint?: WatchHint) => void,
  options: DirectoryWatchOptions = {},
): DirectoryWatch {
  const root = resolve(dir);
  const settleMs = options.settleMs ?? 20;
  const maxSettleMs = options.maxSettleMs ?? 1000;
  const extensions = options.extensions;
  const onError = options.onError ?? (() => {});

  const chain = ancestorsOf(root);
  const anchor = nearestExisting(root, chain);
  /** Directories known to exist below (and including) the anchor, to decode raw events. */
  const knownDirs = new Set<string>([anchor]);

  const ignored = (path: string): boolean => {
    const abs = resolve(path);
    if (chain.has(abs)) return false; // The way down from the anchor to the directory.
    if (abs !== root && !abs.startsWith(root + sep)) return true;
    return isIgnoredPath(root, abs);
  };
  const wanted = (file: string): boolean =>
    !ignored(file) && (extensions === undefined || extensions.includes(extname(file)));

  let pendingFiles = new Set<string>();
  let fullDue = false;
  let timer: NodeJS.Timeout | undefined;
  let firstAt = 0;
  let closed = false;

  const flush = (): void => {
    timer = undefined;
    const files = pendingFiles;
    const full = fullDue;
    pendingFiles = new Set();
    fullDue = false;
    if (closed) return;
    if (full) {
      const restart = restartIfReplaced();
      if (restart) {
        void restart.then(() => !closed && onChange());
        return;
      }
      onChange();
    } else {
      for (const path of files) onChange({ path });
    }
  };

  // Every event restarts the quiet period, bounded by maxSettleMs since the first one.
  const touched = (file: string | undefined): void => {
    if (closed) return;
    if (file === undefined) fullDue = true;
    else pendingFiles.add(file);
    const now = Date.now();
    if (timer === undefined) firstAt = now;
    else clearTimeout(timer);
    timer = setTimeout(flush, Math.max(0, Math.min(settleMs, firstAt + maxSettleMs - now)));
  };

  /** Identity (device and inode) of the directory, to notice it being swapped for another. */
  let rootIdentity = identityOf(root);
  let restarting: Promise<void> | undefined;

  const createWatcher = (): { watcher: FSWatcher; ready: Promise<void> } => {
    const fsw = new FSWatcher({
      ignoreInitial: true,
      ignored,
      // Our own settle covers partial writes; chokidar's polling would add 100 ms per change.
      awaitWriteFinish: false,
    });

    fsw.on("all", (event, path) => {
      const abs = resolve(path);
      if (event === "addDir" || event === "unlinkDir") {
        if (event === "addDir") knownDirs.add(abs);
        else knownDirs.delete(abs);
        if (abs === root || abs.startsWith(root + sep)) touched(undefined);
        return;
      }
      if (wanted(abs)) touched(abs);
    });

    // chokidar drops a second `change` of one file within 50 ms, which would lose the final
    // write of a truncate-then-write save; raw fs.watch events are not throttled, so they
    // extend the quiet period and name the file again.
    fsw.on("raw", (_event, evPath, details) => {
      const watched = resolve((details as { watchedPath?: string }).watchedPath ?? "");
      const path = knownDirs.has(watched) && evPath ? join(watched, evPath) : watched;
      if (path === root || (knownDirs.has(path) && path.startsWith(root + sep))) touched(undefined);
      else if (wanted(path)) touched(path);
    });

    fsw.on("error", (err) => onError(err));

    const fswReady = new Promise<void>((resolveReady) =>
      fsw.once("ready", () => {
        // The initial scan emits no addDir (ignoreInitial); take the directories from chokidar.
        for (const watchedDir of Object.keys(fsw.getWatched())) knownDirs.add(resolve(watchedDir));
        resolveReady();
      }),
    );
    fsw.add(anchor);
    return { watcher: fsw, ready: fswReady };
  };

  const first = createWatcher();
  let watcher = first.watcher;
  const ready = first.ready;

  /**
   * A directory renamed over the watched one (`mv new manifests`, some checkout tools) keeps
   * its name, and chokidar goes on watching the old, now deleted, inode. Seeing another
   * inode under the name, start over with a fresh watcher; the full re-list that follows
   * covers whatever happened meanwhile.
   */
  function restartIfReplaced(): Promise<void> | undefined {
    const identity = identityOf(root);
    if (identity === undefined) return undefined;
    const replaced = rootIdentity !== undefined && identity !== rootIdentity;
    rootIdentity = identity;
    if (!replaced || restarting) return undefined;
    const old = watcher;
    knownDirs.clear();
    knownDirs.add(anchor);
    const next = createWatcher();
    watcher = next.watcher;
    restarting = Promise.all([old.close(), next.ready])
      .then(() => undefined, onError)
      .finally(() => (restarting = undefined));
    return restarting;
  }

  return {
    ready,
    async close(): Promise<void> {
      closed = true;
      clearTimeout(timer);
      await restarting;
      await watcher.close();
    },
  };
}

/** The directory and all its ancestors. */
function ancestorsOf(path: string): Set<string> {
  const chain = new Set<string>();
  for (let p = path; !chain.has(p); p = dirname(p)) chain.add(p);
  return chain;
}

/** The parent of `root` if it exists, else the closest ancestor that does. */
function nearestExisting(root: string, chain: Set<string>): string {
  for (const p of chain) {
    if (p === root && chain.size > 1) continue;
    if (isDirectory(p)) return p;
  }
  return dirname(root);
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function identityOf(path: string): string | undefined {
  try {
    const stats = statSync(path);
    return stats.isDirectory() ? `${stats.dev}:${stats.ino}` : undefined;
  } catch {
    return undefined;
  }
}
