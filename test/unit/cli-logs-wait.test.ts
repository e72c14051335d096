import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { applyCommand } from "../../src/cli/apply.js";
import { logsCommand } from "../../src/cli/logs.js";
import { waitCommand } from "../../src/cli/wait.js";
import { generation } from "../../src/api/index.js";
import { Capture, HELLO, job, Lab, until } from "./cli-harness.js";

let lab: Lab;
beforeEach(() => {
  lab = new Lab();
});
afterEach(() => lab.cleanup());

describe("joblet logs", () => {
  beforeEach(() => {
    lab.status(job("hello", { phase: "Succeeded", run: "r2", attempts: 1, exitCode: 0 }));
    lab.log("hello", "r1", "stdout", "old run\n");
    lab.log("hello", "r2", "stdout", "one\ntwo\nthree\n");
    lab.log("hello", "r2", "stderr", "warn 1\nwarn 2\n");
  });

  it("prints the current run's stdout to stdout and stderr to stderr", async () => {
    expect(await lab.run(logsCommand, ["hello"])).toEqual({ code: 0, out: "one\ntwo\nthree\n", err: "warn 1\nwarn 2\n" });
  });

  it("--stream picks one stream (printed on stdout, for pipes); --tail the last lines", async () => {
    expect(await lab.run(logsCommand, ["hello", "--stream", "stderr"])).toEqual({ code: 0, out: "warn 1\nwarn 2\n", err: "" });
    expect(await lab.run(logsCommand, ["job/hello", "--stream", "stdout", "--tail", "2"])).toEqual({ code: 0, out: "two\nthree\n", err: "" });
    expect(await lab.run(logsCommand, ["hello", "--tail", "1"])).toEqual({ code: 0, out: "three\n", err: "warn 2\n" });
    expect((await lab.run(logsCommand, ["hello", "--stream", "both"])).err).toBe("--stream 'both' is not one of stdout, stderr, all\n");
  });

  it("--run reads an earlier run's logs, by id or by number", async () => {
    lab.status(job("hello", { phase: "Succeeded", run: "r2", attempts: 2, runs: [{ run: "abc-1", phase: "Failed" }, { run: "abc-2", phase: "Succeeded" }] }));
    lab.log("hello", "abc-1", "stdout", "first\n");
    expect(await lab.run(logsCommand, ["hello", "--run", "1"])).toEqual({ code: 0, out: "first\n", err: "" });
    expect(await lab.run(logsCommand, ["hello", "--run", "abc-1", "--stream", "stdout"])).toEqual({ code: 0, out: "first\n", err: "" });
    expect(await lab.run(logsCommand, ["hello", "--run", "7"])).toEqual({ code: 1, out: "", err: "Job 'hello' has no run '7'; its runs: abc-1, abc-2\n" });
  });

  it("names a missing job, and one that has not run yet", async () => {
    expect(await lab.run(logsCommand, ["ghost"])).toEqual({ code: 1, out: "", err: "Job 'ghost' not found\n" });
    lab.status(job("later", { phase: "Pending" }));
    expect((await lab.run(logsCommand, ["later"])).err).toMatch(/^Job 'later' has not started a run yet/);
  });

  it("-f follows the run until its status says it ended", async () => {
    lab.status(job("live", { phase: "Running", run: "r1", attempts: 1 }));
    lab.log("live", "r1", "stdout", "start\n");
    const out = new Capture();
    const err = new Capture();
    let finished = false;
    const following = lab.run(logsCommand, ["live", "-f"], { out, err }).then((r) => ((finished = true), r));
    await until(() => out.text === "start\n");
    lab.log("live", "r1", "stdout", "more\n", true);
    lab.log("live", "r1", "stderr", "oops\n", true);
    await until(() => out.text === "start\nmore\n" && err.text === "oops\n");
    await new Promise((r) => setTimeout(r, 100));
    expect(finished).toBe(false);
    lab.log("live", "r1", "stdout", "last\n", true);
    lab.status(job("live", { phase: "Succeeded", run: "r1", attempts: 1, exitCode: 0 }));
    const result = await following;
    expect(result.code).toBe(0);
    expect(out.text).toBe("start\nmore\nlast\n");
  });

  it("-f waits for the first run of a job just applied", async () => {
    lab.file("hello.yaml", HELLO.replace("hello", "fresh"));
    await lab.run(applyCommand, ["-f", "hello.yaml"]);
    const out = new Capture();
    const following = lab.run(logsCommand, ["fresh", "-f"], { out });
    await new Promise((r) => setTimeout(r, 60));
    lab.log("fresh", "a", "stdout", "hi\n");
    lab.status(job("fresh", { phase: "Succeeded", run: "a", attempts: 1, exitCode: 0 }));
    expect((await following).code).toBe(0);
    expect(out.text).toBe("hi\n");
  });
});

describe("joblet wait", () => {
  const complete = { type: "Complete", status: "True", reason: "Completed", message: "", lastTransitionTime: "2030-01-01T00:00:00Z" };

  it("exits 0 once the condition is True", async () => {
    lab.status(job("w", { phase: "Running", run: "r1", attempts: 1 }));
    const waiting = lab.run(waitCommand, ["job", "w", "--for=condition=Complete", "--timeout", "5s"]);
    await new Promise((r) => setTimeout(r, 60));
    lab.status(job("w", { phase: "Succeeded", run: "r1", attempts: 1, conditions: [complete] }));
    expect(await waiting).toEqual({ code: 0, out: "job/w condition met\n", err: "" });
  });

  it("exits 1 with a message when the timeout passes first", async () => {
    lab.status(job("w", { phase: "Running", run: "r1", attempts: 1 }));
    const started = Date.now();
    const result = await lab.run(waitCommand, ["job/w", "--for", "condition=Complete", "--timeout", "300ms"]);
    expect(result).toEqual({ code: 1, out: "", err: "Timed out after 300ms waiting for job/w to have condition Complete=True\n" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  it("does not take a status about an older spec for the one just applied", async () => {
    lab.file("hello.yaml", HELLO);
    await lab.run(applyCommand, ["-f", "hello.yaml"]);
    lab.status({ ...job("hello", { phase: "Succeeded", conditions: [complete], observedGeneration: "oldoldoldoldold0" }) });
    expect((await lab.run(waitCommand, ["job", "hello", "--for=condition=Complete", "--timeout", "200ms"])).code).toBe(1);
    lab.status({ ...job("hello", { phase: "Succeeded", conditions: [complete], observedGeneration: generation({ command: ["echo", "hello"] }) }) });
    expect((await lab.run(waitCommand, ["job", "hello", "--for=condition=Complete", "--timeout", "2s"])).code).toBe(0);
  });

  it("--for=delete waits for the status to go; a missing object and bad flags are errors", async () => {
    expect((await lab.run(waitCommand, ["job", "gone", "--for=delete"])).code).toBe(0);
    expect(await lab.run(waitCommand, ["job", "ghost", "--for=condition=Complete"])).toEqual({ code: 1, out: "", err: "Job 'ghost' not found\n" });
    expect((await lab.run(waitCommand, ["job", "x", "--for=ready"])).err).toMatch(/^--for 'ready' is not condition=TYPE/);
    expect((await lab.run(waitCommand, ["job", "x", "--for=delete", "--timeout", "soon"])).err).toMatch(/^--timeout 'soon' is not a duration/);
  });
});
