/**
 * For stream tests and the SSE benchmark: the stream handlers mounted on a plain HTTP
 * server on loopback (the routing the HTTPS server core does, reduced to these paths),
 * and a small Server-Sent Events client that works over http or https.
 */
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type Server } from "node:http";
import { request as httpsRequest, type RequestOptions } from "node:https";
import { isAscii } from "node:buffer";
import type { AddressInfo } from "node:net";
import type { Kind } from "../../src/api/index.js";
import { handleLogs, handleWatch } from "../../src/server/streams/index.js";
import type { StateLayout } from "../../src/store/index.js";

const KINDS: Record<string, Kind> = { jobs: "Job", runtimes: "Runtime", volumes: "Volume", networks: "Network" };

/** http://127.0.0.1:PORT serving watch and log streams over `layout`. */
export async function streamServer(layout: StateLayout): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const m = /^\/apis\/joblet\/v1\/([a-z]+)(?:\/([^/]+))?(\/log)?$/.exec(url.pathname);
    const kind = m ? KINDS[m[1]!] : undefined;
    if (!m || kind === undefined || (m[3] && kind !== "Job") || (!m[3] && url.searchParams.get("watch") !== "true")) {
      res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ error: `No stream at ${url.pathname}` }));
      return;
    }
    const controller = new AbortController();
    res.on("close", () => controller.abort());
    const ctx = { req, res, layout, kind, query: url.searchParams, signal: controller.signal, ...(m[2] ? { name: decodeURIComponent(m[2]) } : {}) };
    void (m[3] ? handleLogs(ctx) : handleWatch(ctx));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface SseEvent {
  event: string;
  id?: string;
  data: string;
}

export interface SseResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body when the answer was not an event stream (an error). */
  body?: string;
  events: AsyncGenerator<SseEvent>;
  /** Drops the connection (as a client that went away does). */
  close(): void;
}

export interface SseOptions {
  headers?: Record<string, string>;
  /** TLS options for https URLs (ca, cert, key). */
  tls?: Pick<RequestOptions, "ca" | "cert" | "key" | "servername">;
}

/** GET an event stream. Comments (keepalives) arrive as events named ':'. */
export async function openSse(url: string, options: SseOptions = {}): Promise<SseResponse> {
  const target = new URL(url);
  const send = target.protocol === "https:" ? httpsRequest : httpRequest;
  const req = send(target, { method: "GET", headers: { accept: "text/event-stream", ...options.headers }, agent: false, ...options.tls });
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    req.on("response", resolve);
    req.on("error", reject);
    req.end();
  });
  req.on("error", () => {}); // a dropped connection ends the events
  const close = (): void => {
    req.destroy();
    res.destroy();
  };
  const status = res.statusCode ?? 0;
  if (!String(res.headers["content-type"]).startsWith("text/event-stream")) {
    const chunks: Buffer[] = [];
    for await (const chunk of res) chunks.push(chunk as Buffer);
    return { status, headers: res.headers, body: Buffer.concat(chunks).toString(), events: (async function* () {})(), close };
  }
  return { status, headers: res.headers, events: parseEvents(res), close };
}

/** Splits the body at blank lines, on Buffers: a test's client should not be what limits a 200 MB/s stream. */
async function* parseEvents(res: IncomingMessage): AsyncGenerator<SseEvent> {
  let held: Buffer[] = [];
  let heldEndsWithNewline = false;
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      let from = 0;
      if (heldEndsWithNewline && chunk[0] === 0x0a) {
        const block = Buffer.concat(held);
        held = [];
        yield parseBlock(block.subarray(0, block.length - 1));
        from = 1;
      }
      for (;;) {
        const end = chunk.indexOf("\n\n", from);
        if (end < 0) break;
        const piece = chunk.subarray(from, end);
        yield parseBlock(held.length > 0 ? Buffer.concat([...held, piece]) : piece);
        held = [];
        from = end + 2;
      }
      if (from < chunk.length) held.push(chunk.subarray(from));
      heldEndsWithNewline = held.length > 0 && chunk[chunk.length - 1] === 0x0a;
    }
  } catch {
    // the connection was dropped: the events simply end
  } finally {
    res.destroy();
  }
}

/** UTF-8, taking the cheap way for ASCII (base64 log chunks): a plain copy instead of a decode. */
function text(bytes: Buffer): string {
  return isAscii(bytes) ? bytes.toString("latin1") : bytes.toString("utf8");
}

/** One event's lines; values decoded as UTF-8 once, straight from the bytes. */
function parseBlock(block: Buffer): SseEvent {
  if (block[0] === 0x3a) return { event: ":", data: block.toString("utf8", 1).trim() };
  const event: SseEvent = { event: "message", data: "" };
  const data: string[] = [];
  for (let start = 0; start < block.length; ) {
    let end = block.indexOf(0x0a, start);
    if (end < 0) end = block.length;
    const colon = block.indexOf(0x3a, start);
    const hasValue = colon >= 0 && colon < end;
    const field = block.toString("latin1", start, hasValue ? colon : end);
    const from = hasValue ? colon + (block[colon + 1] === 0x20 ? 2 : 1) : end;
    if (field === "event") event.event = block.toString("utf8", from, end);
    else if (field === "id") event.id = block.toString("utf8", from, end);
    else if (field === "data") data.push(text(block.subarray(from, end)));
    start = end + 1;
  }
  event.data = data.join("\n");
  return event;
}
