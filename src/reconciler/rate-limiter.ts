/**
 * Per-key exponential backoff, the policy of client-go's ItemExponentialFailureRateLimiter:
 * the n-th consecutive failure of a key waits `base * 2^n`, capped at `max`. A success
 * (`forget`) starts the key over, so one flaky object never slows down the others.
 */
export interface RateLimiter<K> {
  /** Records a failure of `key` and returns how long to wait before retrying it (ms). */
  when(key: K): number;
  /** Forgets the failures of `key` (after a successful reconcile). */
  forget(key: K): void;
  /** How many failures of `key` are on record. */
  numRequeues(key: K): number;
}

export interface ExponentialBackoffOptions {
  /** Delay after the first failure, ms. Default 5. */
  baseMs?: number;
  /** Upper bound of the delay, ms. Default 5 minutes. */
  maxMs?: number;
}

export const DEFAULT_BACKOFF_BASE_MS = 5;
export const DEFAULT_BACKOFF_MAX_MS = 5 * 60_000;

export class ExponentialBackoff<K> implements RateLimiter<K> {
  readonly baseMs: number;
  readonly maxMs: number;
  #failures = new Map<K, number>();

  constructor(options: ExponentialBackoffOptions = {}) {
    this.baseMs = options.baseMs ?? DEFAULT_BACKOFF_BASE_MS;
    this.maxMs = options.maxMs ?? DEFAULT_BACKOFF_MAX_MS;
    if (!(this.baseMs > 0) || !(this.maxMs >= this.baseMs)) {
      throw new RangeError(
        `Cannot create a backoff with base ${this.baseMs} ms and cap ${this.maxMs} ms: the base must be positive and the cap at least the base`,
      );
    }
  }

  when(key: K): number {
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    // 2^failures overflows to Infinity long after the cap is reached; min() handles that.
    return Math.min(this.maxMs, this.baseMs * 2 ** failures);
  }

  forget(key: K): void {
    this.#failures.delete(key);
  }

  numRequeues(key: K): number {
    return this.#failures.get(key) ?? 0;
  }
}
