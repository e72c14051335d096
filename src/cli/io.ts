/**
 * What a verb talks to. Verbs never touch process.stdout/stderr/env directly, so that
 * tests call them with writers of their own and no process is spawned.
 */

export interface Writer {
  write(chunk: string | Uint8Array): unknown;
  /** True when it is a terminal (process.stdout has it): progress is then redrawn in place. */
  isTTY?: boolean;
}

export interface CliIo {
  out: Writer;
  err: Writer;
  /** `apply -f -` reads here; process.stdin by default. */
  stdin: NodeJS.ReadableStream;
  /** Where JOBLET_STATE_DIR is looked up. */
  env: Record<string, string | undefined>;
  /** Relative paths (-f, --upload) resolve from here. */
  cwd: string;
  now: () => Date;
  /** Ends long-running verbs (get --watch, logs -f, wait); tests abort it, a terminal sends SIGINT. */
  signal?: AbortSignal;
  /** How often status files are re-read when no change notification arrives. */
  pollMs: number;
}

export function processIo(): CliIo {
  return {
    out: process.stdout,
    err: process.stderr,
    stdin: process.stdin,
    env: process.env,
    cwd: process.cwd(),
    now: () => new Date(),
    pollMs: 250,
  };
}

/**
 * A verb's failure: `message` is the one sentence shown on stderr (empty when the verb
 * has said everything already, as diff does for "differences found"), `exitCode` what the
 * process exits with.
 */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = "CliError";
  }
}

/**
 * Runs a verb's body: errors become one sentence on `io.err`, and a non-zero code is
 * handed to main() as a silent CliError (the message has been written already).
 */
export async function runVerb(io: CliIo, body: () => Promise<number | void>): Promise<void> {
  let code: number;
  try {
    code = (await body()) ?? 0;
  } catch (e) {
    const error = e as Error & { exitCode?: unknown; verbatim?: boolean };
    // A server's refusal (403) is shown exactly as the server words it.
    if (error.message !== "") io.err.write(`${error.verbatim === true ? error.message : sentence(error.message)}\n`);
    code = typeof error.exitCode === "number" && error.exitCode !== 0 ? error.exitCode : 1;
  }
  if (code !== 0) throw new CliError("", code);
}

/** Every line a sentence: several problems are reported one per line. */
function sentence(text: string): string {
  return text.replace(/^[a-z]/gm, (c) => c.toUpperCase());
}
