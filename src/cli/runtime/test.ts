import { randomBytes } from "node:crypto";
import type { Command } from "commander";
import type { JobManifest } from "../../api/index.js";
import { type Backend, withBackend } from "../backend.js";
import { quote } from "../describe.js";
import { type CliIo, CliError, processIo, runVerb } from "../io.js";
import { named, ref } from "../kinds.js";
import { condition } from "../objects.js";
import { type StateOptions, verb } from "../options.js";
import { followJob, type Stored } from "../run-logs.js";
import { findRuntime, notReadyReason, runtimeStatus, seconds } from "./common.js";

interface TestOptions extends StateOptions {
  timeout: string;
}

const EXAMPLE = `joblet runtime test python-3.11-ml
joblet runtime test java-17@1.0 --timeout 60`;

/** Annotation on the test Job: the Runtime it tests. */
export const TESTS_RUNTIME = "joblet/runtime-test";

/** After the Job's own deadline, how long the daemon gets to report it before the CLI gives up. */
const REPORT_GRACE_MS = 10_000;

/**
 * `joblet runtime test`: runs the runtime's test command (spec.test.command, as installed)
 * as a Job on it, isolated like any job, streaming its output as `run --wait` does;
 * PASS when it exits 0. The Job's manifest is deleted afterwards.
 */
export function runtimeTestCommand(io: CliIo = processIo()): Command {
  return verb(io, "test", "Run a runtime's test command as an isolated job: PASS (exit 0) or FAIL (exit 1)", EXAMPLE)
    .argument("<name>", "NAME or NAME@VERSION (NAME alone: the Runtime called so, else its highest installed version)")
    .option("--timeout <seconds>", "fail when the test has not finished after this many seconds", "300")
    .action((ref: string, options: TestOptions) => runVerb(io, () => withBackend(options, io, (backend) => test(backend, ref, options, io))));
}

/**
 * runtime-test-<the runtime's name as a DNS label>-<6 random hex digits>: a Job name
 * (lowercase letters, digits and '-', at most 63) that no earlier test used, so that the
 * daemon never mistakes this test for a finished one of the same spec.
 */
export function testJobName(runtime: string, suffix = randomBytes(3).toString("hex")): string {
  const prefix = "runtime-test-";
  const room = 63 - prefix.length - 1 - suffix.length;
  const label = runtime
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .slice(0, room)
    .replace(/^-+|-+$/g, "");
  return label === "" ? `${prefix}${suffix}` : `${prefix}${label}-${suffix}`;
}

function parseTimeout(text: string): number {
  const n = Number(text);
  if (text.trim() === "" || !Number.isInteger(n) || n <= 0) throw new CliError(`--timeout '${text}' is not a whole number of seconds greater than zero`);
  return n;
}

/** Why a finished test Job failed, in a few words. */
function failure(object: Stored): string {
  const s = object.status;
  const why = [s.reason, s.message].filter((x): x is string => typeof x === "string" && x !== "").join(": ");
  const how = typeof s.exitCode === "number" ? `exit code ${s.exitCode}` : s.signal !== undefined ? `killed by ${String(s.signal)}` : undefined;
  return [how, why].filter((x) => x !== undefined && x !== "").join(", ") || String(s.phase);
}

function took(object: Stored, startedMs: number, endedMs: number): string {
  const start = typeof object.status.startTime === "string" ? Date.parse(object.status.startTime) : NaN;
  const end = typeof object.status.completionTime === "string" ? Date.parse(object.status.completionTime) : NaN;
  return seconds(Number.isNaN(start) || Number.isNaN(end) ? endedMs - startedMs : end - start);
}

async function test(backend: Backend, wanted: string, options: TestOptions, io: CliIo): Promise<number> {
  const timeout = parseTimeout(options.timeout);
  const { shown, name } = await findRuntime(backend, wanted);
  const status = runtimeStatus(shown.object);
  const command = status.current?.config?.test?.command;
  if (status.current === undefined || condition(shown.object, "Ready")?.status !== "True") {
    throw new CliError(`Cannot test ${named("Runtime", name)}: it is not Ready (${notReadyReason(status)})`);
  }
  if (command === undefined || command.length === 0) {
    throw new CliError(`${named("Runtime", name)} has no test command: set spec.test.command (an argv that exits 0 when the runtime works) in its manifest`);
  }

  const job = testJobName(name);
  const [first, ...args] = command as [string, ...string[]];
  const manifest: JobManifest = {
    apiVersion: "joblet/v1",
    kind: "Job",
    metadata: { name: job, annotations: { [TESTS_RUNTIME]: name } },
    spec: { command: [first], ...(args.length > 0 ? { args } : {}), runtime: name, restartPolicy: "Never", activeDeadlineSeconds: timeout },
  };
  const prepared = await backend.prepare({ kind: "Job", name: job, manifest, uploads: [] }, `Cannot test ${named("Runtime", name)}`);

  // Ends the wait at the timeout (a Job still waiting for its runtime has no deadline of its own yet) or on ^C.
  const stop = new AbortController();
  const interrupt = (): void => stop.abort();
  io.signal?.addEventListener("abort", interrupt);
  const timer = setTimeout(interrupt, timeout * 1000 + REPORT_GRACE_MS);
  const started = io.now().getTime();
  let finished: Stored | undefined;
  let problem: string | undefined;
  try {
    await backend.apply(prepared, false);
    io.out.write(`Testing ${ref("Runtime", name)} in ${ref("Job", job)}: ${command.map(quote).join(" ")}\n`);
    finished = await followJob(backend, job, prepared.generation, { ...io, signal: stop.signal });
  } catch (e) {
    problem = (e as Error).message;
  } finally {
    clearTimeout(timer);
    io.signal?.removeEventListener("abort", interrupt);
    // A Job never applied (the apply failed) is not there to delete: only errors are worth a word.
    await backend.remove("Job", job).catch((e: Error) => io.err.write(`Could not delete ${ref("Job", job)}: ${e.message}\n`));
  }
  if (problem === undefined && finished === undefined) problem = io.signal?.aborted ? "interrupted" : `it did not finish within ${timeout} s`;
  if (problem === undefined && finished !== undefined && !(finished.status.phase === "Succeeded" && (finished.status.exitCode ?? 0) === 0)) problem = failure(finished);
  if (problem !== undefined) {
    io.out.write(`FAIL runtime ${name}: ${problem}\n`);
    return io.signal?.aborted ? 130 : 1;
  }
  io.out.write(`PASS runtime ${name} (${took(finished!, started, io.now().getTime())})\n`);
  return 0;
}
