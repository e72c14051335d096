import { describe, expect, it } from "vitest";
import { durationMs, humanDuration } from "../../src/cli/duration.js";
import { parseKindRef } from "../../src/cli/kinds.js";
import { buildProgram } from "../../src/cli/main.js";
import { unifiedDiff } from "../../src/cli/text-diff.js";
import { exitCodeOf } from "../../src/cli/run.js";
import { Capture } from "./cli-harness.js";

describe("CLI pieces", () => {
  it("reads durations as kubectl writes them", () => {
    expect(durationMs("500ms")).toBe(500);
    expect(durationMs("60s")).toBe(60_000);
    expect(durationMs("2m")).toBe(120_000);
    expect(durationMs("1h30m")).toBe(5_400_000);
    expect(durationMs("45")).toBe(45_000);
    expect(durationMs("soon")).toBeUndefined();
    expect(durationMs("5x")).toBeUndefined();
    expect([45_000, 192_000, 7_500_000, 97_200_000].map(humanDuration)).toEqual(["45s", "3m12s", "2h5m", "1d3h"]);
  });

  it("takes KIND as job, jobs, Job and job/NAME, and suggests for typos", () => {
    expect(parseKindRef("jobs")).toEqual({ kind: "Job" });
    expect(parseKindRef("Job", "x")).toEqual({ kind: "Job", name: "x" });
    expect(parseKindRef("job/x")).toEqual({ kind: "Job", name: "x" });
    expect(parseKindRef("networks")).toEqual({ kind: "Network" });
    expect(() => parseKindRef("runtme")).toThrow("Unknown kind 'runtme'; did you mean 'runtime'?");
    expect(() => parseKindRef("pods")).toThrow("Unknown kind 'pods' (one of job, runtime, volume, network)");
  });

  it("turns a job's end into a shell-style exit code", () => {
    expect(exitCodeOf({ phase: "Succeeded", exitCode: 0 })).toBe(0);
    expect(exitCodeOf({ phase: "Failed", exitCode: 42 })).toBe(42);
    expect(exitCodeOf({ phase: "Failed", signal: "SIGTERM" })).toBe(143);
    expect(exitCodeOf({ phase: "Failed", reason: "DeadlineExceeded" })).toBe(1);
  });

  it("prints unified hunks with context and separate hunks for distant changes", () => {
    const a = Array.from({ length: 20 }, (_, i) => `l${i}`).join("\n") + "\n";
    const b = a.replace("l1\n", "L1\n").replace("l18\n", "L18\n");
    const diff = unifiedDiff(a, b, "a", "b");
    expect(diff.split("\n").filter((l) => l.startsWith("@@"))).toEqual(["@@ -1,5 +1,5 @@", "@@ -16,5 +16,5 @@"]);
    expect(diff).toContain("-l1\n+L1\n");
    expect(unifiedDiff(a, a, "a", "b")).toBe("");
  });

  it("registers every verb, each with an example in --help", () => {
    const program = buildProgram();
    const names = program.commands.map((c) => c.name());
    for (const verb of ["apply", "get", "describe", "delete", "logs", "wait", "diff", "run"]) {
      expect(names).toContain(verb);
      const command = program.commands.find((c) => c.name() === verb)!;
      const out = new Capture();
      command.configureOutput({ writeOut: (s) => void out.write(s) }).exitOverride();
      expect(() => command.parse(["--help"], { from: "user" })).toThrow();
      expect(out.text).toMatch(new RegExp(`Example:\\n  joblet ${verb} `));
      expect(out.text).toContain("--state-dir <dir>");
    }
  });
});
