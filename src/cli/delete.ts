import type { Command } from "commander";
import type { Kind } from "../api/index.js";
import { withBackend } from "./backend.js";
import { type CliIo, CliError, processIo, runVerb } from "./io.js";
import { parseKindRef, ref } from "./kinds.js";
import { collect, type StateOptions, verb } from "./options.js";
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
        const missing: string[] = [];
        await withBackend(options, io, async (backend) => {
          for (const { kind, name } of targets) {
            const problem = await backend.remove(kind, name);
            if (problem === undefined) io.out.write(`${ref(kind, name)} deleted\n`);
            else missing.push(problem);
          }
        });
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
