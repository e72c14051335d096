/**
 * Runtimes end to end, with a real daemon: a `host` runtime built from this
 * machine's python3, jobs on it (checked from inside that nothing of the host
 * but the runtime is in their root), jobs waiting for a runtime, a rebuild
 * while a job runs, pack -> install as a package in a second state dir, and
 * bad inputs that must leave nothing behind.
 */
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packRuntime } from "../../src/runtimes/package/pack.js";
import { DaemonLab, job, runtime } from "../helpers/daemon-lab.js";
import { requireRoot } from "../helpers/root.js";

const PYTHON_HOST = `source:
  host:
    binaries: [python3]
    paths: [/usr/lib/python3.11]
environment:
  PATH_PREPEND: /opt/tools
  GREETING: from-runtime
test:
  command: ["python3", "-c", "print('runtime ok')"]`;

/** Run inside the job: what its root holds, where its mounts come from, its environment. */
const PROBE = `
import os, json
mounts = []
for line in open('/proc/self/mountinfo'):
    f = line.split()
    mounts.append({'root': f[3], 'point': f[4], 'fstype': f[f.index('-') + 1]})
print(json.dumps({'top': sorted(os.listdir('/')), 'sh': os.path.exists('/bin/sh'), 'mounts': mounts,
  'path': os.environ['PATH'], 'greeting': os.environ.get('GREETING'), 'mine': os.environ.get('MINE'),
  'passwd': open('/etc/passwd').read()}))
`;

const ENGINE_MOUNTS = ["/", "/proc", "/dev", "/sys", "/tmp", "/work"];

