/**
 * Following a Runtime's build for `runtime install`: the status the daemon writes, read
 * until the build of the applied spec is Ready or Failed, and its progress shown as it
 * goes. On a terminal that is one line redrawn in place (phase, bar, percent, bytes);
 * otherwise (a log, a pipe) one line per change of phase, so logs stay readable.
 */
import { stat } from "node:fs/promises";
import type { RuntimeStatus } from "../../api/index.js";
import { DesiredStore } from "../../store/index.js";
import type { Backend } from "../backend.js";
import { humanBytes } from "../columns.js";
import type { CliIo, Writer } from "../io.js";
import { ref } from "../kinds.js";
import { condition, type ShownObject } from "../objects.js";
import { runtimeStatus, seconds } from "./common.js";

const BAR_WIDTH = 24;

function bar(percent: number): string {
  const filled = Math.round((Math.min(100, Math.max(0, percent)) / 100) * BAR_WIDTH);
  return `[${"#".repeat(filled)}${"-".repeat(BAR_WIDTH - filled)}]`;
}

function amount(progress: NonNullable<RuntimeStatus["progress"]>): string | undefined {
  if (typeof progress.bytes !== "number") return typeof progress.totalBytes === "number" ? humanBytes(progress.totalBytes) : undefined;
  return typeof progress.totalBytes === "number" ? `${humanBytes(progress.bytes)}/${humanBytes(progress.totalBytes)}` : humanBytes(progress.bytes);
}

/** The one-line view a terminal shows: "runtime/x  Building  downloading [####----]  42%  12.0Mi/29.0Mi". */
export function progressLine(name: string, status: Partial<RuntimeStatus> | undefined): string {
  const parts = [ref("Runtime", name)];
  if (status === undefined) return [...parts, "Pending", "waiting for the daemon"].join("  ");
  parts.push(status.phase ?? "Pending");
  const p = status.phase === "Building" ? status.progress : undefined;
  if (p !== undefined) {
    parts.push(p.phase);
    if (typeof p.percent === "number") parts.push(`${bar(p.percent)} ${String(Math.floor(p.percent)).padStart(3)}%`);
    const bytes = amount(p);
    if (bytes !== undefined) parts.push(bytes);
  } else if (status.phase === "Pending" || status.phase === undefined) {
    parts.push("waiting for the daemon");
  }
  return parts.join("  ");
}

/** The line a log gets at each change of phase: "runtime/x: Building: downloading (29.0Mi)". */
export function phaseLine(name: string, status: Partial<RuntimeStatus> | undefined): string {
  const phase = status?.phase ?? "Pending";
  const p = phase === "Building" ? status?.progress : undefined;
  if (p === undefined) return `${ref("Runtime", name)}: ${phase}`;
  const total = typeof p.totalBytes === "number" ? ` (${humanBytes(p.totalBytes)})` : "";
  return `${ref("Runtime", name)}: ${phase}: ${p.phase}${total}`;
}

/** Shows a build's progress on `out`; `tty` chooses the redrawn line over one line per phase. */
export class ProgressView {
  private drawn = "";
  private lastPhase: string | undefined;

  constructor(
    private readonly out: Writer,
    private readonly name: string,
    private readonly tty: boolean,
  ) {}

  update(status: Partial<RuntimeStatus> | undefined): void {
    if (this.tty) {
      const line = progressLine(this.name, status);
      if (line === this.drawn) return;
      // \r back to the start, the new line, then erase what a longer old line left.
      this.out.write(`\r${line}\x1b[K`);
      this.drawn = line;
      return;
    }
    const phase = `${status?.phase ?? "Pending"}/${status?.phase === "Building" ? (status.progress?.phase ?? "") : ""}`;
    if (phase === this.lastPhase) return;
    this.lastPhase = phase;
    this.out.write(`${phaseLine(this.name, status)}\n`);
  }

  /** Ends the redrawn line, so that what follows starts on a line of its own. */
  end(): void {
    if (this.tty && this.drawn !== "") this.out.write("\n");
    this.drawn = "";
  }
}

export type BuildOutcome = { ok: true; status: Partial<RuntimeStatus> } | { ok: false; message: string } | undefined;

/**
 * Reads the Runtime's status until the build of generation `gen` is Ready (ok) or
 * Failed (its message, which has the build log's tail), showing progress on `view`.
 * Undefined when io.signal aborts first. A Valid=False written after the apply (`isNews`:
 * the status is newer than the apply) means the daemon will not build it (another file
 * claims the name): that ends the wait too.
 */
export async function followBuild(backend: Backend, name: string, gen: string, isNews: (shown: ShownObject) => boolean, view: ProgressView, io: CliIo): Promise<BuildOutcome> {
  const waker = backend.changes("Runtime", name, io.signal);
  const manifest = backend.layout === undefined ? undefined : new DesiredStore(backend.layout).path("Runtime", name);
  try {
    for (;;) {
      const shown = await backend.get("Runtime", name).catch(() => null); // a failed read is retried
      const object = shown?.hasStatus ? shown.object : undefined;
      const status = object === undefined ? undefined : runtimeStatus(object);
      if (object !== undefined && status?.observedGeneration === gen) {
        // The end is said by the caller's own line, not as one more phase.
        if (status.phase === "Ready" && status.current?.generation === gen) return { ok: true, status };
        if (status.phase === "Failed") {
          const reason = status.reason ? ` (${status.reason})` : "";
          return { ok: false, message: `${ref("Runtime", name)} failed${reason}: ${status.message ?? "no message"}` };
        }
        view.update(status);
      } else {
        view.update(object === undefined ? undefined : { ...status, phase: "Pending" });
        const gone = manifest !== undefined ? !(await exists(manifest)) : shown === undefined;
        if (gone) return { ok: false, message: `${ref("Runtime", name)} was deleted while waiting for it` };
        const valid = object === undefined ? undefined : condition(object, "Valid");
        if (valid?.status === "False" && shown && isNews(shown)) {
          return { ok: false, message: `${ref("Runtime", name)} cannot be built: ${valid.message || valid.reason || "Valid is False"}` };
        }
      }
      if (io.signal?.aborted) return undefined;
      await waker.next();
    }
  } finally {
    waker.close();
  }
}

/** "runtime/x ready: 120.5Mi, 4321 files, built in 12.0 s". */
export function readyLine(name: string, status: Partial<RuntimeStatus>): string {
  const c = status.current;
  if (c === undefined) return `${ref("Runtime", name)} ready`;
  return `${ref("Runtime", name)} ready: ${humanBytes(c.sizeBytes)}, ${c.files} files, built in ${seconds(c.durationMs)}`;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
