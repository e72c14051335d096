/**
 * The envelope every manifest shares: apiVersion, kind, metadata, spec. A
 * manifest is desired state only; status belongs to joblet's status store and
 * is refused here so that a `get -o yaml` pasted back is not mistaken for input.
 */
import { z } from "zod";
import { checked } from "./fields.js";
import { DNS_LABEL_PATTERN, RUNTIME_NAME_PATTERN, dnsLabelProblem, runtimeNameProblem, labelKeyProblem, labelValueProblem } from "./names.js";

export const API_VERSION = "joblet/v1";
export const KINDS = ["Job", "Runtime", "Volume", "Network"] as const;
export type Kind = (typeof KINDS)[number];

/** Fields joblet writes and users must not: named so the error can say why. */
export const SYSTEM_FIELDS: Record<string, string> = {
  status: "status is written by joblet, not by manifests; remove it",
  "metadata.generation": "metadata.generation is derived from the spec by joblet; remove it",
};

const labels = checked(z.record(z.string(), z.string()), (map) => {
  for (const [key, value] of Object.entries(map)) {
    const keyProblem = labelKeyProblem(key);
    if (keyProblem !== undefined) return `key '${key}' ${keyProblem}`;
    const valueProblem = labelValueProblem(value);
    if (valueProblem !== undefined) return `value '${value}' of '${key}' ${valueProblem}`;
  }
  return undefined;
}).meta({ description: "Identifying key/value pairs (Kubernetes label rules)." });

const annotations = checked(z.record(z.string(), z.string()), (map) => {
  for (const key of Object.keys(map)) {
    const keyProblem = labelKeyProblem(key);
    if (keyProblem !== undefined) return `key '${key}' ${keyProblem}`;
  }
  return undefined;
}).meta({ description: "Free-form notes for tools, e.g. joblet/prune: \"false\"." });

/** Names are DNS-1123 labels; Runtime names may also hold dots and an @VERSION suffix. */
export type NameRule = "label" | "runtime";

export function metadataSchema(rule: NameRule = "label") {
  const name =
    rule === "label"
      ? checked(z.string(), dnsLabelProblem).meta({ description: "DNS-1123 label: lowercase letters, digits and '-', at most 63.", pattern: DNS_LABEL_PATTERN })
      : checked(z.string(), runtimeNameProblem).meta({
          description: "Lowercase letters, digits, '-' and '.', at most 63; optionally @VERSION for versions side by side.",
          pattern: RUNTIME_NAME_PATTERN,
        });
  return z.strictObject({ name, labels: labels.optional(), annotations: annotations.optional() });
}

/** The whole manifest of one kind. */
export function manifestSchema<K extends Kind, S extends z.ZodType>(kind: K, spec: S, rule: NameRule = "label") {
  return z
    .strictObject({
      apiVersion: z.literal(API_VERSION),
      kind: z.literal(kind),
      metadata: metadataSchema(rule),
      spec,
    })
    .meta({ title: `joblet ${kind}` });
}
