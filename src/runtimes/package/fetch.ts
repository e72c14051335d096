/**
 * Brings a package file (a local path or an HTTP(S) URL) to `dest`, hashing
 * it on the way. Nothing is unpacked here: the caller unpacks only after this
 * returned, i.e. after the sha256 matched, so a wrong or tampered package
 * never gets a single entry onto disk.
 */
import { createHash } from "node:crypto";
import { constants, createWriteStream } from "node:fs";
import { open, rm } from "node:fs/promises";
import http, { type IncomingMessage } from "node:http";
import https from "node:https";
import { Transform, type Readable, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { RuntimeSourceError, type BuildContext } from "../build-context.js";

export interface PackageFileSource {
  path?: string;
  url?: string;
  sha256: string;
}

const MAX_REDIRECTS = 5;
/** No byte (or no connection) for this long and the download is given up, as a transient failure. */
export const IDLE_TIMEOUT_MS = 30_000;
const PROGRESS_STEP_BYTES = 256 * 1024;

export interface FetchOptions {
  /** Give up after this long without a connection or a byte (default IDLE_TIMEOUT_MS). */
  idleTimeoutMs?: number;
}

export async function fetchVerified(
  source: PackageFileSource,
  dest: string,
  ctx: BuildContext,
  options: FetchOptions = {},
): Promise<{ bytes: number }> {
  if ((source.path === undefined) === (source.url === undefined)) {
    throw new RuntimeSourceError("spec.source.package: must set exactly one of path, url");
  }
  const expected = source.sha256.toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(expected)) {
    throw new RuntimeSourceError(`spec.source.package.sha256: '${source.sha256}' is not 64 hex digits`);
  }
  ctx.signal.throwIfAborted();
  const where = (source.url ?? source.path)!;
  try {
    const input = source.url !== undefined ? await download(source.url, ctx.signal, options.idleTimeoutMs ?? IDLE_TIMEOUT_MS) : await readLocal(source.path!);
    const phase = source.url !== undefined ? "downloading" : "reading";
    const hash = createHash("sha256");
    let bytes = 0;
    let reported = { bytes: 0, percent: -1 };
    const report = (final = false) => {
      const percent = input.totalBytes ? Math.min(100, Math.floor((bytes / input.totalBytes) * 100)) : undefined;
      const due = bytes - reported.bytes >= PROGRESS_STEP_BYTES || (percent !== undefined && percent > reported.percent);
      if (!due && !(final && bytes !== reported.bytes)) return;
      reported = { bytes, percent: percent ?? reported.percent };
      ctx.progress({ phase, bytes, totalBytes: input.totalBytes, percent });
    };
    const measure = new Transform({
      transform(chunk: Buffer, _enc, cb: TransformCallback) {
        hash.update(chunk);
        bytes += chunk.length;
        report();
        cb(null, chunk);
      },
    });
    ctx.log(`${phase} package ${where}${input.totalBytes !== undefined ? ` (${input.totalBytes} bytes)` : ""}`);
    await pipeline(input.stream, measure, createWriteStream(dest), { signal: ctx.signal });
    report(true);
    if (input.totalBytes !== undefined && bytes !== input.totalBytes) {
      throw new Error(`${where}: got ${bytes} bytes of ${input.totalBytes}`);
    }
    const got = hash.digest("hex");
    if (got !== expected) {
      throw new RuntimeSourceError(`spec.source.package.sha256: checksum mismatch for ${where}: expected ${expected}, got ${got}`);
    }
    ctx.log(`package ${where}: ${bytes} bytes, sha256 ${got} as expected`);
    return { bytes };
  } catch (e) {
    await rm(dest, { force: true });
    // An abort reads as the signal's reason, whichever stream noticed it first.
    if (ctx.signal.aborted) throw ctx.signal.reason ?? e;
    throw e;
  }
}

interface Input {
  stream: Readable;
  totalBytes?: number;
}

async function readLocal(path: string): Promise<Input> {
  // O_NONBLOCK: a fifo given as the path must not hang the build before it is found not to be a file.
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK).catch((e: NodeJS.ErrnoException) => {
    if (e.code === "ENOENT" || e.code === "ENOTDIR") throw new RuntimeSourceError(`spec.source.package.path: ${path} does not exist`);
    if (e.code === "EACCES") throw new RuntimeSourceError(`spec.source.package.path: ${path} is not readable`);
    throw e;
  });
  const st = await handle.stat();
  if (!st.isFile()) {
    await handle.close();
    throw new RuntimeSourceError(`spec.source.package.path: ${path} is not a regular file`);
  }
  return { stream: handle.createReadStream(), totalBytes: st.size };
}

/** The response body of a GET, after at most MAX_REDIRECTS redirects. */
async function download(url: string, signal: AbortSignal, idleMs: number): Promise<Input> {
  let current = url;
  for (let hop = 0; ; hop++) {
    const target = parseUrl(current, url);
    const res = await get(target, signal, idleMs);
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (status >= 300 && status < 400 && location) {
      res.resume();
      if (hop >= MAX_REDIRECTS) throw new RuntimeSourceError(`spec.source.package.url: ${url}: more than ${MAX_REDIRECTS} redirects`);
      current = new URL(location, target).toString();
      continue;
    }
    if (status < 200 || status >= 300) {
      res.resume();
      const via = current === url ? "" : ` (redirected from ${url})`;
      const message = `spec.source.package.url: GET ${current}${via} answered ${status} ${res.statusMessage ?? ""}`.trimEnd();
      // A missing or forbidden package stays missing; a server error or rate limit may pass.
      const permanent = status >= 400 && status < 500 && status !== 408 && status !== 429;
      throw permanent ? new RuntimeSourceError(message) : new Error(message);
    }
    const length = Number(res.headers["content-length"]);
    return { stream: res, totalBytes: Number.isSafeInteger(length) && length >= 0 ? length : undefined };
  }
}

function parseUrl(value: string, original: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new RuntimeSourceError(`spec.source.package.url: '${value}' is not a URL`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    const via = value === original ? "" : ` (redirected from ${original})`;
    throw new RuntimeSourceError(`spec.source.package.url: ${value}${via} is not http:// or https://`);
  }
  return parsed;
}

function get(url: URL, signal: AbortSignal, idleMs: number): Promise<IncomingMessage> {
  const client = url.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.get(url, { signal, timeout: idleMs, headers: { "user-agent": "joblet", accept: "*/*" } });
    let response: IncomingMessage | undefined;
    // The socket timeout covers connecting and every pause in the body afterwards.
    req.on("timeout", () => {
      const err = new Error(`${url}: nothing received for ${idleMs / 1000} s`);
      response?.destroy(err);
      req.destroy(err);
    });
    req.on("error", reject);
    req.on("response", (res) => {
      response = res;
      resolve(res);
    });
  });
}
