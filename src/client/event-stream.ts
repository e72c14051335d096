/**
 * One SSE connection to the API as an async iterable of events. Silence longer than
 * `silenceMs` (the server sends a keep-alive comment every 15 s) means a half-open
 * connection: it is dropped and the iteration fails, for the caller to reconnect.
 * Leaving the loop early closes the connection.
 */
import type { OutgoingHttpHeaders } from "node:http";
import { type ApiClient, ApiError } from "./api-client.js";
import { type SseEvent, SseParser } from "./sse.js";

export const SILENCE_MS = 45_000;

export async function* eventStream(client: ApiClient, path: string, headers: OutgoingHttpHeaders, signal?: AbortSignal, silenceMs = SILENCE_MS): AsyncGenerator<SseEvent> {
  const connection = new AbortController();
  const stop = (): void => connection.abort();
  signal?.addEventListener("abort", stop);
  let silent = false;
  let timer: NodeJS.Timeout | undefined;
  const heard = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      silent = true;
      connection.abort();
    }, silenceMs);
  };
  try {
    heard();
    const response = await client.open(path, headers, connection.signal);
    try {
      const parser = new SseParser();
      for await (const chunk of response) {
        heard(); // keep-alive comments count too
        yield* parser.push(chunk as Buffer);
      }
    } finally {
      response.destroy();
    }
  } catch (e) {
    if (silent) throw new ApiError(`No data from ${client.origin} for ${silenceMs / 1000} s`);
    throw e;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", stop);
  }
}
