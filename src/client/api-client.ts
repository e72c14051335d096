/**
 * HTTPS to a joblet daemon (the remote API of issue 7): the client certificate and key,
 * the joblet CA as the only trusted root, one keep-alive agent for every request a verb
 * makes. Failures become ApiError sentences a user can act on: the server's own
 * `{"error"}` sentence when it answered, else which server could not be reached and why.
 */
import { readFile } from "node:fs/promises";
import { Agent, request as httpsRequest } from "node:https";
import { createSecureContext } from "node:tls";
import type { IncomingMessage, OutgoingHttpHeaders } from "node:http";

/** Where the daemon is and the files that prove who we are; paths are absolute. */
export interface RemoteTarget {
  server: string;
  cert: string;
  key: string;
  ca: string;
}

/** A failed call: `status` is the HTTP status when the server answered. */
export class ApiError extends Error {
  readonly exitCode = 1;
  /** The CLI shows a refusal's sentence exactly as the server words it (it names role, CN, verb and kind). */
  readonly verbatim: boolean;
  constructor(
    message: string,
    readonly status?: number,
    /** Validation problems (422): each with the manifest field it is about. */
    readonly problems: { path: string; message: string }[] = [],
  ) {
    super(message);
    this.name = "ApiError";
    this.verbatim = status === 403;
  }
}

export interface Response {
  status: number;
  headers: IncomingMessage["headers"];
  body: Buffer;
}

export interface RequestOptions {
  body?: string | Buffer;
  contentType?: string;
  headers?: OutgoingHttpHeaders;
  signal?: AbortSignal;
}

/** No bytes for this long on a non-streaming request: the server gives up at 30 s, so do we. */
const IDLE_MS = 30_000;

export class ApiClient {
  readonly origin: string;
  private readonly agent: Agent;
  private readonly base: URL;

  private constructor(server: URL, tls: { cert: Buffer; key: Buffer; ca: Buffer }) {
    this.base = server;
    this.origin = server.origin;
    this.agent = new Agent({ keepAlive: true, cert: tls.cert, key: tls.key, ca: tls.ca, minVersion: "TLSv1.2" });
  }

  /** Reads the certificate files; errors name the file and the flag or field it came from. */
  static async connect(target: RemoteTarget): Promise<ApiClient> {
    let server: URL;
    try {
      server = new URL(target.server);
    } catch {
      throw new ApiError(`Server '${target.server}' is not a URL (e.g. https://joblet.example.com:8443)`);
    }
    if (server.protocol !== "https:") throw new ApiError(`Server '${target.server}' must be an https:// URL: joblet serves HTTPS only`);
    const read = (path: string, what: string): Promise<Buffer> =>
      readFile(path).catch((e: NodeJS.ErrnoException) => {
        throw new ApiError(`Cannot read the ${what} ${path}: ${e.code === "ENOENT" ? "it does not exist" : (e.code ?? e.message)}`);
      });
    const [cert, key, ca] = await Promise.all([read(target.cert, "client certificate"), read(target.key, "client key"), read(target.ca, "CA certificate")]);
    try {
      // Checked here, where the files can be named; a request would fail with OpenSSL's words alone.
      createSecureContext({ cert, key, ca });
    } catch (e) {
      throw new ApiError(`Cannot use client certificate ${target.cert} with key ${target.key} and CA ${target.ca}: ${(e as Error).message.replace(/^error:[0-9A-F]+:[^:]*::?/i, "")}`);
    }
    return new ApiClient(server, { cert, key, ca });
  }

