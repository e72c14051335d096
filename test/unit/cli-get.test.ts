import { rmSync } from "node:fs";
import yaml from "js-yaml";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { applyCommand } from "../../src/cli/apply.js";
import { deleteCommand } from "../../src/cli/delete.js";
import { describeCommand } from "../../src/cli/describe.js";
import { getCommand } from "../../src/cli/get.js";
import { statusFile } from "../../src/store/index.js";
import { Capture, HELLO, job, Lab, until } from "./cli-harness.js";

let lab: Lab;
beforeEach(() => {
  lab = new Lab();
});
afterEach(() => lab.cleanup());

const done = job("done", {
  phase: "Succeeded",
  run: "r1",
  attempts: 1,
  exitCode: 0,
  startTime: "2030-01-01T00:07:00Z",
  completionTime: "2030-01-01T00:08:30Z",
  usage: { cpuSeconds: 1.5, memoryPeakBytes: 3 * 1024 * 1024, ioReadBytes: 0, ioWriteBytes: 4096 },
  source: { file: "jobs/done.yaml" },
  conditions: [
    { type: "Ready", status: "True", reason: "Valid", message: "From jobs/done.yaml", lastTransitionTime: "2030-01-01T00:07:00Z" },
    { type: "Complete", status: "True", reason: "Completed", message: "Exited with 0", lastTransitionTime: "2030-01-01T00:08:30Z" },
  ],
});
const killed = job("killed", { phase: "Failed", run: "r7", attempts: 2, signal: "SIGKILL", reason: "OOMKilled", startTime: "2030-01-01T00:09:00Z", completionTime: "2030-01-01T00:09:02Z" });

