/**
 * `GET /apis/joblet/v1/jobs/NAME/log`: a run's stdout and stderr as Server-Sent Events,
 * `data` the base64 of the raw bytes and `id` the byte offset(s) just after the chunk, so
 * history and live output are one sequence a client can resume anywhere in.
 *
 * Built for throughput: the files are read in chunks of up to 1 MiB straight into base64
 * events, nothing looks at lines (except `tail`, once, from the end of the file), and a
 * slow client holds the reader back instead of the daemon buffering its output.
 */
import type { FileHandle } from "node:fs/promises";
import { open, stat } from "node:fs/promises";
import { getObject } from "../../cli/objects.js";
import { runPaths } from "../../controllers/job/launch.js";
import { type LogStream, readTail, runLogPaths, runRecordDir, type RunLogPaths, type StateLayout, statusKindDir } from "../../store/index.js";
import { HttpError } from "../http.js";
import { objectName, type StreamContext } from "./context.js";
import { type LogRequest, parseLogRequest } from "./log-request.js";
import { runOutcome } from "./run-end.js";
import { serveStream, type SseStream } from "./sse.js";
import { type PollIntervals, Wakeup } from "../../store/wakeup.js";

/** How long a follower may miss a change fs.watch did not report (it cannot watch a directory not there yet). */
const POLL: PollIntervals = { watched: 1000, unwatched: 100 };
/** Reads start at MIN_CHUNK and double while they fill the buffer: an idle follower holds 64 KiB, a busy one 1 MiB. */
const MIN_CHUNK = 64 * 1024;
const MAX_CHUNK = 1024 * 1024;

/** Response header naming the run streamed: a client resuming after a drop asks for it by name. */
export const RUN_HEADER = "x-joblet-run";

export function handleLogs(ctx: StreamContext): Promise<void> {
  return serveStream(ctx, async (signal) => {
    const lastEventId = ctx.req.headers["last-event-id"];
    const request = parseLogRequest(ctx.query, Array.isArray(lastEventId) ? lastEventId[0] : lastEventId);
    if (ctx.name === undefined) throw new HttpError(404, "A log needs a Job name");
    const name = objectName("Job", ctx.name);
    const run = await findRun(ctx.layout, name, request, signal);
    if (run === undefined) return undefined; // the client left while we waited
    const paths = runLogPaths(ctx.layout, name, run);
    const offsets = await startOffsets(paths, request);
    return {
      headers: { [RUN_HEADER]: run },
      run: (sse, signal) => streamRun(ctx.layout, name, run, paths, request, offsets, sse, signal),
    };
  });
}

/**
 * The run to stream: the one asked for (404 unless the Job has it), else the Job's current
 * run. A Job that has not started one yet is a 404 without follow; with follow, the stream
 * waits for its first run, as `joblet logs -f` does locally.
 */
async function findRun(layout: StateLayout, name: string, request: LogRequest, signal: AbortSignal): Promise<string | undefined> {
  let shown = await readJob(layout, name);
  if (request.run !== undefined) {
    if (shown.object.status.run !== request.run && !(await exists(runLogPaths(layout, name, request.run).dir)) && !(await exists(runRecordDir(layout, name, request.run)))) {
      throw new HttpError(404, `Job '${name}' has no run '${request.run}'`);
    }
    return request.run;
  }
  if (typeof shown.object.status.run === "string") return shown.object.status.run;
  const phase = String(shown.object.status.phase);
  if (!request.follow || phase === "Succeeded" || phase === "Failed") throw new HttpError(404, `Job '${name}' has not started a run yet (phase ${phase})`);
  const wakeup = new Wakeup([statusKindDir(layout, "Job")], POLL, signal);
  try {
    while (!signal.aborted) {
      await wakeup.next();
      shown = await readJob(layout, name);
      if (typeof shown.object.status.run === "string") return shown.object.status.run;
    }
    return undefined;
  } finally {
    wakeup.close();
  }
}

