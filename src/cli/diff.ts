import type { Command } from "commander";
import { relative } from "node:path";
import { planSources } from "./apply.js";
import { DesiredStore } from "../store/index.js";
import { type CliIo, CliError, processIo, runVerb } from "./io.js";
import { collect, layoutFrom, type StateOptions, verb } from "./options.js";
import { loadSources } from "./sources.js";
import { unifiedDiff } from "./text-diff.js";

interface DiffOptions extends StateOptions {
  filename: string[];
}

const EXAMPLE = `joblet diff -f manifests/examples/hello.yaml && echo "nothing to apply"`;

/**
 * `joblet diff`: what `apply` would change, as a unified diff of the manifest in the
 * manifests dir against the one apply would write. Exit codes are kubectl's: 0 no
 * differences, 1 differences, 2 and above an error, so scripts can tell the last two apart.
 */
export function diffCommand(io: CliIo = processIo()): Command {
  return verb(io, "diff", "Show what apply would change (exit 0: none, 1: differences, >1: error)", EXAMPLE)
    .requiredOption("-f, --filename <path>", "manifest file, directory, or - for stdin (repeatable)", collect)
    .action((options: DiffOptions) =>
      runVerb(io, async () => {
        try {
          return await diff(options, io);
        } catch (e) {
          // Exit 1 means "differs": an error must not look like that.
          throw new CliError((e as Error).message, 2);
        }
      }),
    );
}

async function diff(options: DiffOptions, io: CliIo): Promise<number> {
  const layout = layoutFrom(options, io);
  const planned = await planSources(await loadSources(options.filename, io, "diff"), options, io);
  const store = new DesiredStore(layout);
  let differs = false;
  for (const p of planned) {
    if (p.outcome === "unchanged") continue;
    differs = true;
    const path = store.path(p.kind, p.name);
    const live = relative(io.cwd, path).startsWith("..") ? path : relative(io.cwd, path);
    io.out.write(unifiedDiff(p.current ?? "", p.text, p.current === undefined ? "/dev/null" : `${live} (applied)`, `${live} (after apply)`));
  }
  return differs ? 1 : 0;
}
