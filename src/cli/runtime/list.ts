import type { Command } from "commander";
import { columnsFor } from "../columns.js";
import { type CliIo, processIo, runVerb } from "../io.js";
import { withBackend } from "../backend.js";
import { type StateOptions, verb } from "../options.js";
import { outputOption, parseOutput, printObjects } from "../output.js";
import { table } from "../table.js";
import { listRuntimes } from "./common.js";

interface ListOptions extends StateOptions {
  output?: string;
}

const EXAMPLE = `joblet runtime list
joblet runtime list -o wide
joblet runtime list -o json`;

/**
 * `joblet runtime list`: the Runtimes the daemon reports on, with the columns
 * `get runtimes` shows. Reads status/runtimes/*.json and nothing else, so it answers at
 * once however large the runtimes are (a Runtime applied a moment ago shows once the
 * daemon has written its first status).
 */
export function runtimeListCommand(io: CliIo = processIo()): Command {
  return verb(io, "list", "List runtimes: version, source, size, readiness (build progress while building)", EXAMPLE)
    .alias("ls")
    .addOption(outputOption())
    .action((options: ListOptions) =>
      runVerb(io, async () => {
        const format = parseOutput(options.output);
        const shown = await withBackend(options, io, (backend) => listRuntimes(backend, (problem) => io.err.write(`${problem}\n`)));
        if (format !== undefined && format !== "wide") {
          io.out.write(printObjects(format, shown, true));
        } else if (shown.length === 0) {
          io.err.write("No runtimes found (install one with joblet runtime install NAME, or apply a Runtime manifest)\n");
        } else {
          const columns = columnsFor("Runtime", format === "wide");
          const now = io.now();
          io.out.write(table(columns.headers, shown.map((s) => columns.row(s, now))));
        }
      }),
    );
}
