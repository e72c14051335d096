import type { Command } from "commander";
import { prepareSources } from "./apply.js";
import { type Backend, withBackend } from "./backend.js";
import { type CliIo, CliError, processIo, runVerb } from "./io.js";
import { collect, type StateOptions, verb } from "./options.js";
import { loadSources } from "./sources.js";
import { unifiedDiff } from "./text-diff.js";

interface DiffOptions extends StateOptions {
  filename: string[];
}

const EXAMPLE = `joblet diff -f manifests/examples/hello.yaml && echo "nothing to apply"`;

/**
 * `joblet diff`: what `apply` would change, as a unified diff of the manifest in the
 * manifests dir (or a remote daemon's object) against the one apply would write. Exit
 * codes are kubectl's: 0 no differences, 1 differences, 2 and above an error, so scripts
 * can tell the last two apart.
 */
export function diffCommand(io: CliIo = processIo()): Command {
  return verb(io, "diff", "Show what apply would change (exit 0: none, 1: differences, >1: error)", EXAMPLE)
    .requiredOption("-f, --filename <path>", "manifest file, directory, or - for stdin (repeatable)", collect)
    .action((options: DiffOptions) =>
      runVerb(io, async () => {
        try {
          return await withBackend(options, io, (backend) => diff(backend, options, io));
        } catch (e) {
          // Exit 1 means "differs": an error must not look like that.
          throw new CliError((e as Error).message, 2);
        }
      }),
    );
}

async function diff(backend: Backend, options: DiffOptions, io: CliIo): Promise<number> {
  const prepared = await prepareSources(backend, await loadSources(options.filename, io, "diff"));
  let differs = false;
  for (const p of prepared) {
    const difference = await backend.difference(p);
    if (difference === undefined) continue;
    differs = true;
    io.out.write(unifiedDiff(difference.before, difference.after, difference.beforeLabel, difference.afterLabel));
  }
  return differs ? 1 : 0;
}
