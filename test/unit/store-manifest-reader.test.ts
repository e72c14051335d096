import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  describeManifestError,
  fieldLine,
  fieldPosition,
  isManifestError,
  type ManifestDocument,
  type ManifestFile,
  readManifestDir,
  readManifestFile,
  readManifestString,
} from "../../src/store/manifest-reader.js";
import { isManifestPath } from "../../src/store/manifest-files.js";

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "joblet-store-reader-"));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function put(rel: string, text: string): string {
  const path = join(dir, rel);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  return path;
}

function docs(result: ManifestFile): ManifestDocument[] {
  if (isManifestError(result)) throw new Error(`Unexpected error: ${describeManifestError(result)}`);
  return result.documents;
}

/** Lines joined; line numbers in the tests below are 1-based indices into this array. */
function lines(...l: string[]): string {
  return `${l.join("\n")}\n`;
}

describe("multi-document YAML", () => {
  it("returns every document with the line it starts on, skipping empty ones", async () => {
    const file = put(
      "jobs.yaml",
      lines(
        "# leading comment", // 1
        "apiVersion: joblet/v1", // 2
        "kind: Job",
        "metadata:",
        "  name: a",
        "---", // 6
        "apiVersion: joblet/v1",
        "kind: Job",
        "metadata:",
        "  name: b",
        "---", // 11: empty
        "# only a comment", // 12
        "---", // 13
        "kind: Runtime",
        "...", // 15
        "--- # with a comment", // 16
        "kind: Volume",
      ),
    );
    const result = await readManifestFile(file);
    const found = docs(result);
    expect(found.map((d) => d.line)).toEqual([2, 6, 13, 16]);
    expect(found.map((d) => d.index)).toEqual([0, 1, 2, 3]);
    expect(found.map((d) => (d.doc as { kind: string }).kind)).toEqual(["Job", "Job", "Runtime", "Volume"]);
    expect((found[1]!.doc as { metadata: { name: string } }).metadata.name).toBe("b");
  });

  it("reads from a string, as for `apply -f -`", () => {
    const result = readManifestString("kind: Job\n---\nkind: Volume\n");
    expect(result.file).toBe("-");
    expect(docs(result).map((d) => [d.line, (d.doc as { kind: string }).kind])).toEqual([
      [1, "Job"],
      [2, "Volume"],
    ]);
  });

  it("keeps %YAML directives with the document they introduce", () => {
    const found = docs(readManifestString(lines("%YAML 1.2", "---", "a: 1", "---", "b: 2")));
    expect(found.map((d) => [d.line, d.doc])).toEqual([
      [2, { a: 1 }],
      [4, { b: 2 }],
    ]);
  });

  it("handles CRLF line endings", () => {
    const found = docs(readManifestString("a: 1\r\n---\r\nb: 2\r\n"));
    expect(found.map((d) => [d.line, d.doc])).toEqual([
      [1, { a: 1 }],
      [2, { b: 2 }],
    ]);
  });
});

describe("YAML 1.2 core schema", () => {
  it("keeps yes/on/no as strings, reads 0755 as decimal and dates as strings", () => {
    const [d] = docs(readManifestString(lines("on: yes", "off: no", "mode: 0755", "octal: 0o755", "date: 2024-01-02", "t: true", "n: ~")));
    expect(d!.doc).toEqual({ on: "yes", off: "no", mode: 755, octal: 493, date: "2024-01-02", t: true, n: null });
  });

  it("refuses duplicate keys and unknown tags as parse errors", () => {
    const dup = readManifestString(lines("a: 1", "a: 2"));
    expect(isManifestError(dup) && dup.error.line).toBe(2);
    const tag = readManifestString(lines("a: !!python/object x"));
    expect(isManifestError(tag)).toBe(true);
  });

  it("refuses alias bombs", () => {
    const bomb = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 8; i++) {
      const prev = String.fromCharCode(96 + i);
      bomb.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${prev}`).join(", ")}]`);
    }
    const result = readManifestString(lines(...bomb));
    expect(isManifestError(result) && result.error.message).toMatch(/more than 1000000 values/);
  });
});

