import type { Command } from "commander";
import { type Backend, type Prepared, withBackend } from "./backend.js";
import { type DesiredInput, fromSource, manifestUploads } from "./desired.js";
import { type CliIo, processIo, runVerb } from "./io.js";
import { named, ref } from "./kinds.js";
import { collect, type StateOptions, verb } from "./options.js";
import { loadSources, type SourceObject } from "./sources.js";

interface ApplyOptions extends StateOptions {
  filename: string[];
  prune?: boolean;
  dryRun?: boolean;
}

const EXAMPLE = `joblet apply -f manifests/examples/hello.yaml
joblet apply -f jobs/ --prune       # also delete what was applied from jobs/ and is gone now
cat job.yaml | joblet apply -f -`;

/** `joblet apply`: writes desired manifests into the manifests dir (or sends them to the daemon) for the daemon to converge on. */
export function applyCommand(io: CliIo = processIo()): Command {
  return verb(io, "apply", "Create or update objects from manifest files (validated first: nothing is written if any is invalid)", EXAMPLE)
    .requiredOption("-f, --filename <path>", "manifest file, directory, or - for stdin (repeatable)", collect)
    .option("--prune", "delete objects applied earlier from the same sources that are no longer in them")
    .option("--dry-run", "print what would change; write nothing")
    .action((options: ApplyOptions) => runVerb(io, () => withBackend(options, io, (backend) => apply(backend, options, io))));
}

export function sourceInput(object: SourceObject): DesiredInput {
  return {
    kind: object.kind,
    name: object.name,
    manifest: object.manifest,
    appliedFrom: object.source === "-" ? "-" : object.file,
    uploads: manifestUploads(object.manifest, object.baseDir, `${object.file}:${object.line}: ${named(object.kind, object.name)}`),
  };
}

/** Prepares every object before applying any, so a missing upload stops the whole apply. */
export async function prepareSources(backend: Backend, objects: SourceObject[]): Promise<Prepared[]> {
  const prepared: Prepared[] = [];
  for (const object of objects) prepared.push(await backend.prepare(sourceInput(object), `${object.file}:${object.line}: ${named(object.kind, object.name)}`));
  return prepared;
}

async function apply(backend: Backend, options: ApplyOptions, io: CliIo): Promise<number> {
  const objects = await loadSources(options.filename, io, "apply");
  const prepared = await prepareSources(backend, objects);
  // A daemon checks each object as it gets it: a dry run of them all first keeps the
  // promise that nothing is applied when one is refused (invalid, or not this user's to apply).
  if (backend.layout === undefined && !options.dryRun && prepared.length > 1) {
    for (const p of prepared) await backend.apply(p, true);
  }
  const suffix = options.dryRun ? " (dry run)" : "";
  for (const p of prepared) io.out.write(`${ref(p.kind, p.name)} ${await backend.apply(p, options.dryRun === true)}${suffix}\n`);
  if (options.prune) {
    const sources = [...new Set(objects.map((o) => o.source))];
    const kept = new Set(prepared.map((p) => `${p.kind}/${p.name}`));
    for (const applied of await backend.applied()) {
      if (kept.has(`${applied.kind}/${applied.name}`) || !applied.prune) continue;
      if (!sources.some((source) => fromSource(applied.appliedFrom, source))) continue;
      if (!options.dryRun) {
        const problem = await backend.remove(applied.kind, applied.name);
        if (problem !== undefined) continue; // deleted meanwhile
      }
      io.out.write(`${ref(applied.kind, applied.name)} pruned${suffix}\n`);
    }
  }
  return 0;
}
