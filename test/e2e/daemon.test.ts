// The daemon end to end: manifests written into a real manifests dir, real
// jobs, statuses read back from the state dir.
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { DaemonLab, job } from "../helpers/daemon-lab.js";
import { jobletCgroupDirs, processesNamed } from "../helpers/jobs.js";
import { requireRoot } from "../helpers/root.js";

let lab: DaemonLab;
beforeAll(() => requireRoot("the daemon"));
afterEach(async () => lab?.cleanup());

const finished = (o: { status: { phase: string } }) => o.status.phase === "Succeeded" || o.status.phase === "Failed";

describe("the daemon runs Jobs from the manifests dir", () => {
  it("runs a Job to Succeeded with its output in the run's log", async () => {
    lab = new DaemonLab();
    await lab.start();
    lab.write("hello.yaml", job("hello", 'command: ["sh", "-c", "echo hello from $(hostname); echo oops >&2"]'));
    const done = await lab.waitFor("hello", finished);
    expect(done.status).toMatchObject({ phase: "Succeeded", exitCode: 0, attempts: 1 });
    expect(done.status.conditions.find((c) => c.type === "Complete")?.status).toBe("True");
    expect(lab.log("hello", done.status.run!)).toBe("hello from hello\n");
    expect(lab.log("hello", done.status.run!, "stderr")).toBe("oops\n");
    expect(done.status.usage?.cpuSeconds).toBeGreaterThan(0);
    expect(done.status.events?.map((e) => e.reason)).toEqual(["Started", "Completed"]);
  });

  it("marks a non-zero exit Failed with its exit code", async () => {
    lab = new DaemonLab();
    await lab.start();
    lab.write("fail.yaml", job("fail", 'command: ["sh", "-c", "exit 7"]'));
    const done = await lab.waitFor("fail", finished);
    expect(done.status).toMatchObject({ phase: "Failed", exitCode: 7, reason: "Error", attempts: 1 });
  });

  it("reports an OOM kill as OOMKilled", async () => {
    lab = new DaemonLab();
    await lab.start();
    lab.write("oom.yaml", job("oom", 'command: ["python3", "-c", "x = b\\"x\\" * (200 * 1024 * 1024)"]\nresources:\n  memory: 50Mi'));
    const done = await lab.waitFor("oom", finished);
    expect(done.status).toMatchObject({ phase: "Failed", reason: "OOMKilled", signal: "SIGKILL" });
  });

  it("stops a run past activeDeadlineSeconds with DeadlineExceeded", async () => {
    lab = new DaemonLab();
    await lab.start();
    lab.write("slow.yaml", job("slow", 'command: ["sleep", "30"]\nactiveDeadlineSeconds: 1'));
    const started = Date.now();
    const done = await lab.waitFor("slow", finished);
    expect(done.status).toMatchObject({ phase: "Failed", reason: "DeadlineExceeded" });
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("retries an OnFailure Job up to backoffLimit with growing delays, then BackoffLimitExceeded", async () => {
    lab = new DaemonLab();
    await lab.start({ backoffBaseMs: 200 });
    lab.write("flaky.yaml", job("flaky", 'command: ["sh", "-c", "date +%s%N; exit 3"]\nrestartPolicy: OnFailure\nbackoffLimit: 2'));
    const done = await lab.waitFor("flaky", finished);
    expect(done.status).toMatchObject({ phase: "Failed", reason: "BackoffLimitExceeded", attempts: 3, exitCode: 3 });
    const runs = lab.runs("flaky");
    expect(runs).toHaveLength(3);
    const starts = runs.map((run) => Number(lab.log("flaky", run).trim()) / 1e6);
    expect(starts[1]! - starts[0]!).toBeGreaterThanOrEqual(200);
    expect(starts[2]! - starts[1]!).toBeGreaterThanOrEqual(400);
  });

  it("starts exactly one new run when the spec changes, stopping the old one", async () => {
    lab = new DaemonLab();
    await lab.start();
    lab.write("edit.yaml", job("edit", 'command: ["sh", "-c", "echo one; sleep 30"]'));
    const first = await lab.waitFor("edit", (o) => o.status.phase === "Running");
    lab.write("edit.yaml", job("edit", 'command: ["sh", "-c", "echo two"]'));
    const done = await lab.waitFor("edit", (o) => o.metadata.generation !== first.metadata.generation && finished(o));
    expect(done.status).toMatchObject({ phase: "Succeeded", attempts: 1 });
    expect(lab.log("edit", done.status.run!)).toBe("two\n");
    expect(lab.runs("edit")).toEqual([first.status.run, done.status.run].sort());
    expect(processesNamed(`joblet-supervisor edit-${first.status.run}`)).toEqual([]);
  });

  it("stops and cleans up a Job whose manifest is removed", async () => {
    lab = new DaemonLab();
    await lab.start();
    lab.write("gone.yaml", job("gone", 'command: ["sleep", "30"]'));
    const running = await lab.waitFor("gone", (o) => o.status.phase === "Running");
    lab.remove("gone.yaml");
    for (let i = 0; i < 500 && lab.status("gone"); i++) await new Promise((r) => setTimeout(r, 20));
    expect(lab.status("gone")).toBeUndefined();
    expect(existsSync(join(lab.stateDir, "logs/jobs/gone"))).toBe(false);
    expect(existsSync(join(lab.stateDir, "run/jobs/gone"))).toBe(false);
    expect(processesNamed(`joblet-supervisor gone-${running.status.run}`)).toEqual([]);
    expect(jobletCgroupDirs().filter((d) => d.endsWith(`gone-${running.status.run}`))).toEqual([]);
  });

  it("keeps the last good spec when the file breaks, and says why on the status", async () => {
    lab = new DaemonLab();
    await lab.start();
    lab.write("keep.yaml", job("keep", 'command: ["sh", "-c", "echo fine"]'));
    const good = await lab.waitFor("keep", finished);
    lab.write("keep.yaml", job("keep", 'command: ["sh", "-c", "echo fine"]\nresources:\n  memory: 12Zi'));
    const broken = await lab.waitFor("keep", (o) => o.status.conditions.some((c) => c.type === "Ready" && c.status === "False"));
    const ready = broken.status.conditions.find((c) => c.type === "Ready")!;
    expect(ready.reason).toBe("InvalidManifest");
    expect(ready.message).toMatch(/keep\.yaml:\d+: .*spec\.resources\.memory '12Zi' is not a quantity/);
    expect(broken.status).toMatchObject({ phase: "Succeeded", attempts: 1, run: good.status.run });
    expect(broken.metadata.generation).toBe(good.metadata.generation);

    lab.write("keep.yaml", "kind: Job\nmetadata: {name: keep\n");
    const unparsable = await lab.waitFor("keep", (o) => /keep\.yaml:\d+:\d+/.test(o.status.conditions.find((c) => c.type === "Ready")!.message));
    expect(unparsable.status).toMatchObject({ phase: "Succeeded", run: good.status.run });
    expect(lab.runs("keep")).toEqual([good.status.run]);
  });

  it("reports the same Job in two files as a Conflict on the object", async () => {
    lab = new DaemonLab();
    await lab.start();
    lab.write("a.yaml", job("twice", 'command: ["true"]'));
    await lab.waitFor("twice", finished);
    lab.write("b.yaml", job("twice", 'command: ["false"]'));
    const conflict = await lab.waitFor("twice", (o) => o.status.conditions.some((c) => c.reason === "Conflict"));
    expect(conflict.status.conditions.find((c) => c.type === "Ready")).toMatchObject({
      status: "False",
      message: "Job 'twice' is defined in more than one file: a.yaml, b.yaml",
    });
    expect(conflict.status).toMatchObject({ phase: "Succeeded", attempts: 1 });
  });

  it("runs a manifest saved the way editors save once, with its final content", async () => {
    lab = new DaemonLab();
    await lab.start();
    const { writeFileSync, renameSync, rmSync } = await import("node:fs");
    const path = join(lab.manifests, "saved.yaml");
    // vim: swap file, backup by rename, new file written in two steps, backup removed.
    writeFileSync(join(lab.manifests, ".saved.yaml.swp"), "swap");
    writeFileSync(path, job("saved", 'command: ["sh", "-c", "echo draft"]').slice(0, 40));
    renameSync(path, `${path}~`);
    writeFileSync(path, job("saved", 'command: ["sh", "-c", "echo final"]').slice(0, 30));
    writeFileSync(path, job("saved", 'command: ["sh", "-c", "echo final"]'));
    rmSync(`${path}~`);
    rmSync(join(lab.manifests, ".saved.yaml.swp"));
    const done = await lab.waitFor("saved", finished);
    await new Promise((r) => setTimeout(r, 500));
    expect(lab.runs("saved")).toHaveLength(1);
    expect(lab.log("saved", done.status.run!)).toBe("final\n");
  });

  it("copies a Job's files into /work, paths relative to its manifest", async () => {
    lab = new DaemonLab();
    await lab.start();
    const { mkdirSync, writeFileSync } = await import("node:fs");
    mkdirSync(join(lab.manifests, "jobs/scripts/data"), { recursive: true });
    writeFileSync(join(lab.manifests, "jobs/scripts/count.sh"), "wc -l < data/input.txt\n");
    writeFileSync(join(lab.manifests, "jobs/scripts/data/input.txt"), "a\nb\nc\n");
    lab.write("jobs/files.yaml", job("files", 'command: ["sh", "count.sh"]\nfiles:\n  - path: scripts/count.sh\n  - path: scripts/data\n    target: data'));
    const done = await lab.waitFor("files", finished);
    expect(done.status).toMatchObject({ phase: "Succeeded", exitCode: 0 });
    expect(lab.log("files", done.status.run!)).toBe("3\n");
  });

  it("refuses files that leave the manifest's directory", async () => {
    lab = new DaemonLab();
    await lab.start();
    const { mkdirSync, symlinkSync } = await import("node:fs");
    mkdirSync(join(lab.manifests, "jobs"), { recursive: true });
    symlinkSync("/etc", join(lab.manifests, "jobs/escape"));
    lab.write("jobs/sneaky.yaml", job("sneaky", 'command: ["cat", "escape/hostname"]\nfiles:\n  - path: escape'));
    const done = await lab.waitFor("sneaky", finished);
    expect(done.status).toMatchObject({ phase: "Failed", reason: "StartError" });
    expect(done.status.message).toContain("file 'escape' leaves the manifest's directory");
  });

  it("removes a finished run's logs and work data after ttlSecondsAfterFinished, keeping the status", async () => {
    lab = new DaemonLab();
    await lab.start();
    lab.write("ttl.yaml", job("ttl", 'command: ["echo", "short-lived"]\nttlSecondsAfterFinished: 1'));
    const done = await lab.waitFor("ttl", finished);
    expect(lab.runs("ttl")).toEqual([done.status.run]);
    const expired = await lab.waitFor("ttl", (o) => o.status.expired === true, 10_000);
    expect(expired.status.phase).toBe("Succeeded");
    expect(lab.runs("ttl")).toEqual([]);
    expect(existsSync(join(lab.stateDir, "run/jobs/ttl"))).toBe(false);
  });

  it("does not start a suspended Job, stops a running one when suspended, and runs it when resumed", async () => {
    lab = new DaemonLab();
    await lab.start();
    lab.write("pause.yaml", job("pause", 'command: ["sleep", "30"]'));
    const running = await lab.waitFor("pause", (o) => o.status.phase === "Running");
    lab.write("pause.yaml", job("pause", 'command: ["sleep", "30"]\nsuspend: true'));
    const suspended = await lab.waitFor("pause", (o) => o.status.conditions.some((c) => c.type === "Suspended" && c.status === "True"));
    expect(suspended.status.phase).toBe("Pending");
    expect(processesNamed(`joblet-supervisor pause-${running.status.run}`)).toEqual([]);
    lab.write("pause.yaml", job("pause", 'command: ["sh", "-c", "echo resumed"]'));
    const done = await lab.waitFor("pause", (o) => o.status.phase === "Succeeded");
    expect(lab.log("pause", done.status.run!)).toBe("resumed\n");
  });

  it("runs 500 manifests written at once, each exactly once", async () => {
    lab = new DaemonLab();
    await lab.start();
    for (let i = 0; i < 500; i++) lab.write(`many/j${i}.yaml`, job(`j${i}`, 'command: ["true"]'));
    const end = Date.now() + 120_000;
    let done = 0;
    while (Date.now() < end) {
      const names = existsSync(join(lab.stateDir, "status/jobs")) ? readdirSync(join(lab.stateDir, "status/jobs")) : [];
      done = names.filter((f) => lab.status(f.slice(0, -5))?.status.phase === "Succeeded").length;
      if (done === 500) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(done).toBe(500);
    for (let i = 0; i < 500; i++) {
      expect(lab.status(`j${i}`)?.status.attempts, `j${i}`).toBe(1);
      expect(lab.runs(`j${i}`), `j${i}`).toHaveLength(1);
    }
  }, 180_000);
});
