import type { WorkQueue } from "./workqueue.js";

/** What a reconcile asks of the runner besides "done". */
export interface ReconcileResult {
  /** Look at the object again after this many ms (a deadline, a TTL, polling a run); 0 or less: at once. */
  requeueAfter?: number;
}

/** Structural subset of a pino logger, so any pino child logger can be passed. */
export interface ControllerLogger {
  error(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface ControllerOptions<K> {
  /** Shown in logs ("job", "runtime", ...). */
  name: string;
  queue: WorkQueue<K>;
  /** How many keys are reconciled concurrently. Default 1. */
  workers?: number;
  /**
   * Converges the object named by `key`. Throwing retries the key with per-key exponential
   * backoff; returning normally resets that backoff.
   */
  reconcile(key: K): Promise<ReconcileResult | void>;
  logger?: ControllerLogger;
}

export interface StopOptions {
  /** Reconcile the keys already queued before stopping (default: drop them). */
  drain?: boolean;
}

export interface RunningController {
  /** Stops handing out keys and resolves once every in-flight reconcile has returned. */
  stop(options?: StopOptions): Promise<void>;
  /** Resolves when all workers have exited (after `stop`, or if the queue is shut down). */
  readonly stopped: Promise<void>;
}

/**
 * Runs `workers` loops that take keys from the queue and reconcile them. The queue, not the
 * runner, guarantees that two workers never hold the same key.
 */
export function runController<K>(options: ControllerOptions<K>): RunningController {
  const { name, queue, reconcile, logger } = options;
  const workers = options.workers ?? 1;
  if (!Number.isInteger(workers) || workers < 1) {
    throw new RangeError(`Cannot run controller '${name}' with ${workers} workers: it needs a positive integer`);
  }

  async function processOne(key: K): Promise<void> {
    try {
      // Called through a promise so that a synchronous throw is handled like a rejection.
      const result = await Promise.resolve().then(() => reconcile(key));
      queue.forget(key);
      // A delay that ran out while the reconcile was still busy (a status write after
      // computing it) means "look again now": dropping it would lose the wake-up.
      const after = result?.requeueAfter;
      if (after !== undefined) queue.addAfter(key, after);
    } catch (err) {
      queue.addRateLimited(key);
      logger?.error(
        { controller: name, key, err, retries: queue.numRequeues(key) },
        `Reconcile of '${String(key)}' failed; retrying with backoff`,
      );
    } finally {
      queue.done(key);
    }
  }

  async function worker(): Promise<void> {
    for (let key = await queue.get(); key !== undefined; key = await queue.get()) {
      await processOne(key);
    }
  }

  const stopped = Promise.all(Array.from({ length: workers }, () => worker())).then(() => {
    logger?.debug({ controller: name }, `Controller '${name}' stopped`);
  });

  return {
    stopped,
    async stop(stopOptions: StopOptions = {}): Promise<void> {
      if (stopOptions.drain) await queue.shutDownWithDrain();
      else queue.shutDown();
      await stopped;
    },
  };
}
