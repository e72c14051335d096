import { describe, expect, it } from "vitest";
import type { RuntimeBuild, RuntimeStatus } from "../../src/api/index.js";
import { compareVersions, resolveRuntime } from "../../src/controllers/runtime/resolve.js";
import { runtimeEnvironment } from "../../src/runtimes/job-root.js";
import { formatRuntimeYml, parseRuntimeYml } from "../../src/runtimes/runtime-yml.js";

const ORIGINAL = `name: "java-17"
version: "17.0.12"
description: "OpenJDK 17 LTS with Maven - completely isolated runtime"
mounts:
  - source: "isolated/usr/lib/jvm"
    target: "/usr/lib/jvm"
    readonly: true
  - source: "isolated/tmp"
    target: "/tmp"
    readonly: false
  - source: "isolated/bin"
    target: "/usr/local/bin"
    readonly: true
    selective: ["java", "javac"]
environment:
  JAVA_HOME: "/usr/lib/jvm"
  PATH_PREPEND: "/usr/local/bin"
package_manager:
  type: "maven"
  cache_volume: "maven-cache"
requirements:
  architectures: ["x86_64", "amd64"]
features:
  - "LTS (Long Term Support)"
`;

describe("runtime.yml", () => {
  it("accepts the original Joblet's files as they are, ignoring what joblet has no use for", () => {
    const yml = parseRuntimeYml(ORIGINAL, "runtime.yml");
    expect(yml.name).toBe("java-17");
    expect(yml.version).toBe("17.0.12");
    expect(yml.mounts).toEqual([
      { source: "isolated/usr/lib/jvm", target: "/usr/lib/jvm", readOnly: true },
      { source: "isolated/tmp", target: "/tmp", readOnly: false },
      { source: "isolated/bin", target: "/usr/local/bin", readOnly: true, selective: ["java", "javac"] },
    ]);
    expect(yml.environment).toEqual({ JAVA_HOME: "/usr/lib/jvm", PATH_PREPEND: "/usr/local/bin" });
    expect(yml.requirements).toEqual({ architectures: ["x86_64", "amd64"] });
  });

  it("names the file and field of a bad value", () => {
    expect(() => parseRuntimeYml("mounts: [{source: 1}]", "pkg/runtime.yml")).toThrow(/pkg\/runtime.yml: field 'mounts.0.source'/);
    expect(() => parseRuntimeYml("requirements: {min_memory: lots}", "runtime.yml")).toThrow(/requirements.min_memory': 'lots'/);
    expect(() => parseRuntimeYml("a: [", "runtime.yml")).toThrow(/runtime.yml: not valid YAML/);
  });

  it("is written back in the original's format, which reads back the same", () => {
    const text = formatRuntimeYml("py", {
      version: "1.0",
      mounts: [{ source: "opt/venv", target: "/usr/local/venv" }],
      environment: { A: "1" },
      requirements: { architectures: ["amd64"], minMemoryBytes: 1024 },
      test: { command: ["python3", "-V"] },
    });
    const back = parseRuntimeYml(text, "runtime.yml");
    expect(back.mounts).toEqual([{ source: "isolated/opt/venv", target: "/usr/local/venv", readOnly: true }]);
    expect(back.requirements).toEqual({ architectures: ["amd64"], minMemoryBytes: 1024 });
    expect(back.test).toEqual({ command: ["python3", "-V"] });
  });
});

describe("a runtime's environment in a job", () => {
  it("puts PATH_PREPEND in front and reads $PATH as the default", () => {
    expect(runtimeEnvironment({ PATH_PREPEND: "/opt/bin", X: "1" }, "/usr/bin:/bin")).toEqual({ X: "1", PATH: "/opt/bin:/usr/bin:/bin" });
    expect(runtimeEnvironment({ PATH: "/usr/lib/jvm/bin:$PATH" }, "/usr/bin")).toEqual({ PATH: "/usr/lib/jvm/bin:/usr/bin" });
  });
});

describe("which build a job's runtime names", () => {
  const build = (id: string) => ({ id, path: `/b/${id}` }) as RuntimeBuild;
  const ready = (id: string): { status: RuntimeStatus } => ({ status: { phase: "Ready", conditions: [], current: build(id) } });
  const building: { status: RuntimeStatus } = { status: { phase: "Building", conditions: [], progress: { phase: "downloading", percent: 40, startedAt: "" } } };

  it("takes NAME exactly, else the highest installed NAME@VERSION", () => {
    const objects = new Map([
      ["py@1.9.2", ready("a")],
      ["py@1.10.0", ready("b")],
      ["py@2.0", building],
      ["java", ready("j")],
    ]);
    expect(resolveRuntime("py", objects)).toMatchObject({ ok: true, name: "py@1.10.0" });
    expect(resolveRuntime("py@1.9.2", objects)).toMatchObject({ ok: true, name: "py@1.9.2" });
    expect(resolveRuntime("java", objects)).toMatchObject({ ok: true, name: "java" });
    expect(resolveRuntime("py@2.0", objects)).toEqual({ ok: false, message: "Runtime 'py@2.0' is not ready: building (downloading 40%)" });
    expect(resolveRuntime("nope", objects)).toEqual({ ok: false, message: "Runtime 'nope' does not exist" });
  });

  it("compares versions part by part, numbers as numbers", () => {
    expect(compareVersions("1.10.0", "1.9.2")).toBe(1);
    expect(compareVersions("1.9", "1.9.2")).toBe(-1);
    expect(compareVersions("2.0", "2.0")).toBe(0);
  });
});
