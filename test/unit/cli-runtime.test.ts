import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync, existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import yaml from "js-yaml";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { generation, type RuntimeStatus, type StoredObject } from "../../src/api/index.js";
import { dnsLabelProblem } from "../../src/api/names.js";
import { getCommand } from "../../src/cli/get.js";
import type { CliIo } from "../../src/cli/io.js";
import { runtimeCommand } from "../../src/cli/runtime/index.js";
import { phaseLine, progressLine, ProgressView } from "../../src/cli/runtime/progress.js";
import { pickEntry, platformFits, registryEntries } from "../../src/cli/runtime/registry.js";
import { testJobName } from "../../src/cli/runtime/test.js";
import { hostArchitectures } from "../../src/runtimes/build.js";
import { Capture, job, Lab, until } from "./cli-harness.js";

let lab: Lab;
beforeEach(() => {
  lab = new Lab();
});
afterEach(() => lab.cleanup());

/** `joblet runtime ...`; commander's own errors (a missing option) throw instead of exiting the test process. */
function runtime(io: CliIo) {
  const group = runtimeCommand(io);
  for (const sub of group.commands) sub.exitOverride();
  return group;
}

const GEN = "0123456789abcdef";
const HOST = hostArchitectures()[0]!;

/** A Runtime's stored object, as the Runtime controller writes it. */
function rt(name: string, status: Partial<RuntimeStatus>, spec: Record<string, unknown> = { source: { debian: { suite: "bookworm", packages: ["python3"] } } }): StoredObject<unknown, Record<string, unknown>> {
  return { apiVersion: "joblet/v1", kind: "Runtime", metadata: { name, generation: GEN }, spec, status: { conditions: [], ...status } as Record<string, unknown> };
}

const readyCondition = { type: "Ready", status: "True" as const, reason: "Installed", message: "Build b1", lastTransitionTime: "2030-01-01T00:00:00Z" };

function ready(name: string, extra: Partial<RuntimeStatus["current"]> = {}, spec?: Record<string, unknown>) {
  return rt(
    name,
    {
      phase: "Ready",
      observedGeneration: GEN,
      conditions: [readyCondition],
      current: {
        id: "b1",
        generation: GEN,
        path: `/state/runtimes/.builds/${name}/b1`,
        source: "debian",
        sizeBytes: 150 * 1024 * 1024,
        files: 4321,
        builtAt: "2030-01-01T00:05:00Z",
        durationMs: 42_500,
        config: {
          version: "3.11",
          description: "Python with numpy",
          mounts: [{ source: "usr/bin", target: "/usr/bin" }],
          environment: { PATH_PREPEND: "/opt/bin", LANG: "C.UTF-8" },
          requirements: { architectures: ["amd64"], minMemoryBytes: 512 * 1024 * 1024 },
          test: { command: ["python3", "-c", "import numpy; print('ok')"] },
        },
        ...extra,
      },
    },
    spec,
  );
}

const building = rt("node-18", {
  phase: "Building",
  observedGeneration: GEN,
  conditions: [{ type: "Ready", status: "False", reason: "Building", message: "", lastTransitionTime: "2030-01-01T00:00:00Z" }],
  progress: { phase: "downloading", bytes: 12 * 1024 * 1024, totalBytes: 29 * 1024 * 1024, percent: 42.7, startedAt: "2030-01-01T00:09:00Z" },
  buildLog: "/state/logs/runtimes/node-18/x.log",
});

const failed = rt(
  "java-17",
  {
    phase: "Failed",
    observedGeneration: GEN,
    reason: "InvalidSource",
    message: "unknown package 'openjdk-99'\nlast lines of /state/logs/runtimes/java-17/x.log:\nE: Unable to locate package openjdk-99",
    buildLog: "/state/logs/runtimes/java-17/x.log",
    conditions: [{ type: "Ready", status: "False", reason: "InvalidSource", message: "The build failed", lastTransitionTime: "2030-01-01T00:00:00Z" }],
  },
  { source: { package: { url: "https://example.com/java.tar.gz", sha256: "a".repeat(64) } } },
);

const cells = (line: string | undefined) => (line ?? "").split(/\s{2,}/);

