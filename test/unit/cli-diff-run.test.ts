import { readFileSync } from "node:fs";
import { join } from "node:path";
import yaml from "js-yaml";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { applyCommand } from "../../src/cli/apply.js";
import { diffCommand } from "../../src/cli/diff.js";
import { runCommand } from "../../src/cli/run.js";
import { scheduleFrom } from "../../src/cli/run-flags.js";
import { Capture, HELLO, job, Lab, until } from "./cli-harness.js";

let lab: Lab;
beforeEach(() => {
  lab = new Lab();
});
afterEach(() => lab.cleanup());

const manifest = (name: string) =>
  yaml.load(readFileSync(join(lab.state, "manifests", "jobs", `${name}.yaml`), "utf8"), { schema: yaml.CORE_SCHEMA }) as {
    metadata: { name: string; annotations?: Record<string, string> };
    spec: Record<string, unknown>;
  };

describe("joblet diff", () => {
  it("exits 1 with a unified diff when apply would change something, 0 when not", async () => {
    lab.file("hello.yaml", HELLO);
    const fresh = await lab.run(diffCommand, ["-f", "hello.yaml"]);
    expect(fresh.code).toBe(1);
    expect(fresh.out).toMatch(/^--- \/dev\/null\n\+\+\+ .*jobs\/hello\.yaml \(after apply\)\n@@ -0,0 \+1,\d+ @@\n\+apiVersion: joblet\/v1\n/);

    await lab.run(applyCommand, ["-f", "hello.yaml"]);
    expect(await lab.run(diffCommand, ["-f", "hello.yaml"])).toEqual({ code: 0, out: "", err: "" });

    lab.file("hello.yaml", HELLO.replace('"hello"]', '"changed"]'));
    const changed = await lab.run(diffCommand, ["-f", "hello.yaml"]);
    expect(changed.code).toBe(1);
    expect(changed.out).toContain("-    - hello\n+    - changed\n");
    expect(changed.out).toMatch(/^@@ -\d+,\d+ \+\d+,\d+ @@$/m);
  });

  it("exits above 1 on an error, so it is not mistaken for 'differs'", async () => {
    lab.file("bad.yaml", HELLO.replace("command", "comand"));
    const result = await lab.run(diffCommand, ["-f", "bad.yaml"]);
    expect(result.code).toBe(2);
    expect(result.err).toMatch(/bad\.yaml:\d+: Job 'hello': spec\.comand is not a known field of spec; did you mean 'command'\?/);
  });
});

