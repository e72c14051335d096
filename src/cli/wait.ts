import type { Command } from "commander";
import { generation, type Kind } from "../api/index.js";
import { type Backend, withBackend } from "./backend.js";
import { parseDuration } from "./duration.js";
import { type CliIo, CliError, processIo, runVerb } from "./io.js";
import { named, parseKindRef, ref } from "./kinds.js";
import { condition, readDesired } from "./objects.js";
import { type StateOptions, verb } from "./options.js";

interface WaitOptions extends StateOptions {
  for: string;
  timeout: string;
}

const EXAMPLE = `joblet wait job hello --for=condition=Complete --timeout 2m
joblet wait job/hello --for=condition=Failed=False
joblet wait job hello --for=delete`;

type Goal = { kind: "condition"; type: string; status: string } | { kind: "delete" };

/** `joblet wait`: exit 0 once the condition holds, 1 with a message when the timeout passes first. */
export function waitCommand(io: CliIo = processIo()): Command {
  return verb(io, "wait", "Wait until an object has a condition, or is deleted", EXAMPLE)
    .argument("<kind>", "job, runtime, volume, network (or job/NAME)")
    .argument("[name]", "the object's name")
    .requiredOption("--for <goal>", "condition=TYPE, condition=TYPE=STATUS (True by default) or delete")
    .option("--timeout <duration>", "give up after this long: 500ms, 60s, 2m", "60s")
    .action((kindArg: string, nameArg: string | undefined, options: WaitOptions) =>
      runVerb(io, () => withBackend(options, io, (backend) => wait(backend, kindArg, nameArg, options, io))),
    );
}

function parseGoal(text: string): Goal {
  if (text === "delete") return { kind: "delete" };
  const m = /^condition=([A-Za-z][A-Za-z0-9]*)(?:=(True|False|Unknown|true|false|unknown))?$/.exec(text);
  if (m === null) throw new CliError(`--for '${text}' is not condition=TYPE[=True|False|Unknown] or delete`);
  const status = m[2] ?? "True";
  return { kind: "condition", type: m[1]!, status: status.charAt(0).toUpperCase() + status.slice(1).toLowerCase() };
}

/** true when met; undefined to keep waiting; throws when it can never be met. */
async function check(backend: Backend, kind: Kind, name: string, goal: Goal): Promise<boolean | undefined> {
  const shown = await backend.get(kind, name).catch(() => null); // a failed read is retried
  if (shown === null) return undefined;
  // Deleted: the daemon has removed what it stored (a manifest it never reported on counts as gone).
  if (goal.kind === "delete") return shown === undefined || !shown.hasStatus || undefined;
  if (shown === undefined) throw new CliError(`${named(kind, name)} not found`);
  if (!shown.hasStatus) return undefined; // applied, not yet seen by the daemon
  // A status about an older spec says nothing about the one just applied. (A remote daemon
  // shows no desired spec beside the stored object: there the stored object is taken as is.)
  if (backend.layout !== undefined) {
    const desired = (await readDesired(backend.layout, kind)).get(name);
    const observed = shown.object.status.observedGeneration;
    if (desired !== undefined && typeof observed === "string" && observed !== generation(desired.manifest.spec)) return undefined;
  }
  return condition(shown.object, goal.type)?.status === goal.status || undefined;
}

async function wait(backend: Backend, kindArg: string, nameArg: string | undefined, options: WaitOptions, io: CliIo): Promise<number> {
  const { kind, name } = parseKindRef(kindArg, nameArg);
  if (name === undefined) throw new CliError(`Wait needs a name: joblet wait ${kind.toLowerCase()} NAME --for=...`);
  const goal = parseGoal(options.for);
  const timeoutMs = parseDuration(options.timeout, "--timeout");
  const timeout = new AbortController();
  const abort = () => timeout.abort();
  io.signal?.addEventListener("abort", abort);
  const timer = setTimeout(abort, timeoutMs);
  const waker = backend.changes(kind, name, timeout.signal);
  try {
    for (;;) {
      if (await check(backend, kind, name, goal)) {
        io.out.write(goal.kind === "delete" ? `${ref(kind, name)} deleted\n` : `${ref(kind, name)} condition met\n`);
        return 0;
      }
      if (timeout.signal.aborted) break;
      await waker.next();
    }
  } finally {
    clearTimeout(timer);
    waker.close();
    io.signal?.removeEventListener("abort", abort);
  }
  const what = goal.kind === "delete" ? "to be deleted" : `to have condition ${goal.type}=${goal.status}`;
  throw new CliError(`Timed out after ${options.timeout} waiting for ${ref(kind, name)} ${what}`);
}
