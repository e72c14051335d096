import type { Command } from "commander";
import type { Kind } from "../api/index.js";
import { type Backend, withBackend, type WatchEvent } from "./backend.js";
import { columnsFor } from "./columns.js";
import { type CliIo, CliError, processIo, runVerb } from "./io.js";
import { named, parseKindRef } from "./kinds.js";
import type { ShownObject } from "./objects.js";
import { type StateOptions, verb } from "./options.js";
import { type OutputFormat, outputOption, parseOutput, printObjects } from "./output.js";
import { table, tableRows } from "./table.js";
import { toYaml } from "../store/index.js";

interface GetOptions extends StateOptions {
  output?: string;
  watch?: boolean;
  outputWatchEvents?: boolean;
}

const EXAMPLE = `joblet get jobs
joblet get job hello -o json
joblet get job/hello -o wide --watch
joblet get jobs --watch --output-watch-events --server https://joblet.example.com:8443`;

/** `joblet get`: objects with their status, as a table or as YAML/JSON. */
export function getCommand(io: CliIo = processIo()): Command {
  return verb(io, "get", "Show objects and their status (job, runtime, volume, network)", EXAMPLE)
    .argument("<kind>", "job, jobs, job/NAME (likewise runtime, volume, network)")
    .argument("[name]", "one object; all of the kind when omitted")
    .addOption(outputOption())
    .option("-w, --watch", "after printing, print objects again as they change or are deleted (until interrupted)")
    .option("--output-watch-events", "with --watch: say what happened to each object (ADDED, MODIFIED, DELETED)")
    .action((kindArg: string, nameArg: string | undefined, options: GetOptions) =>
      runVerb(io, () => withBackend(options, io, (backend) => get(backend, kindArg, nameArg, options, io))),
    );
}

async function select(backend: Backend, kind: Kind, name: string | undefined): Promise<ShownObject[]> {
  if (name === undefined) return backend.list(kind);
  const one = await backend.get(kind, name);
  return one === undefined ? [] : [one];
}

function render(format: OutputFormat | undefined, kind: Kind, shown: ShownObject[], list: boolean, now: Date): string {
  if (format === undefined || format === "wide") {
    const columns = columnsFor(kind, format === "wide");
    return table(columns.headers, shown.map((s) => columns.row(s, now)));
  }
  return printObjects(format, shown, list);
}

async function get(backend: Backend, kindArg: string, nameArg: string | undefined, options: GetOptions, io: CliIo): Promise<number> {
  const { kind, name } = parseKindRef(kindArg, nameArg);
  const format = parseOutput(options.output);
  if (options.outputWatchEvents && !options.watch) throw new CliError("--output-watch-events goes with --watch");
  const shown = await select(backend, kind, name);
  if (name !== undefined && shown.length === 0 && !options.watch) throw new CliError(`${named(kind, name)} not found`);
  const printer = new WatchPrinter(kind, format, options.outputWatchEvents === true, io);
  if (shown.length === 0 && (format === undefined || format === "wide")) io.err.write(`No ${kind.toLowerCase()}s found\n`);
  else if (options.outputWatchEvents) printer.print(shown.map((s) => ({ type: "ADDED", shown: s })));
  else printer.first(render(format, kind, shown, name === undefined, io.now()), shown);
  if (options.watch) await watch(backend, kind, name, shown, printer, io);
  return 0;
}

/** Prints an object again whenever it changes, and once more when deleted, as `kubectl get -w` does. */
async function watch(backend: Backend, kind: Kind, name: string | undefined, first: ShownObject[], printer: WatchPrinter, io: CliIo): Promise<void> {
  const last = new Map(first.map((s) => [s.object.metadata.name, JSON.stringify(s.object)]));
  for await (const event of backend.watch(kind, name, io.signal)) {
    const objectName = event.shown.object.metadata.name;
    if (event.type === "DELETED") {
      if (!last.delete(objectName)) continue;
    } else {
      const key = JSON.stringify(event.shown.object);
      if (last.get(objectName) === key) continue; // printed already (the first listing)
      last.set(objectName, key);
    }
    printer.print([event]);
  }
}

/**
 * Rows for --watch: the header once, later rows padded to the first rows' widths. With
 * --output-watch-events an EVENT column comes first, and json/yaml print kubectl's
 * {type, object} per event.
 */
class WatchPrinter {
  private readonly headers: string[];
  private readonly row: (event: WatchEvent) => string[];
  private widths: string[][] | undefined;

  constructor(
    kind: Kind,
    private readonly format: OutputFormat | undefined,
    private readonly events: boolean,
    private readonly io: CliIo,
  ) {
    const columns = columnsFor(kind, format === "wide");
    this.headers = events ? ["EVENT", ...columns.headers] : columns.headers;
    this.row = (e) => (events ? [e.type, ...columns.row(e.shown, io.now())] : columns.row(e.shown, io.now()));
  }

  /** The first listing, printed as `get` prints it. */
  first(text: string, shown: ShownObject[]): void {
    this.io.out.write(text);
    if (shown.length > 0) this.widths = shown.map((s) => this.row({ type: "ADDED", shown: s }));
  }

  print(events: WatchEvent[]): void {
    const { format, io } = this;
    if (format === undefined || format === "wide") {
      const rows = events.map(this.row);
      io.out.write(this.widths === undefined ? table(this.headers, rows) : tableRows(this.headers, rows, this.widths));
      this.widths ??= rows;
      return;
    }
    for (const e of events) {
      if (format === "name") io.out.write(`${this.events ? `${e.type} ` : ""}${printObjects("name", [e.shown], false)}`);
      else {
        const value = this.events ? { type: e.type, object: e.shown.object } : e.shown.object;
        io.out.write(format === "json" ? `${JSON.stringify(value, null, 2)}\n` : `---\n${toYaml(value)}`);
      }
    }
  }
}
