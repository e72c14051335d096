/**
 * Running the host tools the runtime sources need (ldd, mmdebstrap, dpkg in
 * a chroot): a fixed PATH and a clean environment so that nothing of the
 * daemon's environment (LD_LIBRARY_PATH, LANG, ...) changes what they do or
 * print, output split into lines, and an AbortSignal that kills the whole
 * process group and waits for it before the caller throws.
 */
import { spawn } from "node:child_process";
import { accessSync, constants, statSync } from "node:fs";
import { posix } from "node:path";

export const HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
export const HOST_PATH_DIRS = HOST_PATH.split(":");

/** An executable regular file named `name` on HOST_PATH, or undefined. */
export function findExecutable(name: string): string | undefined {
  for (const dir of HOST_PATH_DIRS) {
    const candidate = posix.join(dir, name);
    try {
      if (statSync(candidate).isFile()) {
        accessSync(candidate, constants.X_OK);
        return candidate;
      }
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The environment every tool runs with: C messages (they are parsed), the fixed PATH, and the host's proxy settings if any. */
export function toolEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = { PATH: HOST_PATH, LC_ALL: "C", LANG: "C", HOME: "/root" };
  for (const key of ["http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"]) {
    const value = process.env[key];
    if (value !== undefined && value !== "") env[key] = value;
  }
  return { ...env, ...extra };
}

/** What signal.reason is, as something throwable. */
export function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  const err = new Error(typeof reason === "string" ? reason : "The runtime build was aborted");
  err.name = "AbortError";
  return err;
}

export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw abortError(signal);
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string>;
  signal: AbortSignal;
  /** Each complete line of output, as it comes (trailing \r and \n removed). */
  onLine?: (line: string, stream: "stdout" | "stderr") => void;
  /** Keep the output in the result (default true); off for tools that print a lot. */
  collect?: boolean;
  /** How long a tool gets after SIGTERM to clean up before SIGKILL (default 10 s). */
  killGraceMs?: number;
  stdin?: string;
}

/**
 * Run a tool in its own process group. Resolves with its exit however it
 * ended; rejects only when it could not start or when `signal` aborted it,
 * after the whole group got SIGTERM (then SIGKILL) and the tool has exited.
 */
export function run(file: string, args: string[], options: RunOptions): Promise<RunResult> {
  const { signal } = options;
  if (signal.aborted) return Promise.reject(abortError(signal));
  const collect = options.collect ?? true;
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      env: options.env ?? toolEnv(),
      stdio: [options.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      detached: true,
    });
    const out = { stdout: "", stderr: "" };
    const partial = { stdout: "", stderr: "" };
    const emit = (line: string, stream: "stdout" | "stderr"): void => options.onLine?.(line.replace(/\r+$/, ""), stream);
    const feed = (stream: "stdout" | "stderr", chunk: string): void => {
      if (collect) out[stream] += chunk;
      if (!options.onLine) return;
      const lines = (partial[stream] + chunk).split("\n");
      partial[stream] = lines.pop() ?? "";
      for (const line of lines) emit(line, stream);
    };
    const flush = (stream: "stdout" | "stderr"): void => {
      if (partial[stream] !== "") emit(partial[stream], stream);
      partial[stream] = "";
    };
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => feed("stdout", chunk));
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => feed("stderr", chunk));
    if (options.stdin !== undefined && child.stdin) child.stdin.end(options.stdin);

    let aborted = false;
    let killTimer: NodeJS.Timeout | undefined;
    const killGroup = (sig: NodeJS.Signals): void => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, sig);
      } catch {
        // the group is gone already
      }
    };
    const onAbort = (): void => {
      aborted = true;
      killGroup("SIGTERM");
      killTimer = setTimeout(() => killGroup("SIGKILL"), options.killGraceMs ?? 10_000);
    };
    signal.addEventListener("abort", onAbort, { once: true });

    child.once("error", (err) => {
      signal.removeEventListener("abort", onAbort);
      if (killTimer) clearTimeout(killTimer);
      reject(err);
    });
    // "close" comes after both pipes ended, so every line has been seen.
    child.once("close", (code, sig) => {
      signal.removeEventListener("abort", onAbort);
      if (killTimer) clearTimeout(killTimer);
      // The leader exited; anything left in its group (a stray grandchild) goes too.
      if (aborted) killGroup("SIGKILL");
      flush("stdout");
      flush("stderr");
      if (aborted) reject(abortError(signal));
      else resolve({ code, signal: sig, stdout: out.stdout, stderr: out.stderr });
    });
  });
}

/** Run `fn` over `items` with at most `limit` at a time; the first failure rejects (the others still settle). */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const index = next++;
      try {
        results[index] = await fn(items[index] as T, index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, () => worker()));
  if (failure) throw failure.error;
  return results;
}
