// The remote client's stream side: the SSE parser, and Job logs that reconnect and resume
// with Last-Event-ID, against a small HTTPS server of the test's own (certificates from
// certs init's code, client certificate required) that misbehaves on purpose.
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient, ApiError } from "../../src/client/api-client.js";
import { readLog, type ReconnectPolicy } from "../../src/client/log-stream.js";
import { SseParser } from "../../src/client/sse.js";
import { initCertificates, tlsFiles } from "../../src/server/pki.js";

function parse(chunks: (string | Buffer)[]) {
  const parser = new SseParser();
  return chunks.flatMap((c) => parser.push(typeof c === "string" ? Buffer.from(c) : c));
}

describe("SSE parser", () => {
  it("reads event, data and id; joins data lines; skips comments; keeps the last id", () => {
    expect(parse([": keepalive\n\nevent: stdout\nid: 5,0\ndata: aGVsbG8=\n\n", "data: one\ndata: two\n\n"])).toEqual([
      { event: "stdout", id: "5,0", data: "aGVsbG8=" },
      { event: "message", id: "5,0", data: "one\ntwo" },
    ]);
  });

  it("takes LF, CRLF and CR line ends, split anywhere between chunks, and a BOM at the start", () => {
    const text = "\uFEFFevent: a\r\ndata: 1\r\n\r\nevent: b\rdata: 2\r\revent: c\ndata:3\n\n";
    const whole = parse([text]);
    expect(whole).toEqual([
      { event: "a", data: "1" },
      { event: "b", data: "2" },
      { event: "c", data: "3" },
    ]);
    const bytes = Buffer.from(text);
    for (let cut = 1; cut < bytes.length; cut++) expect(parse([bytes.subarray(0, cut), bytes.subarray(cut)]), `cut at ${cut}`).toEqual(whole);
    expect(parse([...bytes].map((b) => Buffer.from([b])))).toEqual(whole);
  });

  it("decodes UTF-8 split across chunks; an event without its blank line is not dispatched; an id with NUL is ignored", () => {
    const bytes = Buffer.from("id: 1\ndata: {\"w\":\"größe\"}\n\nid: 2\u0000\ndata: x\n\ndata: unfinished\n");
    const events = parse([bytes.subarray(0, 22), bytes.subarray(22)]);
    expect(events).toEqual([
      { event: "message", id: "1", data: '{"w":"größe"}' },
      { event: "message", id: "1", data: "x" },
    ]);
  });
});

let root: string;
let server: Server;
let origin: string;
let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end();
let client: ApiClient;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "joblet-sse-"));
  const dir = join(root, "tls");
  await initCertificates({ dir });
  const files = tlsFiles(dir);
  server = createServer({ cert: readFileSync(files.serverCert), key: readFileSync(files.serverKey), ca: readFileSync(files.caCert), requestCert: true, rejectUnauthorized: true }, (req, res) =>
    handler(req, res),
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  client = await ApiClient.connect({ server: origin, cert: files.clientCert("operator"), key: files.clientKey("operator"), ca: files.caCert });
});

afterAll(async () => {
  client?.close();
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  rmSync(root, { recursive: true, force: true });
});

const FAST: ReconnectPolicy = { firstDelayMs: 20, maxDelayMs: 80, giveUpMs: 2000, silenceMs: 5000 };

/** A job's two log files, served as the daemon serves them: chunks whose id is both offsets after them. */
function logServer(out: Buffer, err: Buffer, chunk: number, misbehave: (connection: number, sent: number, res: ServerResponse) => boolean) {
  const seen: { lastEventId?: string; url: string }[] = [];
  handler = (req, res) => {
    const connection = seen.length;
    seen.push({ url: req.url ?? "", ...(req.headers["last-event-id"] !== undefined ? { lastEventId: String(req.headers["last-event-id"]) } : {}) });
    let [o, e] = (req.headers["last-event-id"] ? String(req.headers["last-event-id"]) : "0,0").split(",").map(Number) as [number, number];
    res.writeHead(200, { "content-type": "text/event-stream" });
    res.write(": keepalive\n\n");
    let sent = 0;
    const next = (): void => {
      if (res.destroyed) return;
      if (misbehave(connection, sent, res)) return;
      const fromOut = o < out.length && (e >= err.length || sent % 3 !== 2);
      if (!fromOut && e >= err.length) {
        res.end(`event: end\ndata: ${JSON.stringify({ run: "r1", phase: "Succeeded", exitCode: 0 })}\n\n`);
        return;
      }
      const stream = fromOut ? "stdout" : "stderr";
      const bytes = fromOut ? out.subarray(o, o + chunk) : err.subarray(e, e + chunk);
      if (fromOut) o += bytes.length;
      else e += bytes.length;
      sent++;
      res.write(`event: ${stream}\nid: ${o},${e}\ndata: ${bytes.toString("base64")}\n\n`, () => setImmediate(next));
    };
    next();
  };
  return seen;
}

async function collect(request: { follow: boolean }, policy = FAST) {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const outcome = await readLog(client, { name: "chatty", run: "r1", stream: "all", ...request }, (stream, bytes) => (stream === "stdout" ? out : err).push(bytes), undefined, policy);
  return { outcome, out: Buffer.concat(out), err: Buffer.concat(err) };
}

