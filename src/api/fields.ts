/**
 * Field schemas shared by the kinds. Every check reports only its reason
 * ("is not a quantity (...)"): errors.ts puts the kind, name, path and value
 * in front, so each message names all four without each schema repeating them.
 */
import { z } from "zod";
import { CORES_PATTERN, QUANTITY_PATTERN, checkBytes, checkCores } from "./quantity.js";
import { DNS_LABEL_PATTERN, dnsLabelProblem, envNameProblem, ENV_NAME_PATTERN } from "./names.js";

/** Adds a custom issue carrying `problem(value)` when it returns a reason. */
export function checked<T extends z.ZodType>(schema: T, problem: (value: z.output<T>) => string | undefined): T {
  return schema.superRefine((value, ctx) => {
    const reason = problem(value);
    if (reason !== undefined) ctx.addIssue({ code: "custom", message: reason });
  }) as T;
}

const stringOrNumber = (what: string) => z.union([z.string(), z.number()], { error: `must be ${what} (a string or a number)` });

/** A byte quantity greater than zero, kept as written ("512Mi"); parseBytes gives the number. */
export function bytes(description: string) {
  return checked(stringOrNumber("a quantity"), (value) => {
    const check = checkBytes(value);
    if (!check.ok) return check.reason;
    return check.value === 0 ? "must be greater than zero" : undefined;
  }).meta({ description, pattern: QUANTITY_PATTERN, examples: ["512Mi", "1Gi", 1000000] });
}

/** A CPU quantity greater than zero, kept as written ("250m"); parseCores gives cores. */
export function cores(description: string) {
  return checked(stringOrNumber("a CPU quantity"), (value) => {
    const check = checkCores(value);
    if (!check.ok) return check.reason;
    return check.value === 0 ? "must be greater than zero" : undefined;
  }).meta({ description, pattern: CORES_PATTERN, examples: ["0.5", "250m", 2] });
}

export function nonEmpty(description: string) {
  return z.string().min(1).meta({ description });
}

export function int(min: number, description: string) {
  return z.int().min(min).meta({ description });
}

/** The name of another object (a Volume, a Network): a DNS-1123 label. */
export function objectName(description: string) {
  return checked(z.string(), dnsLabelProblem).meta({ description, pattern: DNS_LABEL_PATTERN });
}

export function envName(description: string) {
  return checked(z.string(), envNameProblem).meta({ description, pattern: ENV_NAME_PATTERN });
}

/** Why `path` is not a relative path that stays below its base, or undefined. */
export function relativePathProblem(path: string): string | undefined {
  if (path === "") return "must not be empty";
  if (path.includes("\0")) return "must not contain a NUL byte";
  if (path.startsWith("/")) return "must be a relative path (no leading '/')";
  if (path.split("/").includes("..")) return "must not contain '..'";
  return undefined;
}

export function absolutePathProblem(path: string): string | undefined {
  if (!path.startsWith("/")) return "must be an absolute path";
  if (path.includes("\0")) return "must not contain a NUL byte";
  if (path.split("/").includes("..")) return "must not contain '..'";
  return undefined;
}

export function relativePath(description: string) {
  return checked(z.string(), relativePathProblem).meta({ description });
}

export function absolutePath(description: string) {
  return checked(z.string(), absolutePathProblem).meta({ description, pattern: "^/" });
}

/** A list whose items' `key` must be unique ("volume 'data' is listed twice"). */
export function uniqueBy<T extends z.ZodType>(item: T, key: (value: z.output<T>) => string, what: string) {
  return z.array(item).superRefine((items, ctx) => {
    const seen = new Set<string>();
    items.forEach((value, index) => {
      const k = key(value);
      if (seen.has(k)) ctx.addIssue({ code: "custom", path: [index], message: `repeats ${what} '${k}'` });
      seen.add(k);
    });
  });
}
