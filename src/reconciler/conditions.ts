import type { Condition } from "../api/status.js";

/** The condition shape is the API's (as Kubernetes `metav1.Condition`); these helpers keep its rules. */
export type { Condition, ConditionStatus } from "../api/status.js";

/** A condition to set; `lastTransitionTime` is filled in by `setCondition`. */
export type ConditionInput = Omit<Condition, "lastTransitionTime">;

const CAMEL_CASE = /^[A-Z][A-Za-z0-9]*$/;

/**
 * Returns `conditions` with `cond` set, as Kubernetes `meta.SetStatusCondition`: the
 * transition time moves only when the status flips, so "Ready since" stays truthful across
 * reconciles that merely re-state it. Returns the same array when nothing changed, so callers
 * can skip writing status (`next === conditions`).
 */
export function setCondition(
  conditions: readonly Condition[],
  cond: ConditionInput,
  now: Date | string = new Date(),
): Condition[] {
  if (!CAMEL_CASE.test(cond.reason)) {
    throw new TypeError(`Cannot set condition '${cond.type}': reason '${cond.reason}' is not CamelCase`);
  }
  const time = typeof now === "string" ? now : now.toISOString();
  const index = conditions.findIndex((c) => c.type === cond.type);
  const existing = index >= 0 ? conditions[index] : undefined;
  if (!existing) {
    return [...conditions, { ...cond, lastTransitionTime: time }];
  }
  if (existing.status === cond.status && existing.reason === cond.reason && existing.message === cond.message) {
    return conditions as Condition[];
  }
  const next = [...conditions];
  next[index] = {
    type: cond.type,
    status: cond.status,
    reason: cond.reason,
    message: cond.message,
    lastTransitionTime: existing.status === cond.status ? existing.lastTransitionTime : time,
  };
  return next;
}

/** Returns `conditions` without the condition of `type` (the same array if absent). */
export function removeCondition(conditions: readonly Condition[], type: string): Condition[] {
  const next = conditions.filter((c) => c.type !== type);
  return next.length === conditions.length ? (conditions as Condition[]) : next;
}

/** Where an object's manifest came from, and what is wrong with it, if anything (the daemon's manifest entries fit). */
export interface ManifestSource {
  file: string;
  problem?: { reason: string; message: string };
}

/**
 * `type` (Valid, or Ready for Jobs) False while the manifest is broken or its
 * name claimed twice, and the last good spec stays in use; True, naming the
 * file, otherwise.
 */
export function manifestCondition(conditions: readonly Condition[], type: string, source: ManifestSource): Condition[] {
  if (source.problem) return setCondition(conditions, { type, status: "False", reason: source.problem.reason, message: source.problem.message });
  return setCondition(conditions, { type, status: "True", reason: "Valid", message: `From ${source.file}` });
}

export function getCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return getCondition(conditions, type)?.status === "True";
}

export function isFalse(conditions: readonly Condition[] | undefined, type: string): boolean {
  return getCondition(conditions, type)?.status === "False";
}