describe("logs over SSE", () => {
  it("resumes after dropped connections with Last-Event-ID: every byte once, in order, also when a drop cuts an event in half", async () => {
    const out = randomBytes(300_000);
    const err = randomBytes(40_000);
    const seen = logServer(out, err, 7000, (connection, sent, res) => {
      if (connection === 0 && sent === 5) {
        res.destroy(); // between events
        return true;
      }
      if (connection === 1 && sent === 9) {
        // Half an event, then gone: the client must drop the half, not print it.
        res.write(`event: stdout\nid: 999999,0\ndata: ${out.subarray(0, 100).toString("base64")}`, () => res.destroy());
        return true;
      }
      return false;
    });
    const result = await collect({ follow: true });
    expect(result.outcome).toEqual({ kind: "end", end: { run: "r1", phase: "Succeeded", exitCode: 0 } });
    expect(result.out.equals(out)).toBe(true);
    expect(result.err.equals(err)).toBe(true);
    expect(seen).toHaveLength(3);
    expect(seen[0]!.lastEventId).toBeUndefined();
    expect(seen[0]!.url).toBe("/apis/joblet/v1/jobs/chatty/log?follow=true&stream=all&run=r1");
    // Each reconnect names the last complete event's offsets.
    expect(seen[1]!.lastEventId).toMatch(/^\d+,\d+$/);
    expect(seen[2]!.lastEventId).not.toBe("999999,0");
  });

  it("takes a connection that stays silent (not even keep-alives) for dead, and reconnects", async () => {
    const out = randomBytes(20_000);
    const seen = logServer(out, Buffer.alloc(0), 4000, (connection, sent) => connection === 0 && sent === 2); // then nothing, socket open
    const started = Date.now();
    const result = await collect({ follow: true }, { ...FAST, silenceMs: 300 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(result.out.equals(out)).toBe(true);
    expect(seen).toHaveLength(2);
    expect(seen[1]!.lastEventId).toBe("8000,0");
  });

  it("ends at eof when not following a run that still runs", async () => {
    handler = (_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.end(`event: stdout\nid: 3,0\ndata: ${Buffer.from("hi\n").toString("base64")}\n\nevent: eof\ndata: {}\n\n`);
    };
    const result = await collect({ follow: false });
    expect(result.outcome).toEqual({ kind: "eof" });
    expect(result.out.toString()).toBe("hi\n");
  });

  it("stops at once on an HTTP error, with the server's sentence", async () => {
    let requests = 0;
    handler = (_req, res) => {
      requests++;
      res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ error: "job 'chatty' not found" }));
    };
    await expect(collect({ follow: true })).rejects.toMatchObject({ message: "job 'chatty' not found", status: 404 });
    expect(requests).toBe(1);
  });

  it("backs off exponentially (capped) while the server is unavailable, then gives up naming the server and why", async () => {
    const times: number[] = [];
    handler = (_req, res) => {
      times.push(Date.now());
      res.writeHead(503, { "content-type": "application/json" }).end(JSON.stringify({ error: "shutting down" }));
    };
    const policy = { firstDelayMs: 40, maxDelayMs: 160, giveUpMs: 900, silenceMs: 5000 };
    await expect(collect({ follow: true }, policy)).rejects.toThrow(`Lost the log stream of job 'chatty' from ${origin} and could not resume it for 1 s: shutting down`);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    expect(gaps.length).toBeGreaterThanOrEqual(4);
    gaps.forEach((gap, i) => expect(gap, `gap ${i}`).toBeGreaterThanOrEqual(Math.min(40 * 2 ** i, 160) - 5));
    expect(Math.max(...gaps)).toBeLessThan(160 + 150);
  });
});

describe("HTTPS client errors", () => {
  it("shows a refusal (403) exactly as the server words it", async () => {
    handler = (_req, res) => res.writeHead(403, { "content-type": "application/json" }).end(JSON.stringify({ error: "role 'viewer' (CN viewer) may not apply jobs" }));
    const error = (await client.json("PUT", "/apis/joblet/v1/jobs/x", {}).catch((e: unknown) => e)) as ApiError;
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ message: "role 'viewer' (CN viewer) may not apply jobs", status: 403, verbatim: true });
  });

  it("names the server and the reason when it cannot be reached or trusted", async () => {
    const files = tlsFiles(join(root, "tls"));
    const other = join(root, "other");
    await initCertificates({ dir: other });
    const untrusted = await ApiClient.connect({ server: origin, cert: files.clientCert("viewer"), key: files.clientKey("viewer"), ca: tlsFiles(other).caCert });
    await expect(untrusted.json("GET", "/healthz")).rejects.toThrow(new RegExp(`^Cannot reach joblet server ${origin}: certificate verify failed: `));
    untrusted.close();
    const closed = await ApiClient.connect({ server: "https://127.0.0.1:1", cert: files.clientCert("viewer"), key: files.clientKey("viewer"), ca: files.caCert });
    await expect(closed.json("GET", "/healthz")).rejects.toThrow("Cannot reach joblet server https://127.0.0.1:1: connection refused");
    await expect(ApiClient.connect({ server: origin, cert: files.clientCert("viewer"), key: files.clientKey("admin"), ca: files.caCert })).rejects.toThrow(
      `Cannot use client certificate ${files.clientCert("viewer")} with key ${files.clientKey("admin")}`,
    );
    await expect(ApiClient.connect({ server: "http://127.0.0.1:1", cert: "x", key: "y", ca: "z" })).rejects.toThrow("must be an https:// URL");
    await expect(ApiClient.connect({ server: origin, cert: join(root, "nope.crt"), key: "y", ca: "z" })).rejects.toThrow(`Cannot read the client certificate ${join(root, "nope.crt")}: it does not exist`);
  });
});
