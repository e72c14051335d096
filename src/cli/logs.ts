import type { Command } from "commander";
import type { JobRunRecord } from "../api/index.js";
import { type CliIo, CliError, processIo, runVerb } from "./io.js";
import { named } from "./kinds.js";
import { type Backend, type LogTargets, withBackend } from "./backend.js";
import { type StateOptions, verb } from "./options.js";
import { pollJob } from "./run-logs.js";

interface LogsOptions extends StateOptions {
  follow?: boolean;
  tail?: string;
  stream: string;
  run?: string;
}

const STREAMS = ["stdout", "stderr", "all"];

const EXAMPLE = `joblet logs hello
joblet logs hello -f --tail 20
joblet logs hello --stream stderr
joblet logs nightly --run 3          # the third run (see describe's Runs)`;

/**
 * `joblet logs`: the output of a Job's current (or last) run. The job's stderr goes to
 * stderr and its stdout to stdout, so `joblet logs x > out.txt` keeps them apart as the
 * job wrote them.
 */
export function logsCommand(io: CliIo = processIo()): Command {
  return verb(io, "logs", "Print the output of a Job's current or last run", EXAMPLE)
    .argument("<name>", "the Job's name (job/NAME also works)")
    .option("-f, --follow", "keep printing output until the run ends (from a remote daemon: reconnecting and resuming where it left off)")
    .option("--tail <lines>", "only the last N lines of each stream")
    .option("--stream <stream>", "stdout, stderr or all", "all")
    .option("--run <run>", "an earlier run: its id (3f2a9c1b-4) or its number (4), as status.runs lists them")
    .action((nameArg: string, options: LogsOptions) => runVerb(io, () => withBackend(options, io, (backend) => logs(backend, nameArg, options, io))));
}

function parseTail(value: string | undefined): number | undefined {
  if (value === undefined || value === "-1") return undefined;
  if (!/^\d+$/.test(value)) throw new CliError(`--tail '${value}' is not a number of lines`);
  return Number(value);
}

async function logs(backend: Backend, nameArg: string, options: LogsOptions, io: CliIo): Promise<number> {
  const name = nameArg.replace(/^jobs?\//i, "");
  if (!STREAMS.includes(options.stream)) throw new CliError(`--stream '${options.stream}' is not one of ${STREAMS.join(", ")}`);
  const tail = parseTail(options.tail);
  const shown = await backend.get("Job", name);
  if (shown === undefined) throw new CliError(`${named("Job", name)} not found`);
  let run = options.run === undefined ? (shown.object.status.run as string | undefined) : runNamed(name, options.run, shown.object.status.runs);
  if (run === undefined) {
    if (!options.follow) throw new CliError(`${named("Job", name)} has not started a run yet (phase ${String(shown.object.status.phase)}); use -f to wait for it`);
    // Following a job that was just applied: wait for its first run.
    const started = await pollJob(backend, name, io, (o) => o === undefined || typeof o.status.run === "string");
    if (started === undefined) return io.signal?.aborted ? 0 : fail(name);
    run = started.status.run as string;
  }
  const targets: LogTargets = {
    stdout: options.stream === "stderr" ? undefined : io.out,
    stderr: options.stream === "stdout" ? undefined : options.stream === "stderr" ? io.out : io.err,
  };
  await backend.logs(name, run, targets, { tail, follow: options.follow === true, signal: io.signal });
  return 0;
}

/** The run `--run` names: a run id, or a number matching the id's attempt suffix (the newest such run). */
function runNamed(name: string, wanted: string, runs: unknown): string {
  const ids = (Array.isArray(runs) ? (runs as JobRunRecord[]) : []).flatMap((r) => (r.run ? [r.run] : []));
  const found = /^\d+$/.test(wanted) ? ids.filter((id) => id.endsWith(`-${Number(wanted)}`)).at(-1) : ids.find((id) => id === wanted);
  if (found !== undefined) return found;
  const known = ids.length > 0 ? `; its runs: ${ids.join(", ")}` : "; it lists no runs";
  throw new CliError(`${named("Job", name)} has no run '${wanted}'${known}`);
}

function fail(name: string): never {
  throw new CliError(`${named("Job", name)} was deleted before it started a run`);
}
