import { constants } from "node:os";
import type { Command } from "commander";
import { parseManifest } from "../api/index.js";
import { type Backend, withBackend } from "./backend.js";
import { type CliIo, CliError, processIo, runVerb } from "./io.js";
import { named, ref } from "./kinds.js";
import { collect, type StateOptions, verb } from "./options.js";
import { randomName, type RunFlags, runManifest, runUploads } from "./run-flags.js";
import { followJob, type Stored } from "./run-logs.js";

interface RunOptions extends StateOptions, RunFlags {
  wait?: boolean;
}

const EXAMPLE = `joblet run --wait -- echo hello
joblet run --name train --max-cpu 150 --max-memory 512 --cpu-cores 0-1 --upload train.py --wait -- python3 train.py
joblet run --schedule 30min --max-runtime 600 -- sh -c 'backup.sh'`;

/** `joblet run`: a Job from flags, applied like a manifest; --wait makes it behave like running the command. */
export function runCommand(io: CliIo = processIo()): Command {
  return verb(io, "run", "Create a Job from a command line (the original Joblet's flags) and optionally wait for it", EXAMPLE)
    .argument("<command...>", "the command and its arguments (put them after --)")
    .option("--name <name>", "the Job's name (default: run-<6 random letters and digits>)")
    .option("--runtime <name>", "runtime to run in, NAME or NAME@VERSION")
    .option("--max-cpu <percent>", "CPU limit in percent of one core (150 = 1.5 cores)")
    .option("--max-memory <MiB>", "memory limit in MiB")
    .option("--max-iobps <bytes>", "IO bandwidth limit in bytes per second")
    .option("--cpu-cores <list>", "CPUs to pin to: 0-3 or 1,3")
    .option("--upload <file>", "copy a file or directory into /work (repeatable)", collect)
    .option("--upload-dir <dir>", "copy a directory's contents into /work")
    .option("--volume <name>", "mount a Volume at /volumes/NAME (repeatable)", collect)
    .option("--network <name>", "none, bridge, isolated, or a Network's name")
    .option("--env <NAME=VALUE>", "environment variable (repeatable)", collect)
    .option("--schedule <when>", "run later: 30min, 2h, an RFC 3339 time, or a cron expression")
    .option("--max-runtime <seconds>", "stop the run after this many seconds (reason DeadlineExceeded)")
    .option("--wait", "stream the job's output and exit with its exit code")
    .passThroughOptions()
    .action((argv: string[], options: RunOptions) => runVerb(io, () => withBackend(options, io, (backend) => run(backend, argv, options, io))));
}

async function run(backend: Backend, argv: string[], options: RunOptions, io: CliIo): Promise<number> {
  const name = options.name ?? randomName();
  const uploads = await runUploads(options, io.cwd);
  const manifest = runManifest(name, argv, options, uploads, io.now());
  const parsed = parseManifest(manifest);
  if (!parsed.ok) throw new CliError(`Cannot run ${named("Job", name)}: ${parsed.errors.map((e) => e.message.replace(/^Job '[^']*': /, "")).join("; ")}`);
  const prepared = await backend.prepare({ kind: "Job", name, manifest, uploads }, `Cannot run ${named("Job", name)}`);
  io.out.write(`${ref("Job", name)} ${await backend.apply(prepared, false)}\n`);
  if (!options.wait) return 0;
  const finished = await followJob(backend, name, prepared.generation, io);
  return finished === undefined ? 130 : exitCode(finished, io);
}

/** The job's exit code; 128 + the signal's number when a signal ended it, as shells report it. */
export function exitCodeOf(status: Record<string, unknown>): number {
  if (status.phase === "Succeeded") return typeof status.exitCode === "number" ? status.exitCode : 0;
  if (typeof status.signal === "string") {
    const number = (constants.signals as Record<string, number | undefined>)[status.signal];
    if (number !== undefined) return 128 + number;
  }
  if (typeof status.signal === "number") return 128 + status.signal;
  if (typeof status.exitCode === "number" && status.exitCode !== 0) return status.exitCode;
  return 1;
}

function exitCode(object: Stored, io: CliIo): number {
  const s = object.status;
  if (s.phase === "Failed") {
    const why = [s.reason, s.message].filter((x) => typeof x === "string" && x !== "").join(": ");
    io.err.write(`${ref("Job", object.metadata.name)} failed${why === "" ? "" : ` (${why})`}\n`);
  }
  return exitCodeOf(s);
}
