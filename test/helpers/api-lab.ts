/**
 * The remote API for real: certificates made by `joblet certs init` in a temp dir, a daemon
 * started as `joblet daemon --listen 127.0.0.1:0 --tls-dir DIR` in a child process (the
 * port it picked read from its log), and HTTPS clients holding one client certificate each.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import type { IncomingHttpHeaders } from "node:http";
import { Agent, request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll } from "vitest";
import { repoRoot } from "./jobs.js";
import { requireRoot } from "./root.js";
import { releaseVolumesUnder } from "./volumes.js";

const run = promisify(execFile);
const JOBLET = join(repoRoot, "bin/joblet.js");

export interface ApiResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
  /** The body parsed as JSON (throws when it is not). */
  json<T = Record<string, unknown>>(): T;
}

export interface RequestOptions {
  body?: string | Buffer;
  headers?: Record<string, string | number>;
}

/** Runs the built `joblet` CLI; resolves with its output, rejects on a non-zero exit. */
export async function joblet(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [JOBLET, ...args], { maxBuffer: 16 * 1024 * 1024 });
}

export class ApiLab {
  readonly root = mkdtempSync(join(tmpdir(), "joblet-api-"));
  readonly tlsDir = join(this.root, "tls");
  readonly stateDir = join(this.root, "state");
  port = 0;
  /** The daemon's log lines, parsed (pino JSON on its stderr). */
  readonly log: Record<string, unknown>[] = [];
  private daemon?: ChildProcess;
  private readonly agents = new Map<string, Agent>();

  /** `joblet certs init --dir <tlsDir>` plus `extra` flags. */
  async certsInit(extra: string[] = []): Promise<void> {
    await joblet(["certs", "init", "--dir", this.tlsDir, ...extra]);
  }

  /** Starts `joblet daemon --listen 127.0.0.1:0 --tls-dir <tlsDir>`; resolves once the API listens. */
  async start(extra: string[] = []): Promise<void> {
    const child = spawn(
      process.execPath,
      [JOBLET, "daemon", "--state-dir", this.stateDir, "--listen", "127.0.0.1:0", "--tls-dir", this.tlsDir, "--grace-period", "500", "--backoff-base", "50", ...extra],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    this.daemon = child;
    let rest = "";
    await new Promise<void>((resolve, reject) => {
      child.stderr!.on("data", (chunk: Buffer) => {
        const lines = (rest + chunk.toString()).split("\n");
        rest = lines.pop()!;
        for (const line of lines) {
          let entry: Record<string, unknown>;
          try {
            entry = JSON.parse(line) as Record<string, unknown>;
          } catch {
            continue;
          }
          this.log.push(entry);
          if (entry.msg === "API server listening") {
            this.port = entry.port as number;
            resolve();
          }
        }
      });
      child.once("exit", (code) => reject(new Error(`joblet daemon exited with ${code} before its API listened: ${this.log.map((l) => l.msg).join("; ")}`)));
    });
  }

  /** Waits until the daemon has logged an entry with `fields`; fails naming what it did log. */
  async logged(fields: Record<string, unknown>, timeoutMs = 5_000): Promise<Record<string, unknown>> {
    const matches = (entry: Record<string, unknown>) => Object.entries(fields).every(([k, v]) => (v instanceof RegExp ? v.test(String(entry[k])) : entry[k] === v));
    const end = Date.now() + timeoutMs;
    for (;;) {
      const found = this.log.find(matches);
      if (found) return found;
      if (Date.now() > end) throw new Error(`The daemon never logged ${JSON.stringify(fields)}; it logged ${JSON.stringify(this.log.slice(-10))}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** An HTTPS agent presenting clients/<name>.crt (`joblet certs init` makes admin, operator and viewer). */
  agent(name: string, dir = this.tlsDir): Agent {
    const key = `${dir}/${name}`;
    let agent = this.agents.get(key);
    if (agent === undefined) {
      agent = new Agent({
        ca: readFileSync(join(this.tlsDir, "ca.crt")),
        cert: readFileSync(join(dir, "clients", `${name}.crt`)),
        key: readFileSync(join(dir, "clients", `${name}.key`)),
        keepAlive: true,
      });
      this.agents.set(key, agent);
    }
    return agent;
  }

  /** One request as `client` (a name under clients/, or an Agent of the test's own). */
  request(client: string | Agent, method: string, path: string, o: RequestOptions = {}): Promise<ApiResponse> {
    const agent = typeof client === "string" ? this.agent(client) : client;
    return new Promise((resolve, reject) => {
      const req = request({ host: "127.0.0.1", servername: "localhost", port: this.port, method, path, agent, headers: o.headers ?? {} }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const body = Buffer.concat(chunks);
          const text = body.toString("utf8");
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text, json: <T>() => JSON.parse(text) as T });
        });
      });
      req.on("error", reject);
      req.end(o.body);
    });
  }

  /** PUT of a manifest (YAML text, or an object sent as JSON). */
  put(client: string, path: string, manifest: string | object): Promise<ApiResponse> {
    const json = typeof manifest !== "string";
    return this.request(client, "PUT", path, {
      body: json ? JSON.stringify(manifest) : manifest,
      headers: { "content-type": json ? "application/json" : "application/yaml" },
    });
  }

  /** Polls GET of an object until `done` holds; fails with the last body seen. */
  async waitFor(client: string, path: string, done: (o: { status: Record<string, unknown> }) => boolean, timeoutMs = 20_000): Promise<{ status: Record<string, unknown> } & Record<string, unknown>> {
    const end = Date.now() + timeoutMs;
    let last = "";
    while (Date.now() < end) {
      const res = await this.request(client, "GET", path);
      last = res.text;
      if (res.status === 200) {
        const object = res.json<{ status: Record<string, unknown> }>();
        if (done(object)) return object;
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`${path} never reached the expected state; last: ${last}`);
  }

  async stop(): Promise<void> {
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
    const child = this.daemon;
    this.daemon = undefined;
    if (!child || child.exitCode !== null) return;
    const gone = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await gone;
  }

  async cleanup(): Promise<void> {
    await this.stop();
    await releaseVolumesUnder(this.stateDir);
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** One lab for a test file: certificates and a daemon before its first test, all removed after its last. */
export function sharedApiLab(): ApiLab {
  const lab = new ApiLab();
  beforeAll(async () => {
    requireRoot("the remote API's daemon");
    await lab.certsInit();
    await lab.start();
  });
  afterAll(() => lab.cleanup());
  return lab;
}
