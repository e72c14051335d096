import type { Command } from "commander";
import type { Kind } from "../api/index.js";
import { statusKindDir, type StateLayout } from "../store/index.js";
import { columnsFor } from "./columns.js";
import { type CliIo, CliError, processIo, runVerb } from "./io.js";
import { named, parseKindRef } from "./kinds.js";
import { getObject, listObjects, type ShownObject } from "./objects.js";
import { layoutFrom, type StateOptions, verb } from "./options.js";
import { type OutputFormat, outputOption, parseOutput, printObjects } from "./output.js";
import { table, tableRows } from "./table.js";
import { watchDir } from "./status-watch.js";

interface GetOptions extends StateOptions {
  output?: string;
  watch?: boolean;
}

const EXAMPLE = `joblet get jobs
joblet get job hello -o json
joblet get job/hello -o wide --watch`;

/** `joblet get`: objects with their status, as a table or as YAML/JSON. */
export function getCommand(io: CliIo = processIo()): Command {
  return verb(io, "get", "Show objects and their status (job, runtime, volume, network)", EXAMPLE)
    .argument("<kind>", "job, jobs, job/NAME (likewise runtime, volume, network)")
    .argument("[name]", "one object; all of the kind when omitted")
    .addOption(outputOption())
    .option("-w, --watch", "after printing, print changed objects again as their status changes (until interrupted)")
    .action((kindArg: string, nameArg: string | undefined, options: GetOptions) => runVerb(io, () => get(kindArg, nameArg, options, io)));
}

async function select(layout: StateLayout, kind: Kind, name: string | undefined): Promise<ShownObject[]> {
  if (name === undefined) return listObjects(layout, kind);
  const one = await getObject(layout, kind, name);
  return one === undefined ? [] : [one];
}

function render(format: OutputFormat | undefined, kind: Kind, shown: ShownObject[], list: boolean, now: Date): string {
  if (format === undefined || format === "wide") {
    const columns = columnsFor(kind, format === "wide");
    return table(columns.headers, shown.map((s) => columns.row(s, now)));
  }
  return printObjects(format, shown, list);
}

async function get(kindArg: string, nameArg: string | undefined, options: GetOptions, io: CliIo): Promise<number> {
  const { kind, name } = parseKindRef(kindArg, nameArg);
  const format = parseOutput(options.output);
  const layout = layoutFrom(options, io);
  const shown = await select(layout, kind, name);
  if (name !== undefined && shown.length === 0 && !options.watch) throw new CliError(`${named(kind, name)} not found`);
  if (shown.length === 0 && (format === undefined || format === "wide")) io.err.write(`No ${kind.toLowerCase()}s found\n`);
  else io.out.write(render(format, kind, shown, name === undefined, io.now()));
  if (options.watch) await watch(layout, kind, name, format, shown, io);
  return 0;
}

/** Prints an object again whenever what is stored for it changes, as `kubectl get -w` does. */
async function watch(layout: StateLayout, kind: Kind, name: string | undefined, format: OutputFormat | undefined, first: ShownObject[], io: CliIo): Promise<void> {
  const last = new Map(first.map((s) => [s.object.metadata.name, JSON.stringify(s.object)]));
  const columns = columnsFor(kind, format === "wide");
  const widths = first.map((s) => columns.row(s, io.now()));
  const waker = watchDir(statusKindDir(layout, kind), io.pollMs, io.signal);
  try {
    while (!io.signal?.aborted) {
      await waker.next();
      if (io.signal?.aborted) break;
      const changed = (await select(layout, kind, name)).filter((s) => last.get(s.object.metadata.name) !== JSON.stringify(s.object));
      for (const s of changed) last.set(s.object.metadata.name, JSON.stringify(s.object));
      if (changed.length === 0) continue;
      if (format === undefined || format === "wide") io.out.write(tableRows(columns.headers, changed.map((s) => columns.row(s, io.now())), widths));
      else for (const s of changed) io.out.write(format === "yaml" ? `---\n${printObjects("yaml", [s], false)}` : printObjects(format, [s], false));
    }
  } finally {
    waker.close();
  }
}
