// Hostile and broken clients against the real remote API: certificates that must not get
// through the handshake, bodies past their caps, slow and half-open connections, malformed
// manifests and names that try to leave their directory.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { Agent, request } from "node:https";
import { connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApiServer, type RunningApiServer } from "../../src/server/server.js";
import { ensureLayout, resolveLayout } from "../../src/store/index.js";
import { joblet, sharedApiLab } from "../helpers/api-lab.js";

const lab = sharedApiLab();

const JOBS = "/apis/joblet/v1/jobs";
const MIB = 1024 * 1024;
const job = (name: string, extra = "") => `apiVersion: joblet/v1\nkind: Job\nmetadata:\n  name: ${name}\nspec:\n  command: ["true"]\n${extra}`;

/** An agent presenting `cert`/`key` (PEM files) and trusting the lab's CA. */
function agentFor(cert: string, key: string): Agent {
  return new Agent({ ca: readFileSync(join(lab.tlsDir, "ca.crt")), cert: readFileSync(cert), key: readFileSync(key) });
}

/** A client certificate signed by the lab's CA with a subject of the test's choosing (certs init only makes known roles). */
function signedClient(dir: string, name: string, subject: string): { cert: string; key: string } {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.crt`);
  const ext = join(dir, `${name}.ext`);
  execFileSync("openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key]);
  execFileSync("sh", ["-c", `printf 'basicConstraints=critical,CA:FALSE\\nextendedKeyUsage=clientAuth\\n' > ${ext}`]);
  execFileSync("openssl", ["req", "-new", "-key", key, "-subj", subject, "-out", csr]);
  execFileSync("openssl", ["x509", "-req", "-in", csr, "-CA", join(lab.tlsDir, "ca.crt"), "-CAkey", join(lab.tlsDir, "ca.key"), "-set_serial", "0x7a11", "-days", "1", "-extfile", ext, "-out", cert]);
  return { cert, key };
}

describe("the TLS handshake refuses", () => {
  it("a client without a certificate", async () => {
    const bare = new Agent({ ca: readFileSync(join(lab.tlsDir, "ca.crt")) });
    await expect(lab.request(bare, "GET", "/healthz")).rejects.toThrow(/certificate required|ECONNRESET|socket hang up/);
    await lab.logged({ msg: "API connection refused in the TLS handshake", reason: /did not return a certificate/ });
  });

  it("a certificate from another CA", async () => {
    const other = mkdtempSync(join(tmpdir(), "joblet-other-ca-"));
    try {
      await joblet(["certs", "init", "--dir", other]);
      const stranger = agentFor(join(other, "clients/admin.crt"), join(other, "clients/admin.key"));
      await expect(lab.request(stranger, "GET", "/healthz")).rejects.toThrow(/unknown ca|ECONNRESET|socket hang up/);
      await lab.logged({ msg: "API connection refused in the TLS handshake", reason: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" });
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it("an expired certificate signed by the joblet CA", async () => {
    await joblet(["certs", "add", "--dir", lab.tlsDir, "--client", "expired:admin", "--days", "0"]);
    // --days 0: valid until the second it was made.
    await new Promise((r) => setTimeout(r, 1_100));
    const expired = agentFor(join(lab.tlsDir, "clients/expired.crt"), join(lab.tlsDir, "clients/expired.key"));
    await expect(lab.request(expired, "GET", "/healthz")).rejects.toThrow(/certificate expired|ECONNRESET|socket hang up/);
    await lab.logged({ msg: "API connection refused in the TLS handshake", reason: "CERT_HAS_EXPIRED" });
  });

  it("lets in a certificate of the CA whose OU is not a role, then answers 403 naming it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "joblet-guest-"));
    try {
      const guest = signedClient(dir, "guest", "/CN=mallory/OU=guest");
      const res = await lab.request(agentFor(guest.cert, guest.key), "GET", "/healthz");
      expect(res.status).toBe(403);
      expect(res.json().error).toBe("Certificate of CN mallory has OU 'guest', which is not a role (viewer, operator, admin)");
      const none = signedClient(dir, "none", "/CN=nobody");
      expect((await lab.request(agentFor(none.cert, none.key), "GET", JOBS)).json().error).toBe(
        "Certificate of CN nobody has no OU, which is not a role (viewer, operator, admin)",
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Sends headers and the first `sent` bytes of a body declared (or chunked) larger; resolves with the response. */
function partialPut(path: string, headers: Record<string, string | number>, chunks: Buffer[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", servername: "localhost", port: lab.port, method: "PUT", path, agent: lab.agent("admin"), headers }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    // The server may close while the body is still being sent: the response is what counts.
    req.on("error", (e) => (e.message.includes("EPIPE") || e.message.includes("ECONNRESET") ? undefined : reject(e)));
    req.flushHeaders();
    for (const chunk of chunks) req.write(chunk);
  });
}

describe("bodies past their caps get 413", () => {
  it("a declared Content-Length over the manifest cap, before the body is read", async () => {
    const started = Date.now();
    const res = await partialPut("/apis/joblet/v1/volumes/huge", { "content-type": "application/yaml", "content-length": 2 * MIB }, [Buffer.from("apiVersion: joblet/v1\n")]);
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body).error).toBe(`The request body of ${2 * MIB} bytes is larger than the limit of ${MIB} bytes`);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("a chunked body that grows past the cap, as soon as it does", async () => {
    const res = await partialPut("/apis/joblet/v1/volumes/huge", { "content-type": "application/yaml" }, Array.from({ length: 24 }, () => Buffer.alloc(64 * 1024, "#")));
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body).error).toBe(`The request body is larger than the limit of ${MIB} bytes`);
  });

  it("a Job manifest over 1 MiB without uploads, an envelope over 96 MiB, and uploads that decode to more than 64 MiB", async () => {
    const big = await lab.request("operator", "PUT", `${JOBS}/big`, { body: job("big", `  args: ["${"x".repeat(MIB + 10)}"]\n`), headers: { "content-type": "application/yaml" } });
    expect(big.status).toBe(413);
    expect(big.json().error).toMatch(/^The manifest of \d+ bytes is larger than the limit of 1048576 bytes/);
    const declared = await partialPut(`${JOBS}/big`, { "content-type": "application/json", "content-length": 97 * MIB }, []);
    expect(declared.status).toBe(413);
    const manifest = { apiVersion: "joblet/v1", kind: "Job", metadata: { name: "big" }, spec: { command: ["true"], files: [{ path: "blob" }] } };
    const envelope = JSON.stringify({ manifest, files: [{ path: "blob", mode: 0o644, content: Buffer.alloc(64 * MIB + 1).toString("base64") }] });
    const decoded = await lab.request("operator", "PUT", `${JOBS}/big`, { body: envelope, headers: { "content-type": "application/json" } });
    expect(decoded.status).toBe(413);
    expect(decoded.json().error).toBe(`The uploaded files add up to more than the limit of ${64 * MIB} bytes (at files[0].path 'blob')`);
    expect(existsSync(join(lab.stateDir, "manifests/jobs/big.yaml"))).toBe(false);
  });
});

describe("malformed bodies and names get 400 with the reason", () => {
  it("malformed JSON and YAML", async () => {
    const json = await lab.request("operator", "PUT", `${JOBS}/x`, { body: '{"apiVersion": "joblet/v1", "kind": ', headers: { "content-type": "application/json" } });
    expect(json.status).toBe(400);
    expect(json.json().error).toMatch(/^Malformed JSON: request body:1:\d+: /);
    const yamlRes = await lab.request("operator", "PUT", `${JOBS}/x`, { body: "kind: Job\nmetadata: {name: x\n", headers: { "content-type": "application/yaml" } });
    expect(yamlRes.status).toBe(400);
    expect(yamlRes.json().error).toMatch(/^Malformed YAML: request body:\d+:\d+: /);
    const two = await lab.request("operator", "PUT", `${JOBS}/x`, { body: `${job("x")}---\n${job("x")}`, headers: { "content-type": "application/yaml" } });
    expect(two.json().error).toBe("The request body holds 2 documents; PUT takes one manifest");
    const type = await lab.request("operator", "PUT", `${JOBS}/x`, { body: job("x"), headers: { "content-type": "text/html" } });
    expect(type.status).toBe(415);
  });

  it("names with '..', '/' (as %2F), NUL, or outside DNS-1123", async () => {
    const cases: [string, string][] = [
      [`${JOBS}/..`, "Job name '..' must not contain '..'"],
      [`${JOBS}/a..b`, "Job name 'a..b' must not contain '..'"],
      [`${JOBS}/a%2Fb`, "Job name 'a/b' must not contain '/'"],
      [`${JOBS}/..%2F..%2Fetc`, "Job name '../../etc' must not contain '/'"],
      [`${JOBS}/a%00b`, "Job name 'a\\0b' must not contain a NUL byte"],
      [`${JOBS}/Hello`, "Job name 'Hello' must be lowercase letters, digits and '-', starting and ending with a letter or digit"],
      [`${JOBS}/%E0%A4%A`, "Name '%E0%A4%A' is not valid percent-encoding"],
      [`${JOBS}/..%2F/log`, "Job name '../' must not contain '/'"],
      ["/apis/joblet/v1/runtimes/py@..", "Runtime name 'py@..' must not contain '..'"],
    ];
    for (const [path, error] of cases) {
      for (const method of ["GET", "PUT", "DELETE"]) {
        if (path.endsWith("/log") && method !== "GET") continue;
        const res = await lab.request("admin", method, path, method === "PUT" ? { body: job("x"), headers: { "content-type": "application/yaml" } } : {});
        expect(res.status, `${method} ${path}`).toBe(400);
        expect(res.json().error, `${method} ${path}`).toBe(error);
      }
    }
    // A runtime's NAME@VERSION is a name.
    expect((await lab.request("viewer", "GET", "/apis/joblet/v1/runtimes/python-3.11-ml@1.3.1")).status).toBe(404);
    expect(existsSync(join(lab.stateDir, "manifests/jobs"))).toBe(false);
  });
});

describe("slow and half-open clients are dropped", () => {
  const timeouts = { handshakeMs: 400, headersMs: 400, requestMs: 800, keepAliveMs: 200 };
  let server: RunningApiServer;
  let stateDir: string;

  beforeAll(async () => {
    stateDir = mkdtempSync(join(tmpdir(), "joblet-slow-"));
    const layout = resolveLayout({ stateDir });
    await ensureLayout(layout);
    mkdirSync(layout.manifestsDir, { recursive: true });
    server = await startApiServer({ layout, tlsDir: lab.tlsDir, host: "127.0.0.1", port: 0, logger: pino({ level: "silent" }), timeouts });
  });
  afterAll(async () => {
    await server?.close();
    rmSync(stateDir, { recursive: true, force: true });
  });

  /** Milliseconds until the server closes a connection `open` made, and what it sent. */
  function timeToClose(open: (done: (socket: TLSSocket | ReturnType<typeof tcpConnect>) => void) => void): Promise<{ ms: number; received: string }> {
    return new Promise((resolve) => {
      const started = Date.now();
      open((socket) => {
        let received = "";
        socket.on("data", (d: Buffer) => (received += d.toString()));
        socket.on("error", () => undefined);
        socket.on("close", () => resolve({ ms: Date.now() - started, received }));
      });
    });
  }

  const tls = (onReady: (socket: TLSSocket) => void) => {
    const socket = tlsConnect({
      host: "127.0.0.1",
      port: server.port,
      servername: "localhost",
      ca: readFileSync(join(lab.tlsDir, "ca.crt")),
      cert: readFileSync(join(lab.tlsDir, "clients/operator.crt")),
      key: readFileSync(join(lab.tlsDir, "clients/operator.key")),
    });
    socket.once("secureConnect", () => onReady(socket));
    return socket;
  };

  it("a TCP connection that never starts the TLS handshake", async () => {
    const { ms } = await timeToClose((done) => done(tcpConnect(server.port, "127.0.0.1")));
    expect(ms).toBeGreaterThanOrEqual(timeouts.handshakeMs - 50);
    expect(ms).toBeLessThan(timeouts.handshakeMs + 1_500);
  });

  it("a client that sends half its headers and waits", async () => {
    const { ms, received } = await timeToClose((done) => done(tls((s) => s.write("GET /healthz HTTP/1.1\r\nHost: localhost\r\n"))));
    expect(received).toMatch(/^HTTP\/1\.1 408/);
    expect(ms).toBeLessThan(timeouts.headersMs + 1_500);
  });

  it("a client that completes the handshake and sends nothing", async () => {
    const { ms } = await timeToClose((done) => done(tls(() => undefined)));
    expect(ms).toBeLessThan(timeouts.headersMs + 1_500);
  });

  it("a client that sends part of a declared body and waits", async () => {
    const { ms, received } = await timeToClose((done) =>
      done(tls((s) => s.write(`PUT ${JOBS}/slow HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/yaml\r\nContent-Length: 500\r\n\r\napiVersion: joblet/v1\n`))),
    );
    expect(received).toMatch(/^HTTP\/1\.1 408/);
    expect(ms).toBeGreaterThanOrEqual(timeouts.requestMs - 50);
    expect(ms).toBeLessThan(timeouts.requestMs + 1_500);
  });

  it("an idle keep-alive connection after a response", async () => {
    const { ms, received } = await timeToClose((done) => done(tls((s) => s.write("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"))));
    expect(received).toMatch(/^HTTP\/1\.1 200[\s\S]*ok\n$/);
    // Node adds a second to the keep-alive timeout it announces, for clients' clocks.
    expect(ms).toBeLessThan(timeouts.keepAliveMs + 1_500);
  });
});
