import { realpath } from "node:fs/promises";
import { resolve } from "node:path";
import type { Command } from "commander";
import type { RuntimeManifest } from "../../api/index.js";
import { runtimeLink } from "../../runtimes/installed.js";
import { toYaml } from "../../store/index.js";
import { humanBytes, runtimeVersion } from "../columns.js";
import { type CliIo, CliError, processIo, runVerb } from "../io.js";
import { named } from "../kinds.js";
import { type Backend, withBackend } from "../backend.js";
import { type StateOptions, verb } from "../options.js";
import { findRuntime, notReadyReason, runtimeStatus } from "./common.js";

interface PackOptions extends StateOptions {
  output: string;
}

const EXAMPLE = `joblet runtime pack python-3.11-ml -o python-3.11-ml.tar.gz
scp python-3.11-ml.tar.gz* other-host:/srv/runtimes/   # then apply the printed manifest there`;

/**
 * `joblet runtime pack`: the runtime's installed build (runtime.yml + isolated/) as a
 * .tar.gz package, with FILE.sha256 beside it, and the Runtime manifest that installs it
 * on another host (source.package), ready to apply.
 */
export function runtimePackCommand(io: CliIo = processIo()): Command {
  return verb(io, "pack", "Pack an installed runtime into a .tar.gz package (and FILE.sha256) for another host", EXAMPLE)
    .argument("<name>", "NAME or NAME@VERSION (NAME alone: the Runtime called so, else its highest installed version)")
    .requiredOption("-o, --output <file>", "the package file to write (.tar.gz)")
    .action((wanted: string, options: PackOptions) => runVerb(io, () => withBackend(options, io, (backend) => pack(backend, wanted, options, io))));
}

async function pack(backend: Backend, wanted: string, options: PackOptions, io: CliIo): Promise<number> {
  const layout = backend.layout;
  if (layout === undefined) {
    throw new CliError(`Cannot pack a runtime of ${backend.where}: packing reads the runtime's installed files, which stay on the daemon's host; run joblet runtime pack there (with --state-dir) and copy the package`);
  }
  const { shown, name } = await findRuntime(backend, wanted);
  const link = runtimeLink(layout, name);
  const dir = await realpath(link).catch(() => {
    throw new CliError(`${named("Runtime", name)} has no installed build to pack (${link} does not exist): ${notReadyReason(runtimeStatus(shown.object))}`);
  });
  const file = resolve(io.cwd, options.output);
  // Loaded here: the CLI's other verbs start without the archive modules.
  const { packRuntime } = await import("../../runtimes/package/pack.js");
  const { sha256, bytes } = await packRuntime(dir, file).catch((e: Error) => {
    throw new CliError(`Cannot pack ${named("Runtime", name)} from ${dir} into ${file}: ${e.message}`);
  });
  const version = runtimeVersion(shown.object);
  const description = runtimeStatus(shown.object).current?.config?.description;
  const manifest: RuntimeManifest = {
    apiVersion: "joblet/v1",
    kind: "Runtime",
    metadata: { name },
    spec: { ...(version ? { version } : {}), ...(description ? { description } : {}), source: { package: { path: file, sha256 } } },
  };
  // The notes are YAML comments: `joblet runtime pack X -o F > x.yaml` gives a file to apply.
  io.out.write(`# Packed ${named("Runtime", name)} (${dir}) into ${file}: ${humanBytes(bytes)} (${bytes} bytes)\n`);
  io.out.write(`# sha256: ${sha256} (also in ${file}.sha256)\n`);
  io.out.write(`# To install it on another host, copy the file there (to this path, or change the path below) and apply:\n`);
  io.out.write(toYaml(manifest));
  return 0;
}
