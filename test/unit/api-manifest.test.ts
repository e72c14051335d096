import { describe, expect, it } from "vitest";
import { applyDefaults, manifestKey, parseManifest, resolveResources, type Manifest } from "../../src/api/index.js";
import { closest } from "../../src/api/suggest.js";

function job(spec: Record<string, unknown>, metadata: Record<string, unknown> = { name: "train" }): Record<string, unknown> {
  return { apiVersion: "joblet/v1", kind: "Job", metadata, spec };
}

/** The messages of a parse that must fail. */
function errorsOf(doc: unknown): string[] {
  const result = parseManifest(doc);
  if (result.ok) throw new Error("expected the manifest to be refused");
  return result.errors.map((error) => error.message);
}

function parsed(doc: unknown): Manifest {
  const result = parseManifest(doc);
  if (!result.ok) throw new Error(result.errors.map((error) => error.message).join("\n"));
  return result.object;
}

describe("strict fields", () => {
  it("names the full path of an unknown field and suggests the closest one", () => {
    const result = parseManifest(job({ command: ["true"], resources: { memroy: "1Gi" } }));
    expect(result).toEqual({
      ok: false,
      errors: [
        {
          path: ["spec", "resources", "memroy"],
          field: "spec.resources.memroy",
          message: "Job 'train': spec.resources.memroy is not a known field of spec.resources; did you mean 'memory'?",
        },
      ],
    });
  });

  it("suggests at every level, and nothing when no key is close", () => {
    expect(errorsOf(job({ comand: ["true"] }))).toEqual([
      "Job 'train': spec.command is required",
      "Job 'train': spec.comand is not a known field of spec; did you mean 'command'?",
    ]);
    expect(errorsOf(job({ command: ["true"], WorkingDir: "/work" }))).toEqual([
      "Job 'train': spec.WorkingDir is not a known field of spec; did you mean 'workingDir'?",
    ]);
    expect(errorsOf(job({ command: ["true"], gpu: 1 }))).toEqual(["Job 'train': spec.gpu is not a known field of spec"]);
    expect(errorsOf(job({ command: ["true"], volumes: [{ name: "data", readonly: true }] }))).toEqual([
      "Job 'train': spec.volumes[0].readonly is not a known field of spec.volumes[0]; did you mean 'readOnly'?",
    ]);
    expect(errorsOf({ ...job({ command: ["true"] }), metdata: {} })).toEqual([
      "Job 'train': metdata is not a known field; did you mean 'metadata'?",
    ]);
  });

  it("refuses status and generation, which joblet writes", () => {
    expect(errorsOf({ ...job({ command: ["true"] }), status: { phase: "Running" } })).toEqual([
      "Job 'train': status is written by joblet, not by manifests; remove it",
    ]);
    expect(errorsOf(job({ command: ["true"] }, { name: "train", generation: 2 }))).toEqual([
      "Job 'train': metadata.generation is derived from the spec by joblet; remove it",
    ]);
  });

  it("refuses unknown kinds and API versions", () => {
    expect(errorsOf({ apiVersion: "joblet/v1", kind: "Jobs" })).toEqual([
      "kind 'Jobs' is not one of Job, Runtime, Volume, Network; did you mean 'Job'?",
    ]);
    expect(errorsOf({ apiVersion: "joblet/v1" })).toEqual(["kind is required (one of Job, Runtime, Volume, Network)"]);
    expect(errorsOf({ ...job({ command: ["true"] }), apiVersion: "batch/v1" })).toEqual([
      "Job 'train': apiVersion 'batch/v1' must be 'joblet/v1'",
    ]);
    expect(errorsOf(["a"])).toEqual(["Manifest must be a mapping with apiVersion, kind, metadata and spec, not a list"]);
    expect(errorsOf(null)).toEqual(["Manifest must be a mapping with apiVersion, kind, metadata and spec, not an empty document"]);
  });

  it("does not suggest a name two letters away from a two-letter word", () => {
    expect(closest("id", ["ip", "name"])).toBeUndefined();
    expect(closest("memroy", ["cpu", "memory"])).toBe("memory");
  });
});