  /** A whole request and response. GET, PUT and DELETE are idempotent: a keep-alive socket the server closed meanwhile is retried once. */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    try {
      return await this.once(method, path, options);
    } catch (e) {
      if ((e as { retryable?: boolean }).retryable) return this.once(method, path, options);
      throw e;
    }
  }

  /** JSON in and out; a status of 400 and above throws with the server's sentence. */
  async json<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<{ status: number; value: T }> {
    const response = await this.request(method, path, {
      ...(body === undefined ? {} : { body: JSON.stringify(body), contentType: "application/json" }),
      headers: { accept: "application/json" },
      signal,
    });
    if (response.status >= 400) throw errorOf(response, `${method} ${path}`);
    try {
      return { status: response.status, value: JSON.parse(response.body.toString("utf8")) as T };
    } catch {
      throw new ApiError(`Server ${this.origin} answered ${method} ${path} with something that is not JSON`);
    }
  }

  /**
   * A streaming response (SSE), returned once its headers are in; the caller reads the
   * body and destroys it when done. No idle timeout: the server sends keep-alives and
   * the caller decides how long silence may last.
   */
  async open(path: string, headers: OutgoingHttpHeaders, signal?: AbortSignal): Promise<IncomingMessage> {
    const response = await this.send("GET", path, { headers: { accept: "text/event-stream", ...headers }, signal }, false);
    if (response.statusCode !== undefined && response.statusCode >= 400) {
      const body = await collect(response);
      throw errorOf({ status: response.statusCode, headers: response.headers, body }, `GET ${path}`);
    }
    return response;
  }

  close(): void {
    this.agent.destroy();
  }

  private async once(method: string, path: string, options: RequestOptions): Promise<Response> {
    const response = await this.send(method, path, options, true);
    return { status: response.statusCode ?? 0, headers: response.headers, body: await collect(response) };
  }

  private send(method: string, path: string, options: RequestOptions, idleTimeout: boolean): Promise<IncomingMessage> {
    const url = new URL(path, this.base);
    const headers: OutgoingHttpHeaders = { ...options.headers };
    if (options.body !== undefined) {
      headers["content-type"] = options.contentType ?? "application/json";
      headers["content-length"] = Buffer.byteLength(options.body);
    }
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = httpsRequest(url, { method, headers, agent: this.agent, signal: options.signal });
      if (idleTimeout) req.setTimeout(IDLE_MS, () => req.destroy(Object.assign(new Error(`no answer for ${IDLE_MS / 1000} s`), { code: "ETIMEDOUT" })));
      req.on("response", resolve);
      req.on("error", (e: NodeJS.ErrnoException) => {
        const error = options.signal?.aborted ? e : connectionError(this.origin, e);
        // A reused keep-alive socket may have been closed by the server (idle 5 s) just as we sent.
        if (req.reusedSocket && (e.code === "ECONNRESET" || e.code === "EPIPE")) Object.assign(error, { retryable: true });
        reject(error);
      });
      req.end(options.body);
    });
  }
}

async function collect(stream: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The server's `{"error", "errors"}` as an ApiError; a body that is not that is described. */
export function errorOf(response: Response, what: string): ApiError {
  let sentence: string | undefined;
  let problems: { path: string; message: string }[] = [];
  try {
    const value = JSON.parse(response.body.toString("utf8")) as { error?: unknown; errors?: unknown };
    if (typeof value.error === "string" && value.error !== "") sentence = value.error;
    if (Array.isArray(value.errors)) problems = value.errors.filter((p): p is { path: string; message: string } => typeof p?.message === "string");
  } catch {
    // not JSON: described below
  }
  const text = sentence ?? `${what} failed with HTTP ${response.status}${response.body.length > 0 ? `: ${response.body.toString("utf8").trim().slice(0, 200)}` : ""}`;
  return new ApiError(text, response.status, problems);
}

/** Why a connection failed, in words, naming the server. */
export function connectionError(origin: string, e: NodeJS.ErrnoException): ApiError {
  return new ApiError(`Cannot reach joblet server ${origin}: ${reason(e)}`);
}

const VERIFY_CODES = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_SIGNATURE_FAILURE",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
]);

function reason(e: NodeJS.ErrnoException): string {
  const code = e.code ?? "";
  if (code === "ECONNREFUSED") return "connection refused (is `joblet daemon --listen` running there?)";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return `host not found (${e.message})`;
  if (code === "ETIMEDOUT") return `timed out (${e.message})`;
  if (code === "EHOSTUNREACH" || code === "ENETUNREACH") return "no route to the host";
  if (VERIFY_CODES.has(code)) return `certificate verify failed: ${e.message} (is --ca the CA that signed this server's certificate?)`;
  if (code === "CERT_HAS_EXPIRED") return "certificate verify failed: the server's certificate has expired";
  if (code === "CERT_NOT_YET_VALID") return "certificate verify failed: the server's certificate is not valid yet";
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") return `certificate verify failed: ${e.message.replace(/^Hostname\/IP does not match certificate's altnames: /, "")}`;
  if (code.startsWith("ERR_SSL_") && code.includes("ALERT")) {
    // The server's alert: it refused our certificate (unknown CA, expired, none sent).
    const alert = code.replace(/^ERR_SSL_(SSLV3|TLSV1|TLSV13)_ALERT_/, "").toLowerCase().replace(/_/g, " ");
    return `the server refused the TLS handshake (${alert}): is the client certificate signed by its joblet CA, and still valid?`;
  }
  if (code === "ERR_SSL_WRONG_VERSION_NUMBER" || code === "EPROTO") return `TLS handshake failed (${e.message.split("\n")[0]}): is it an HTTPS server?`;
  if (code === "ECONNRESET" || code === "EPIPE") return "the server closed the connection (it may have refused the client certificate, or restarted)";
  if (code.startsWith("ERR_OSSL") || code.startsWith("ERR_SSL")) return `TLS failed: ${e.message.split("\n")[0]}`;
  return e.message;
}
