/** Order statistics over one peer's per-iteration durations. */

export interface Summary {
  count: number;
  medianMs: number;
  p90Ms: number;
  p99Ms: number;
  minMs: number;
  maxMs: number;
}

/**
 * Nearest-rank percentile of an ascending array: the smallest sample such that
 * at least p% of the samples are <= it. No interpolation, so p99 of 200 runs is
 * a duration that really happened (the 198th).
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) throw new RangeError("Cannot take a percentile of no samples");
  if (!(p > 0 && p <= 100)) throw new RangeError(`Cannot take percentile ${p}: it must be in (0, 100]`);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(rank, sorted.length) - 1] as number;
}

/** Median of an ascending array; the mean of the two middle samples when the count is even. */
export function median(sorted: ArrayLike<number>): number {
  const n = sorted.length;
  if (n === 0) throw new RangeError("Cannot take the median of no samples");
  const mid = n >> 1;
  return n % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Summarise durations given in nanoseconds; the summary is in milliseconds. */
export function summarize(durationsNs: ArrayLike<number>): Summary {
  const sorted = Float64Array.from(durationsNs).sort();
  const ms = (ns: number) => ns / 1e6;
  return {
    count: sorted.length,
    medianMs: ms(median(sorted)),
    p90Ms: ms(percentile(sorted, 90)),
    p99Ms: ms(percentile(sorted, 99)),
    minMs: ms(sorted[0] as number),
    maxMs: ms(sorted[sorted.length - 1] as number),
  };
}