describe("names", () => {
  it.each(["a", "hello", "job-1", "0abc", "a".repeat(63)])("accepts %j", (name) => {
    expect(parseManifest(job({ command: ["true"] }, { name })).ok).toBe(true);
  });

  it("explains each broken rule", () => {
    const rule = "must be lowercase letters, digits and '-', starting and ending with a letter or digit";
    expect(errorsOf(job({ command: ["true"] }, { name: "Train" }))).toEqual([`Job 'Train': metadata.name 'Train' ${rule}`]);
    expect(errorsOf(job({ command: ["true"] }, { name: "-a" }))).toEqual([`Job '-a': metadata.name '-a' ${rule}`]);
    expect(errorsOf(job({ command: ["true"] }, { name: "a_b" }))).toEqual([`Job 'a_b': metadata.name 'a_b' ${rule}`]);
    expect(errorsOf(job({ command: ["true"] }, { name: "a.b" }))).toEqual([`Job 'a.b': metadata.name 'a.b' ${rule}`]);
    expect(errorsOf(job({ command: ["true"] }, { name: "a".repeat(64) }))).toEqual([
      `Job '${"a".repeat(64)}': metadata.name '${"a".repeat(57)}...' is 64 characters long (at most 63)`,
    ]);
    expect(errorsOf(job({ command: ["true"] }, {}))).toEqual(["Job: metadata.name is required"]);
    expect(errorsOf(job({ command: ["true"] }, { name: 7 }))).toEqual(["Job: metadata.name 7 must be a string"]);
  });

  it("checks label keys and values as Kubernetes does", () => {
    const ok = parsed(job({ command: ["true"] }, { name: "a", labels: { "example.com/tier": "web", app: "" } }));
    expect(ok.metadata.labels).toEqual({ "example.com/tier": "web", app: "" });
    expect(errorsOf(job({ command: ["true"] }, { name: "a", labels: { app: "has space" } }))).toEqual([
      "Job 'a': metadata.labels value 'has space' of 'app' must be empty or at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
    ]);
    expect(errorsOf(job({ command: ["true"] }, { name: "a", labels: { app: true } }))).toEqual([
      "Job 'a': metadata.labels.app true must be a string",
    ]);
  });
});

describe("Job", () => {
  const full = job({
    command: ["python3", "train.py"],
    args: ["--epochs", "3"],
    env: [{ name: "SEED", value: "1" }, { name: "EMPTY" }],
    workingDir: "/work/src",
    files: [{ path: "train.py" }, { path: "data/set.csv", target: "/work/in/set.csv" }],
    resources: { cpu: "1.5", memory: "1.5Gi", ioBps: "10Mi", cpuset: "0-3,8", pids: 100 },
    restartPolicy: "OnFailure",
    backoffLimit: 2,
    activeDeadlineSeconds: 600,
    ttlSecondsAfterFinished: 0,
    suspend: false,
    runtime: "python-3.11-ml",
    volumes: [{ name: "data", readOnly: true }],
    network: "lab",
    schedule: "*/5 * * * *",
  });

  it("accepts every field and resolves its quantities", () => {
    const object = parsed(full);
    expect(object.kind).toBe("Job");
    if (object.kind !== "Job") return;
    expect(resolveResources(object.spec.resources)).toEqual({
      cpu: 1.5,
      memoryBytes: 1610612736,
      ioBytesPerSecond: 10485760,
      cpuset: "0-3,8",
      pids: 100,
    });
    expect(manifestKey(object)).toBe("Job/train");
  });

  it("reports every problem at once, each with path and value", () => {
    expect(
      errorsOf(
        job({
          command: "python3 train.py",
          env: [{ name: "A", value: "1" }, { name: "A", value: "2" }, { name: "1X", value: "" }],
          workingDir: "work",
          files: [{ path: "../secret" }, { path: "/etc/passwd" }, { path: "a", target: "/etc/x" }, { path: "b", target: "x/../../y" }],
          resources: { cpu: "2Gi", memory: "12Zi", ioBps: 0, cpuset: "3-1", pids: 0 },
          restartPolicy: "Always",
          backoffLimit: -1,
          activeDeadlineSeconds: 0,
          ttlSecondsAfterFinished: 1.5,
          suspend: "yes",
          runtime: "Python 3",
          volumes: [{ name: "data" }, { name: "data" }],
          network: "Lab",
          schedule: "",
        }),
      ),
    ).toEqual([
      "Job 'train': spec.command 'python3 train.py' must be a list",
      "Job 'train': spec.env[2].name '1X' is not a variable name (letters, digits and '_', not starting with a digit)",
      "Job 'train': spec.env[1] repeats the variable 'A'",
      "Job 'train': spec.workingDir 'work' must be an absolute path",
      "Job 'train': spec.files[0].path '../secret' must not contain '..'",
      "Job 'train': spec.files[1].path '/etc/passwd' must be a relative path (no leading '/')",
      "Job 'train': spec.files[2].target '/etc/x' must be a path under /work",
      "Job 'train': spec.files[3].target 'x/../../y' must not contain '..'",
      "Job 'train': spec.resources.cpu '2Gi' is not a CPU quantity (e.g. 0.5, 250m, 2)",
      "Job 'train': spec.resources.memory '12Zi' is not a quantity (e.g. 512Mi, 1Gi, 1000000)",
      "Job 'train': spec.resources.ioBps 0 must be greater than zero",
      "Job 'train': spec.resources.cpuset '3-1' has the range '3-1' backwards",
      "Job 'train': spec.resources.pids 0 must be at least 1",
      "Job 'train': spec.restartPolicy 'Always' must be one of 'Never', 'OnFailure'",
      "Job 'train': spec.backoffLimit -1 must be at least 0",
      "Job 'train': spec.activeDeadlineSeconds 0 must be at least 1",
      "Job 'train': spec.ttlSecondsAfterFinished 1.5 must be a whole number",
      "Job 'train': spec.suspend 'yes' must be true or false",
      "Job 'train': spec.runtime 'Python 3' is not a runtime name (e.g. python-3.11-ml, java-17@1.0)",
      "Job 'train': spec.volumes[1] repeats the volume 'data'",
      "Job 'train': spec.network 'Lab' must be lowercase letters, digits and '-', starting and ending with a letter or digit",
      "Job 'train': spec.schedule '' must not be empty",
    ]);
  });

  it("needs a command", () => {
    expect(errorsOf(job({ command: [] }))).toEqual(["Job 'train': spec.command must not be empty"]);
    expect(errorsOf({ apiVersion: "joblet/v1", kind: "Job", metadata: { name: "x" } })).toEqual(["Job 'x': spec is required"]);
  });
});