describe("JSON files", () => {
  it("reads one object per file, starting at its first line", async () => {
    put("a.json", '\n\n{"apiVersion": "joblet/v1", "kind": "Job", "metadata": {"name": "x"}}\n');
    const [result] = await readManifestDir(dir);
    const [d] = docs(result!);
    expect(d!.line).toBe(3);
    expect(d!.doc).toEqual({ apiVersion: "joblet/v1", kind: "Job", metadata: { name: "x" } });
  });

  it("expands a List into its items, each with its own line", async () => {
    const list = {
      apiVersion: "joblet/v1",
      kind: "List",
      items: [
        { kind: "Job", metadata: { name: "a" } },
        { kind: "Job", metadata: { name: "b" }, spec: { command: ["echo", "hi"] } },
      ],
    };
    const file = put("list.json", JSON.stringify(list, null, 2));
    const found = docs(await readManifestFile(file));
    expect(found.map((d) => d.doc)).toEqual(list.items);
    // JSON.stringify(…, 2): "items" on line 4, the items' "{" on lines 5 and 11.
    expect(found.map((d) => d.line)).toEqual([5, 11]);
    expect(fieldLine(found[1]!, "spec.command[1]")).toBe(19);
    expect(fieldLine(found[1]!, "metadata.name")).toBe(14);
  });

  it("expands a YAML List too", () => {
    const found = docs(readManifestString(lines("kind: List", "items:", "- kind: Job", "  metadata: {name: a}", "- kind: Job", "  spec:", "    suspend: true")));
    expect(found.map((d) => d.line)).toEqual([3, 5]);
    expect(fieldLine(found[1]!, "spec.suspend")).toBe(7);
  });

  it("refuses a top-level array and reports syntax errors with line and column", async () => {
    const arr = await readManifestFile(put("arr.json", "[{}]"));
    expect(isManifestError(arr) && arr.error.message).toMatch(/one object/);
    const bad = await readManifestFile(put("bad.json", '{\n  "a": 1,\n  "b": }\n'));
    expect(isManifestError(bad)).toBe(true);
    if (isManifestError(bad)) expect([bad.error.line, bad.error.column]).toEqual([3, 8]);
    const comma = readManifestString('{"a": 1,\n}', { format: "json" });
    expect(isManifestError(comma) && [comma.error.line, comma.error.column]).toEqual([2, 1]);
  });
});

describe("reading a directory", () => {
  it("reads *.yaml, *.yml and *.json recursively and ignores editor files and dot-dirs", async () => {
    const body = "kind: Job\n";
    for (const name of [
      "a.yaml",
      "sub/deeper/b.yml",
      "c.JSON",
      ".hidden.yaml",
      "a.yaml~",
      ".a.yaml.swp",
      "a.yaml.swp",
      "a.yaml.swx",
      "a.yaml.tmp",
      "#a.yaml#",
      ".#a.yaml",
      ".git/objects/x.yaml",
      "sub/.cache/y.yaml",
      "notes.txt",
      "4913",
    ]) {
      put(name, name.toLowerCase().endsWith(".json") ? '{"kind": "Job"}' : body);
    }
    const results = await readManifestDir(dir);
    expect(results.map((r) => r.file.slice(dir.length + 1))).toEqual(["a.yaml", "c.JSON", "sub/deeper/b.yml"]);
    expect(isManifestPath("sub/.cache/y.yaml")).toBe(false);
    expect(isManifestPath("sub/y.yaml")).toBe(true);
  });

  it("reports a broken YAML file with its line and column while the others still load", async () => {
    put("good.yaml", "kind: Job\nmetadata:\n  name: good\n");
    put(
      "broken.yaml",
      lines(
        "kind: Job", // 1
        "---", // 2
        "kind: Job", // 3
        "metadata:", // 4
        "  name: x", // 5
        "   labels: {a: b}", // 6: bad indentation
      ),
    );
    const results = await readManifestDir(dir);
    expect(results).toHaveLength(2);
    const broken = results.find((r) => r.file.endsWith("broken.yaml"))!;
    expect(isManifestError(broken)).toBe(true);
    if (!isManifestError(broken)) return;
    expect(broken.error.line).toBe(6);
    expect(broken.error.column).toBeGreaterThan(1);
    expect(broken.error.message).toMatch(/^Bad indentation/);
    expect(describeManifestError(broken)).toMatch(/broken\.yaml:6:\d+: Bad indentation/);
    const good = results.find((r) => r.file.endsWith("good.yaml"))!;
    expect(docs(good)[0]!.doc).toEqual({ kind: "Job", metadata: { name: "good" } });
  });

  it("says which directory could not be read, and reports oversized files", async () => {
    await expect(readManifestDir(join(dir, "missing"))).rejects.toThrow(/Cannot read manifests directory .*missing: ENOENT/);
    put("big.yaml", `a: ${"x".repeat(2000)}\n`);
    const [big] = await readManifestDir(dir, { maxFileBytes: 1000 });
    expect(isManifestError(big!) && big.error.message).toMatch(/more than the limit of 1000/);
  });
});

