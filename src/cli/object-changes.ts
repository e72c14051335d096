/**
 * Watch events from two listings of the same objects: new ones ADDED, changed ones
 * MODIFIED, gone ones DELETED (with their last content). Content is compared, so an
 * object written again unchanged is no event.
 */
import type { WatchEvent } from "./backend.js";
import type { ShownObject } from "./objects.js";

export type Snapshot = Map<string, { key: string; shown: ShownObject }>;

export function snapshot(objects: ShownObject[]): Snapshot {
  return new Map(objects.map((shown) => [shown.object.metadata.name, { key: JSON.stringify(shown.object), shown }]));
}

export function changes(before: Snapshot, after: Snapshot): WatchEvent[] {
  const names = [...new Set([...before.keys(), ...after.keys()])].sort();
  const events: WatchEvent[] = [];
  for (const name of names) {
    const was = before.get(name);
    const is = after.get(name);
    if (was === undefined && is !== undefined) events.push({ type: "ADDED", shown: is.shown });
    else if (was !== undefined && is === undefined) events.push({ type: "DELETED", shown: was.shown });
    else if (was !== undefined && is !== undefined && was.key !== is.key) events.push({ type: "MODIFIED", shown: is.shown });
  }
  return events;
}