describe("runtimes", () => {
  const lab = new DaemonLab();

  beforeAll(async () => {
    requireRoot("runtimes");
    await lab.start();
  });
  afterAll(() => lab.cleanup());

  it("builds a host runtime and runs a job whose root holds only that runtime", async () => {
    lab.write("runtimes/py.yaml", runtime("py-host", PYTHON_HOST));
    const ready = await lab.waitForRuntime("py-host", (o) => o.status.phase === "Ready" || o.status.phase === "Failed");
    expect(ready.status.phase, ready.status.message).toBe("Ready");
    const build = ready.status.current!;
    expect(build.source).toBe("host");
    expect(build.files).toBeGreaterThan(100);
    expect(realpathSync(join(lab.stateDir, "runtimes/py-host"))).toBe(build.path);
    expect(existsSync(join(build.path, "isolated/usr/bin/python3"))).toBe(true);
    // Read-only to jobs and readable by the job's user: root's, no group/other write, other read.
    for (const path of walk(join(build.path, "isolated"))) {
      const st = lstatSync(path);
      if (st.isSymbolicLink()) continue;
      expect({ path, uid: st.uid, write: st.mode & 0o022, read: st.mode & 0o004, setid: st.mode & 0o6000 }).toEqual({ path, uid: 0, write: 0, read: 4, setid: 0 });
    }

    lab.write("jobs/probe.yaml", job("probe", `runtime: py-host\ncommand: [python3, -c, ${JSON.stringify(PROBE)}]\nenv: [{name: MINE, value: job}]`));
    const done = await lab.waitFor("probe", (o) => o.status.phase === "Succeeded" || o.status.phase === "Failed");
    expect(done.status.phase, `${done.status.message}\n${lab.log("probe", done.status.run!, "stderr")}`).toBe("Succeeded");
    const seen = JSON.parse(lab.log("probe", done.status.run!)) as {
      top: string[];
      sh: boolean;
      mounts: { root: string; point: string; fstype: string }[];
      path: string;
      greeting: string;
      mine: string;
      passwd: string;
    };
    const tree = readdirSync(join(build.path, "isolated"));
    // The root's entries are the runtime's and the engine's, nothing else of the host.
    for (const entry of seen.top) expect([...tree, "proc", "dev", "sys", "tmp", "work"]).toContain(entry);
    expect(seen.sh).toBe(false);
    // Every bind in the job comes from the runtime's build; the rest are the engine's own mounts.
    const binds = seen.mounts.filter((m) => !ENGINE_MOUNTS.includes(m.point) && !m.point.startsWith("/proc/") && !m.point.startsWith("/dev/") && !m.point.startsWith("/sys/"));
    expect(binds.length).toBeGreaterThan(0);
    for (const m of binds) expect(m.root, JSON.stringify(m)).toContain(`/runtimes/.builds/py-host/${build.id}/isolated/`);
    expect(seen.passwd).not.toContain(readFileSync("/etc/passwd", "utf8").split("\n")[1]);
    expect(seen.path.startsWith("/opt/tools:")).toBe(true);
    expect(seen.greeting).toBe("from-runtime");
    expect(seen.mine).toBe("job");
  });

  it("keeps a job naming a missing runtime Pending with RuntimeNotReady, and starts it once the runtime is Ready", async () => {
    lab.write("jobs/waiter.yaml", job("waiter", `runtime: later\ncommand: [python3, -c, "print('ran')"]`));
    const waiting = await lab.waitFor("waiter", (o) => o.status.reason === "RuntimeNotReady");
    expect(waiting.status.phase).toBe("Pending");
    expect(waiting.status.message).toContain("'later'");
    lab.write("runtimes/later.yaml", runtime("later", PYTHON_HOST));
    const done = await lab.waitFor("waiter", (o) => o.status.phase === "Succeeded" || o.status.phase === "Failed", 60_000);
    expect(done.status.phase).toBe("Succeeded");
    expect(lab.log("waiter", done.status.run!)).toBe("ran\n");
  });

  it("does nothing for an unchanged Runtime, and rebuilds a changed one beside the old, which a running job keeps", async () => {
    const before = lab.runtime("py-host")!.status.current!;
    lab.write("runtimes/py.yaml", runtime("py-host", PYTHON_HOST)); // same spec, rewritten
    await new Promise((r) => setTimeout(r, 300));
    expect(lab.runtime("py-host")!.status.current!.builtAt).toBe(before.builtAt);

    lab.write("jobs/long.yaml", job("long", `runtime: py-host\ncommand: [python3, -c, "import time, os; time.sleep(3); print(os.environ['GREETING'])"]`));
    await lab.waitFor("long", (o) => o.status.phase === "Running");
    lab.write("runtimes/py.yaml", runtime("py-host", PYTHON_HOST.replace("from-runtime", "rebuilt")));
    const rebuilt = await lab.waitForRuntime("py-host", (o) => o.status.phase === "Ready" && o.status.current!.id !== before.id);
    expect(existsSync(before.path)).toBe(true); // the running job still uses it
    const done = await lab.waitFor("long", (o) => o.status.phase === "Succeeded" || o.status.phase === "Failed");
    expect(lab.log("long", done.status.run!)).toBe("from-runtime\n");
    await waitUntil(() => !existsSync(before.path));
    expect(realpathSync(join(lab.stateDir, "runtimes/py-host"))).toBe(rebuilt.status.current!.path);
  });

  it("packs a runtime and installs the package in a second state dir, where jobs run on it", async () => {
    const out = mkdtempSync(join(tmpdir(), "joblet-pack-"));
    const other = new DaemonLab();
    try {
      const packed = await packRuntime(join(lab.stateDir, "runtimes/py-host"), join(out, "py.tar.gz"));
      expect(readFileSync(join(out, "py.tar.gz.sha256"), "utf8")).toBe(`${packed.sha256}  py.tar.gz\n`);
      await other.start();
      other.write("rt.yaml", runtime("py-pkg@1.0", `source:\n  package:\n    path: ${join(out, "py.tar.gz")}\n    sha256: ${packed.sha256}`));
      const ready = await other.waitForRuntime("py-pkg@1.0", (o) => o.status.phase === "Ready" || o.status.phase === "Failed");
      expect(ready.status.phase, ready.status.message).toBe("Ready");
      expect(ready.status.current!.config.version).toBe("1.0");
      expect(ready.status.current!.config.test?.command).toEqual(["python3", "-c", "print('runtime ok')"]);
      // NAME picks the highest installed NAME@VERSION.
      other.write("job.yaml", job("on-package", `runtime: py-pkg\ncommand: [python3, -c, "import os, ssl; print(os.environ['GREETING'])"]`));
      const done = await other.waitFor("on-package", (o) => o.status.phase === "Succeeded" || o.status.phase === "Failed");
      expect(done.status.phase, done.status.message).toBe("Succeeded");
      expect(other.log("on-package", done.status.run!)).toBe("rebuilt\n");
      expect(done.status.runtime?.name).toBe("py-pkg@1.0");
    } finally {
      await other.cleanup();
      rmSync(out, { recursive: true, force: true });
    }
  });

  it("installs a directory in the original Joblet's format: its runtime.yml kept as runtime.yml.original, mounts made safe", async () => {
    const dir = mkdtempSync(join(tmpdir(), "joblet-original-"));
    try {
      execFileSync("cp", ["-a", join(realpathSync(join(lab.stateDir, "runtimes/py-host")), "isolated"), join(dir, "isolated")]);
      mkdirSync(join(dir, "isolated/tmp"));
      const original = [
        'name: "python-orig"',
        'version: "3.11"',
        "mounts:",
        '  - source: "isolated/usr/bin"',
        '    target: "/usr/local/bin"',
        "    readonly: false",
        '    selective: ["python3"]',
        '  - source: "isolated/tmp"',
        '    target: "/tmp"',
        "    readonly: false",
        "environment:",
        '  PATH: "/usr/local/bin:$PATH"',
        "features: [anything]",
        "",
      ].join("\n");
      writeFileSync(join(dir, "runtime.yml"), original);
      lab.write("runtimes/orig.yaml", runtime("python-orig", `source:\n  directory:\n    path: ${dir}`));
      const ready = await lab.waitForRuntime("python-orig", (o) => o.status.phase === "Ready" || o.status.phase === "Failed");
      expect(ready.status.phase, ready.status.message).toBe("Ready");
      const build = ready.status.current!;
      expect(readFileSync(join(build.path, "runtime.yml.original"), "utf8")).toBe(original);
      // The symlink python3 -> python3.11 is resolved inside the tree: the bind never follows a link.
      expect(build.config.mounts).toEqual([{ source: "usr/bin/python3.11", target: "/usr/local/bin/python3" }]);
      const log = readFileSync(ready.status.buildLog!, "utf8");
      expect(log).toContain("'/tmp' is provided by joblet itself; mount dropped");
      expect(log).toContain("mounted read-only");
      lab.write("jobs/orig.yaml", job("orig", `runtime: python-orig\ncommand: [sh-less, x]\n`.replace("[sh-less, x]", `[/usr/local/bin/python3, -c, "import os; print(os.environ['PATH'].split(':')[0]); open('/usr/local/bin/python3', 'ab')"]`)));
      const done = await lab.waitFor("orig", (o) => o.status.phase === "Succeeded" || o.status.phase === "Failed");
      expect(lab.log("orig", done.status.run!), `${done.status.message}\n${lab.log("orig", done.status.run!, "stderr")}`).toBe("/usr/local/bin\n");
      expect(lab.log("orig", done.status.run!, "stderr")).toMatch(/\[Errno (13|30)\] (Permission denied|Read-only file system)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    ["a host binary that does not exist", `source:\n  host:\n    binaries: [no-such-binary-here]`, "no-such-binary-here"],
    ["a package whose checksum does not match", `source:\n  package:\n    path: PKG\n    sha256: \"${"0".repeat(64)}\"`, "checksum mismatch"],
    ["a package path that does not exist", `source:\n  package:\n    path: /nonexistent/p.tar.gz\n    sha256: \"${"0".repeat(64)}\"`, "/nonexistent/p.tar.gz"],
    ["a directory without runtime.yml", `source:\n  directory:\n    path: /usr`, "runtime.yml"],
    ["a runtime directory with a symlink out of its tree", `source:\n  directory:\n    path: ESCAPE`, "points out of the runtime's tree"],
    ["a mount source missing from the tree", `source:\n  host:\n    binaries: ["true"]\nmounts:\n  - source: opt/none\n    target: /opt/x`, "'opt/none' does not exist"],
  ])("fails clearly on %s and leaves nothing behind", async (_what, spec, message) => {
    const pkg = join(lab.stateDir, "not-a-package.tar.gz");
    writeFileSync(pkg, "not really");
    const escape = join(lab.stateDir, "escape-runtime");
    mkdirSync(join(escape, "isolated/lib"), { recursive: true });
    writeFileSync(join(escape, "runtime.yml"), "name: escape\n");
    rmSync(join(escape, "isolated/lib/out"), { force: true });
    symlinkSync("../../../etc/shadow", join(escape, "isolated/lib/out"));
    const name = `bad-${Math.random().toString(36).slice(2, 8)}`;
    lab.write(`runtimes/${name}.yaml`, runtime(name, spec.replace("PKG", pkg).replace("ESCAPE", escape)));
    const failed = await lab.waitForRuntime(name, (o) => o.status.phase === "Failed");
    expect(failed.status.reason).toBe("InvalidSource");
    expect(failed.status.message).toContain(message);
    expect(failed.status.conditions.find((c) => c.type === "Ready")?.status).toBe("False");
    expect(existsSync(join(lab.stateDir, "runtimes", name))).toBe(false);
    expect(readdirSync(join(lab.stateDir, "runtimes/.builds", name))).toEqual([]);
    expect(existsSync(failed.status.buildLog!)).toBe(true);
    lab.remove(`runtimes/${name}.yaml`);
  });

  it("removes a deleted Runtime's link, builds and status", async () => {
    const path = lab.runtime("later")!.status.current!.path;
    lab.remove("runtimes/later.yaml");
    await waitUntil(() => lab.runtime("later") === undefined);
    expect(existsSync(join(lab.stateDir, "runtimes/later"))).toBe(false);
    expect(existsSync(path)).toBe(false);
  });
});

function* walk(dir: string): Generator<string> {
  yield dir;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else yield path;
  }
}

async function waitUntil(check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms: ${check.toString()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
