/**
 * One Server-Sent Events response: the headers, events written whole (so a keepalive
 * comment never lands inside one), backpressure (a slow client makes the writer wait
 * instead of the daemon buffering the log in memory) and the keepalive comment that
 * keeps proxies and idle timers from closing a quiet stream.
 */
import type { OutgoingHttpHeaders, ServerResponse } from "node:http";
import { HttpError, sendError } from "../http.js";
import type { StreamContext } from "./context.js";

export const KEEPALIVE_MS = 15_000;
/**
 * How much may wait in the response's buffer before a writer waits for the client. Far
 * above the socket's 16 KiB mark: waiting for every megabyte event to drain would leave
 * the connection idle while the next chunk is read and encoded; a few of them in flight
 * keep it busy, and a slow client still holds the writer at a few megabytes per stream.
 */
const BUFFERED_BYTES = 2 * 1024 * 1024;

export class SseStream {
  private keepalive?: NodeJS.Timeout;

  constructor(
    private readonly res: ServerResponse,
    private readonly signal: AbortSignal,
  ) {}

  /**
   * 200 and the event-stream headers, sent at once so the client knows the stream is live.
   * The body is not chunked: it ends when the connection closes (`Connection: close`), as
   * a stream ends only then anyway. Chunked framing made every event a corked write of
   * several pieces, which Node copies into one buffer before TLS encrypts it; unframed, a
   * megabyte of base64 goes from its string to the cipher without that copy (~20% less
   * server CPU per byte over TLS).
   */
  open(headers: OutgoingHttpHeaders = {}): void {
    this.res.useChunkedEncodingByDefault = false;
    this.res.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      "x-accel-buffering": "no",
      ...headers,
    });
    this.res.flushHeaders();
    this.keepalive = setInterval(() => {
      // Behind a full buffer the stream is anything but idle: no comment needed.
      if (this.res.writableNeedDrain || !this.writable()) return;
      this.res.write(": keepalive\n\n");
    }, KEEPALIVE_MS);
  }

  /**
   * Writes one event (`data` on one line); resolves when the client can take more (or is
   * gone): at once while little is buffered. The data is a write of its own: gluing a
   * megabyte of base64 to the field names would flatten (copy) the string. The three
   * writes happen in one turn, so a keepalive never lands between them. `latin1` is for
   * data known to be ASCII (base64): taken as it is, not encoded.
   */
  async send(event: string, data: string, id?: string, encoding: "utf8" | "latin1" = "utf8"): Promise<void> {
    if (!this.writable()) return;
    this.res.write(id === undefined ? `event: ${event}\ndata: ` : `event: ${event}\nid: ${id}\ndata: `);
    this.res.write(data, encoding);
    this.res.write("\n\n");
    if (this.res.writableLength > BUFFERED_BYTES) await this.drained();
  }

  /**
   * Ends the response (if the client is still there) and stops the keepalive. Also when
   * the server's signal aborted (it is shutting down): a cleanly ended stream lets the
   * server close at once, and the client reconnect to whoever serves next.
   */
  close(): void {
    this.stopKeepalive();
    if (!this.res.destroyed && !this.res.writableEnded) this.res.end();
  }

  stopKeepalive(): void {
    clearInterval(this.keepalive);
  }

  private writable(): boolean {
    return !this.signal.aborted && !this.res.destroyed && !this.res.writableEnded;
  }

  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.res.off("drain", done);
        this.res.off("close", done);
        this.signal.removeEventListener("abort", done);
        resolve();
      };
      this.res.on("drain", done);
      this.res.on("close", done);
      this.signal.addEventListener("abort", done);
    });
  }
}

/**
 * Aborts when the server's signal does or the response closes (the client went away),
 * whichever comes first: a handler must never outlive its connection.
 */
export function connectionSignal(res: ServerResponse, signal: AbortSignal): { signal: AbortSignal; release(): void } {
  const controller = new AbortController();
  const abort = (): void => controller.abort();
  if (signal.aborted || res.destroyed) controller.abort();
  signal.addEventListener("abort", abort);
  res.on("close", abort);
  return {
    signal: controller.signal,
    release() {
      signal.removeEventListener("abort", abort);
      res.off("close", abort);
    },
  };
}

/** What a handler found before streaming: extra headers, and the stream itself. */
export interface StreamPlan {
  headers?: OutgoingHttpHeaders;
  /** Writes events until done or `signal` aborts; must leave no watcher, timer or file open. */
  run(sse: SseStream, signal: AbortSignal): Promise<void>;
}

/**
 * The frame every stream shares: prepare (an HttpError becomes the JSON error), open
 * the event stream, run it, end it. Never rejects: the server core has nothing left to
 * answer with once the headers are out. A failure before then is a 500; after, the
 * connection is cut so the client sees an unfinished stream and reconnects.
 */
export async function serveStream(ctx: StreamContext, prepare: (signal: AbortSignal) => Promise<StreamPlan | undefined>): Promise<void> {
  const connection = connectionSignal(ctx.res, ctx.signal);
  const { signal } = connection;
  let sse: SseStream | undefined;
  try {
    const plan = await prepare(signal);
    if (plan === undefined || signal.aborted) {
      // Still there: the server is shutting down under a client that waited.
      if (!ctx.res.destroyed && !ctx.res.headersSent) sendError(ctx.res, new HttpError(503, "The server is shutting down"));
      return;
    }
    sse = new SseStream(ctx.res, signal);
    sse.open(plan.headers);
    await plan.run(sse, signal);
    sse.close();
  } catch (e) {
    if (sse !== undefined || ctx.res.headersSent) {
      ctx.res.destroy();
    } else if (e instanceof HttpError) {
      sendError(ctx.res, e);
    } else if (!ctx.res.destroyed) {
      sendError(ctx.res, new HttpError(500, `Cannot stream ${ctx.req.url ?? "this path"}: ${(e as Error).message}`));
    }
  } finally {
    sse?.stopKeepalive();
    connection.release();
  }
}