describe("joblet get", () => {
  it("prints a kubectl-style table of stored Jobs and of applied ones still Pending", async () => {
    lab.status(done);
    lab.status(killed);
    lab.file("pending.yaml", HELLO.replace("hello", "pending"));
    await lab.run(applyCommand, ["-f", "pending.yaml"]);
    const result = await lab.run(getCommand, ["jobs"]);
    expect(result.code).toBe(0);
    const lines = result.out.trimEnd().split("\n").map((l) => l.split(/\s{2,}/));
    expect(lines[0]).toEqual(["NAME", "PHASE", "EXIT", "ATTEMPTS", "AGE", "DURATION", "NEXT"]);
    expect(lines[1]).toEqual(["done", "Succeeded", "0", "1", "3m", "1m30s", "-"]);
    expect(lines[2]).toEqual(["killed", "Failed", "SIGKILL", "2", "1m", "2s", "-"]);
    expect(lines[3]?.slice(0, 4)).toEqual(["pending", "Pending", "-", "0"]);
  });

  it("-o wide adds run, reason, usage and source", async () => {
    lab.status(done);
    lab.status({ ...job("broken", { phase: "Running", run: "r3" }), status: { phase: "Running", attempts: 1, conditions: [{ type: "Ready", status: "False", reason: "InvalidManifest", message: "x", lastTransitionTime: "2030-01-01T00:00:00Z" }] } });
    expect((await lab.run(getCommand, ["job/broken", "-o", "wide"])).out.split("\n")[1]).toMatch(/\s-\s+InvalidManifest\s/);
    const result = await lab.run(getCommand, ["job/done", "-o", "wide"]);
    const [header, row] = result.out.trimEnd().split("\n").map((l) => l.split(/\s{2,}/));
    expect(header).toEqual(["NAME", "PHASE", "EXIT", "ATTEMPTS", "AGE", "DURATION", "NEXT", "RUN", "REASON", "CPU", "MEMORY", "SOURCE"]);
    expect(row).toEqual(["done", "Succeeded", "0", "1", "3m", "1m30s", "-", "r1", "-", "1.50s", "3Mi", "jobs/done.yaml"]);
  });

  it("shows when scheduled Jobs run next: a one-shot's start, a cron Job's next due time, or due", async () => {
    lab.status(job("later", { phase: "Scheduled", attempts: 0, scheduledTime: "2030-01-01T00:12:30Z" }, { command: ["true"], schedule: { startAfter: "5m" } }));
    lab.status(
      job("nightly", { phase: "Scheduled", attempts: 4, exitCode: 0, lastScheduleTime: "2030-01-01T00:00:00Z", nextScheduleTime: "2030-01-02T00:00:00Z" }, { command: ["true"], schedule: { cron: "0 0 * * *" } }),
    );
    lab.status(job("waiting", { phase: "Pending", attempts: 0, scheduledTime: "2030-01-01T00:09:00Z", reason: "Unschedulable" }, { command: ["true"], schedule: { startAt: "2030-01-01T00:09:00Z" } }));
    const rows = (await lab.run(getCommand, ["jobs"])).out.trimEnd().split("\n").map((l) => l.split(/\s{2,}/));
    expect(rows.slice(1).map((r) => [r[0], r[1], r[6]])).toEqual([
      ["later", "Scheduled", "in 2m30s"],
      ["nightly", "Scheduled", "in 23h"],
      ["waiting", "Pending", "-"],
    ]);
    lab.status(job("busy", { phase: "Running", attempts: 2, nextScheduleTime: "2030-01-01T00:09:00Z" }, { command: ["true"], schedule: { cron: "* * * * *" } }));
    expect((await lab.run(getCommand, ["job/busy"])).out.split("\n")[1]).toMatch(/\sdue$/);
  });

  it("-o json prints the stored object; a list is a List", async () => {
    lab.status(done);
    lab.status(killed);
    const one = await lab.run(getCommand, ["job", "done", "-o", "json"]);
    expect(JSON.parse(one.out)).toEqual(done);
    const list = JSON.parse((await lab.run(getCommand, ["Job", "-o", "json"])).out) as { apiVersion: string; kind: string; items: unknown[] };
    expect(list).toEqual({ apiVersion: "joblet/v1", kind: "List", items: [done, killed] });
    expect(yaml.load((await lab.run(getCommand, ["jobs/killed", "-o", "yaml"])).out, { schema: yaml.CORE_SCHEMA })).toEqual(killed);
    expect((await lab.run(getCommand, ["jobs", "-o", "name"])).out).toBe("job/done\njob/killed\n");
  });

  it("shows an applied object without status as its manifest, defaults filled in, phase Pending", async () => {
    lab.file("hello.yaml", HELLO);
    await lab.run(applyCommand, ["-f", "hello.yaml"]);
    const object = JSON.parse((await lab.run(getCommand, ["job", "hello", "-o", "json"])).out) as { spec: Record<string, unknown>; status: Record<string, unknown> };
    expect(object.status).toEqual({ phase: "Pending", conditions: [], attempts: 0 });
    expect(object.spec).toMatchObject({ command: ["echo", "hello"], restartPolicy: "Never", backoffLimit: 6 });
  });

  it("suggests a kind for a typo and names a missing object, exiting 1", async () => {
    expect(await lab.run(getCommand, ["jbo"])).toEqual({ code: 1, out: "", err: "Unknown kind 'jbo'; did you mean 'job'?\n" });
    expect(await lab.run(getCommand, ["job", "ghost"])).toEqual({ code: 1, out: "", err: "Job 'ghost' not found\n" });
    expect((await lab.run(getCommand, ["job/a", "b"])).code).toBe(1);
    expect((await lab.run(getCommand, ["jobs", "-o", "xml"])).err).toBe("Output format 'xml' is not one of wide, yaml, json, name\n");
  });

  it("lists Networks with their block, gateway, egress, leased addresses and readiness", async () => {
    lab.status({
      apiVersion: "joblet/v1",
      kind: "Network",
      metadata: { name: "data", generation: "1" },
      spec: { cidr: "10.1.0.0/24", egress: true },
      status: {
        phase: "Ready",
        cidr: "10.1.0.0/24",
        gateway: "10.1.0.1",
        egress: true,
        addresses: { used: 2, capacity: 253 },
        conditions: [{ type: "Ready", status: "True", reason: "Created", message: "x", lastTransitionTime: "2030-01-01T00:00:00Z" }],
      },
    });
    lab.status({
      apiVersion: "joblet/v1",
      kind: "Network",
      metadata: { name: "broken", generation: "1" },
      spec: { cidr: "10.2.0.0/24" },
      status: { phase: "Failed", reason: "CidrConflict", conditions: [{ type: "Ready", status: "False", reason: "CidrConflict", message: "x", lastTransitionTime: "2030-01-01T00:00:00Z" }] },
    });
    const result = await lab.run(getCommand, ["networks"]);
    const rows = result.out.trimEnd().split("\n").map((row) => row.split(/\s{2,}/));
    expect(rows[0]).toEqual(["NAME", "CIDR", "GATEWAY", "EGRESS", "JOBS", "READY", "AGE"]);
    expect(rows.find((r) => r[0] === "data")?.slice(0, 6)).toEqual(["data", "10.1.0.0/24", "10.1.0.1", "true", "2/253", "True"]);
    expect(rows.find((r) => r[0] === "broken")?.slice(0, 6)).toEqual(["broken", "10.2.0.0/24", "-", "false", "-", "False"]);
    const wide = await lab.run(getCommand, ["networks", "-o", "wide"]);
    expect(wide.out).toMatch(/broken .*CidrConflict/);
  });

  it("--watch prints a row again when the status file changes, until aborted", async () => {
    lab.status(job("w", { phase: "Running", run: "r1", attempts: 1 }));
    const abort = new AbortController();
    const out = new Capture();
    const watching = lab.run(getCommand, ["jobs", "--watch"], { signal: abort.signal, out });
    await until(() => out.text.includes("Running"));
    lab.status(job("w", { phase: "Succeeded", run: "r1", attempts: 1, exitCode: 0 }));
    await until(() => out.text.includes("Succeeded"));
    abort.abort();
    const result = await watching;
    const rows = result.out.trimEnd().split("\n");
    expect(rows).toHaveLength(3);
    expect(rows[1]).toMatch(/^w\s+Running/);
    expect(rows[2]).toMatch(/^w\s+Succeeded\s+0/);
  });

  it("--watch --output-watch-events says ADDED, MODIFIED and DELETED, and prints a deleted object once more", async () => {
    lab.status(job("w", { phase: "Running", run: "r1", attempts: 1 }));
    const abort = new AbortController();
    const out = new Capture();
    const watching = lab.run(getCommand, ["jobs", "--watch", "--output-watch-events"], { signal: abort.signal, out });
    await until(() => out.text.includes("Running"));
    lab.status(job("w", { phase: "Succeeded", run: "r1", attempts: 1, exitCode: 0 }));
    await until(() => out.text.includes("Succeeded"));
    rmSync(statusFile(lab.layout, "Job", "w"));
    await until(() => out.text.includes("DELETED"));
    abort.abort();
    const rows = (await watching).out.trimEnd().split("\n");
    expect(rows.map((r) => r.split(/\s+/).slice(0, 3).join(" "))).toEqual(["EVENT NAME PHASE", "ADDED w Running", "MODIFIED w Succeeded", "DELETED w Succeeded"]);
  });
});

