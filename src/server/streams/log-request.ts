/**
 * The query of `GET /apis/joblet/v1/jobs/NAME/log` and its Last-Event-ID, checked: a
 * parameter or value the API does not know is a 400 naming it, never a silent default.
 *
 * Event ids are byte offsets just after the chunk they end: `<offset>` for one stream,
 * `<stdoutOffset>,<stderrOffset>` for stream=all. A reconnecting client sends the last one
 * back and continues exactly there.
 */
import { checkSegment, type LogStream } from "../../store/index.js";
import { HttpError } from "../http.js";

export interface LogRequest {
  follow: boolean;
  /** Only the last N lines of each stream to begin with (ignored when resuming). */
  tail?: number;
  /** stdout, stderr, or both in that order (stream=all). */
  streams: LogStream[];
  /** The run asked for; the Job's current run when absent. */
  run?: string;
  /** Offsets to continue from, one per entry of `streams` (from Last-Event-ID). */
  resume?: number[];
}

const STREAMS: Record<string, LogStream[]> = { stdout: ["stdout"], stderr: ["stderr"], all: ["stdout", "stderr"] };
const OFFSET = /^\d{1,15}$/;

const KNOWN = ["follow", "tail", "stream", "run"];

export function parseLogRequest(query: URLSearchParams, lastEventId: string | undefined): LogRequest {
  for (const key of query.keys()) {
    if (!KNOWN.includes(key)) refuse(`Unknown query parameter '${key}' (known: ${KNOWN.join(", ")})`);
  }
  const follow = query.get("follow") ?? "false";
  if (follow !== "true" && follow !== "false") refuse(`Query parameter follow '${follow}' is not true or false`);
  const stream = query.get("stream") ?? "all";
  const streams = STREAMS[stream];
  if (streams === undefined) refuse(`Query parameter stream '${stream}' is not one of stdout, stderr, all`);
  const request: LogRequest = { follow: follow === "true", streams };
  const tail = query.get("tail");
  // -1 means "everything", as kubectl and the local --tail have it.
  if (tail !== null && tail !== "-1") {
    if (!OFFSET.test(tail)) refuse(`Query parameter tail '${tail}' is not a number of lines`);
    request.tail = Number(tail);
  }
  const run = query.get("run");
  if (run !== null) {
    try {
      request.run = checkSegment("Run", run);
    } catch (e) {
      refuse((e as Error).message);
    }
  }
  if (lastEventId !== undefined && lastEventId !== "") {
    const offsets = lastEventId.split(",");
    if (offsets.length !== streams.length || !offsets.every((o) => OFFSET.test(o))) {
      const form = streams.length === 1 ? "a byte offset" : "'<stdoutOffset>,<stderrOffset>'";
      refuse(`Last-Event-ID '${lastEventId}' is not ${form} as stream=${stream} sends`);
    }
    request.resume = offsets.map(Number);
  }
  return request;
}

function refuse(message: string): never {
  throw new HttpError(400, message);
}
