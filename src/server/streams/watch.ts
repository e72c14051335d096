/**
 * `GET /apis/joblet/v1/PLURAL[/NAME]?watch=true`: the objects of a kind (or one object) as
 * `joblet get -o json` shows them, first one ADDED each, then ADDED / MODIFIED / DELETED as
 * status files and manifests change. Changes are found by listing again and comparing
 * content, so a status file rewritten with the same object is no event, and whatever
 * wakes the loop (an fs.watch event, the poll) can never produce a wrong one.
 */
import type { Kind } from "../../api/index.js";
import { getObject, listObjects, type ShownObject } from "../../cli/objects.js";
import { sleep } from "../../cli/status-watch.js";
import { checkSegment, desiredKindDir, type StateLayout, statusKindDir } from "../../store/index.js";
import type { StreamContext } from "./context.js";
import { serveStream, type SseStream, StreamRefusal } from "./sse.js";
import { Wakeup } from "./wake.js";

/** fs.watch sees the status dir and the usual manifest places; the poll catches files elsewhere below the manifests dir. */
const POLL_MS = 1000;
/** A status write is a temp file and a rename, often with a manifest change beside it: look once they have landed. */
const SETTLE_MS = 10;

type WatchEvent = "ADDED" | "MODIFIED" | "DELETED";

/** An object as the API shows it: the stored (or pending) object plus `seen` when known. */
export function apiObject(shown: ShownObject): Record<string, unknown> {
  return shown.seen === undefined ? { ...shown.object } : { ...shown.object, seen: shown.seen.toISOString() };
}

export function handleWatch(ctx: StreamContext): Promise<void> {
  return serveStream(ctx, async () => {
    const { layout, kind, name } = ctx;
    if (name !== undefined) {
      checkName(kind, name);
      if ((await getObject(layout, kind, name)) === undefined) throw new StreamRefusal(404, `${kind} '${name}' not found`);
    }
    return { run: (sse, signal) => watchObjects(layout, kind, name, sse, signal) };
  });
}

function checkName(kind: Kind, name: string): void {
  try {
    checkSegment(`${kind} name`, name);
  } catch (e) {
    throw new StreamRefusal(400, (e as Error).message);
  }
}

/** The objects now, by name; `seen` is left out of the comparison (a rewrite moves it). */
async function snapshot(layout: StateLayout, kind: Kind, name: string | undefined): Promise<Map<string, { key: string; object: ShownObject }>> {
  const shown = name === undefined ? await listObjects(layout, kind) : [await getObject(layout, kind, name)].filter((o) => o !== undefined);
  return new Map(shown.map((o) => [o.object.metadata.name, { key: JSON.stringify(o.object), object: o }]));
}

async function watchObjects(layout: StateLayout, kind: Kind, name: string | undefined, sse: SseStream, signal: AbortSignal): Promise<void> {
  // Watching before the first listing: a change made while it is read still wakes the loop.
  const wakeup = new Wakeup([statusKindDir(layout, kind), layout.manifestsDir, desiredKindDir(layout, kind)], POLL_MS, signal);
  try {
    let known = new Map<string, { key: string; object: ShownObject }>();
    while (!signal.aborted) {
      const now = await snapshot(layout, kind, name).catch(() => undefined); // a failed read is retried
      if (now !== undefined) {
        for (const [event, object] of changes(known, now)) await sse.send(event, JSON.stringify(apiObject(object)));
        known = now;
      }
      await wakeup.next();
      await sleep(SETTLE_MS, signal);
    }
  } finally {
    wakeup.close();
  }
}

/** Events from one listing to the next, by name: new ones ADDED, changed MODIFIED, gone DELETED (with their last content). */
function changes(before: Map<string, { key: string; object: ShownObject }>, after: Map<string, { key: string; object: ShownObject }>): [WatchEvent, ShownObject][] {
  const names = [...new Set([...before.keys(), ...after.keys()])].sort();
  const out: [WatchEvent, ShownObject][] = [];
  for (const name of names) {
    const was = before.get(name);
    const is = after.get(name);
    if (was === undefined && is !== undefined) out.push(["ADDED", is.object]);
    else if (was !== undefined && is === undefined) out.push(["DELETED", was.object]);
    else if (was !== undefined && is !== undefined && was.key !== is.key) out.push(["MODIFIED", is.object]);
  }
  return out;
}