async function readJob(layout: StateLayout, name: string) {
  const shown = await getObject(layout, "Job", name);
  if (shown === undefined) throw new HttpError(404, `Job '${name}' not found`);
  return shown;
}

/** Where each stream starts: the resumed offsets (checked: ids never point past a file's end), the tail's start, or 0. */
async function startOffsets(paths: RunLogPaths, request: LogRequest): Promise<number[]> {
  if (request.resume !== undefined) {
    const resume = request.resume;
    return Promise.all(
      request.streams.map(async (stream, i) => {
        const size = await fileSize(paths[stream]);
        if (resume[i]! > size) throw new HttpError(400, `Last-Event-ID offset ${resume[i]} is past the end of ${stream} (${size} bytes)`);
        return resume[i]!;
      }),
    );
  }
  const tail = request.tail;
  if (tail === undefined) return request.streams.map(() => 0);
  return Promise.all(
    request.streams.map(async (stream) => {
      const { data, end } = await readTail(paths[stream], tail);
      return end - data.length;
    }),
  );
}

/** One stream's log file, read from `offset` on; the file may not exist yet. */
class LogCursor {
  private handle?: FileHandle;

  constructor(
    readonly stream: LogStream,
    private readonly path: string,
    public offset: number,
  ) {}

  /** Reads what follows `offset` into `buf`: the byte count, 0 at the end of what is there. */
  async read(buf: Buffer): Promise<number> {
    if (this.handle === undefined) {
      try {
        this.handle = await open(this.path, "r");
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") return 0;
        throw e;
      }
    }
    const { bytesRead } = await this.handle.read(buf, 0, buf.length, this.offset);
    this.offset += bytesRead;
    return bytesRead;
  }

  async close(): Promise<void> {
    await this.handle?.close();
    this.handle = undefined;
  }
}

async function streamRun(
  layout: StateLayout,
  name: string,
  run: string,
  paths: RunLogPaths,
  request: LogRequest,
  offsets: number[],
  sse: SseStream,
  signal: AbortSignal,
): Promise<void> {
  const cursors = request.streams.map((stream, i) => new LogCursor(stream, paths[stream], offsets[i]!));
  // Watching before the first read: growth while history is sent still wakes the follower.
  const wakeup = request.follow ? new Wakeup([paths.dir, statusKindDir(layout, "Job"), runPaths(layout, name, run).supervisor], POLL, signal) : undefined;
  let buf = Buffer.allocUnsafe(MIN_CHUNK);
  const id = (): string => cursors.map((c) => c.offset).join(",");

  /** Sends everything the files hold now, the streams taking turns chunk by chunk. */
  const drain = async (): Promise<void> => {
    for (let progress = true; progress && !signal.aborted; ) {
      progress = false;
      for (const cursor of cursors) {
        const n = await cursor.read(buf);
        if (n === 0) continue;
        progress = true;
        await sse.send(cursor.stream, buf.toString("base64", 0, n), id(), "latin1");
        // A chunk that filled the buffer means more is waiting: read bigger (idle followers stay small).
        if (n === buf.length && buf.length < MAX_CHUNK) buf = Buffer.allocUnsafe(buf.length * 2);
      }
    }
  };

  try {
    while (!signal.aborted) {
      // Asked before draining: everything written before the run ended is then read below.
      const outcome = await runOutcome(layout, name, run, signal);
      await drain();
      if (signal.aborted) return;
      if (outcome !== undefined) return await sse.send("end", JSON.stringify(outcome));
      if (wakeup === undefined) return await sse.send("eof", "{}");
      await wakeup.next();
    }
  } finally {
    wakeup?.close();
    await Promise.all(cursors.map((c) => c.close()));
  }
}

async function fileSize(path: string): Promise<number> {
  return stat(path).then(
    (s) => s.size,
    (e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT") return 0;
      throw e;
    },
  );
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