describe("field lines", () => {
  const text = lines(
    "apiVersion: joblet/v1", // 1
    "kind: Job", // 2
    "metadata:", // 3
    "  name: demo", // 4
    "  labels:", // 5
    '    "app.kubernetes.io/name": demo', // 6
    "spec:", // 7
    "  command: [python, main.py]", // 8
    "  args:", // 9
    "  - --fast", // 10
    "  - --verbose", // 11
    "  script: |", // 12
    "    resources:", // 13  (text inside a block scalar, not a key)
    "      memory: nope", // 14
    "  env:", // 15
    "    - name: A", // 16
    "      value: '1'", // 17
    "    - # comment", // 18
    "      name: B", // 19
    "      value: '2'", // 20
    "", // 21
    "  resources:   # limits", // 22
    "    cpu: 1.5", // 23
    "    memory: 512Mi", // 24
  );
  const [doc] = docs(readManifestString(text));

  it.each([
    ["spec.resources.memory", 24],
    ["spec.resources", 22],
    ["spec.args[1]", 11],
    ["spec.args.0", 10],
    ["spec.env[0].value", 17],
    ["spec.env[1].name", 19],
    ["spec.env[1].value", 20],
    ["spec.env[1]", 18],
    ["metadata.labels.app.kubernetes.io/name", 5], // dots split the path: not found below labels
    ["spec.command", 8],
    ["kind", 2],
  ])("%s is on line %i", (path, line) => {
    expect(fieldLine(doc!, path)).toBe(line);
  });

  it("finds quoted keys given as a path array", () => {
    expect(fieldPosition(doc!, ["metadata", "labels", "app.kubernetes.io/name"])).toEqual({ line: 6, found: true });
  });

  it("points at the deepest existing part of a missing path", () => {
    expect(fieldPosition(doc!, "spec.resources.pids")).toEqual({ line: 22, found: false });
    expect(fieldPosition(doc!, "spec.command[0]")).toEqual({ line: 8, found: false }); // flow sequence: a leaf
    expect(fieldPosition(doc!, "spec.nothing.here")).toEqual({ line: 7, found: false });
    expect(fieldPosition(doc!, "spec.env[5]")).toEqual({ line: 15, found: false });
  });

  it("gives lines in the file for documents after the first", () => {
    const found = docs(readManifestString(lines("kind: Job", "---", "kind: Job", "spec:", "  resources:", "    memory: 1Gi")));
    expect(fieldLine(found[1]!, "spec.resources.memory")).toBe(6);
    expect(fieldLine(found[1]!, "kind")).toBe(3);
  });

  it("follows compact sequences, nested sequences and sequences at the root", () => {
    const seq = docs(readManifestString(lines("- a", "- - b", "  - c", "- k: v", "  j:", "  - x", "  - y")));
    const [d] = seq;
    expect(fieldLine(d!, [1, 1])).toBe(3);
    expect(fieldLine(d!, [2, "j", 1])).toBe(7);
    expect(fieldLine(d!, [2, "k"])).toBe(4);
  });

  it("finds fields in JSON files", async () => {
    const file = put("j.json", '{\n  "kind": "Job",\n  "spec": {\n    "resources": {"cpu": 1,\n      "memory": "1Gi"}\n  }\n}\n');
    const [d] = docs(await readManifestFile(file));
    expect(fieldLine(d!, "spec.resources.memory")).toBe(5);
    expect(fieldLine(d!, "spec.resources.cpu")).toBe(4);
    expect(fieldPosition(d!, "spec.missing")).toEqual({ line: 3, found: false });
  });
});
