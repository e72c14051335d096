/**
 * The remote API (api.md): HTTPS only, TLS 1.2 or newer, and a client certificate signed by
 * the joblet CA on every connection (verified in the handshake: none, another CA's or an
 * expired one never reaches a handler). The certificate's CN is the caller, its OU the role.
 *
 * Hostile or broken clients are bounded everywhere: the handshake, the headers, the whole
 * request and idle keep-alive connections each have a timeout, bodies have caps, names are
 * checked before they touch a path.
 */
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import type { Logger } from "pino";
import type { Kind } from "../api/index.js";
import { CONTENT_TYPE, apiRequests } from "../metrics/index.js";
import type { StateLayout } from "../store/index.js";
import { HttpError, sendError, sendJson, sendText } from "./http.js";
import { metricsText } from "./metrics-page.js";
import { readServerTls } from "./pki.js";
import { allowed, callerOf, denial, roleProblem, type Caller, type Verb } from "./rbac.js";
import { deleteResource, getResource, listResource, putResource } from "./resources.js";
import { methodsOf, parseTarget } from "./routes.js";
import { handleLogs, handleWatch } from "./streams/index.js";

export interface ApiTimeouts {
  /** TLS handshake (default 10 s). */
  handshakeMs: number;
  /** From connection to the end of a request's headers (default 10 s). */
  headersMs: number;
  /** A whole request received (default 30 s); streams, once asked for, run on. */
  requestMs: number;
  /** An idle keep-alive connection (default 5 s). */
  keepAliveMs: number;
}

export const DEFAULT_TIMEOUTS: ApiTimeouts = { handshakeMs: 10_000, headersMs: 10_000, requestMs: 30_000, keepAliveMs: 5_000 };

export interface ApiServerOptions {
  layout: StateLayout;
  /** Holds ca.crt, server.crt and server.key (`joblet certs init --dir`). */
  tlsDir: string;
  host: string;
  /** 0 picks a free port; `RunningApiServer.port` says which. */
  port: number;
  logger: Logger;
  timeouts?: Partial<ApiTimeouts>;
  /** Work queue depths for /metrics, by queue name. */
  queueDepths?: () => Record<string, number>;
}

export interface RunningApiServer {
  host: string;
  port: number;
  /** Stops listening, ends streams and closes every connection. */
  close(): Promise<void>;
}

export async function startApiServer(o: ApiServerOptions): Promise<RunningApiServer> {
  const timeouts = { ...DEFAULT_TIMEOUTS, ...o.timeouts };
  const tls = await readServerTls(o.tlsDir);
  const server = createServer({
    ...tls,
    minVersion: "TLSv1.2",
    requestCert: true,
    rejectUnauthorized: true,
    handshakeTimeout: timeouts.handshakeMs,
    headersTimeout: timeouts.headersMs,
    requestTimeout: timeouts.requestMs,
    keepAliveTimeout: timeouts.keepAliveMs,
    // How often the header and request timeouts are checked (Node's default is 30 s,
    // which would let a slow client hold a connection three times longer than promised).
    connectionsCheckingInterval: Math.min(1_000, timeouts.headersMs),
  });
  const streams = new Set<AbortController>();
  const ctx: ServeContext = { ...o, streams };
  server.on("request", (req: IncomingMessage, res: ServerResponse) => void serve(req, res, ctx));
  // Refused handshakes are worth a line. Node checks the chain after OpenSSL's handshake and
  // drops the socket (the error is then a bare hang-up): authorizationError says why
  // (CERT_HAS_EXPIRED, UNABLE_TO_VERIFY_LEAF_SIGNATURE); a missing certificate is OpenSSL's own.
  server.on("tlsClientError", (err: Error & { reason?: string }, socket: TLSSocket) => {
    // Typed as an Error, but Node sets the OpenSSL code string.
    const reason = socket.authorizationError ? String(socket.authorizationError) : (err.reason ?? err.message.trim());
    o.logger.info({ remote: socket.remoteAddress, reason }, "API connection refused in the TLS handshake");
  });
  await listen(server, o.host, o.port);
  const address = server.address() as AddressInfo;
  o.logger.info({ host: address.address, port: address.port }, "API server listening");
  return {
    host: address.address,
    port: address.port,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const stream of streams) stream.abort();
      server.closeIdleConnections();
      // Requests being answered get a moment to finish; then every connection goes.
      const force = setTimeout(() => server.closeAllConnections(), 2_000);
      await closed;
      clearTimeout(force);
    },
  };
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

interface ServeContext extends ApiServerOptions {
  streams: Set<AbortController>;
}

