import type { Logger } from "pino";
import type { ManifestEntry } from "../daemon/manifest-source.js";
import type { EventLog, WorkQueue } from "../reconciler/index.js";
import type { StateLayout, StatusStore } from "../store/index.js";

/** What every kind's controller is given by the daemon. */
export interface ControllerOptions {
  layout: StateLayout;
  statuses: StatusStore;
  /** The informer's cache: kind/name -> entry. */
  desired: { get(key: string): ManifestEntry | undefined };
  /** The kind's own queue of keys to reconcile. */
  queue: WorkQueue<string>;
  events: EventLog;
  logger: Logger;
}
