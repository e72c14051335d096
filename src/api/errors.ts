/**
 * Turns zod issues into sentences a user can act on: each names the object,
 * the field's full path, the value found and the reason, e.g.
 * "Job 'train': spec.resources.memory '12Zi' is not a quantity (e.g. 512Mi, 1Gi, 1000000)".
 * Unknown fields get a "did you mean" from the keys allowed at that level.
 */
import type { z } from "zod";
import { SYSTEM_FIELDS } from "./meta.js";
import { didYouMean } from "./suggest.js";

export type PathSegment = string | number;

export interface ManifestError {
  /** Keys and indexes into the document, for locating the line in a YAML file. */
  path: PathSegment[];
  /** The path as messages write it: "spec.env[0].name". */
  field: string;
  /** One sentence naming the object, field, value and reason. */
  message: string;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_-]*$/;

export function formatPath(path: readonly PathSegment[]): string {
  let out = "";
  for (const segment of path) {
    if (typeof segment === "number") out += `[${segment}]`;
    else if (IDENTIFIER.test(segment)) out += out === "" ? segment : `.${segment}`;
    else out += `['${segment}']`;
  }
  return out;
}

/** The value as a message quotes it; lists and mappings are not quoted, the path says enough. */
export function formatValue(value: unknown): string | undefined {
  if (typeof value === "string") return `'${value.length > 60 ? `${value.slice(0, 57)}...` : value}'`;
  if (typeof value === "number" || typeof value === "boolean" || value === null) return String(value);
  return undefined;
}

export function valueAt(doc: unknown, path: readonly PathSegment[]): unknown {
  let current = doc;
  for (const segment of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<PathSegment, unknown>)[segment];
  }
  return current;
}

/** "Job 'x': " when the name is known, "Job: " when only the kind is. */
export function subject(kind: string | undefined, name: unknown): string {
  if (kind === undefined) return "";
  return typeof name === "string" && name !== "" ? `${kind} '${name}': ` : `${kind}: `;
}

// Just enough of zod's internal definition to walk from a path to its schema.
interface Def {
  type: string;
  innerType?: Schema;
  in?: Schema;
  shape?: Record<string, Schema>;
  element?: Schema;
  valueType?: Schema;
  options?: Schema[];
}
interface Schema {
  _zod: { def: Def };
}

function unwrap(schema: Schema | undefined): Schema | undefined {
  let current = schema;
  while (current !== undefined) {
    const def: Def = current._zod.def;
    if (def.innerType !== undefined) current = def.innerType;
    else if (def.type === "pipe" && def.in !== undefined) current = def.in;
    // A string-or-mapping field (spec.schedule): its keys are the mapping's.
    else if (def.type === "union" && def.options) current = def.options.map(unwrap).find((option) => option?._zod.def.type === "object");
    else break;
  }
  return current;
}

/** The keys a strict object at `path` allows, for suggestions. */
export function allowedKeysAt(root: z.ZodType, path: readonly PathSegment[]): string[] {
  let current = unwrap(root as unknown as Schema);
  for (const segment of path) {
    const def = current?._zod.def;
    if (def === undefined) return [];
    if (def.type === "object" && typeof segment === "string") current = unwrap(def.shape?.[segment]);
    else if (def.type === "array") current = unwrap(def.element);
    else if (def.type === "record") current = unwrap(def.valueType);
    else return [];
  }
  const def = current?._zod.def;
  return def?.type === "object" && def.shape ? Object.keys(def.shape) : [];
}

const EXPECTED: Record<string, string> = {
  string: "must be a string",
  number: "must be a number",
  int: "must be a whole number",
  boolean: "must be true or false",
  array: "must be a list",
  object: "must be a mapping",
  record: "must be a mapping",
};

function quoteAll(values: readonly unknown[]): string {
  return values.map((v) => (typeof v === "string" ? `'${v}'` : String(v))).join(", ");
}

/** The reason part of one issue's sentence. */
function reasonFor(issue: z.core.$ZodIssue, value: unknown): string {
  // A missing field fails a type or union check; saying "is required" is clearer.
  if (value === undefined && (issue.code === "invalid_type" || issue.code === "invalid_union")) return "is required";
  switch (issue.code) {
    case "invalid_type":
      return EXPECTED[issue.expected] ?? `must be ${issue.expected}`;
    case "invalid_value": {
      if (issue.values.length === 1) return `must be ${quoteAll(issue.values)}`;
      const hint = typeof value === "string" ? didYouMean(value, issue.values.map(String)) : "";
      return `must be one of ${quoteAll(issue.values)}${hint}`;
    }
    case "too_small":
      if (issue.origin === "array") return Number(issue.minimum) === 1 ? "must not be empty" : `must have at least ${issue.minimum} items`;
      if (issue.origin === "string") return Number(issue.minimum) === 1 ? "must not be empty" : `must be at least ${issue.minimum} characters`;
      return issue.inclusive === false ? `must be greater than ${issue.minimum}` : `must be at least ${issue.minimum}`;
    case "too_big":
      if (issue.origin === "array") return `must have at most ${issue.maximum} items`;
      if (issue.origin === "string") return `must be at most ${issue.maximum} characters`;
      return issue.inclusive === false ? `must be less than ${issue.maximum}` : `must be at most ${issue.maximum}`;
    default:
      return issue.message;
  }
}

/**
 * A value that fits none of a union's shapes: when all shapes but one fail on
 * the value's type itself (a string given where a mapping is one option), the
 * user meant that one, and its own issues say what is wrong.
 */
function unionBranch(issue: z.core.$ZodIssue): z.core.$ZodIssue[] {
  if (issue.code !== "invalid_union" || issue.errors.length === 0) return [issue];
  const meant = issue.errors.filter((branch) => !branch.every((i) => i.code === "invalid_type" && i.path.length === 0));
  if (meant.length !== 1) return [issue];
  return meant[0]!.map((inner) => ({ ...inner, path: [...issue.path, ...inner.path] }) as z.core.$ZodIssue).flatMap(unionBranch);
}

/** Readable errors for every issue of a failed parse of `doc` against `schema`. */
export function manifestErrors(
  issues: readonly z.core.$ZodIssue[],
  doc: unknown,
  schema: z.ZodType,
  kind: string | undefined,
): ManifestError[] {
  const who = subject(kind, valueAt(doc, ["metadata", "name"]));
  const errors: ManifestError[] = [];
  for (const issue of issues.flatMap(unionBranch)) {
    const base = issue.path.filter((s): s is PathSegment => typeof s !== "symbol");
    if (issue.code === "unrecognized_keys") {
      const allowed = allowedKeysAt(schema, base);
      for (const key of issue.keys) {
        const path = [...base, key];
        const field = formatPath(path);
        const fixed = SYSTEM_FIELDS[field];
        const where = base.length === 0 ? "" : ` of ${formatPath(base)}`;
        const reason = fixed ?? `${field} is not a known field${where}${didYouMean(key, allowed)}`;
        errors.push({ path, field, message: `${who}${reason}` });
      }
      continue;
    }
    const value = valueAt(doc, base);
    const field = formatPath(base);
    const shown = formatValue(value);
    const reason = reasonFor(issue, value);
    const head = [field, reason === "is required" ? undefined : shown].filter((part) => part !== undefined && part !== "");
    errors.push({ path: base, field, message: `${who}${[...head, reason].join(" ")}` });
  }
  return errors;
}
