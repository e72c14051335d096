/**
 * runtime.yml, the original Joblet's description of an installed runtime:
 *
 *   name: python-3.11-ml
 *   version: "3.11"
 *   mounts:
 *     - source: "isolated/usr/bin"      # relative to the runtime's directory
 *       target: "/usr/bin"
 *       readonly: true
 *   environment:
 *     PATH_PREPEND: "/usr/local/bin"
 *   requirements:
 *     architectures: ["x86_64", "amd64"]
 *
 * Files written by the original are accepted as they are: fields joblet has
 * no use for (features, package_manager, system, binaries...) are ignored.
 * joblet writes the same format back, with `test` added, so that a runtime
 * it packs stays readable by the original.
 */
import { dump, load } from "js-yaml";
import { z } from "zod";
import { checkBytes, type RuntimeConfig } from "../api/index.js";
import { RuntimeSourceError } from "./build-context.js";

const scalar = z.union([z.string(), z.number()]).transform(String);

const fileSchema = z.looseObject({
  name: scalar.optional(),
  version: scalar.optional(),
  description: z.string().optional(),
  mounts: z
    .array(
      z.looseObject({
        source: z.string().min(1),
        target: z.string().min(1),
        readonly: z.boolean().optional(),
        readOnly: z.boolean().optional(),
        selective: z.array(z.string()).optional(),
      }),
    )
    .optional(),
  environment: z.record(z.string(), scalar).optional(),
  requirements: z
    .looseObject({
      architectures: z.array(z.string()).optional(),
      min_memory: scalar.optional(),
      minMemory: scalar.optional(),
      min_ram_mb: z.number().optional(),
    })
    .optional(),
  test: z.looseObject({ command: z.array(z.string()).min(1) }).optional(),
});

/** A mount as runtime.yml writes it: source relative to the runtime's directory. */
export interface RuntimeYmlMount {
  source: string;
  target: string;
  readOnly: boolean;
  selective?: string[];
}

export interface RuntimeYml {
  name?: string;
  version?: string;
  description?: string;
  mounts: RuntimeYmlMount[];
  environment: Record<string, string>;
  requirements?: { architectures?: string[]; minMemoryBytes?: number };
  test?: { command: string[] };
}

/** Parses runtime.yml; `file` names it in errors. */
export function parseRuntimeYml(text: string, file: string): RuntimeYml {
  let doc: unknown;
  try {
    doc = load(text);
  } catch (e) {
    throw new RuntimeSourceError(`${file}: not valid YAML: ${(e as Error).message.split("\n")[0]}`);
  }
  if (doc === null || doc === undefined) doc = {};
  const parsed = fileSchema.safeParse(doc);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.join(".") || "(document)";
    throw new RuntimeSourceError(`${file}: field '${field}': ${issue.message}`);
  }
  const d = parsed.data;
  const out: RuntimeYml = {
    mounts: (d.mounts ?? []).map((m) => ({
      source: m.source,
      target: m.target,
      readOnly: m.readonly ?? m.readOnly ?? true,
      ...(m.selective ? { selective: m.selective } : {}),
    })),
    environment: d.environment ?? {},
  };
  if (d.name !== undefined) out.name = d.name;
  if (d.version !== undefined) out.version = d.version;
  if (d.description !== undefined) out.description = d.description;
  if (d.test) out.test = { command: d.test.command };
  const r = d.requirements;
  if (r) {
    const requirements: NonNullable<RuntimeYml["requirements"]> = {};
    if (r.architectures) requirements.architectures = r.architectures;
    const memory = r.minMemory ?? r.min_memory;
    if (memory !== undefined) {
      const check = checkBytes(memory);
      if (!check.ok) throw new RuntimeSourceError(`${file}: field 'requirements.min_memory': '${memory}' ${check.reason}`);
      requirements.minMemoryBytes = check.value;
    } else if (r.min_ram_mb !== undefined) {
      requirements.minMemoryBytes = r.min_ram_mb * 1024 * 1024;
    }
    out.requirements = requirements;
  }
  return out;
}

/** runtime.yml as joblet writes it for an installed build: the original's format, sources under isolated/. */
export function formatRuntimeYml(name: string, config: RuntimeConfig): string {
  const doc: Record<string, unknown> = { name };
  if (config.version !== undefined) doc.version = config.version;
  if (config.description !== undefined) doc.description = config.description;
  doc.mounts = config.mounts.map((m) => ({ source: `isolated/${m.source}`, target: m.target, readonly: true }));
  doc.environment = config.environment;
  if (config.requirements) {
    const r: Record<string, unknown> = {};
    if (config.requirements.architectures) r.architectures = config.requirements.architectures;
    if (config.requirements.minMemoryBytes !== undefined) r.min_memory = String(config.requirements.minMemoryBytes);
    doc.requirements = r;
  }
  if (config.test) doc.test = { command: config.test.command };
  return `# Written by joblet for the installed runtime; the source's own file, if any, is runtime.yml.original.\n${dump(doc, { lineWidth: 120 })}`;
}
