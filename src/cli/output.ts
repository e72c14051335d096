/** -o wide|yaml|json|name: declared once for get (and anything that prints objects later). */
import { Option } from "commander";
import { toYaml } from "../store/index.js";
import { CliError } from "./io.js";
import { ref } from "./kinds.js";
import type { ShownObject } from "./objects.js";

export const OUTPUT_FORMATS = ["wide", "yaml", "json", "name"] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export function outputOption(): Option {
  return new Option("-o, --output <format>", `output format: ${OUTPUT_FORMATS.join("|")} (default: a table)`);
}

export function parseOutput(value: string | undefined): OutputFormat | undefined {
  if (value === undefined) return undefined;
  if ((OUTPUT_FORMATS as readonly string[]).includes(value)) return value as OutputFormat;
  throw new CliError(`Output format '${value}' is not one of ${OUTPUT_FORMATS.join(", ")}`);
}

/** One object, or kubectl's List when `list` is set. */
export function printObjects(format: "yaml" | "json" | "name", objects: ShownObject[], list: boolean): string {
  if (format === "name") return objects.map((o) => `${ref(o.object.kind, o.object.metadata.name)}\n`).join("");
  const value = list ? { apiVersion: "joblet/v1", kind: "List", items: objects.map((o) => o.object) } : objects[0]?.object;
  return format === "json" ? `${JSON.stringify(value, null, 2)}\n` : toYaml(value);
}
