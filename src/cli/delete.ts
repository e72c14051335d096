import type { Command } from "commander";
import type { Kind } from "../api/index.js";
import { removeDesired } from "./desired.js";
import { type CliIo, CliError, processIo, runVerb } from "./io.js";
import { named, parseKindRef, ref } from "./kinds.js";
import { readDesired } from "./objects.js";
import { collect, layoutFrom, type StateOptions, verb } from "./options.js";
import { loadSources } from "./sources.js";

interface DeleteOptions extends StateOptions {
  filename?: string[];
}

const EXAMPLE = `joblet delete job hello
joblet delete -f manifests/examples/hello.yaml`;

/**
 * `joblet delete`: removes desired manifests that `apply` wrote; the daemon then stops
 * the object and cleans up. It reports every object it could not find, then exits 1.
 */
export function deleteCommand(io: CliIo = processIo()): Command {
  return verb(io, "delete", "Delete objects by kind and name, or every object in manifest files", EXAMPLE)
    .argument("[kind]", "job, runtime, volume, network (or job/NAME)")
    .argument("[name]", "the object's name")
    .option("-f, --filename <path>", "delete the objects in this file, directory, or - (repeatable)", collect)
    .action((kindArg: string | undefined, nameArg: string | undefined, options: DeleteOptions) =>
      runVerb(io, async () => {
        const targets = await targetsOf(kindArg, nameArg, options, io);
        const layout = layoutFrom(options, io);
        const missing: string[] = [];
        for (const { kind, name } of targets) {
          if (await removeDesired(layout, kind, name)) io.out.write(`${ref(kind, name)} deleted\n`);
          else missing.push(await notFound(kind, name, options, io));
        }
        if (missing.length > 0) throw new CliError(missing.join("\n"));
      }),
    );
}

async function targetsOf(kindArg: string | undefined, nameArg: string | undefined, options: DeleteOptions, io: CliIo): Promise<{ kind: Kind; name: string }[]> {
  if (options.filename !== undefined) {
    if (kindArg !== undefined) throw new CliError(`Give either KIND NAME or -f PATH, not both ('${kindArg}' and -f)`);
    return (await loadSources(options.filename, io, "delete")).map(({ kind, name }) => ({ kind, name }));
  }
  if (kindArg === undefined) throw new CliError("Delete needs KIND NAME or -f PATH");
  const { kind, name } = parseKindRef(kindArg, nameArg);
  if (name === undefined) throw new CliError(`Delete needs a name: joblet delete ${kind.toLowerCase()} NAME`);
  return [{ kind, name }];
}

/** Says why, when the object exists but in a file `apply` did not write (a git checkout's). */
async function notFound(kind: Kind, name: string, options: StateOptions, io: CliIo): Promise<string> {
  const elsewhere = (await readDesired(layoutFrom(options, io), kind)).get(name);
  if (elsewhere !== undefined) return `Cannot delete ${named(kind, name)}: it is defined in ${elsewhere.file}, which joblet apply did not write; remove it there`;
  return `${named(kind, name)} not found`;
}
