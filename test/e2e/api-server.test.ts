// The remote API's server core end to end: certificates from `joblet certs init`, a real
// `joblet daemon --listen --tls-dir` in a child process, HTTPS on loopback with one client
// certificate per role, and real jobs behind it.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import yaml from "js-yaml";
import { describe, expect, it } from "vitest";
import { sharedApiLab } from "../helpers/api-lab.js";

const lab = sharedApiLab();

const JOBS = "/apis/joblet/v1/jobs";
const finished = (o: { status: Record<string, unknown> }) => o.status.phase === "Succeeded" || o.status.phase === "Failed";

function jobYaml(name: string, command: string[]): string {
  return yaml.dump({ apiVersion: "joblet/v1", kind: "Job", metadata: { name }, spec: { command } });
}

function logOf(name: string, run: string): string {
  return readFileSync(join(lab.stateDir, "logs/jobs", name, run, "stdout.log"), "utf8");
}

describe("certs init", () => {
  it("makes v3 certificates with the roles as OU, keys mode 0600 in a dir of mode 0700", () => {
    expect(statSync(lab.tlsDir).mode & 0o777).toBe(0o700);
    for (const key of ["ca.key", "server.key", "clients/admin.key", "clients/operator.key", "clients/viewer.key"]) {
      expect(statSync(join(lab.tlsDir, key)).mode & 0o777, key).toBe(0o600);
    }
    // Checked with openssl's own reading of the files.
    const text = (file: string) => opensslText(join(lab.tlsDir, file));
    expect(text("ca.crt")).toMatch(/Version: 3[\s\S]*CA:TRUE[\s\S]*Certificate Sign/);
    expect(text("server.crt")).toMatch(/TLS Web Server Authentication[\s\S]*DNS:localhost[\s\S]*IP Address:127\.0\.0\.1/);
    const viewer = text("clients/viewer.crt");
    expect(viewer).toMatch(/Subject: CN ?= ?viewer, OU ?= ?viewer/);
    expect(viewer).toMatch(/CA:FALSE/);
    expect(viewer).toMatch(/TLS Web Client Authentication/);
  });

  it("refuses to replace an existing CA without --force, naming the file", async () => {
    await expect(lab.certsInit()).rejects.toThrow(`${join(lab.tlsDir, "ca.crt")} exists (pass --force`);
  });
});

describe("roles", () => {
  it("refuses a viewer's apply with 403 and a sentence naming role, identity, verb and kind", async () => {
    const res = await lab.put("viewer", `${JOBS}/denied`, jobYaml("denied", ["true"]));
    expect(res.status).toBe(403);
    expect(res.json()).toEqual({ error: "role 'viewer' (CN viewer) may not apply jobs" });
    expect(existsSync(join(lab.stateDir, "manifests/jobs/denied.yaml"))).toBe(false);
  });

  it("lets an operator apply a Job that then runs, recording the CN as joblet/applied-by", async () => {
    const res = await lab.put("operator", `${JOBS}/by-operator`, jobYaml("by-operator", ["sh", "-c", "echo remote"]));
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ kind: "Job", name: "by-operator", outcome: "created" });
    const done = await lab.waitFor("viewer", `${JOBS}/by-operator`, finished);
    expect(done.status).toMatchObject({ phase: "Succeeded", exitCode: 0 });
    expect(logOf("by-operator", done.status.run as string)).toBe("remote\n");
    expect((done.metadata as { annotations: Record<string, string> }).annotations["joblet/applied-by"]).toBe("operator");
    const stored = yaml.load(readFileSync(join(lab.stateDir, "manifests/jobs/by-operator.yaml"), "utf8")) as { metadata: { annotations: Record<string, string> } };
    expect(stored.metadata.annotations["joblet/applied-by"]).toBe("operator");
    // The same manifest again is unchanged; the viewer still sees it, and the daemon log names the caller.
    expect((await lab.put("operator", `${JOBS}/by-operator`, jobYaml("by-operator", ["sh", "-c", "echo remote"]))).json().outcome).toBe("unchanged");
    await lab.logged({ msg: "API request", identity: "operator", role: "operator", method: "PUT", path: `${JOBS}/by-operator`, code: 200 });
    await lab.logged({ msg: "API request", identity: "viewer", role: "viewer", method: "PUT", path: `${JOBS}/denied`, code: 403 });
  });

  it("refuses an operator's Volume with 403 (apply and delete); an admin applies Volumes and Networks", async () => {
    const volume = { apiVersion: "joblet/v1", kind: "Volume", metadata: { name: "scratch" }, spec: { type: "memory", size: "8Mi" } };
    const denied = await lab.put("operator", "/apis/joblet/v1/volumes/scratch", volume);
    expect(denied.status).toBe(403);
    expect(denied.json().error).toBe("role 'operator' (CN operator) may not apply volumes");
    expect((await lab.request("operator", "DELETE", "/apis/joblet/v1/volumes/scratch")).json().error).toBe("role 'operator' (CN operator) may not delete volumes");

    const applied = await lab.put("admin", "/apis/joblet/v1/volumes/scratch", volume);
    expect(applied.status).toBe(200);
    expect(applied.json()).toEqual({ kind: "Volume", name: "scratch", outcome: "created" });
    await lab.waitFor("viewer", "/apis/joblet/v1/volumes/scratch", (o) => o.status.phase === "Ready");
    // A Network for real would make a bridge in the host's namespace: dryRun checks the admin's right to it.
    const network = { apiVersion: "joblet/v1", kind: "Network", metadata: { name: "lab-net" }, spec: { cidr: "10.250.0.0/24" } };
    expect((await lab.put("operator", "/apis/joblet/v1/networks/lab-net?dryRun=true", network)).status).toBe(403);
    const dry = await lab.request("admin", "PUT", "/apis/joblet/v1/networks/lab-net?dryRun=true", { body: JSON.stringify(network), headers: { "content-type": "application/json" } });
    expect(dry.status).toBe(200);
    expect(dry.json()).toEqual({ kind: "Network", name: "lab-net", outcome: "created" });
    expect(existsSync(join(lab.stateDir, "manifests/networks/lab-net.yaml"))).toBe(false);

    expect((await lab.request("admin", "DELETE", "/apis/joblet/v1/volumes/scratch")).json()).toEqual({ kind: "Volume", name: "scratch", outcome: "deleted" });
    const end = Date.now() + 20_000;
    while ((await lab.request("viewer", "GET", "/apis/joblet/v1/volumes/scratch")).status !== 404) {
      if (Date.now() > end) throw new Error("the deleted Volume was never removed");
      await new Promise((r) => setTimeout(r, 50));
    }
  });
});

