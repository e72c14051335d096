// The generic reconcile machinery, for the controllers and the daemon's wiring.
export { Fifo } from "./fifo.js";
export {
  DEFAULT_BACKOFF_BASE_MS,
  DEFAULT_BACKOFF_MAX_MS,
  ExponentialBackoff,
  type ExponentialBackoffOptions,
  type RateLimiter,
} from "./rate-limiter.js";
export { WorkQueue, type WorkQueueOptions } from "./workqueue.js";
export {
  runController,
  type ControllerLogger,
  type ControllerOptions,
  type ReconcileResult,
  type RunningController,
  type StopOptions,
} from "./controller.js";
export type { Closer, ObjectSource, WatchHint } from "./source.js";
export { Informer, type InformerHandlers, type InformerOptions } from "./informer.js";
export { watchDirectory, type DirectoryWatch, type DirectoryWatchOptions } from "./directory-watcher.js";
export { isIgnoredName, isIgnoredPath } from "./ignored-files.js";
export {
  getCondition,
  isFalse,
  isTrue,
  manifestCondition,
  removeCondition,
  setCondition,
  type Condition,
  type ConditionInput,
  type ConditionStatus,
  type ManifestSource,
} from "./conditions.js";
export { EventLog, type EventLogOptions, type EventType, type ObjectEvent } from "./events.js";
export { isObserved, markObserved, type ObservedStatus } from "./generation.js";
export { RemovalGrace } from "./removal-grace.js";
export { EVENTS_KEPT, lastGoodObject, storedMetadata, withEvents } from "./stored-object.js";
