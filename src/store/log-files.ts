import { watch, type FSWatcher } from "node:fs";
import { open } from "node:fs/promises";
import { type LogStream, runLogDir, runLogFile, type StateLayout } from "./layout.js";

/**
 * A run's output files, logs/jobs/<name>/<run>/{stdout,stderr}.log, written by the
 * job's supervisor (capped in size) and read here for `joblet logs`.
 */

export interface RunLogPaths {
  dir: string;
  stdout: string;
  stderr: string;
}

export function runLogPaths(layout: StateLayout, name: string, run: string): RunLogPaths {
  return {
    dir: runLogDir(layout, name, run),
    stdout: runLogFile(layout, name, run, "stdout"),
    stderr: runLogFile(layout, name, run, "stderr"),
  };
}

export type { LogStream };

export interface LogTail {
  /** The last lines, byte for byte. */
  data: Buffer;
  /** File size when read: where a follower continues. */
  end: number;
  /** Bytes read from the file to find them. */
  bytesRead: number;
}

const CHUNK = 64 * 1024;
const NEWLINE = 0x0a;

/**
 * The last `lines` lines of a file, read backwards in chunks so that the tail of a
 * large log costs about as much as the tail itself. A missing file is empty (the run
 * may not have written anything yet). A final line without its newline counts as a line.
 */
export async function readTail(path: string, lines: number, chunkSize = CHUNK): Promise<LogTail> {
  let handle;
  try {
    handle = await open(path, "r");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { data: Buffer.alloc(0), end: 0, bytesRead: 0 };
    throw e;
  }
  try {
    const { size } = await handle.stat();
    if (lines <= 0 || size === 0) return { data: Buffer.alloc(0), end: size, bytesRead: 0 };
    const chunks: Buffer[] = [];
    let pos = size;
    let bytesRead = 0;
    let newlines = 0;
    let start = 0;
    let skipFinal = true; // the newline that ends the last line does not start another one
    search: while (pos > 0) {
      const length = Math.min(chunkSize, pos);
      pos -= length;
      const buf = Buffer.allocUnsafe(length);
      const { bytesRead: n } = await handle.read(buf, 0, length, pos);
      bytesRead += n;
      const chunk = buf.subarray(0, n);
      chunks.unshift(chunk);
      for (let i = n - 1; i >= 0; i--) {
        if (chunk[i] !== NEWLINE) {
          skipFinal = false;
          continue;
        }
        if (skipFinal) {
          skipFinal = false;
          continue;
        }
        if (++newlines === lines) {
          start = pos + i + 1;
          break search;
        }
      }
    }
    const all = Buffer.concat(chunks);
    return { data: all.subarray(start - pos), end: size, bytesRead };
  } finally {
    await handle.close();
  }
}

export interface FollowOptions {
  /** Byte offset to start from (e.g. LogTail.end); 0 by default. */
  from?: number;
  /**
   * Settles when the writer is done (the job ended). The follower then reads what is
   * left and finishes; without it, it follows until aborted.
   */
  ended?: Promise<unknown>;
  signal?: AbortSignal;
  /** How often to look for growth when no change notification arrives (default 250 ms). */
  pollMs?: number;
}

/**
 * Yields what is appended to a file as it grows (`joblet logs -f`). Ends once `ended`
 * settles and everything written before that has been yielded, or when `signal` aborts.
 * The file may not exist yet; if it shrinks (truncated), reading starts over from 0.
 */
export async function* followLog(path: string, options: FollowOptions = {}): AsyncGenerator<Buffer> {
  let position = options.from ?? 0;
  let ended = false;
  let wake: (() => void) | undefined;
  const poke = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  options.ended?.then(
    () => ((ended = true), poke()),
    () => ((ended = true), poke()),
  );
  options.signal?.addEventListener("abort", poke);
  let watcher: FSWatcher | undefined;
  const buf = Buffer.allocUnsafe(CHUNK);
  try {
    while (!options.signal?.aborted) {
      // Decide before draining: whatever was written before the end was signalled is
      // then certain to be read by the drain below.
      const finishing = ended;
      const handle = await open(path, "r").catch((e: NodeJS.ErrnoException) => {
        if (e.code === "ENOENT") return undefined;
        throw e;
      });
      if (handle !== undefined) {
        try {
          watcher ??= tryWatch(path, poke);
          const { size } = await handle.stat();
          if (size < position) position = 0;
          for (;;) {
            const { bytesRead } = await handle.read(buf, 0, buf.length, position);
            if (bytesRead === 0) break;
            position += bytesRead;
            yield Buffer.from(buf.subarray(0, bytesRead));
            if (options.signal?.aborted) return;
          }
        } finally {
          await handle.close();
        }
      }
      if (finishing) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(poke, options.pollMs ?? 250);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
        if (ended || options.signal?.aborted) poke();
      });
    }
  } finally {
    watcher?.close();
    options.signal?.removeEventListener("abort", poke);
  }
}

function tryWatch(path: string, onChange: () => void): FSWatcher | undefined {
  try {
    const w = watch(path, { persistent: false }, onChange);
    w.on("error", () => w.close()); // polling carries on
    return w;
  } catch {
    return undefined;
  }
}