describe("resources", () => {
  it("lists objects sorted by name, as `get -o json` shows them plus seen; 404 for an unknown one", async () => {
    for (const name of ["list-b", "list-a"]) expect((await lab.put("operator", `${JOBS}/${name}`, jobYaml(name, ["true"]))).status).toBe(200);
    await lab.waitFor("viewer", `${JOBS}/list-b`, finished);
    const list = (await lab.request("viewer", "GET", JOBS)).json<{ apiVersion: string; kind: string; items: { metadata: { name: string }; seen?: string; status: unknown }[] }>();
    expect(list).toMatchObject({ apiVersion: "joblet/v1", kind: "List" });
    const names = list.items.map((i) => i.metadata.name);
    expect(names).toEqual([...names].sort());
    expect(names).toEqual(expect.arrayContaining(["list-a", "list-b"]));
    const item = list.items.find((i) => i.metadata.name === "list-b")!;
    expect(Number.isNaN(Date.parse(item.seen!))).toBe(false);
    expect(item.status).toMatchObject({ phase: "Succeeded" });
    const missing = await lab.request("viewer", "GET", `${JOBS}/nope`);
    expect(missing.status).toBe(404);
    expect(missing.headers["content-type"]).toBe("application/json");
    expect(missing.json()).toEqual({ error: "job 'nope' not found" });
  });

  it("deletes a Job's manifest (the daemon then removes it); a second delete is 404", async () => {
    await lab.put("operator", `${JOBS}/short-lived`, jobYaml("short-lived", ["true"]));
    await lab.waitFor("viewer", `${JOBS}/short-lived`, finished);
    expect((await lab.request("operator", "DELETE", `${JOBS}/short-lived`)).json()).toEqual({ kind: "Job", name: "short-lived", outcome: "deleted" });
    expect(existsSync(join(lab.stateDir, "manifests/jobs/short-lived.yaml"))).toBe(false);
    expect((await lab.request("operator", "DELETE", `${JOBS}/short-lived`)).status).toBe(404);
  });

  it("answers dryRun with the outcome and writes nothing", async () => {
    const res = await lab.request("operator", "PUT", `${JOBS}/dry?dryRun=true`, { body: jobYaml("dry", ["true"]), headers: { "content-type": "application/yaml" } });
    expect(res.json()).toEqual({ kind: "Job", name: "dry", outcome: "created" });
    expect(existsSync(join(lab.stateDir, "manifests/jobs/dry.yaml"))).toBe(false);
  });

  it("answers validation errors with 422, the local apply's sentences and their paths", async () => {
    const res = await lab.put("operator", `${JOBS}/bad`, { apiVersion: "joblet/v1", kind: "Job", metadata: { name: "bad" }, spec: { command: [], resources: { memory: "12Zi" }, colour: "red" } });
    expect(res.status).toBe(422);
    const body = res.json<{ error: string; errors: { path: string; message: string }[] }>();
    expect(body.errors).toEqual(
      expect.arrayContaining([
        { path: "spec.command", message: "Job 'bad': spec.command must not be empty" },
        { path: "spec.resources.memory", message: expect.stringContaining("Job 'bad': spec.resources.memory '12Zi'") },
        { path: "spec.colour", message: expect.stringContaining("spec.colour is not a known field") },
      ]),
    );
    expect(body.error).toBe(`${body.errors[0]!.message} (and ${body.errors.length - 1} more)`);
  });

  it("refuses a body naming another object or kind, an unknown query, a wrong method and an unknown path", async () => {
    const other = await lab.put("operator", `${JOBS}/one`, jobYaml("two", ["true"]));
    expect(other.status).toBe(400);
    expect(other.json().error).toBe("The body's metadata.name 'two' is not the URL's 'one'");
    const kind = await lab.put("admin", "/apis/joblet/v1/volumes/one", jobYaml("one", ["true"]));
    expect(kind.json()).toEqual({ error: "The body's kind 'Job' is not the URL's Volume" });
    expect((await lab.request("viewer", "GET", `${JOBS}?watch=maybe`)).json().error).toBe("Query parameter watch='maybe' is not true or false");
    expect((await lab.request("viewer", "GET", `${JOBS}?colour=red`)).status).toBe(400);
    const post = await lab.request("admin", "POST", `${JOBS}/x`);
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe("GET, PUT, DELETE");
    expect((await lab.request("viewer", "GET", "/apis/joblet/v1/pods")).status).toBe(404);
    expect((await lab.request("viewer", "GET", "/api")).status).toBe(404);
  });
});

