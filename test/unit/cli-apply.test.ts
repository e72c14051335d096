import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import yaml from "js-yaml";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { applyCommand } from "../../src/cli/apply.js";
import { HELLO, Lab } from "./cli-harness.js";

let lab: Lab;
beforeEach(() => {
  lab = new Lab();
});
afterEach(() => lab.cleanup());

const desired = (name: string): string => join(lab.state, "manifests", "jobs", `${name}.yaml`);
const load = (name: string) => yaml.load(readFileSync(desired(name), "utf8")) as { metadata: { annotations?: Record<string, string> }; spec: Record<string, unknown> };

describe("joblet apply", () => {
  it("reports created, then unchanged, then configured, as kubectl does", async () => {
    const file = lab.file("hello.yaml", HELLO);
    expect(await lab.run(applyCommand, ["-f", "hello.yaml"])).toEqual({ code: 0, out: "job/hello created\n", err: "" });
    expect(load("hello").spec.command).toEqual(["echo", "hello"]);
    expect(load("hello").metadata.annotations).toEqual({ "joblet/applied-from": file });
    const before = readFileSync(desired("hello"), "utf8");

    expect((await lab.run(applyCommand, ["-f", "hello.yaml"])).out).toBe("job/hello unchanged\n");
    expect(readFileSync(desired("hello"), "utf8")).toBe(before);

    lab.file("hello.yaml", HELLO.replace('"hello"]', '"again"]'));
    expect((await lab.run(applyCommand, ["-f", "hello.yaml"])).out).toBe("job/hello configured\n");
    expect(load("hello").spec.command).toEqual(["echo", "again"]);
  });

  it("writes nothing when any document is invalid, naming file, line, field and value", async () => {
    lab.file("a-good.yaml", HELLO);
    const bad = lab.file(
      "b-bad.yaml",
      `apiVersion: joblet/v1
kind: Job
metadata:
  name: bad
spec:
  command: [sh]
  resources:
    memory: 12Zi
`,
    );
    const result = await lab.run(applyCommand, ["-f", lab.src]);
    expect(result.code).toBe(1);
    expect(result.out).toBe("");
    expect(result.err).toContain(`${bad}:8: Job 'bad': spec.resources.memory '12Zi'`);
    expect(result.err).toMatch(/nothing was applied/i);
    expect(existsSync(join(lab.state, "manifests"))).toBe(false);
  });

  it("reports a YAML syntax error with its line and an unknown kind with a suggestion", async () => {
    const broken = lab.file("broken.yaml", "kind: Job\nmetadata: {name: x\n");
    const typo = lab.file("typo.yaml", HELLO.replace("kind: Job", "kind: Jbo"));
    const result = await lab.run(applyCommand, ["-f", broken, "-f", typo]);
    expect(result.code).toBe(1);
    expect(result.err).toMatch(new RegExp(`${broken}:\\d+:\\d+: `));
    expect(result.err).toContain(`${typo}:2: kind 'Jbo' is not one of Job, Runtime, Volume, Network; did you mean 'Job'?`);
  });

  it("copies a Job's files beside its manifest and rewrites their paths", async () => {
    lab.file("files/count.sh", "echo one\n");
    lab.file("job.yaml", `${HELLO.replace("hello", "count")}  files:\n    - path: files/count.sh\n      target: bin/count.sh\n`);
    expect((await lab.run(applyCommand, ["-f", "job.yaml"])).out).toBe("job/count created\n");
    const files = load("count").spec.files as { path: string; target?: string }[];
    expect(files).toHaveLength(1);
    expect(files[0]!.target).toBe("bin/count.sh");
    expect(files[0]!.path).toMatch(/^\.count\.files\/[0-9a-f]{12}\/files\/count\.sh$/);
    const jobsDir = join(lab.state, "manifests", "jobs");
    expect(readFileSync(join(jobsDir, files[0]!.path), "utf8")).toBe("echo one\n");

    // Same content: nothing changes. New content: a new spec (so a new run), old copy gone.
    expect((await lab.run(applyCommand, ["-f", "job.yaml"])).out).toBe("job/count unchanged\n");
    lab.file("files/count.sh", "echo two\n");
    expect((await lab.run(applyCommand, ["-f", "job.yaml"])).out).toBe("job/count configured\n");
    const next = (load("count").spec.files as { path: string }[])[0]!.path;
    expect(next).not.toBe(files[0]!.path);
    expect(readFileSync(join(jobsDir, next), "utf8")).toBe("echo two\n");
    expect(readdirSync(join(jobsDir, ".count.files"))).toEqual([next.split("/")[1]]);
  });

  it("refuses a missing file before writing anything", async () => {
    lab.file("job.yaml", `${HELLO}  files:\n    - path: nope.sh\n`);
    const result = await lab.run(applyCommand, ["-f", "job.yaml"]);
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/job 'hello': file 'nope.sh' does not exist/);
    expect(existsSync(desired("hello"))).toBe(false);
  });

  it("--dry-run says what would happen and writes nothing", async () => {
    lab.file("hello.yaml", HELLO);
    const result = await lab.run(applyCommand, ["-f", "hello.yaml", "--dry-run"]);
    expect(result).toEqual({ code: 0, out: "job/hello created (dry run)\n", err: "" });
    expect(existsSync(join(lab.state, "manifests"))).toBe(false);
  });

  it("reads - from stdin and records '-' as the source", async () => {
    const stdin = Readable.from([Buffer.from(HELLO)]);
    expect((await lab.run(applyCommand, ["-f", "-"], { stdin })).out).toBe("job/hello created\n");
    expect(load("hello").metadata.annotations).toEqual({ "joblet/applied-from": "-" });
  });

  it("--prune deletes what an earlier apply of the same source wrote, unless joblet/prune is false", async () => {
    const dir = join(lab.src, "set");
    lab.file("set/a.yaml", HELLO.replace("hello", "a"));
    lab.file("set/b.yaml", HELLO.replace("hello", "b"));
    lab.file("set/keep.yaml", HELLO.replace("name: hello", 'name: keep\n  annotations:\n    joblet/prune: "false"'));
    lab.file("other.yaml", HELLO.replace("hello", "other"));
    expect((await lab.run(applyCommand, ["-f", dir, "-f", "other.yaml"])).code).toBe(0);
    rmSync(join(dir, "b.yaml"));
    rmSync(join(dir, "keep.yaml"));

    const dry = await lab.run(applyCommand, ["-f", dir, "--prune", "--dry-run"]);
    expect(dry.out).toBe("job/a unchanged (dry run)\njob/b pruned (dry run)\n");
    expect(existsSync(desired("b"))).toBe(true);

    const result = await lab.run(applyCommand, ["-f", dir, "--prune"]);
    expect(result.out).toBe("job/a unchanged\njob/b pruned\n");
    expect(existsSync(desired("b"))).toBe(false);
    expect(existsSync(desired("keep"))).toBe(true);
    expect(existsSync(desired("other"))).toBe(true);
  });

  it("refuses the same object twice and a path that does not exist", async () => {
    lab.file("one.yaml", HELLO);
    lab.file("two.yaml", HELLO);
    const twice = await lab.run(applyCommand, ["-f", "one.yaml", "-f", "two.yaml"]);
    expect(twice.code).toBe(1);
    expect(twice.err).toMatch(/two\.yaml:1: job 'hello' is defined twice \(first at .*one\.yaml:1\)/i);
    const missing = await lab.run(applyCommand, ["-f", "nope.yaml"]);
    expect(missing).toMatchObject({ code: 1, err: "Path 'nope.yaml' does not exist\n" });
  });

  it("shows an example in --help", async () => {
    const result = await lab.run(applyCommand, ["--help"]);
    expect(result.out).toContain("Example:\n  joblet apply -f manifests/examples/hello.yaml");
  });
});