describe("joblet runtime list", () => {
  it("shows name, version, source, size, readiness (build progress while building) and age, names in numeric order", async () => {
    lab.status(ready("python-3.11-ml"));
    lab.status(ready("python-3.9-ml"));
    lab.status(ready("python"));
    lab.status(ready("python-3"));
    lab.status(building);
    lab.status(failed);
    const result = await lab.run(runtime, ["list"]);
    expect(result.code).toBe(0);
    const lines = result.out.trimEnd().split("\n");
    expect(cells(lines[0])).toEqual(["NAME", "VERSION", "SOURCE", "SIZE", "READY", "AGE"]);
    expect(cells(lines[1])).toEqual(["java-17", "-", "package", "-", "False", expect.any(String)]);
    expect(cells(lines[2])).toEqual(["node-18", "-", "debian", "-", "Building 42%", "1m"]);
    expect(lines.slice(3).map((l) => cells(l)[0])).toEqual(["python", "python-3", "python-3.9-ml", "python-3.11-ml"]);
    expect(cells(lines[5])).toEqual(["python-3.9-ml", "3.11", "debian", "150Mi", "True", "5m"]);
  });

  it("-o wide adds files, build, reason and path; -o json prints a List; `get runtimes` prints the same table", async () => {
    lab.status(ready("python-3.11-ml@1.3.1", { config: { mounts: [], environment: {} }, sizeBytes: 1536 }));
    lab.status(failed);
    lab.status(building);
    const wide = (await lab.run(runtime, ["list", "-o", "wide"])).out.trimEnd().split("\n");
    expect(cells(wide[0])).toEqual(["NAME", "VERSION", "SOURCE", "SIZE", "READY", "AGE", "FILES", "BUILD", "REASON", "PATH"]);
    expect(cells(wide[1]).slice(6)).toEqual(["-", "-", "InvalidSource", "-"]);
    expect(cells(wide[2]).slice(6)).toEqual(["-", "-", "downloading", "-"]);
    // The version comes from the name when neither the build nor the spec has one.
    expect(cells(wide[3])).toEqual(["python-3.11-ml@1.3.1", "1.3.1", "debian", "1.5Ki", "True", "5m", "4321", "b1", "-", "/state/runtimes/.builds/python-3.11-ml@1.3.1/b1"]);
    const list = JSON.parse((await lab.run(runtime, ["ls", "-o", "json"])).out) as { kind: string; items: { metadata: { name: string } }[] };
    expect(list.kind).toBe("List");
    expect(list.items.map((i) => i.metadata.name)).toEqual(["java-17", "node-18", "python-3.11-ml@1.3.1"]);
    expect((await lab.run(getCommand, ["runtimes"])).out).toBe((await lab.run(runtime, ["list"])).out);
    expect((await lab.run(getCommand, ["runtimes", "-o", "wide"])).out).toBe((await lab.run(runtime, ["list", "-o", "wide"])).out);
  });

  it("says when there are none, and skips an unreadable status file with a warning", async () => {
    expect(await lab.run(runtime, ["list"])).toEqual({ code: 0, out: "", err: "No runtimes found (install one with joblet runtime install NAME, or apply a Runtime manifest)\n" });
    lab.status(ready("python-3.11-ml"));
    const broken = join(lab.state, "status", "runtimes", "broken.json");
    writeFileSync(broken, "{ not json");
    const result = await lab.run(runtime, ["list"]);
    expect(result.code).toBe(0);
    expect(result.out.split("\n")).toHaveLength(3);
    expect(result.err).toMatch(new RegExp(`^Skipping status file ${broken}: `));
  });
});

describe("joblet runtime info", () => {
  it("shows everything about a Ready runtime", async () => {
    lab.status(ready("python-3.11-ml", {}, { version: "3.11", source: { debian: { suite: "bookworm", packages: ["python3", "python3-numpy"] } } }));
    const { code, out } = await lab.run(runtime, ["info", "python-3.11-ml"]);
    expect(code).toBe(0);
    expect(out).toMatch(/^Name:\s+python-3.11-ml$/m);
    expect(out).toMatch(/^Version:\s+3.11$/m);
    expect(out).toMatch(/^Description:\s+Python with numpy$/m);
    expect(out).toMatch(/^Phase:\s+Ready$/m);
    expect(out).toMatch(/^Source:\s+debian\n\s+suite: bookworm\n\s+packages: python3, python3-numpy$/m);
    expect(out).toMatch(/^Path:\s+\/state\/runtimes\/.builds\/python-3.11-ml\/b1$/m);
    expect(out).toMatch(/^Size:\s+150Mi \(157286400 bytes\)$/m);
    expect(out).toMatch(/^Files:\s+4321$/m);
    expect(out).toMatch(/^Built at:\s+2030-01-01T00:05:00Z \(5m ago\)$/m);
    expect(out).toMatch(/^Build time:\s+42.5 s$/m);
    expect(out).toMatch(/^Mounts:\s+usr\/bin -> \/usr\/bin$/m);
    expect(out).toMatch(/^Environment:\s+PATH_PREPEND=\/opt\/bin\n\s+LANG=C.UTF-8$/m);
    expect(out).toMatch(/^Requirements:\s+architectures: amd64; memory: at least 512Mi$/m);
    expect(out).toMatch(/^Test command:\s+python3 -c 'import numpy; print\('\\''ok'\\''\)'$/m);
    expect(out).toMatch(/^Conditions:\n\s+TYPE\s+STATUS\s+REASON\s+AGE\s+MESSAGE\n\s+Ready\s+True\s+Installed\s+10m\s+Build b1$/m);
    expect(out).not.toMatch(/^Progress:/m);
  });

  it("shows progress while building, and the message and build log of a failure", async () => {
    lab.status(building);
    lab.status(failed);
    const b = (await lab.run(runtime, ["info", "node-18"])).out;
    expect(b).toMatch(/^Phase:\s+Building$/m);
    expect(b).toMatch(/^Progress:\s+downloading 42% \(12Mi of 29Mi\), started 2030-01-01T00:09:00Z \(1m ago\)$/m);
    expect(b).toMatch(/^Build:\s+none installed$/m);
    const f = (await lab.run(runtime, ["info", "java-17"])).out;
    expect(f).toMatch(/^Source:\s+package\n\s+url: https:\/\/example.com\/java.tar.gz\n\s+sha256: a{64}$/m);
    expect(f).toMatch(/^Reason:\s+InvalidSource$/m);
    expect(f).toMatch(/^Message:\s+unknown package 'openjdk-99'\n\s+last lines of \/state\/logs\/runtimes\/java-17\/x.log:\n\s+E: Unable to locate package openjdk-99$/m);
    expect(f).toMatch(/^Build log:\s+\/state\/logs\/runtimes\/java-17\/x.log$/m);
  });

  it("takes NAME for its highest installed NAME@VERSION, and names a missing runtime", async () => {
    lab.status(ready("python@3.9"));
    lab.status(ready("python@3.10"));
    lab.status(rt("python@3.12", { phase: "Building" }));
    const result = await lab.run(runtime, ["info", "python"]);
    expect(result.out).toMatch(/^\(python is python@3.10\)\nName:\s+python@3.10$/m);
    expect(await lab.run(runtime, ["info", "pyton@3.9"])).toEqual({ code: 1, out: "", err: "Runtime 'pyton@3.9' not found; did you mean 'python@3.9'?\n" });
    expect((await lab.run(runtime, ["info", "ruby"])).err).toBe("Runtime 'ruby' not found (runtimes: python@3.9, python@3.10, python@3.12)\n");
    expect((await lab.run(runtime, ["info", "../x"])).err).toBe("'../x' is not a runtime name (e.g. python-3.11-ml, java-17@1.0)\n");
  });
});

