/**
 * `GET /apis/joblet/v1/PLURAL[/NAME]?watch=true`: the objects of a kind (or one object) as
 * `joblet get -o json` shows them, first one ADDED each, then ADDED / MODIFIED / DELETED as
 * status files and manifests change. Changes are found by listing again and comparing
 * content (as the local `get --watch` does), so a status file rewritten with the same
 * object is no event, and whatever wakes the loop (an fs.watch event, the poll) can
 * never produce a wrong one.
 */
import type { Kind } from "../../api/index.js";
import { changes, type Snapshot, snapshot } from "../../cli/object-changes.js";
import { getObject, listObjects, type ShownObject } from "../../cli/objects.js";
import { sleep } from "../../cli/status-watch.js";
import { desiredKindDir, type StateLayout, statusKindDir } from "../../store/index.js";
import { HttpError } from "../http.js";
import { objectName, type StreamContext } from "./context.js";
import { serveStream, type SseStream } from "./sse.js";
import { type PollIntervals, Wakeup } from "../../store/wakeup.js";

/** fs.watch sees the status dir and the usual manifest places; the poll catches files elsewhere below the manifests dir. */
const POLL: PollIntervals = { watched: 1000, unwatched: 1000 };
/** A status write is a temp file and a rename, often with a manifest change beside it: look once they have landed. */
const SETTLE_MS = 10;

/** An object as the API shows it: the stored (or pending) object plus `seen` when known. */
export function apiObject(shown: ShownObject): Record<string, unknown> {
  return shown.seen === undefined ? { ...shown.object } : { ...shown.object, seen: shown.seen.toISOString() };
}

export function handleWatch(ctx: StreamContext): Promise<void> {
  return serveStream(ctx, async () => {
    const { layout, kind, name } = ctx;
    if (name !== undefined) {
      objectName(kind, name);
      if ((await getObject(layout, kind, name)) === undefined) throw new HttpError(404, `${kind} '${name}' not found`);
    }
    return { run: (sse, signal) => watchObjects(layout, kind, name, sse, signal) };
  });
}

/** The objects now: the kind's, or the one named (none once it is gone). */
async function current(layout: StateLayout, kind: Kind, name: string | undefined): Promise<ShownObject[]> {
  if (name === undefined) return listObjects(layout, kind);
  const shown = await getObject(layout, kind, name);
  return shown === undefined ? [] : [shown];
}

async function watchObjects(layout: StateLayout, kind: Kind, name: string | undefined, sse: SseStream, signal: AbortSignal): Promise<void> {
  // Watching before the first listing: a change made while it is read still wakes the loop.
  const wakeup = new Wakeup([statusKindDir(layout, kind), layout.manifestsDir, desiredKindDir(layout, kind)], POLL, signal);
  try {
    let known: Snapshot = new Map();
    while (!signal.aborted) {
      const now = await current(layout, kind, name).then(snapshot, () => undefined); // a failed read is retried
      if (now !== undefined) {
        for (const event of changes(known, now)) await sse.send(event.type, JSON.stringify(apiObject(event.shown)));
        known = now;
      }
      await wakeup.next();
      await sleep(SETTLE_MS, signal);
    }
  } finally {
    wakeup.close();
  }
}
