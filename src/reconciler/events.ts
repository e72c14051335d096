export type EventType = "Normal" | "Warning";

/** What happened to an object, for `joblet describe` (as Kubernetes Events). */
export interface ObjectEvent {
  type: EventType;
  /** CamelCase: `Started`, `BackOff`, `InvalidManifest`. */
  reason: string;
  message: string;
  /** How many times this same event was recorded. */
  count: number;
  firstTimestamp: string;
  lastTimestamp: string;
}

export interface EventLogOptions {
  /** Events kept per object; the oldest go first. Default 50. */
  maxPerObject?: number;
  /** Objects kept; the least recently recorded go first. Default 10,000. */
  maxObjects?: number;
}

/**
 * An in-memory, bounded event log keyed by object (`kind/name`).
 *
 * A crash-looping job would otherwise fill memory and `describe` with the same line, so an
 * event identical in type, reason and message to one already kept is folded into it: its
 * count grows and its last timestamp moves, as the Kubernetes event correlator does.
 */
export class EventLog {
  readonly #maxPerObject: number;
  readonly #maxObjects: number;
  /** Per object, events keyed by type/reason/message in order of last occurrence. */
  #byObject = new Map<string, Map<string, ObjectEvent>>();

  constructor(options: EventLogOptions = {}) {
    this.#maxPerObject = options.maxPerObject ?? 50;
    this.#maxObjects = options.maxObjects ?? 10_000;
  }

  record(
    objectKey: string,
    event: { type: EventType; reason: string; message: string },
    now: Date | string = new Date(),
  ): ObjectEvent {
    const time = typeof now === "string" ? now : now.toISOString();
    let events = this.#byObject.get(objectKey);
    if (events) this.#byObject.delete(objectKey); // Re-inserted below: most recent last.
    else events = new Map();
    this.#byObject.set(objectKey, events);
    if (this.#byObject.size > this.#maxObjects) {
      const oldest = this.#byObject.keys().next().value as string;
      this.#byObject.delete(oldest);
    }

    const id = `${event.type}\u0000${event.reason}\u0000${event.message}`;
    const previous = events.get(id);
    const entry: ObjectEvent = previous
      ? { ...previous, count: previous.count + 1, lastTimestamp: time }
      : { ...event, count: 1, firstTimestamp: time, lastTimestamp: time };
    events.delete(id);
    events.set(id, entry);
    if (events.size > this.#maxPerObject) events.delete(events.keys().next().value as string);
    return entry;
  }

  /** The object's events, oldest first by last occurrence. */
  list(objectKey: string): ObjectEvent[] {
    return [...(this.#byObject.get(objectKey)?.values() ?? [])];
  }

  /** Drops an object's events (it was deleted). */
  forget(objectKey: string): void {
    this.#byObject.delete(objectKey);
  }
}
