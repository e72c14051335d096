/**
 * JSON Schema for editors, generated from the zod schemas so the two never
 * disagree. Regenerate after changing a schema (the api-schema test fails
 * until you do):
 *
 *   npx tsc -p tsconfig.json && node dist/src/api/schema-gen.js --write
 *
 * Draft 7 because yaml-language-server (the VS Code YAML extension) supports
 * it fully; manifests opt in with
 * `# yaml-language-server: $schema=../schema/job.json`.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { jobSchema } from "./job.js";
import { networkSchema } from "./network.js";
import { runtimeSchema } from "./runtime.js";
import { volumeSchema } from "./volume.js";

const SCHEMAS: Record<string, z.ZodType> = {
  "job.json": jobSchema,
  "runtime.json": runtimeSchema,
  "volume.json": volumeSchema,
  "network.json": networkSchema,
};

/** Object keys sorted at every level: a reordered schema field must not show up as a diff. */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]),
  );
}

/** file name -> JSON Schema, as written to manifests/schema/. */
export function generateSchemas(): Record<string, object> {
  const out: Record<string, object> = {};
  for (const [file, schema] of Object.entries(SCHEMAS)) {
    // io "input": defaulted fields are optional to the writer of a manifest.
    out[file] = sortKeys(z.toJSONSchema(schema, { io: "input", target: "draft-7" })) as object;
  }
  return out;
}

/** The exact file contents: two-space indent and a trailing newline. */
export function renderSchema(schema: object): string {
  return `${JSON.stringify(schema, null, 2)}\n`;
}

export const SCHEMA_DIR = "manifests/schema";
export const GENERATE_COMMAND = "npx tsc -p tsconfig.json && node dist/src/api/schema-gen.js --write";

/** Without --write, prints the schemas as one JSON object (for a look, or a pipe). */
function main(argv: string[]): void {
  const schemas = generateSchemas();
  if (!argv.includes("--write")) {
    process.stdout.write(renderSchema(schemas));
    return;
  }
  for (const [file, schema] of Object.entries(schemas)) {
    const path = join(process.cwd(), SCHEMA_DIR, file);
    writeFileSync(path, renderSchema(schema));
    process.stdout.write(`wrote ${path}\n`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