async function serve(req: IncomingMessage, res: ServerResponse, ctx: ServeContext): Promise<void> {
  const started = performance.now();
  const caller = callerOf(req.socket as TLSSocket);
  const method = req.method ?? "GET";
  const path = (req.url ?? "/").split("?")[0]!;
  res.once("close", () => {
    const code = res.headersSent ? res.statusCode : 0;
    apiRequests.inc({ code: String(code), method });
    const ms = Math.round((performance.now() - started) * 10) / 10;
    ctx.logger.info({ identity: caller.identity, role: caller.role ?? caller.ou ?? null, method, path, code, ms }, "API request");
  });
  try {
    await route(req, res, ctx, caller);
  } catch (e) {
    if (res.headersSent) {
      // A stream that failed midway: nothing else can be said on it.
      res.destroy();
      return;
    }
    // A refusal before the body was read (403, 413): closing is cheaper than reading the rest.
    const close: Record<string, string> = req.complete ? {} : { connection: "close" };
    if (e instanceof HttpError) {
      sendError(res, e, close);
      return;
    }
    ctx.logger.error({ err: e, method, path }, "API request failed");
    sendError(res, new HttpError(500, `Internal error: ${(e as Error).message}`), close);
  }
}

async function route(req: IncomingMessage, res: ServerResponse, ctx: ServeContext, caller: Caller): Promise<void> {
  const method = req.method ?? "GET";
  const unusable = roleProblem(caller);
  if (unusable !== undefined) throw new HttpError(403, unusable);
  const { route, query } = parseTarget(req.url ?? "/");
  const methods = methodsOf(route);
  if (!methods.includes(method)) throw new HttpError(405, `${method} is not allowed on ${req.url?.split("?")[0]} (allowed: ${methods.join(", ")})`, undefined, { allow: methods.join(", ") });
  authorize(caller, method === "PUT" ? "apply" : method === "DELETE" ? "delete" : "get", "kind" in route ? route.kind : undefined);
  switch (route.type) {
    case "healthz":
      checkQuery(query, []);
      return sendText(res, 200, "ok\n");
    case "metrics":
      checkQuery(query, []);
      return sendText(res, 200, await metricsText(ctx.layout, ctx.queueDepths ?? (() => ({}))), CONTENT_TYPE);
    case "log":
      return stream(handleLogs, req, res, ctx, "Job", route.name, query);
    case "collection":
    case "object": {
      const name = route.type === "object" ? route.name : undefined;
      if (method === "GET") {
        checkQuery(query, ["watch"]);
        if (flag(query, "watch")) return stream(handleWatch, req, res, ctx, route.kind, name, query);
        return sendJson(res, 200, name === undefined ? await listResource(ctx.layout, route.kind) : await getResource(ctx.layout, route.kind, name));
      }
      if (method === "PUT") {
        checkQuery(query, ["dryRun"]);
        const result = await putResource({ layout: ctx.layout, req, kind: route.kind, name: name!, identity: caller.identity, dryRun: flag(query, "dryRun") });
        return sendJson(res, 200, result);
      }
      checkQuery(query, []);
      return sendJson(res, 200, await deleteResource(ctx.layout, route.kind, name!));
    }
  }
}

function authorize(caller: Caller, verb: Verb, kind: Kind | undefined): void {
  if (!allowed(caller.role!, verb, kind)) throw new HttpError(403, denial(caller, verb, kind!));
}

/** Hands the request to a stream handler; it owns the response until the client goes away or the server stops. */
async function stream(
  handler: typeof handleWatch,
  req: IncomingMessage,
  res: ServerResponse,
  ctx: ServeContext,
  kind: Kind,
  name: string | undefined,
  query: URLSearchParams,
): Promise<void> {
  const abort = new AbortController();
  ctx.streams.add(abort);
  const gone = () => abort.abort();
  res.once("close", gone);
  try {
    await handler({ req, res, layout: ctx.layout, kind, ...(name !== undefined ? { name } : {}), query, signal: abort.signal });
  } finally {
    res.off("close", gone);
    ctx.streams.delete(abort);
  }
}

function checkQuery(query: URLSearchParams, known: string[]): void {
  for (const key of query.keys()) {
    if (!known.includes(key)) throw new HttpError(400, `Unknown query parameter '${key}'${known.length ? ` (known: ${known.join(", ")})` : ""}`);
  }
}

/** `?watch=true`: true or false, nothing else. */
function flag(query: URLSearchParams, key: string): boolean {
  const value = query.get(key);
  if (value === null || value === "false") return false;
  if (value === "true") return true;
  throw new HttpError(400, `Query parameter ${key}='${value}' is not true or false`);
}