describe("joblet describe", () => {
  it("shows spec, status, usage, conditions and events", async () => {
    lab.status({ ...done, status: { ...done.status, events: [{ type: "Normal", reason: "Started", message: "Run r1 started", count: 1, lastTimestamp: "2030-01-01T00:07:00Z" }] } });
    const { code, out } = await lab.run(describeCommand, ["job", "done"]);
    expect(code).toBe(0);
    expect(out).toMatch(/^Name:\s+done$/m);
    expect(out).toMatch(/^Source:\s+jobs\/done.yaml$/m);
    expect(out).toMatch(/^ {2}Command:\s+echo hi$/m);
    expect(out).toMatch(/^ {2}Phase:\s+Succeeded$/m);
    expect(out).toMatch(/^ {2}Exit code:\s+0$/m);
    expect(out).toMatch(/^ {2}Memory peak:\s+3Mi$/m);
    expect(out).toMatch(/^ {2}Complete\s+True\s+Completed\s+1m30s\s+Exited with 0$/m);
    expect(out).toMatch(/^ {2}Normal\s+Started\s+3m\s+Run r1 started$/m);
  });

  it("says why a Job waits, its schedule, and its recent runs", async () => {
    const spec = { command: ["true"], schedule: { cron: "*/5 * * * *", timeZone: "Europe/Berlin" }, concurrencyPolicy: "Forbid", successfulRunsHistoryLimit: 3, failedRunsHistoryLimit: 1, priority: 5, resources: { memory: "400Mi", exclusiveCpus: 1 } };
    const status = {
      phase: "Pending",
      attempts: 2,
      reason: "Unschedulable",
      message: "needs 400Mi memory, 224Mi free of 1Gi allocatable",
      scheduledTime: "2030-01-01T00:10:00Z",
      lastScheduleTime: "2030-01-01T00:10:00Z",
      nextScheduleTime: "2030-01-01T00:15:00Z",
      runs: [
        { scheduledTime: "2030-01-01T00:00:00Z", phase: "Missed", reason: "MissedSchedule" },
        { run: "0123abcd-1", scheduledTime: "2030-01-01T00:05:00Z", startTime: "2030-01-01T00:05:00Z", completionTime: "2030-01-01T00:05:42Z", phase: "Succeeded", exitCode: 0, cpus: "1" },
        { run: "0123abcd-2", scheduledTime: "2030-01-01T00:10:00Z", startTime: "2030-01-01T00:10:00Z", completionTime: "2030-01-01T00:10:01Z", phase: "Failed", exitCode: 3, reason: "Error" },
      ],
    };
    lab.status(job("nightly", status, spec));
    const { out } = await lab.run(describeCommand, ["job", "nightly"]);
    expect(out).toMatch(/^ {2}Resources:\s+memory=400Mi, exclusiveCpus=1$/m);
    expect(out).toMatch(/^ {2}Schedule:\s+cron \*\/5 \* \* \* \* \(Europe\/Berlin\)$/m);
    expect(out).toMatch(/^ {2}Concurrency policy:\s+Forbid$/m);
    expect(out).toMatch(/^ {2}Runs kept:\s+3 succeeded, 1 failed$/m);
    expect(out).toMatch(/^ {2}Priority:\s+5$/m);
    expect(out).toMatch(/^ {2}Reason:\s+Unschedulable$/m);
    expect(out).toMatch(/^ {2}Message:\s+needs 400Mi memory, 224Mi free of 1Gi allocatable$/m);
    expect(out).toMatch(/^ {2}Next run:\s+in 5m \(2030-01-01T00:15:00Z\)$/m);
    expect(out).toMatch(/^Runs:\n {2}RUN\s+SCHEDULED\s+STARTED\s+DURATION\s+PHASE\s+EXIT\s+REASON\n {2}-\s+2030-01-01T00:00:00Z\s+-\s+-\s+Missed\s+-\s+MissedSchedule\n {2}0123abcd-1\s+\S+\s+\S+\s+42s\s+Succeeded\s+0\s+-\n {2}0123abcd-2\s+\S+\s+\S+\s+1s\s+Failed\s+3\s+Error$/m);
  });

  it("says when the daemon has not reported yet, and names a missing object", async () => {
    lab.file("hello.yaml", HELLO);
    await lab.run(applyCommand, ["-f", "hello.yaml"]);
    expect((await lab.run(describeCommand, ["job/hello"])).out).toMatch(/Pending \(the daemon has not reported/);
    expect(await lab.run(describeCommand, ["job", "nope"])).toEqual({ code: 1, out: "", err: "Job 'nope' not found\n" });
  });
});

describe("joblet delete", () => {
  it("removes the desired manifest and its files; a missing object is an error naming it", async () => {
    lab.file("files/x.sh", "echo\n");
    lab.file("hello.yaml", `${HELLO}  files:\n    - path: files/x.sh\n`);
    await lab.run(applyCommand, ["-f", "hello.yaml"]);
    expect(await lab.run(deleteCommand, ["job", "hello"])).toEqual({ code: 0, out: "job/hello deleted\n", err: "" });
    expect((await lab.run(getCommand, ["jobs", "-o", "json"])).out).toContain('"items": []');
    expect(await lab.run(deleteCommand, ["job", "hello"])).toEqual({ code: 1, out: "", err: "Job 'hello' not found\n" });
  });

  it("-f deletes every object in the files", async () => {
    lab.file("two.yaml", `${HELLO}---\n${HELLO.replace("hello", "bye")}`);
    await lab.run(applyCommand, ["-f", "two.yaml"]);
    expect(await lab.run(deleteCommand, ["-f", "two.yaml"])).toEqual({ code: 0, out: "job/hello deleted\njob/bye deleted\n", err: "" });
  });
});
