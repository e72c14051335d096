/**
 * A Job run's output over the API's SSE log stream, surviving dropped connections: every
 * chunk's id is the byte offset after it (for stream=all, both streams' offsets), so a
 * reconnect sending the last id as Last-Event-ID gets exactly the bytes that follow, with
 * no gap and no duplicate. Reconnects back off exponentially (capped at ~2 s) and give up
 * after a while without any answer; an HTTP error (404: the Job or run is gone) ends at once.
 */
import { type ApiClient, ApiError } from "./api-client.js";
import { sleep } from "../cli/status-watch.js";
import { eventStream, SILENCE_MS } from "./event-stream.js";

export type LogStreamName = "stdout" | "stderr";

export interface LogRequest {
  name: string;
  /** Pinned so that a reconnect reads the same run, not a newer one. */
  run?: string;
  stream: LogStreamName | "all";
  follow: boolean;
  tail?: number;
}

/** The `end` event: the run is over and everything was sent. */
export interface LogEnd {
  run?: string;
  phase?: string;
  exitCode?: number;
  signal?: string;
}

export type LogOutcome = { kind: "end"; end: LogEnd } | { kind: "eof" } | { kind: "aborted" };

export interface ReconnectPolicy {
  firstDelayMs: number;
  maxDelayMs: number;
  /** Give up when no connection has succeeded for this long. */
  giveUpMs: number;
  /** Silence (not even a keep-alive, sent every 15 s) after which a connection is taken for dead. */
  silenceMs: number;
}

export const RECONNECT: ReconnectPolicy = { firstDelayMs: 100, maxDelayMs: 2000, giveUpMs: 60_000, silenceMs: SILENCE_MS };

export function logPath(request: LogRequest): string {
  const query = new URLSearchParams({ follow: String(request.follow), stream: request.stream });
  if (request.tail !== undefined) query.set("tail", String(request.tail));
  if (request.run !== undefined) query.set("run", request.run);
  return `/apis/joblet/v1/jobs/${encodeURIComponent(request.name)}/log?${query}`;
}

/**
 * Reads the log, handing each chunk's bytes to `write` (awaited: a slow terminal slows
 * the stream, not the memory). Ends with the server's `end` (or `eof` when not
 * following and the run still runs), or when `signal` aborts.
 */
export async function readLog(
  client: ApiClient,
  request: LogRequest,
  write: (stream: LogStreamName, bytes: Buffer) => unknown,
  signal?: AbortSignal,
  policy: ReconnectPolicy = RECONNECT,
): Promise<LogOutcome> {
  let lastId: string | undefined;
  let delay = policy.firstDelayMs;
  let failingSince: number | undefined;
  let lastProblem = "";
  while (!signal?.aborted) {
    try {
      for await (const event of eventStream(client, logPath(request), lastId === undefined ? {} : { "last-event-id": lastId }, signal, policy.silenceMs)) {
        if (event.event === "stdout" || event.event === "stderr") {
          await write(event.event, Buffer.from(event.data, "base64"));
          if (event.id !== undefined) lastId = event.id;
        } else if (event.event === "end") {
          return { kind: "end", end: parseEnd(event.data) };
        } else if (event.event === "eof") {
          return { kind: "eof" };
        }
        // A connection that delivered something is a good one: start backing off afresh.
        delay = policy.firstDelayMs;
        failingSince = undefined;
      }
      lastProblem = "the stream ended before the run did";
    } catch (e) {
      if (signal?.aborted) break;
      // The server answered with an error: reconnecting will not change its mind (503s aside).
      if (e instanceof ApiError && e.status !== undefined && e.status !== 502 && e.status !== 503 && e.status !== 504) throw e;
      lastProblem = (e as Error).message;
    }
    if (signal?.aborted) break;
    failingSince ??= Date.now();
    if (Date.now() - failingSince > policy.giveUpMs) {
      throw new ApiError(`Lost the log stream of job '${request.name}' from ${client.origin} and could not resume it for ${Math.round(policy.giveUpMs / 1000)} s: ${lastProblem}`);
    }
    await sleep(delay, signal);
    delay = Math.min(delay * 2, policy.maxDelayMs);
  }
  return { kind: "aborted" };
}

function parseEnd(data: string): LogEnd {
  try {
    const value = JSON.parse(data) as LogEnd;
    return value !== null && typeof value === "object" ? value : {};
  } catch {
    return {};
  }
}