describe("uploads", () => {
  const envelope = (name: string, files: { path: string; mode: number; content: string }[], specFiles: { path: string }[], command: string[]) => ({
    manifest: { apiVersion: "joblet/v1", kind: "Job", metadata: { name }, spec: { command, files: specFiles } },
    files: files.map((f) => ({ ...f, content: Buffer.from(f.content).toString("base64") })),
  });

  it("runs a Job whose uploaded files land in /work with their modes, staged beside the manifest", async () => {
    const body = envelope(
      "with-files",
      [
        { path: "run.sh", mode: 0o755, content: "#!/bin/sh\necho script ran\n" },
        { path: "data/a.txt", mode: 0o640, content: "alpha\n" },
        { path: "data/deep/b.txt", mode: 0o604, content: "beta\n" },
      ],
      [{ path: "run.sh" }, { path: "data" }],
      ["sh", "-c", "stat -c '%a %n' /work/run.sh /work/data/a.txt /work/data/deep/b.txt; cat /work/data/deep/b.txt; /work/run.sh"],
    );
    const res = await lab.put("operator", `${JOBS}/with-files`, body);
    expect(res.status, res.text).toBe(200);
    const done = await lab.waitFor("viewer", `${JOBS}/with-files`, finished);
    expect(done.status.phase).toBe("Succeeded");
    expect(logOf("with-files", done.status.run as string)).toBe("755 /work/run.sh\n640 /work/data/a.txt\n604 /work/data/deep/b.txt\nbeta\nscript ran\n");
    const spec = (done.spec as { files: { path: string }[] }).files;
    expect(spec.map((f) => f.path)).toEqual([expect.stringMatching(/^\.with-files\.files\/[0-9a-f]{12}\/run\.sh$/), expect.stringMatching(/\/data$/)]);
    // The same files again: the same content hash, nothing changes.
    expect((await lab.put("operator", `${JOBS}/with-files`, body)).json().outcome).toBe("unchanged");
  });

  it("refuses paths that climb out, are absolute or hold NUL, and content that matches no spec.files", async () => {
    const cases: [string, { path: string }[], string][] = [
      ["../x", [{ path: "x" }], "files[0].path '../x' must not contain '..'"],
      ["/etc/passwd", [{ path: "x" }], "files[0].path '/etc/passwd' must be a relative path (no leading '/')"],
      ["a\0b", [{ path: "x" }], "files[0].path 'a\\0b' must not contain a NUL byte"],
      ["stray", [{ path: "x" }], "spec.files[0].path 'x' has no content in the request: send it in the envelope's files"],
    ];
    for (const [path, specFiles, error] of cases) {
      const res = await lab.put("operator", `${JOBS}/climb`, envelope("climb", [{ path, mode: 0o644, content: "x" }], specFiles, ["true"]));
      expect(res.status, path).toBe(400);
      expect(res.json().error).toBe(error);
    }
    const bad = await lab.put("operator", `${JOBS}/climb`, { ...envelope("climb", [], [{ path: "x" }], ["true"]), files: [{ path: "x", mode: 0o644, content: "not base64!" }] });
    expect(bad.json().error).toBe("files[0].content must be base64");
    expect(existsSync(join(lab.stateDir, "manifests/jobs/climb.yaml"))).toBe(false);
  });
});