describe("defaults", () => {
  it("fills Kubernetes' defaults into a new object and leaves the input alone", () => {
    const doc = job({ command: ["true"], env: [{ name: "A" }], volumes: [{ name: "data" }] });
    const before = structuredClone(doc);
    const object = parsed(doc);
    expect(object).toEqual(before);
    expect(object).not.toBe(doc);

    const defaulted = applyDefaults(object);
    expect(defaulted.spec).toEqual({
      command: ["true"],
      env: [{ name: "A", value: "" }],
      volumes: [{ name: "data", readOnly: false }],
      restartPolicy: "Never",
      backoffLimit: 6,
      suspend: false,
      network: "none",
      concurrencyPolicy: "Allow",
      successfulRunsHistoryLimit: 3,
      failedRunsHistoryLimit: 1,
      priority: 0,
    });
    expect(doc).toEqual(before);
    expect(object).toEqual(before);
  });

  it("keeps what the manifest says over a default", () => {
    const object = parsed(job({ command: ["true"], restartPolicy: "OnFailure", backoffLimit: 0, network: "bridge" }));
    const spec = applyDefaults(object).spec;
    expect(spec).toMatchObject({ restartPolicy: "OnFailure", backoffLimit: 0, network: "bridge" });
  });

  it("fills the other kinds' defaults", () => {
    const volume = parsed({ apiVersion: "joblet/v1", kind: "Volume", metadata: { name: "v" }, spec: { size: "1Gi" } });
    expect(applyDefaults(volume).spec).toEqual({ size: "1Gi", type: "filesystem", reclaimPolicy: "Retain" });
    const network = parsed({ apiVersion: "joblet/v1", kind: "Network", metadata: { name: "n" }, spec: { cidr: "10.1.0.0/16" } });
    expect(applyDefaults(network).spec).toEqual({ cidr: "10.1.0.0/16", egress: false });
  });
});