describe("joblet run", () => {
  it("writes a Job with the original Joblet's flag meanings", async () => {
    lab.file("up/train.py", "print(1)\n");
    lab.file("data/a.csv", "a\n");
    lab.file("data/b.csv", "b\n");
    const result = await lab.run(runCommand, [
      "--name", "train",
      "--runtime", "python-3.11-ml",
      "--max-cpu", "150",
      "--max-memory", "512",
      "--max-iobps", "1048576",
      "--cpu-cores", "0-3",
      "--upload", "up/train.py",
      "--upload-dir", "data",
      "--volume", "cache",
      "--volume", "models",
      "--network", "bridge",
      "--env", "A=1",
      "--env", "B=x=y",
      "--max-runtime", "600",
      "--", "python3", "train.py", "--epochs", "3",
    ]);
    expect(result).toEqual({ code: 0, out: "job/train created\n", err: "" });
    const { metadata, spec } = manifest("train");
    expect(metadata).toEqual({ name: "train" });
    expect(spec.command).toEqual(["python3"]);
    expect(spec.args).toEqual(["train.py", "--epochs", "3"]);
    expect(spec.resources).toEqual({ cpu: 1.5, memory: "512Mi", ioBps: 1048576, cpuset: "0-3" });
    expect(spec.runtime).toBe("python-3.11-ml");
    expect(spec.volumes).toEqual([{ name: "cache" }, { name: "models" }]);
    expect(spec.network).toBe("bridge");
    expect(spec.env).toEqual([{ name: "A", value: "1" }, { name: "B", value: "x=y" }]);
    expect(spec.activeDeadlineSeconds).toBe(600);
    const files = spec.files as { path: string }[];
    expect(files.map((f) => f.path.split("/").slice(2).join("/"))).toEqual(["train.py", "a.csv", "b.csv"]);
    expect(readFileSync(join(lab.state, "manifests", "jobs", files[0]!.path), "utf8")).toBe("print(1)\n");
  });

  it("names the job run-<6 random> and turns a relative --schedule into a time", async () => {
    const result = await lab.run(runCommand, ["--schedule", "30min", "--", "true"]);
    const name = /^job\/(run-[a-z0-9]{6}) created\n$/.exec(result.out)?.[1];
    expect(name).toBeDefined();
    expect(manifest(name!).spec.schedule).toEqual({ startAt: "2030-01-01T00:40:00Z" });
    expect(scheduleFrom("*/5 * * * *", lab.now)).toEqual({ cron: "*/5 * * * *" });
    expect(scheduleFrom("2h30m", lab.now)).toEqual({ startAt: "2030-01-01T02:40:00Z" });
    expect(scheduleFrom("1hour", lab.now)).toEqual({ startAt: "2030-01-01T01:10:00Z" });
    expect(scheduleFrom("2030-02-01T00:00:00Z", lab.now)).toEqual({ startAt: "2030-02-01T00:00:00Z" });
    const bad = await lab.run(runCommand, ["--name", "x", "--schedule", "every day", "--", "true"]);
    expect(bad.err).toBe("Cannot run job 'x': spec.schedule.cron 'every day' is not a cron expression (minute hour day-of-month month day-of-week, e.g. '*/5 * * * *'): invalid configuration format ('every day'), exactly five, six, or seven space separated parts are required.\n");
  });

  it("refuses bad flag values with a sentence naming flag and value", async () => {
    expect((await lab.run(runCommand, ["--max-cpu", "lots", "--", "true"])).err).toBe("--max-cpu 'lots' is not a number greater than zero\n");
    expect((await lab.run(runCommand, ["--max-memory", "1.5", "--", "true"])).err).toBe("--max-memory '1.5' is not a whole number greater than zero\n");
    expect((await lab.run(runCommand, ["--env", "NOVALUE", "--", "true"])).err).toBe("--env 'NOVALUE' is not NAME=VALUE\n");
    const cores = await lab.run(runCommand, ["--name", "x", "--cpu-cores", "3-1", "--", "true"]);
    expect(cores).toEqual({ code: 1, out: "", err: "Cannot run job 'x': spec.resources.cpuset '3-1' has the range '3-1' backwards\n" });
  });

  it("--wait streams the run's output and exits with its exit code", async () => {
    const out = new Capture();
    const err = new Capture();
    const running = lab.run(runCommand, ["--name", "w", "--wait", "--", "sh", "-c", "exit 3"], { out, err });
    await until(() => out.text === "job/w created\n");
    lab.status(job("w", { phase: "Running", run: "r1", attempts: 1 }));
    lab.log("w", "r1", "stdout", "to stdout\n");
    lab.log("w", "r1", "stderr", "to stderr\n");
    await until(() => out.text.endsWith("to stdout\n") && err.text === "to stderr\n");
    lab.status(job("w", { phase: "Failed", run: "r1", attempts: 1, exitCode: 3, reason: "Error" }));
    const result = await running;
    expect(result.code).toBe(3);
    expect(out.text).toBe("job/w created\nto stdout\n");
    expect(err.text).toBe("to stderr\njob/w failed (Error)\n");
  });

  it("--wait exits 128 + the signal's number when a signal ended the job, 0 on success", async () => {
    const killed = lab.run(runCommand, ["--name", "k", "--wait", "--", "sleep", "1000"]);
    await new Promise((r) => setTimeout(r, 50));
    lab.status(job("k", { phase: "Failed", run: "r1", attempts: 1, signal: "SIGKILL", reason: "OOMKilled" }));
    expect((await killed).code).toBe(137);

    const fine = lab.run(runCommand, ["--name", "ok", "--wait", "--", "true"]);
    await new Promise((r) => setTimeout(r, 50));
    lab.status(job("ok", { phase: "Succeeded", run: "r1", attempts: 1, exitCode: 0 }));
    expect((await fine).code).toBe(0);
  });
});