const SHA = "b".repeat(64);

/** The original Joblet's registry.json layout. */
function nestedRegistry(): unknown {
  return {
    version: "1",
    runtimes: {
      "python-3.11-ml": {
        "1.3.1": { version: "1.3.1", description: "Python 3.11 ML", download_url: "packages/python-1.3.1.tar.gz", checksum: `sha256:${SHA}`, size: 123, platforms: [`ubuntu-${HOST}`, `debian-${HOST}`] },
        "1.10.0": { version: "1.10.0", description: "Python 3.11 ML", download_url: "https://cdn.example.com/python-1.10.0.tar.gz", checksum: `sha256:${"c".repeat(64)}`, size: 124, platforms: [`debian-${HOST}`] },
        // The highest version, but not for this host: never picked without @2.0.0.
        "2.0.0": { version: "2.0.0", download_url: "https://cdn.example.com/python-2.0.0.tar.gz", checksum: `sha256:${SHA}`, platforms: ["plan9-sparc"] },
      },
      "node-18": { "1.0": { version: "1.0", download_url: "https://cdn.example.com/node.tar.gz", platforms: [HOST] } },
    },
  };
}

/** The flat layout: a version may have one entry per platform. */
function flatRegistry(): unknown {
  return {
    runtimes: [
      { name: "java-17", version: "17.0.2", url: "/dl/java-other.tar.gz", sha256: "d".repeat(64), platforms: ["plan9-sparc"] },
      { name: "java-17", version: "17.0.2", url: "/dl/java.tar.gz", sha256: SHA, platforms: [`linux-${HOST}`], description: "OpenJDK 17" },
      { name: "java-17", version: "11.0.1", url: "/dl/java11.tar.gz", sha256: SHA },
    ],
  };
}

interface Served {
  url: string;
  requests: string[];
  close(): Promise<void>;
}

/** A registry on 127.0.0.1: path -> [status, body]. */
async function serve(routes: Record<string, [number, string, Record<string, string>?]>): Promise<Served> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(req.url ?? "");
    const route = routes[req.url ?? ""];
    if (route === undefined) {
      res.writeHead(404).end("not here");
      return;
    }
    res.writeHead(route[0], route[2] ?? { "content-type": "application/json" }).end(route[1]);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, requests, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

function appliedRuntime(name: string): Record<string, unknown> {
  return yaml.load(readFileSync(join(lab.state, "manifests", "runtimes", `${name}.yaml`), "utf8"), { schema: yaml.CORE_SCHEMA }) as Record<string, unknown>;
}

