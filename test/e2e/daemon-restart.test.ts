// The daemon may restart at any time: running jobs keep running, and no exit
// code, status or log line is lost; a GitOps checkout is followed and stays clean.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { engineId } from "../../src/controllers/job/launch.js";
import { detectCgroupBackend } from "../../src/isolation/index.js";
import { DaemonLab, job } from "../helpers/daemon-lab.js";
import { repoRoot } from "../helpers/jobs.js";
import { requireRoot } from "../helpers/root.js";

let lab: DaemonLab;
const extra: string[] = [];
beforeAll(() => {
  requireRoot("daemon restarts");
  if (!existsSync(join(repoRoot, "dist/src/daemon/daemon.js"))) throw new Error("Cannot test restarts: run 'npm run build' first (npm test does)");
});
afterEach(async () => {
  await lab?.cleanup();
  for (const dir of extra.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const finished = (o: { status: { phase: string } }) => o.status.phase === "Succeeded" || o.status.phase === "Failed";

describe("a daemon killed with SIGKILL", () => {
  it("leaves the running job alone; the next daemon re-adopts it and records its exit and every line", async () => {
    lab = new DaemonLab();
    const kill = await lab.startChild();
    lab.write("long.yaml", job("long", 'command: ["sh", "-c", "i=1; while [ $i -le 3000 ]; do echo line $i; if [ $((i % 1000)) -eq 0 ]; then sleep 0.5; fi; i=$((i+1)); done; exit 5"]'));
    const running = await lab.waitFor("long", (o) => o.status.phase === "Running");
    await kill();
    await lab.start();
    const done = await lab.waitFor("long", finished);
    expect(done.status, JSON.stringify(done.status)).toMatchObject({ phase: "Failed", exitCode: 5, attempts: 1, run: running.status.run });
    expect(lab.log("long", done.status.run!).trimEnd().split("\n")).toEqual(Array.from({ length: 3000 }, (_, i) => `line ${i + 1}`));
    expect(lab.runs("long")).toEqual([running.status.run]);
  });

  it("finds the exit of a job that ended while no daemon ran, and re-runs nothing that finished", async () => {
    lab = new DaemonLab();
    const kill = await lab.startChild();
    lab.write("quick.yaml", job("quick", 'command: ["sh", "-c", "sleep 0.5; echo done"]'));
    lab.write("already.yaml", job("already", 'command: ["true"]'));
    await lab.waitFor("already", finished);
    await lab.waitFor("quick", (o) => o.status.phase === "Running");
    await kill();
    await new Promise((r) => setTimeout(r, 1000));
    await lab.start();
    const done = await lab.waitFor("quick", finished);
    expect(done.status).toMatchObject({ phase: "Succeeded", exitCode: 0, attempts: 1 });
    expect(lab.log("quick", done.status.run!)).toBe("done\n");
    await new Promise((r) => setTimeout(r, 300));
    expect(lab.runs("already")).toHaveLength(1);
    expect(lab.runs("quick")).toHaveLength(1);
  });

  it("stops and cleans up a Job whose manifest was removed while no daemon ran", async () => {
    lab = new DaemonLab();
    const kill = await lab.startChild();
    lab.write("orphan.yaml", job("orphan", 'command: ["sleep", "30"]'));
    await lab.waitFor("orphan", (o) => o.status.phase === "Running");
    await kill();
    lab.remove("orphan.yaml");
    await lab.start();
    for (let i = 0; i < 500 && lab.status("orphan"); i++) await new Promise((r) => setTimeout(r, 20));
    expect(lab.status("orphan")).toBeUndefined();
    expect(existsSync(join(lab.stateDir, "logs/jobs/orphan"))).toBe(false);
  });
});

describe("a daemon starting", () => {
  it("ends the orphaned runs recorded in its state dir, and removes run records no Job owns", async () => {
    lab = new DaemonLab();
    const backend = detectCgroupBackend();
    // A run of Job 'nobody' started by a daemon that died before recording it, and a job of another state dir.
    const run = `abc${String(process.pid).padStart(5, "0").slice(-5)}-1`;
    const cg = backend.create(engineId("nobody", run), { pids: 10 });
    const other = backend.create(`other-${process.pid}`, { pids: 10 });
    const sleeper = spawn("sleep", ["60"], { stdio: "ignore" });
    for (const dir of cg.bornInto ? [cg.bornInto] : cg.placeInto) writeFileSync(join(dir, "cgroup.procs"), String(sleeper.pid));
    const died = new Promise((r) => sleeper.on("exit", r));
    mkdirSync(join(lab.stateDir, "run/jobs/nobody", run, "supervisor"), { recursive: true });
    try {
      await lab.start();
      await died;
      expect(cg.removeDirs.filter((dir) => existsSync(dir))).toEqual([]);
      expect(existsSync(join(lab.stateDir, "run/jobs/nobody"))).toBe(false);
      expect(other.removeDirs.filter((dir) => existsSync(dir))).toEqual(other.removeDirs);
    } finally {
      backend.remove(other);
    }
  });
});

describe("a git checkout as the manifests dir", () => {
  it("follows git pull (an edit reruns once, a removal stops) and the checkout stays clean", async () => {
    const origin = mkdtempSync(join(tmpdir(), "joblet-origin-"));
    const checkout = mkdtempSync(join(tmpdir(), "joblet-checkout-"));
    extra.push(origin, checkout);
    const git = (cwd: string, ...args: string[]) =>
      execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main", ...args], { cwd, encoding: "utf8" });
    git(origin, "init", "-q");
    writeFileSync(join(origin, "job.yaml"), job("gitops", 'command: ["sh", "-c", "echo v1"]'));
    git(origin, "add", ".");
    git(origin, "commit", "-qm", "v1");
    rmSync(checkout, { recursive: true });
    git(tmpdir(), "clone", "-q", origin, checkout);

    lab = new DaemonLab(checkout);
    await lab.start();
    const first = await lab.waitFor("gitops", finished);
    expect(lab.log("gitops", first.status.run!)).toBe("v1\n");

    writeFileSync(join(origin, "job.yaml"), job("gitops", 'command: ["sh", "-c", "echo v2; sleep 30"]'));
    git(origin, "commit", "-qam", "v2");
    git(checkout, "pull", "-q");
    const second = await lab.waitFor("gitops", (o) => o.metadata.generation !== first.metadata.generation && o.status.phase === "Running");
    expect(lab.runs("gitops")).toHaveLength(2);

    unlinkSync(join(origin, "job.yaml"));
    git(origin, "commit", "-qam", "remove");
    git(checkout, "pull", "-q");
    for (let i = 0; i < 500 && lab.status("gitops"); i++) await new Promise((r) => setTimeout(r, 20));
    expect(lab.status("gitops")).toBeUndefined();
    expect(second.status.run).toBeDefined();
    expect(git(checkout, "status", "--porcelain")).toBe("");
  });
});