describe("streams through the server", () => {
  it("serves a Job's log as SSE to a viewer: base64 chunks with byte-offset ids, then end", async () => {
    await lab.put("operator", `${JOBS}/chatty`, jobYaml("chatty", ["sh", "-c", "printf 'out\\n'; printf 'err\\n' >&2"]));
    await lab.waitFor("viewer", `${JOBS}/chatty`, finished);
    const res = await lab.request("viewer", "GET", `${JOBS}/chatty/log?follow=false`);
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^text\/event-stream/);
    const events = res.text.split("\n\n").filter((e) => e.startsWith("event:"));
    const field = (event: string, name: string) => event.split("\n").find((l) => l.startsWith(`${name}: `))?.slice(name.length + 2);
    const stdout = events.filter((e) => field(e, "event") === "stdout").map((e) => Buffer.from(field(e, "data")!, "base64").toString());
    expect(stdout.join("")).toBe("out\n");
    expect(JSON.parse(field(events.at(-1)!, "data")!)).toMatchObject({ phase: "Succeeded", exitCode: 0 });
    expect((await lab.request("viewer", "GET", `${JOBS}/nope/log`)).status).toBe(404);
  });

  it("serves ?watch=true as SSE: an ADDED event per existing object, sorted by name", async () => {
    await lab.put("operator", `${JOBS}/watched`, jobYaml("watched", ["true"]));
    const text = await new Promise<string>((resolve, reject) => {
      const req = request({ host: "127.0.0.1", servername: "localhost", port: lab.port, path: `${JOBS}?watch=true`, agent: lab.agent("viewer") }, (res) => {
        expect(res.headers["content-type"]).toMatch(/^text\/event-stream/);
        let seen = "";
        res.on("data", (chunk: Buffer) => {
          seen += chunk.toString();
          const at = seen.indexOf('"name":"watched"');
          if (at !== -1 && seen.indexOf("\n\n", at) !== -1) {
            req.destroy();
            resolve(seen);
          }
        });
      });
      req.on("error", reject);
      req.end();
    });
    const names = [...text.matchAll(/event: ADDED\ndata: (.*)\n/g)].map((m) => (JSON.parse(m[1]!) as { metadata: { name: string } }).metadata.name);
    expect(names).toContain("watched");
    expect(names).toEqual([...names].sort());
  });
});

describe("healthz and metrics", () => {
  it("answers /healthz with ok", async () => {
    const res = await lab.request("viewer", "GET", "/healthz");
    expect(res.status).toBe(200);
    expect(res.text).toBe("ok\n");
    expect(res.headers["content-type"]).toMatch(/^text\/plain/);
  });

  it("exports jobs by phase, reconcile and spawn latency, queue depth and requests by code in Prometheus text", async () => {
    const res = await lab.request("viewer", "GET", "/metrics");
    expect(res.headers["content-type"]).toBe("text/plain; version=0.0.4; charset=utf-8");
    const text = res.text;
    expect(text).toMatch(/^# TYPE joblet_jobs gauge$/m);
    expect(text).toMatch(/^joblet_jobs\{phase="Succeeded"\} [1-9]\d*$/m);
    expect(text).toMatch(/^joblet_jobs\{phase="Running"\} \d+$/m);
    expect(text).toMatch(/^joblet_queue_depth\{queue="job"\} \d+$/m);
    expect(text).toMatch(/^# TYPE joblet_reconcile_duration_seconds histogram$/m);
    expect(text).toMatch(/^joblet_reconcile_duration_seconds_bucket\{controller="job",le="\+Inf"\} [1-9]\d*$/m);
    expect(text).toMatch(/^joblet_reconcile_duration_seconds_count\{controller="job"\} [1-9]\d*$/m);
    expect(text).toMatch(/^joblet_spawn_duration_seconds_count [1-9]\d*$/m);
    expect(text).toMatch(/^joblet_api_requests_total\{code="200",method="GET"\} [1-9]\d*$/m);
    expect(text).toMatch(/^joblet_api_requests_total\{code="403",method="PUT"\} [1-9]\d*$/m);
  });
});

function opensslText(file: string): string {
  return execFileSync("openssl", ["x509", "-in", file, "-noout", "-text"], { encoding: "utf8" });
}
