import { readFileSync, readdirSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { CORE_SCHEMA, load } from "js-yaml";
import { describe, expect, it } from "vitest";
import { parseManifest } from "../../src/api/index.js";
import { GENERATE_COMMAND, SCHEMA_DIR, generateSchemas, renderSchema } from "../../src/api/schema-gen.js";

const repoDir = join(import.meta.dirname, "../..");
const examplesDir = join(repoDir, "manifests/examples");

describe("generated JSON Schema", () => {
  it("matches the committed files in manifests/schema", () => {
    const schemas = generateSchemas();
    expect(Object.keys(schemas).sort()).toEqual(["job.json", "network.json", "runtime.json", "volume.json"]);
    for (const [file, schema] of Object.entries(schemas)) {
      const path = join(repoDir, SCHEMA_DIR, file);
      const committed = existsSync(path) ? readFileSync(path, "utf8") : "";
      expect(committed, `${SCHEMA_DIR}/${file} is stale; run: ${GENERATE_COMMAND}`).toBe(renderSchema(schema));
    }
  });

  it("is strict and carries defaults and quantity patterns for editors", () => {
    const job = generateSchemas()["job.json"] as { additionalProperties: boolean; properties: { spec: { properties: Record<string, Record<string, unknown>> } } };
    const spec = job.properties.spec.properties;
    expect(job.additionalProperties).toBe(false);
    expect(spec.restartPolicy).toMatchObject({ default: "Never", enum: ["Never", "OnFailure"] });
    expect(spec.backoffLimit).toMatchObject({ default: 6, minimum: 0, type: "integer" });
    const memory = (spec.resources as { properties: Record<string, Record<string, unknown>> }).properties.memory;
    expect(memory).toMatchObject({ type: ["string", "number"] });
    expect(new RegExp(memory?.pattern as string).test("512Mi")).toBe(true);
    expect(new RegExp(memory?.pattern as string).test("12Zi")).toBe(false);
  });
});

describe("examples", () => {
  const files = readdirSync(examplesDir).filter((name) => name.endsWith(".yaml"));

  it("cover every kind", () => {
    const kinds = files.map((name) => (load(readFileSync(join(examplesDir, name), "utf8"), { schema: CORE_SCHEMA }) as { kind: string }).kind);
    expect(new Set(kinds)).toEqual(new Set(["Job", "Runtime", "Volume", "Network"]));
    expect(files.length).toBeGreaterThanOrEqual(7);
  });

  it.each(files)("%s is valid, names its schema and its files exist", (name) => {
    const text = readFileSync(join(examplesDir, name), "utf8");
    const result = parseManifest(load(text, { schema: CORE_SCHEMA }));
    if (!result.ok) expect.fail(result.errors.map((error) => error.message).join("\n"));
    const object = result.object;
    expect(text.split("\n")[0]).toBe(`# yaml-language-server: $schema=../schema/${object.kind.toLowerCase()}.json`);
    if (object.kind === "Job") {
      for (const file of object.spec.files ?? []) expect(existsSync(join(dirname(join(examplesDir, name)), file.path))).toBe(true);
    }
  });
});

describe("shipped runtimes in manifests/runtimes", () => {
  const runtimesDir = join(repoDir, "manifests/runtimes");
  const files = readdirSync(runtimesDir).filter((name) => name.endsWith(".yaml"));

  it("are python-3.11-ml, java-17 and node-18", () => {
    expect(files.sort()).toEqual(["java-17.yaml", "node-18.yaml", "python-3.11-ml.yaml"]);
  });

  it.each(files)("%s is a valid Debian Runtime with a test command", (name) => {
    const text = readFileSync(join(runtimesDir, name), "utf8");
    const result = parseManifest(load(text, { schema: CORE_SCHEMA }));
    if (!result.ok) expect.fail(result.errors.map((error) => error.message).join("\n"));
    const object = result.object;
    expect(object.kind).toBe("Runtime");
    if (object.kind !== "Runtime") return;
    expect(`${object.metadata.name}.yaml`).toBe(name);
    expect(object.spec.source.debian?.suite).toBe("bookworm");
    expect(object.spec.test?.command.length).toBeGreaterThan(0);
  });
});