describe("joblet runtime install", () => {
  let server: Served;
  beforeEach(async () => {
    server = await serve({
      "/registry.json": [200, JSON.stringify(nestedRegistry())],
      "/flat/index.json": [200, JSON.stringify(flatRegistry())],
      "/moved.json": [302, "", { location: "/flat/index.json" }],
      "/broken.json": [200, "{ not json"],
      "/empty.json": [200, JSON.stringify({ version: "1" })],
      "/nosum.json": [200, JSON.stringify({ runtimes: [{ name: "x", version: "1", url: "x.tar.gz" }] })],
    });
  });
  afterEach(() => server.close());

  it("applies a Runtime NAME@VERSION for the highest version this host has, package URL resolved against the registry", async () => {
    const result = await lab.run(runtime, ["install", "python-3.11-ml", "--registry", `${server.url}/registry.json`, "--no-wait"]);
    expect(result).toEqual({ code: 0, out: `runtime/python-3.11-ml@1.10.0 created (python-3.11-ml 1.10.0 from ${server.url}/registry.json)\n`, err: "" });
    expect(appliedRuntime("python-3.11-ml@1.10.0")).toEqual({
      apiVersion: "joblet/v1",
      kind: "Runtime",
      metadata: { name: "python-3.11-ml@1.10.0", annotations: { "joblet/installed-from": `${server.url}/registry.json` } },
      spec: { version: "1.10.0", description: "Python 3.11 ML", source: { package: { url: "https://cdn.example.com/python-1.10.0.tar.gz", sha256: "c".repeat(64) } } },
    });
    // @VERSION exactly; a relative download_url resolves against the registry's URL.
    await lab.run(runtime, ["install", "python-3.11-ml@1.3.1", "--registry", `${server.url}/registry.json`, "--no-wait"]);
    expect((appliedRuntime("python-3.11-ml@1.3.1").spec as { source: unknown }).source).toEqual({ package: { url: `${server.url}/packages/python-1.3.1.tar.gz`, sha256: SHA } });
    // Installing again changes nothing.
    expect((await lab.run(runtime, ["install", "python-3.11-ml@1.3.1", "--registry", `${server.url}/registry.json`, "--no-wait"])).out).toMatch(/^runtime\/python-3.11-ml@1.3.1 unchanged/);
  });

  it("reads the flat layout, follows redirects, picks the entry for this host's platform, and takes --name", async () => {
    const result = await lab.run(runtime, ["install", "java-17@17.0.2", "--registry", `${server.url}/moved.json`, "--name", "java", "--no-wait"]);
    expect(result.code).toBe(0);
    expect(appliedRuntime("java")).toMatchObject({
      metadata: { name: "java", annotations: { "joblet/installed-from": `${server.url}/flat/index.json` } },
      spec: { version: "17.0.2", description: "OpenJDK 17", source: { package: { url: `${server.url}/dl/java.tar.gz`, sha256: SHA } } },
    });
  });

  it("reads a local registry file (path or file:// URL); a package beside it becomes source.package.path", async () => {
    const index = lab.file("reg/registry.json", JSON.stringify({ runtimes: [{ name: "tool", version: "1.0", url: "tool-1.0.tar.gz", sha256: SHA }] }));
    expect((await lab.run(runtime, ["install", "tool", "--registry", "reg/registry.json", "--no-wait"])).code).toBe(0);
    expect((appliedRuntime("tool@1.0").spec as { source: unknown }).source).toEqual({ package: { path: join(lab.src, "reg", "tool-1.0.tar.gz"), sha256: SHA } });
    expect((await lab.run(runtime, ["install", "tool@1.0", "--registry", pathToFileURL(index).href, "--name", "tool2", "--no-wait"])).code).toBe(0);
  });

  it("takes the registry from $JOBLET_CONFIG, else ~/.config/joblet/config.yaml, and says where to set one", async () => {
    const home = join(lab.root, "home");
    const env = { JOBLET_STATE_DIR: lab.state, HOME: home };
    const none = await lab.run(runtime, ["install", "tool", "--no-wait"], { env });
    expect(none).toEqual({ code: 1, out: "", err: `No registry to install from: give --registry URL, or set runtimeRegistry: URL in ${join(home, ".config", "joblet", "config.yaml")}\n` });
    mkdirSync(join(home, ".config", "joblet"), { recursive: true });
    writeFileSync(join(home, ".config", "joblet", "config.yaml"), `# mine\nruntimeRegistry: ${server.url}/registry.json\ncontexts: []\n`);
    expect((await lab.run(runtime, ["install", "node-18", "--no-wait"], { env })).err).toMatch(/node-18' version '1.0' .* has no checksum/);
    const other = lab.file("other.yaml", `runtimeRegistry: ${server.url}/flat/index.json\n`);
    expect((await lab.run(runtime, ["install", "java-17@11.0.1", "--no-wait"], { env: { ...env, JOBLET_CONFIG: other } })).code).toBe(0);
    expect((await lab.run(runtime, ["install", "x", "--no-wait"], { env: { ...env, JOBLET_CONFIG: join(lab.root, "nope.yaml") } })).err).toBe(
      `Cannot read config file ${join(lab.root, "nope.yaml")} (from $JOBLET_CONFIG): it does not exist\n`,
    );
    const bad = lab.file("bad.yaml", "runtimeRegistry: [1, 2]\n");
    expect((await lab.run(runtime, ["install", "x", "--no-wait"], { env: { ...env, JOBLET_CONFIG: bad } })).err).toBe(`Config file ${bad}: runtimeRegistry must be a URL or a path, not [1,2]\n`);
  });

  it("says clearly what is wrong with the registry or the request", async () => {
    const install = async (what: string, registry: string) => (await lab.run(runtime, ["install", what, "--registry", registry, "--no-wait"])).err;
    const closed = await serve({});
    await closed.close();
    expect(await install("x", `${closed.url}/registry.json`)).toMatch(new RegExp(`^Cannot read registry ${closed.url}/registry.json: connect ECONNREFUSED 127.0.0.1:\\d+\n$`));
    expect(await install("x", `${server.url}/missing.json`)).toBe(`Cannot read registry ${server.url}/missing.json: HTTP 404 Not Found\n`);
    expect(await install("x", join(lab.root, "none.json"))).toBe(`Cannot read registry ${join(lab.root, "none.json")}: no such file\n`);
    expect(await install("x", "ftp://example.com/r.json")).toBe("Registry 'ftp://example.com/r.json' is not an http://, https:// or file:// URL, nor a path\n");
    expect(await install("x", `${server.url}/broken.json`)).toMatch(new RegExp(`^Registry ${server.url}/broken.json is not JSON: `));
    expect(await install("x", `${server.url}/empty.json`)).toMatch(new RegExp(`^Registry ${server.url}/empty.json lists no runtimes: expected `));
    expect(await install("ruby", `${server.url}/registry.json`)).toBe(`Runtime 'ruby' is not in registry ${server.url}/registry.json; it has: node-18, python-3.11-ml\n`);
    expect(await install("python-3.11-ml@9", `${server.url}/registry.json`)).toBe(`Registry ${server.url}/registry.json has no version '9' of runtime 'python-3.11-ml'; it has: 2.0.0, 1.10.0, 1.3.1\n`);
    expect(await install("python-3.11-ml@2.0.0", `${server.url}/registry.json`)).toBe(
      `Registry ${server.url}/registry.json has no package of runtime 'python-3.11-ml' version '2.0.0' for this host (${hostArchitectures().join("/")}); it has platforms: plan9-sparc\n`,
    );
    expect(await install("x", `${server.url}/nosum.json`)).toBe(`The entry of runtime 'x' version '1' in registry ${server.url}/nosum.json has no checksum (or sha256): joblet installs only packages it can verify\n`);
    expect(await install("x@", `${server.url}/registry.json`)).toBe("'x@' is not NAME or NAME@VERSION\n");
    const badName = await lab.run(runtime, ["install", "python-3.11-ml@1.3.1", "--registry", `${server.url}/registry.json`, "--name", "Bad_Name", "--no-wait"]);
    expect(badName.err).toMatch(/^Cannot install runtime 'Bad_Name': .*metadata\.name/);
    expect(existsSync(join(lab.state, "manifests", "runtimes"))).toBe(false);
  });

  it("follows the build: one line per phase when not on a terminal, then ready (exit 0)", async () => {
    const out = new Capture();
    const installing = lab.run(runtime, ["install", "python-3.11-ml@1.3.1", "--registry", `${server.url}/registry.json`], { out });
    await until(() => out.text.includes("runtime/python-3.11-ml@1.3.1: Pending"));
    const name = "python-3.11-ml@1.3.1";
    const gen = generation(appliedRuntime(name).spec);
    const progress = (phase: string, percent: number) => ({ phase, bytes: percent * 1024, totalBytes: 100 * 1024, percent, startedAt: "2030-01-01T00:09:00Z" });
    lab.status({ ...rt(name, { phase: "Building", observedGeneration: gen, progress: progress("downloading", 10) }), metadata: { name, generation: gen } });
    await until(() => out.text.includes("Building: downloading"));
    lab.status({ ...rt(name, { phase: "Building", observedGeneration: gen, progress: progress("downloading", 60) }), metadata: { name, generation: gen } });
    lab.status({ ...rt(name, { phase: "Building", observedGeneration: gen, progress: progress("unpacking", 5) }), metadata: { name, generation: gen } });
    await until(() => out.text.includes("Building: unpacking"));
    const done = ready(name, { generation: gen });
    lab.status({ ...done, metadata: { name, generation: gen }, status: { ...done.status, observedGeneration: gen } });
    const result = await installing;
    expect(result.code).toBe(0);
    expect(out.text).toBe(
      [
        `runtime/${name} created (python-3.11-ml 1.3.1 from ${server.url}/registry.json)`,
        `runtime/${name}: Pending`,
        `runtime/${name}: Building: downloading (100Ki)`,
        `runtime/${name}: Building: unpacking (100Ki)`,
        `runtime/${name} ready: 150Mi, 4321 files, built in 42.5 s`,
        "",
      ].join("\n"),
    );
  });

  it("a failed build prints the status message (with the build log's tail, as written) and exits 1; a status of an older spec is not taken for it", async () => {
    const name = "python-3.11-ml@1.3.1";
    // Left from an earlier spec: Failed, but not for this generation.
    lab.status(rt(name, { phase: "Failed", observedGeneration: "ffffffffffffffff", message: "old failure" }));
    const err = new Capture();
    const installing = lab.run(runtime, ["install", name, "--registry", `${server.url}/registry.json`], { err });
    await until(() => existsSync(join(lab.state, "manifests", "runtimes", `${name}.yaml`)));
    await new Promise((r) => setTimeout(r, 100));
    expect(err.text).toBe("");
    const gen = generation(appliedRuntime(name).spec);
    lab.status(rt(name, { phase: "Failed", observedGeneration: gen, reason: "BuildFailed", message: "sha256 mismatch\nlast lines of /x.log:\nexpected bbbb" }));
    const result = await installing;
    expect(result.code).toBe(1);
    expect(err.text).toBe(`runtime/${name} failed (BuildFailed): sha256 mismatch\nlast lines of /x.log:\nexpected bbbb\n`);
  });

  it("stops waiting when the Runtime's manifest is deleted, or on ^C (exit 130)", async () => {
    const name = "python-3.11-ml@1.3.1";
    const installing = lab.run(runtime, ["install", name, "--registry", `${server.url}/registry.json`]);
    const manifest = join(lab.state, "manifests", "runtimes", `${name}.yaml`);
    await until(() => existsSync(manifest));
    await lab.run(runtime, ["install", name, "--registry", `${server.url}/registry.json`, "--no-wait"]);
    const { rmSync } = await import("node:fs");
    rmSync(manifest);
    expect(await installing).toMatchObject({ code: 1, err: `runtime/${name} was deleted while waiting for it\n` });
    const abort = new AbortController();
    const waiting = lab.run(runtime, ["install", name, "--registry", `${server.url}/registry.json`], { signal: abort.signal });
    await until(() => existsSync(manifest));
    abort.abort();
    expect(await waiting).toMatchObject({ code: 130, err: `Stopped waiting; the daemon goes on with runtime/${name} (see joblet runtime list)\n` });
  });
});

describe("registry entries", () => {
  it("matches platforms by architecture name or -ARCH suffix", () => {
    expect(platformFits("ubuntu-amd64", ["amd64", "x86_64"])).toBe(true);
    expect(platformFits("x86_64", ["amd64", "x86_64"])).toBe(true);
    expect(platformFits("linux-arm64", ["amd64", "x86_64"])).toBe(false);
    expect(platformFits("amd64x", ["amd64"])).toBe(false);
  });

  it("compares versions numerically and treats an entry without platforms as fitting any host", () => {
    const entries = registryEntries({ runtimes: { r: { "1.9": { download_url: "a", checksum: SHA }, "1.10": { download_url: "b", checksum: SHA }, "1.2": { download_url: "c" } } } }, "here");
    expect(pickEntry(entries, "r", undefined, ["amd64"], "here").version).toBe("1.10");
    expect(pickEntry(entries, "r", "1.9", ["riscv64"], "here").url).toBe("a");
  });
});

describe("install progress rendering", () => {
  const status = (phase: RuntimeStatus["phase"], progress?: RuntimeStatus["progress"]): Partial<RuntimeStatus> => ({ phase, ...(progress ? { progress } : {}) });

  it("draws a bar with percent and bytes on one line", () => {
    expect(progressLine("x@1", undefined)).toBe("runtime/x@1  Pending  waiting for the daemon");
    expect(progressLine("x@1", status("Building", { phase: "downloading", bytes: 12 * 1024 * 1024, totalBytes: 29 * 1024 * 1024, percent: 42.7, startedAt: "" }))).toBe(
      "runtime/x@1  Building  downloading  [##########--------------]  42%  12Mi/29Mi",
    );
    expect(progressLine("x@1", status("Building", { phase: "installing packages", startedAt: "" }))).toBe("runtime/x@1  Building  installing packages");
    expect(progressLine("x@1", status("Building", { phase: "copying", bytes: 2048, startedAt: "" }))).toBe("runtime/x@1  Building  copying  2Ki");
    expect(phaseLine("x@1", status("Building", { phase: "downloading", totalBytes: 3 * 1024 * 1024, startedAt: "" }))).toBe("runtime/x@1: Building: downloading (3Mi)");
    expect(phaseLine("x@1", status("Ready"))).toBe("runtime/x@1: Ready");
  });

  it("on a terminal redraws the line in place (\\r, erase to the end) only when it changes", () => {
    const out = new Capture();
    const view = new ProgressView(out, "x@1", true);
    const p = (percent: number) => status("Building", { phase: "downloading", percent, startedAt: "" });
    view.update(undefined);
    view.update(p(10));
    view.update(p(10.2));
    view.update(p(50));
    view.end();
    expect(out.text).toBe(
      [
        "\rruntime/x@1  Pending  waiting for the daemon\x1b[K",
        "\rruntime/x@1  Building  downloading  [##----------------------]  10%\x1b[K",
        "\rruntime/x@1  Building  downloading  [############------------]  50%\x1b[K",
        "\n",
      ].join(""),
    );
  });

  it("elsewhere writes one line per phase", () => {
    const out = new Capture();
    const view = new ProgressView(out, "x@1", false);
    view.update(undefined);
    view.update(status("Building", { phase: "downloading", percent: 1, startedAt: "" }));
    view.update(status("Building", { phase: "downloading", percent: 90, startedAt: "" }));
    view.update(status("Building", { phase: "unpacking", startedAt: "" }));
    view.update(status("Failed"));
    view.end();
    expect(out.text).toBe("runtime/x@1: Pending\nruntime/x@1: Building: downloading\nruntime/x@1: Building: unpacking\nruntime/x@1: Failed\n");
  });

  it("install on a terminal shows the redrawn line, then a newline before the result", async () => {
    const file = lab.file("r.json", JSON.stringify({ runtimes: [{ name: "tool", version: "1", url: "https://example.com/t.tar.gz", sha256: SHA }] }));
    class Terminal extends Capture {
      isTTY = true;
    }
    const out = new Terminal();
    const installing = lab.run(runtime, ["install", "tool", "--registry", file], { out });
    await until(() => out.text.includes("waiting for the daemon"));
    const gen = generation(appliedRuntime("tool@1").spec);
    const done = ready("tool@1", { generation: gen });
    lab.status({ ...done, status: { ...done.status, observedGeneration: gen } });
    expect((await installing).code).toBe(0);
    expect(out.text).toMatch(/^runtime\/tool@1 created .*\n\rruntime\/tool@1 {2}Pending {2}waiting for the daemon\x1b\[K\nruntime\/tool@1 ready: 150Mi, 4321 files, built in 42.5 s\n$/);
  });
});

describe("joblet runtime test", () => {
  const jobsDir = () => join(lab.state, "manifests", "jobs");
  const testJob = () => (existsSync(jobsDir()) ? readdirSync(jobsDir()) : []).find((f) => f.startsWith("runtime-test-"))?.replace(/\.yaml$/, "");

  it("names test Jobs as valid, unique DNS labels", () => {
    for (const name of ["python-3.11-ml@1.3.1", "X".repeat(80), "@@@", "a.b.c"]) {
      const job = testJobName(name);
      expect(dnsLabelProblem(job)).toBeUndefined();
      expect(job).toMatch(/^runtime-test-/);
    }
    expect(testJobName("python-3.11-ml@1.3.1", "abc123")).toBe("runtime-test-python-3-11-ml-1-3-1-abc123");
    expect(testJobName("python-3.11-ml")).not.toBe(testJobName("python-3.11-ml"));
  });

  it("runs the test command as a Job on the runtime, streams its output, prints PASS and deletes the Job", async () => {
    lab.status(ready("python-3.11-ml@1.3.1"));
    const out = new Capture();
    const err = new Capture();
    const testing = lab.run(runtime, ["test", "python-3.11-ml", "--timeout", "30"], { out, err });
    await until(() => testJob() !== undefined && out.text.includes("Testing"));
    const name = testJob()!;
    const manifest = yaml.load(readFileSync(join(jobsDir(), `${name}.yaml`), "utf8"), { schema: yaml.CORE_SCHEMA }) as { metadata: unknown; spec: Record<string, unknown> };
    expect(manifest.metadata).toEqual({ name, annotations: { "joblet/runtime-test": "python-3.11-ml@1.3.1" } });
    expect(manifest.spec).toEqual({ command: ["python3"], args: ["-c", "import numpy; print('ok')"], runtime: "python-3.11-ml@1.3.1", restartPolicy: "Never", activeDeadlineSeconds: 30 });
    lab.status(job(name, { phase: "Running", run: "r1", attempts: 1 }));
    lab.log(name, "r1", "stdout", "ok\n");
    lab.log(name, "r1", "stderr", "a warning\n");
    await until(() => out.text.endsWith("ok\n") && err.text === "a warning\n");
    lab.status(job(name, { phase: "Succeeded", run: "r1", attempts: 1, exitCode: 0, startTime: "2030-01-01T00:09:00Z", completionTime: "2030-01-01T00:09:01.250Z" }));
    const result = await testing;
    expect(result.code).toBe(0);
    expect(out.text).toBe(`Testing runtime/python-3.11-ml@1.3.1 in job/${name}: python3 -c 'import numpy; print('\\''ok'\\'')'\nok\nPASS runtime python-3.11-ml@1.3.1 (1.3 s)\n`);
    expect(readdirSync(jobsDir())).toEqual([]);
  });

  it("prints FAIL with the exit code and exits 1 when the test fails", async () => {
    lab.status(ready("python-3.11-ml"));
    const out = new Capture();
    const testing = lab.run(runtime, ["test", "python-3.11-ml"], { out });
    await until(() => testJob() !== undefined && out.text.includes("Testing"));
    const name = testJob()!;
    lab.status(job(name, { phase: "Failed", run: "r1", attempts: 1, exitCode: 3, reason: "Error" }));
    const result = await testing;
    expect(result.code).toBe(1);
    expect(out.text.split("\n").at(-2)).toBe("FAIL runtime python-3.11-ml: exit code 3, Error");
    expect(readdirSync(jobsDir())).toEqual([]);
  });

  it("prints FAIL when the Job cannot run, or when interrupted (exit 130), deleting the Job either way", async () => {
    lab.status(ready("python-3.11-ml"));
    const out = new Capture();
    const testing = lab.run(runtime, ["test", "python-3.11-ml"], { out });
    await until(() => testJob() !== undefined && out.text.includes("Testing"));
    const name = testJob()!;
    lab.status(job(name, { phase: "Pending", conditions: [{ type: "Ready", status: "False", reason: "Conflict", message: "also defined in x.yaml", lastTransitionTime: "2030-01-01T00:00:00Z" }] }));
    expect(await testing).toMatchObject({ code: 1 });
    expect(out.text).toMatch(new RegExp(`FAIL runtime python-3.11-ml: job '${name}' cannot run: also defined in x.yaml\n$`));
    expect(readdirSync(jobsDir())).toEqual([]);

    const abort = new AbortController();
    const out2 = new Capture();
    const interrupted = lab.run(runtime, ["test", "python-3.11-ml"], { out: out2, signal: abort.signal });
    await until(() => testJob() !== undefined && out2.text.includes("Testing"));
    lab.status(job(testJob()!, { phase: "Running", run: "r1", attempts: 1 }));
    await new Promise((r) => setTimeout(r, 50));
    abort.abort();
    expect(await interrupted).toMatchObject({ code: 130 });
    expect(out2.text).toMatch(/FAIL runtime python-3.11-ml: interrupted\n$/);
    expect(readdirSync(jobsDir())).toEqual([]);
  });

  it("refuses a missing runtime, one that is not Ready, one without a test command, and a bad --timeout", async () => {
    lab.status(building);
    lab.status(ready("bare", { config: { mounts: [], environment: {} } }));
    expect(await lab.run(runtime, ["test", "ghost"])).toEqual({ code: 1, out: "", err: "Runtime 'ghost' not found (runtimes: bare, node-18)\n" });
    expect((await lab.run(runtime, ["test", "node-18"])).err).toBe("Cannot test runtime 'node-18': it is not Ready (it is building (downloading 42%))\n");
    expect((await lab.run(runtime, ["test", "bare"])).err).toBe("Runtime 'bare' has no test command: set spec.test.command (an argv that exits 0 when the runtime works) in its manifest\n");
    expect((await lab.run(runtime, ["test", "bare", "--timeout", "soon"])).err).toBe("--timeout 'soon' is not a whole number of seconds greater than zero\n");
    expect(existsSync(jobsDir())).toBe(false);
  });
});

describe("joblet runtime pack", () => {
  it("packs the installed build, writes FILE.sha256, and prints a manifest that installs it", async () => {
    const build = join(lab.state, "runtimes", ".builds", "tool@1.0", "b1");
    mkdirSync(join(build, "isolated", "bin"), { recursive: true });
    writeFileSync(join(build, "runtime.yml"), "name: tool\nversion: '1.0'\n");
    writeFileSync(join(build, "isolated", "bin", "tool"), "#!/bin/sh\necho hi\n", { mode: 0o755 });
    symlinkSync(join(".builds", "tool@1.0", "b1"), join(lab.state, "runtimes", "tool@1.0"));
    lab.status(ready("tool@1.0", { path: build, config: { version: "1.0", description: "A tool", mounts: [], environment: {} } }));
    const result = await lab.run(runtime, ["pack", "tool", "-o", "tool.tar.gz"]);
    expect(result.err).toBe("");
    expect(result.code).toBe(0);
    const file = join(lab.src, "tool.tar.gz");
    const sha256 = createHash("sha256").update(readFileSync(file)).digest("hex");
    expect(readFileSync(`${file}.sha256`, "utf8")).toBe(`${sha256}  tool.tar.gz\n`);
    expect(result.out).toMatch(new RegExp(`^# Packed runtime 'tool@1.0' \\(${build}\\) into ${file}: .*\n# sha256: ${sha256} `));
    expect(yaml.load(result.out, { schema: yaml.CORE_SCHEMA })).toEqual({
      apiVersion: "joblet/v1",
      kind: "Runtime",
      metadata: { name: "tool@1.0" },
      spec: { version: "1.0", description: "A tool", source: { package: { path: file, sha256 } } },
    });
  });

  it("refuses a runtime without an installed build, a missing one, and a missing -o", async () => {
    lab.status(building);
    expect((await lab.run(runtime, ["pack", "node-18", "-o", "x.tar.gz"])).err).toBe(
      `Runtime 'node-18' has no installed build to pack (${join(lab.state, "runtimes", "node-18")} does not exist): it is building (downloading 42%)\n`,
    );
    expect((await lab.run(runtime, ["pack", "ghost", "-o", "x.tar.gz"])).err).toBe("Runtime 'ghost' not found (runtimes: node-18)\n");
    const missing = await lab.run(runtime, ["pack", "node-18"]);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/required option '-o, --output <file>' not specified/);
  });
});
