/** The part of a status that records which spec it describes. */
export interface ObservedStatus {
  observedGeneration?: number | string;
}

/**
 * Whether `status` already describes the spec of `generation`. Generations are counters or
 * content hashes (DESIGN.md), so they are compared for equality, never ordered.
 */
export function isObserved(status: ObservedStatus | undefined, generation: number | string): boolean {
  return status?.observedGeneration !== undefined && status.observedGeneration === generation;
}

/** Returns `status` stamped as describing `generation`. */
export function markObserved<S extends ObservedStatus>(status: S, generation: number | string): S {
  return status.observedGeneration === generation ? status : { ...status, observedGeneration: generation };
}
