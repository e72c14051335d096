import type { Command } from "commander";
import { type CliIo, processIo, runVerb } from "./io.js";
import { type DesiredInput, fromSource, listApplied, manifestUploads, plan, type PlannedObject, removeDesired, write } from "./desired.js";
import { named, ref } from "./kinds.js";
import { collect, layoutFrom, type StateOptions, verb } from "./options.js";
import { loadSources, type SourceObject } from "./sources.js";

interface ApplyOptions extends StateOptions {
  filename: string[];
  prune?: boolean;
  dryRun?: boolean;
}

const EXAMPLE = `joblet apply -f manifests/examples/hello.yaml
joblet apply -f jobs/ --prune       # also delete what was applied from jobs/ and is gone now
cat job.yaml | joblet apply -f -`;

/** `joblet apply`: writes desired manifests into the manifests dir for the daemon to converge on. */
export function applyCommand(io: CliIo = processIo()): Command {
  return verb(io, "apply", "Create or update objects from manifest files (validated first: nothing is written if any is invalid)", EXAMPLE)
    .requiredOption("-f, --filename <path>", "manifest file, directory, or - for stdin (repeatable)", collect)
    .option("--prune", "delete objects applied earlier from the same sources that are no longer in them")
    .option("--dry-run", "print what would change; write nothing")
    .action((options: ApplyOptions) => runVerb(io, () => apply(options, io)));
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

/** Plans every object before writing any, so a missing upload stops the whole apply. */
export async function planSources(objects: SourceObject[], options: StateOptions, io: CliIo): Promise<PlannedObject[]> {
  const layout = layoutFrom(options, io);
  const planned: PlannedObject[] = [];
  for (const object of objects) {
    planned.push(await plan(layout, sourceInput(object), `${object.file}:${object.line}: ${named(object.kind, object.name)}`));
  }
  return planned;
}

async function apply(options: ApplyOptions, io: CliIo): Promise<number> {
  const layout = layoutFrom(options, io);
  const objects = await loadSources(options.filename, io, "apply");
  const planned = await planSources(objects, options, io);
  const suffix = options.dryRun ? " (dry run)" : "";
  for (const p of planned) {
    const outcome = options.dryRun ? p.outcome : await write(layout, p);
    io.out.write(`${ref(p.kind, p.name)} ${outcome}${suffix}\n`);
  }
  if (options.prune) {
    const sources = [...new Set(objects.map((o) => o.source))];
    const kept = new Set(planned.map((p) => `${p.kind}/${p.name}`));
    for (const applied of await listApplied(layout)) {
      if (kept.has(`${applied.kind}/${applied.name}`) || !applied.prune) continue;
      if (!sources.some((source) => fromSource(applied.appliedFrom, source))) continue;
      if (!options.dryRun) await removeDesired(layout, applied.kind, applied.name);
      io.out.write(`${ref(applied.kind, applied.name)} pruned${suffix}\n`);
    }
  }
  return 0;
}