describe("Runtime", () => {
  const runtime = (spec: unknown, name = "python-3.11-ml") => ({ apiVersion: "joblet/v1", kind: "Runtime", metadata: { name }, spec });

  it("accepts each kind of source and dotted names", () => {
    expect(parseManifest(runtime({ source: { debian: { suite: "bookworm", packages: ["python3-numpy"] } } })).ok).toBe(true);
    expect(parseManifest(runtime({ source: { host: { binaries: ["python3"], paths: ["/usr/lib/python3"] } } })).ok).toBe(true);
    expect(parseManifest(runtime({ source: { package: { url: "https://example.invalid/r.tar.gz", sha256: "a".repeat(64) } } })).ok).toBe(true);
    expect(parseManifest(runtime({ source: { directory: { path: "/opt/joblet/runtimes/java-17" } } })).ok).toBe(true);
  });

  it("fills mount and package defaults", () => {
    const object = parsed(
      runtime({ source: { debian: { suite: "bookworm" } }, mounts: [{ source: "usr/lib", target: "/usr/lib" }] }),
    );
    expect(applyDefaults(object).spec).toEqual({
      source: { debian: { suite: "bookworm", packages: [] } },
      mounts: [{ source: "usr/lib", target: "/usr/lib", readOnly: true }],
    });
  });

  it("wants exactly one source and mounts inside isolated/", () => {
    expect(errorsOf(runtime({ source: {} }))).toEqual([
      "Runtime 'python-3.11-ml': spec.source must set exactly one of debian, host, package, directory (found none)",
    ]);
    expect(errorsOf(runtime({ source: { debian: { suite: "bookworm" }, directory: { path: "/x" } } }))).toEqual([
      "Runtime 'python-3.11-ml': spec.source must set exactly one of debian, host, package, directory (found debian, directory)",
    ]);
    expect(errorsOf(runtime({ source: { package: { path: "r.tgz", url: "ftp://x", sha256: "ABC" } } }))).toEqual([
      "Runtime 'python-3.11-ml': spec.source.package.url 'ftp://x' must be an http:// or https:// URL",
      "Runtime 'python-3.11-ml': spec.source.package.sha256 'ABC' must be 64 lowercase hex digits",
      "Runtime 'python-3.11-ml': spec.source.package must set exactly one of path, url",
    ]);
    expect(
      errorsOf(runtime({ source: { directory: { path: "/r" } }, mounts: [{ source: "/usr", target: "usr" }, { source: "a/../../b", target: "/b" }] })),
    ).toEqual([
      "Runtime 'python-3.11-ml': spec.mounts[0].source '/usr' must be a relative path (no leading '/')",
      "Runtime 'python-3.11-ml': spec.mounts[0].target 'usr' must be an absolute path",
      "Runtime 'python-3.11-ml': spec.mounts[1].source 'a/../../b' must not contain '..'",
    ]);
    expect(errorsOf(runtime({ source: { directory: { path: "/r" } }, environment: { "PATH-X": "1" } }))).toEqual([
      "Runtime 'python-3.11-ml': spec.environment key 'PATH-X' is not a variable name",
    ]);
    expect(errorsOf(runtime({ source: { directory: { path: "/r" } } }, "Py..3"))).toEqual([
      "Runtime 'Py..3': metadata.name 'Py..3' must be lowercase letters, digits, '-' and '.', starting and ending with a letter or digit",
    ]);
  });
});

describe("Volume", () => {
  const volume = (spec: unknown) => ({ apiVersion: "joblet/v1", kind: "Volume", metadata: { name: "data" }, spec });

  it("accepts both types and checks the size", () => {
    expect(parseManifest(volume({ type: "memory", size: "64k" })).ok).toBe(true);
    expect(parseManifest(volume({ type: "filesystem", size: 1048576, reclaimPolicy: "Delete" })).ok).toBe(true);
    expect(errorsOf(volume({ size: "10k" }))).toEqual(["Volume 'data': spec.size '10k' is too small for a filesystem volume (at least 1Mi)"]);
    expect(errorsOf(volume({ type: "disk", size: "1Gi" }))).toEqual(["Volume 'data': spec.type 'disk' must be one of 'filesystem', 'memory'"]);
    expect(errorsOf(volume({ size: "1Gb" }))).toEqual(["Volume 'data': spec.size '1Gb' is not a quantity (e.g. 512Mi, 1Gi, 1000000)"]);
    expect(errorsOf(volume({ size: true }))).toEqual(["Volume 'data': spec.size true must be a quantity (a string or a number)"]);
    expect(errorsOf(volume({}))).toEqual(["Volume 'data': spec.size is required"]);
    expect(errorsOf(volume({ size: "1Gi", reclaimPolicy: "Recycle" }))).toEqual([
      "Volume 'data': spec.reclaimPolicy 'Recycle' must be one of 'Retain', 'Delete'",
    ]);
  });
});

describe("Network", () => {
  const network = (spec: unknown, name = "lab") => ({ apiVersion: "joblet/v1", kind: "Network", metadata: { name }, spec });

  it("accepts an IPv4 block and refuses malformed ones", () => {
    expect(parseManifest(network({ cidr: "10.88.0.0/24", egress: true })).ok).toBe(true);
    expect(errorsOf(network({ cidr: "10.88.0.1/24" }))).toEqual([
      "Network 'lab': spec.cidr '10.88.0.1/24' has host bits set; did you mean '10.88.0.0/24'?",
    ]);
    expect(errorsOf(network({ cidr: "10.88.0.0/31" }))).toEqual(["Network 'lab': spec.cidr '10.88.0.0/31' has prefix /31 (between /8 and /30)"]);
    for (const cidr of ["10.88.0.0", "256.1.1.0/24", "10.088.0.0/24", "fd00::/64", "10.0.0.0/"]) {
      expect(errorsOf(network({ cidr }))).toEqual([`Network 'lab': spec.cidr '${cidr}' is not an IPv4 CIDR block (e.g. 10.88.0.0/24)`]);
    }
  });

  it("keeps the built-in mode names for the modes", () => {
    expect(errorsOf(network({ cidr: "10.88.0.0/24" }, "bridge"))).toEqual([
      "Network 'bridge': metadata.name 'bridge' is a built-in network mode (none, bridge, isolated); choose another name",
    ]);
  });
});
