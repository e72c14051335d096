import type { Command } from "commander";
import { generation, type Kind } from "../api/index.js";
import { statusKindDir, type StateLayout } from "../store/index.js";
import { parseDuration } from "./duration.js";
import { type CliIo, CliError, processIo, runVerb } from "./io.js";
import { named, parseKindRef, ref } from "./kinds.js";
import { condition, readDesired, readStatus } from "./objects.js";
import { layoutFrom, type StateOptions, verb } from "./options.js";
import { watchDir } from "./status-watch.js";

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
    .action((kindArg: string, nameArg: string | undefined, options: WaitOptions) => runVerb(io, () => wait(kindArg, nameArg, options, io)));
}

function parseGoal(text: string): Goal {
  if (text === "delete") return { kind: "delete" };
  const m = /^condition=([A-Za-z][A-Za-z0-9]*)(?:=(True|False|Unknown|true|false|unknown))?$/.exec(text);
  if (m === null) throw new CliError(`--for '${text}' is not condition=TYPE[=True|False|Unknown] or delete`);
  const status = m[2] ?? "True";
  return { kind: "condition", type: m[1]!, status: status.charAt(0).toUpperCase() + status.slice(1).toLowerCase() };
}

/** true when met; undefined to keep waiting; throws when it can never be met. */
async function check(layout: StateLayout, kind: Kind, name: string, goal: Goal): Promise<boolean | undefined> {
  const stored = await readStatus(layout, kind, name).catch(() => undefined);
  if (goal.kind === "delete") return stored === undefined || undefined;
  const desired = (await readDesired(layout, kind)).get(name);
  if (stored === undefined) {
    if (desired === undefined) throw new CliError(`${named(kind, name)} not found`);
    return undefined; // applied, not yet seen by the daemon
  }
  // A status about an older spec says nothing about the one just applied.
  const observed = stored.status.observedGeneration;
  if (desired !== undefined && typeof observed === "string" && observed !== generation(desired.manifest.spec)) return undefined;
  return condition(stored, goal.type)?.status === goal.status || undefined;
}

async function wait(kindArg: string, nameArg: string | undefined, options: WaitOptions, io: CliIo): Promise<number> {
  const { kind, name } = parseKindRef(kindArg, nameArg);
  if (name === undefined) throw new CliError(`Wait needs a name: joblet wait ${kind.toLowerCase()} NAME --for=...`);
  const goal = parseGoal(options.for);
  const timeoutMs = parseDuration(options.timeout, "--timeout");
  const layout = layoutFrom(options, io);
  const timeout = new AbortController();
  const abort = () => timeout.abort();
  io.signal?.addEventListener("abort", abort);
  const timer = setTimeout(abort, timeoutMs);
  const waker = watchDir(statusKindDir(layout, kind), io.pollMs, timeout.signal);
  try {
    for (;;) {
      if (await check(layout, kind, name, goal)) {
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

