// Every CLI verb against a remote daemon, end to end: certificates from `joblet certs init`,
// a real `joblet daemon --listen --tls-dir` (test/helpers/api-lab.ts), and the built
// `joblet` command run as a process with --server and client certificates, or a context.
import { spawn } from "node:child_process";
import { chmodSync, createReadStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join, relative } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { hostArchitectures } from "../../src/runtimes/build.js";
import { sharedApiLab } from "../helpers/api-lab.js";
import { repoRoot } from "../helpers/jobs.js";

const lab = sharedApiLab();
const work = join(lab.root, "work");
beforeAll(() => void mkdirSync(join(work, "home"), { recursive: true }));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  out: Buffer;
}

/** The CLI as a user runs it: its own process, no state dir in the environment, a HOME of its own. */
class Cli {
  readonly done: Promise<Run>;
  private readonly chunks: Buffer[] = [];
  private err = "";
  private readonly child;

  constructor(args: string[], env: Record<string, string> = {}) {
    this.child = spawn(process.execPath, [join(repoRoot, "bin/joblet.js"), ...args], {
      cwd: work,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: join(work, "home"), ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child.stdout.on("data", (c: Buffer) => this.chunks.push(c));
    this.child.stderr.on("data", (c: Buffer) => (this.err += c.toString()));
    this.done = new Promise((resolve) =>
      this.child.on("close", (code) => {
        const out = Buffer.concat(this.chunks);
        resolve({ code, stdout: out.toString(), stderr: this.err, out });
      }),
    );
  }

  get stdout(): string {
    return Buffer.concat(this.chunks).toString();
  }

  get bytes(): number {
    return this.chunks.reduce((n, c) => n + c.length, 0);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  stop(): Promise<Run> {
    this.child.kill("SIGINT");
    return this.done;
  }
}

function as(client: string): string[] {
  return ["--server", `https://127.0.0.1:${lab.port}`, "--cert", join(lab.tlsDir, "clients", `${client}.crt`), "--key", join(lab.tlsDir, "clients", `${client}.key`), "--ca", join(lab.tlsDir, "ca.crt")];
}

function joblet(args: string[], env?: Record<string, string>): Promise<Run> {
  return new Cli(args, env).done;
}

async function until(what: string, ready: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ready()) {
    if (Date.now() > end) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function manifest(file: string, name: string, command: string): string {
  const path = join(work, file);
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, `apiVersion: joblet/v1\nkind: Job\nmetadata:\n  name: ${name}\nspec:\n  command: ["sh", "-c", ${JSON.stringify(command)}]\n`);
  return path;
}

describe("joblet verbs against a remote daemon", () => {
  it("apply, get, describe, wait and delete as an operator", async () => {
    manifest("hello.yaml", "hello", "echo hello; echo oops >&2");
    expect(await joblet(["apply", "-f", "hello.yaml", ...as("operator")])).toMatchObject({ code: 0, stdout: "job/hello created\n" });
    expect(await joblet(["apply", "-f", "hello.yaml", ...as("operator")])).toMatchObject({ code: 0, stdout: "job/hello unchanged\n" });
    expect(await joblet(["wait", "job", "hello", "--for=condition=Complete", "--timeout", "20s", ...as("viewer")])).toMatchObject({ code: 0, stdout: "job/hello condition met\n" });

    const table = await joblet(["get", "jobs", ...as("viewer")]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^NAME\s+PHASE\s+EXIT\s+ATTEMPTS\s+AGE\s+DURATION\b/);
    expect(table.stdout).toMatch(/^hello\s+Succeeded\s+0\s+1\s+\d+s\s+\d+s\b/m);
    const json = JSON.parse((await joblet(["get", "job/hello", "-o", "json", ...as("viewer")])).stdout) as Record<string, unknown> & { metadata: { annotations: Record<string, string> } };
    expect(json.seen).toBeUndefined(); // the API's extra field feeds AGE only
    expect(json.metadata.annotations).toEqual({ "joblet/applied-from": join(work, "hello.yaml"), "joblet/applied-by": "operator" });
    const describe = await joblet(["describe", "job", "hello", ...as("viewer")]);
    expect(describe.stdout).toMatch(/^ {2}Phase:\s+Succeeded$/m);
    expect(await joblet(["logs", "hello", ...as("viewer")])).toMatchObject({ code: 0, stdout: "hello\n", stderr: "oops\n" });
    expect(await joblet(["logs", "hello", "--stream", "stderr", ...as("viewer")])).toMatchObject({ code: 0, stdout: "oops\n", stderr: "" });

    expect(await joblet(["delete", "job", "hello", ...as("operator")])).toMatchObject({ code: 0, stdout: "job/hello deleted\n" });
    expect(await joblet(["wait", "job", "hello", "--for=delete", "--timeout", "20s", ...as("viewer")])).toMatchObject({ code: 0 });
    expect(await joblet(["delete", "job", "hello", ...as("operator")])).toMatchObject({ code: 1, stderr: "Job 'hello' not found\n" });
    expect(await joblet(["get", "job", "hello", ...as("viewer")])).toMatchObject({ code: 1, stderr: "Job 'hello' not found\n" });
  });

  it("shows a viewer's refused apply in the server's words, and applies nothing", async () => {
    manifest("denied.yaml", "denied", "true");
    expect(await joblet(["apply", "-f", "denied.yaml", ...as("viewer")])).toEqual({ code: 1, stdout: "", stderr: "role 'viewer' (CN viewer) may not apply jobs\n", out: Buffer.alloc(0) });
    expect((await joblet(["get", "job", "denied", ...as("viewer")])).code).toBe(1);
  });

  it("get --watch sees a job created, modified and deleted, in that order", async () => {
    const watch = new Cli(["get", "jobs", "--watch", "--output-watch-events", ...as("viewer")]);
    await new Promise((r) => setTimeout(r, 500)); // the first listing, then the stream
    manifest("watched.yaml", "watched", "sleep 1");
    expect((await joblet(["apply", "-f", "watched.yaml", ...as("operator")])).code).toBe(0);
    await until("Succeeded", () => /MODIFIED\s+watched\s+Succeeded/.test(watch.stdout));
    expect((await joblet(["delete", "job", "watched", ...as("operator")])).code).toBe(0);
    await until("DELETED", () => /DELETED\s+watched/.test(watch.stdout));
    const { stdout } = await watch.stop();
    const rows = stdout
      .trimEnd()
      .split("\n")
      .map((line) => line.split(/\s+/))
      .filter((row) => row[1] === "watched");
    const events = rows.map((row) => `${row[0]} ${row[2]}`);
    expect(events[0]).toMatch(/^ADDED (Pending|Running)$/);
    expect(events.slice(1, -1).every((e) => e.startsWith("MODIFIED"))).toBe(true);
    expect(events.at(-1)).toBe("DELETED Succeeded");
    const running = events.findIndex((e) => e.endsWith(" Running"));
    expect(running).toBeGreaterThanOrEqual(0);
    expect(events.indexOf("MODIFIED Succeeded")).toBeGreaterThan(running);
  });

  it("logs -f follows a run across a daemon restart and prints every byte once", async () => {
    // 40 bursts of 5000 numbered lines (~1.5 MB), a tenth of a second apart.
    const script = "i=0; while [ $i -lt 40 ]; do seq $((i*5000)) $((i*5000+4999)); i=$((i+1)); sleep 0.1; done";
    const expected = Array.from({ length: 200_000 }, (_, i) => `${i}\n`).join("");
    expect((await joblet(["run", "--name", "chatty", ...as("operator"), "--", "sh", "-c", script])).code).toBe(0);
    const follow = new Cli(["logs", "chatty", "-f", ...as("viewer")]);
    await until("the first output", () => follow.bytes > 0);
    const port = lab.port;
    await lab.stop();
    const atRestart = follow.bytes;
    expect(follow.running).toBe(true);
    await new Promise((r) => setTimeout(r, 700)); // the job writes on meanwhile; the client retries
    await lab.start(["--listen", `127.0.0.1:${port}`]);
    const result = await follow.done;
    expect(result.code).toBe(0);
    expect(atRestart).toBeLessThan(expected.length);
    expect(result.out.length).toBe(expected.length);
    expect(result.stdout === expected).toBe(true);
  });

  it("get --watch carries on across a daemon restart: what changed meanwhile is reported, a deletion once", async () => {
    manifest("kept.yaml", "kept", "true");
    manifest("dropped.yaml", "dropped", "true");
    expect((await joblet(["apply", "-f", "kept.yaml", "-f", "dropped.yaml", ...as("operator")])).code).toBe(0);
    for (const name of ["kept", "dropped"]) expect((await joblet(["wait", "job", name, "--for=condition=Complete", "--timeout", "20s", ...as("viewer")])).code).toBe(0);
    const watch = new Cli(["get", "jobs", "--watch", "--output-watch-events", ...as("viewer")]);
    await until("the first listing", () => /ADDED\s+kept\s+Succeeded/.test(watch.stdout) && /ADDED\s+dropped\s+Succeeded/.test(watch.stdout));
    const port = lab.port;
    await lab.stop();
    // While the daemon is down, a GitOps-style change: one manifest removed from the manifests dir.
    rmSync(join(lab.stateDir, "manifests", "jobs", "dropped.yaml"));
    await new Promise((r) => setTimeout(r, 300));
    await lab.start(["--listen", `127.0.0.1:${port}`]);
    await until("the deletion", () => /DELETED\s+dropped/.test(watch.stdout));
    await new Promise((r) => setTimeout(r, 1500)); // room for a duplicate to show, if there were one
    const { stdout } = await watch.stop();
    const events = stdout.split("\n").filter((line) => /\s(kept|dropped)\s/.test(line)).map((line) => line.split(/\s+/).slice(0, 2).join(" "));
    expect(events.filter((e) => e === "DELETED dropped")).toHaveLength(1);
    expect(events.filter((e) => e.endsWith(" kept"))).toEqual(["ADDED kept"]); // unchanged: not printed again after the reconnect
    await joblet(["delete", "job", "kept", ...as("operator")]);
  });

  it("run --upload and --upload-dir --wait: files with their modes, output streamed, the job's exit code", async () => {
    writeFileSync(join(work, "tool.sh"), "#!/bin/sh\necho tool ran\n");
    chmodSync(join(work, "tool.sh"), 0o755);
    mkdirSync(join(work, "data", "sub"), { recursive: true });
    writeFileSync(join(work, "data", "a.txt"), "alpha\n");
    writeFileSync(join(work, "data", "sub", "b.txt"), "beta\n");
    chmodSync(join(work, "data", "sub", "b.txt"), 0o600);
    const command = "./tool.sh; cat a.txt sub/b.txt; stat -c '%a %n' tool.sh a.txt sub/b.txt; echo to-stderr >&2; exit 7";
    const run = await joblet(["run", "--name", "uploaded", "--upload", "tool.sh", "--upload-dir", "data", "--wait", ...as("operator"), "--", "sh", "-c", command]);
    expect(run.code).toBe(7);
    expect(run.stdout).toBe("job/uploaded created\ntool ran\nalpha\nbeta\n755 tool.sh\n644 a.txt\n600 sub/b.txt\n");
    expect(run.stderr).toBe("to-stderr\njob/uploaded failed (Error: Run " + run.stderr.match(/Run ([\w-]+)/)![1] + " exited with code 7)\n");
    // The same files again: the same spec, so nothing to do.
    expect((await joblet(["run", "--name", "uploaded", "--upload", "tool.sh", "--upload-dir", "data", ...as("operator"), "--", "sh", "-c", command])).stdout).toBe("job/uploaded unchanged\n");
  });

  it("diff and apply --prune against the daemon's objects", async () => {
    manifest("set/a.yaml", "set-a", "true");
    manifest("set/b.yaml", "set-b", "true");
    expect((await joblet(["apply", "-f", "set", ...as("operator")])).stdout).toBe("job/set-a created\njob/set-b created\n");
    expect(await joblet(["diff", "-f", "set", ...as("operator")])).toMatchObject({ code: 0, stdout: "" });
    rmSync(join(work, "set/b.yaml"));
    manifest("set/a.yaml", "set-a", "false");
    const diff = await joblet(["diff", "-f", "set", ...as("viewer")]);
    expect(diff.code).toBe(1);
    expect(diff.stdout).toContain(`--- https://127.0.0.1:${lab.port} job/set-a (live)`);
    expect(diff.stdout).toMatch(/^- +- 'true'$/m);
    expect(diff.stdout).toMatch(/^\+ +- 'false'$/m);
    expect(await joblet(["apply", "-f", "set", "--prune", ...as("operator")])).toMatchObject({ code: 0, stdout: "job/set-a configured\njob/set-b pruned\n" });
    expect((await joblet(["wait", "job", "set-b", "--for=delete", "--timeout", "20s", ...as("viewer")])).code).toBe(0);
  });

  it("picks the daemon and certificate from a config file's contexts", async () => {
    const config = join(work, "config", "joblet.yaml");
    mkdirSync(join(work, "config"), { recursive: true });
    const rel = (file: string) => relative(join(work, "config"), join(lab.tlsDir, file));
    const context = (name: string) =>
      `  - name: ${name}\n    server: https://127.0.0.1:${lab.port}\n    cert: ${rel(`clients/${name}.crt`)}\n    key: ${rel(`clients/${name}.key`)}\n    ca: ${rel("ca.crt")}\n`;
    writeFileSync(config, `currentContext: viewer\ncontexts:\n${context("viewer")}${context("operator")}`);
    const env = { JOBLET_CONFIG: config };
    manifest("ctx.yaml", "ctx", "true");
    expect(await joblet(["apply", "-f", "ctx.yaml"], env)).toMatchObject({ code: 1, stderr: "role 'viewer' (CN viewer) may not apply jobs\n" });
    expect(await joblet(["apply", "-f", "ctx.yaml", "--context", "operator"], env)).toMatchObject({ code: 0, stdout: "job/ctx created\n" });
    expect((await joblet(["get", "job", "ctx"], env)).stdout).toMatch(/^ctx\s+/m);
    expect(await joblet(["get", "jobs", "--context", "nope"], env)).toMatchObject({ code: 1, stderr: `--context 'nope' names no context: config file ${config} has contexts viewer, operator\n` });
    expect(await joblet(["get", "jobs", "--state-dir", lab.stateDir, "--context", "viewer"], env)).toMatchObject({ code: 1, stderr: expect.stringContaining("--state-dir and --context cannot be used together") });
  });

  it("runtime verbs: list and info from the daemon; pack refused with the reason", async () => {
    expect(await joblet(["runtime", "list", ...as("viewer")])).toMatchObject({ code: 0, stderr: expect.stringMatching(/^No runtimes found/) });
    expect(await joblet(["runtime", "info", "nope", ...as("viewer")])).toMatchObject({ code: 1, stderr: expect.stringMatching(/^Runtime 'nope' not found/) });
    const pack = await joblet(["runtime", "pack", "nope", "-o", "x.tar.gz", ...as("viewer")]);
    expect(pack.code).toBe(1);
    expect(pack.stderr).toBe(`Cannot pack a runtime of server https://127.0.0.1:${lab.port}: packing reads the runtime's installed files, which stay on the daemon's host; run joblet runtime pack there (with --state-dir) and copy the package\n`);
  });

  it("an admin applies a Runtime, tests it and installs a copy from a registry, all remotely", async () => {
    const runtime = join(work, "tools.yaml");
    writeFileSync(runtime, `apiVersion: joblet/v1\nkind: Runtime\nmetadata:\n  name: tools\nspec:\n  version: "1.2.0"\n  source:\n    host:\n      binaries: [sh, cat]\n  test:\n    command: [sh, -c, "echo tested | cat"]\n`);
    expect(await joblet(["apply", "-f", runtime, ...as("operator")])).toMatchObject({ code: 1, stderr: "role 'operator' (CN operator) may not apply runtimes\n" });
    expect(await joblet(["apply", "-f", runtime, ...as("admin")])).toMatchObject({ code: 0, stdout: "runtime/tools created\n" });
    expect((await joblet(["wait", "runtime", "tools", "--for=condition=Ready", "--timeout", "50s", ...as("viewer")])).code).toBe(0);
    expect((await joblet(["runtime", "list", ...as("viewer")])).stdout).toMatch(/^tools\s+1\.2\.0\s+host\s/m);
    expect((await joblet(["runtime", "info", "tools", ...as("viewer")])).stdout).toMatch(/^Test command:\s+sh -c 'echo tested \| cat'$/m);
    const test = await joblet(["runtime", "test", "tools", ...as("operator")]);
    expect(test.code, test.stderr).toBe(0);
    expect(test.stdout).toMatch(/^Testing runtime\/tools in job\/runtime-test-tools-[0-9a-f]{6}: sh -c 'echo tested \| cat'\ntested\nPASS runtime tools \(/);

    // A package made on the daemon's host (pack reads its files there), served by a registry on loopback.
    const files = join(work, "registry");
    mkdirSync(files, { recursive: true });
    const pack = await joblet(["runtime", "pack", "tools", "-o", join(files, "tools-1.2.0.tar.gz"), "--state-dir", lab.stateDir]);
    expect(pack.code, pack.stderr).toBe(0);
    const sha256 = readFileSync(join(files, "tools-1.2.0.tar.gz.sha256"), "utf8").split(" ")[0]!;
    const server = createServer((req, res) => {
      const path = join(files, (req.url ?? "/").replace(/^\/+/, ""));
      if (!existsSync(path)) return void res.writeHead(404).end();
      res.writeHead(200);
      createReadStream(path).pipe(res);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const platform = `debian-${hostArchitectures()[0]}`;
      writeFileSync(join(files, "registry.json"), JSON.stringify({ version: "1", runtimes: { tools: { "1.2.0": { version: "1.2.0", download_url: "tools-1.2.0.tar.gz", checksum: `sha256:${sha256}`, platforms: [platform] } } } }));
      const install = await joblet(["runtime", "install", "tools", "--registry", `${base}/registry.json`, "--name", "tools-copy", ...as("admin")]);
      expect(install.code, install.stderr).toBe(0);
      expect(install.stdout).toMatch(/^runtime\/tools-copy created \(tools 1\.2\.0 from /);
      expect(install.stdout).toMatch(/runtime\/tools-copy ready: /);
      // A registry whose packages are paths on this host is no use to a remote daemon.
      writeFileSync(join(files, "local.json"), JSON.stringify({ version: "1", runtimes: { tools: { "1.2.0": { version: "1.2.0", download_url: `file://${join(files, "tools-1.2.0.tar.gz")}`, checksum: `sha256:${sha256}`, platforms: [platform] } } } }));
      const local = await joblet(["runtime", "install", "tools", "--registry", join(files, "local.json"), ...as("admin")]);
      expect(local.code).toBe(1);
      expect(local.stderr).toMatch(/gives its package as a path on this host .*; a remote daemon needs an http\(s\) URL\n$/);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  }, 120_000);
});
