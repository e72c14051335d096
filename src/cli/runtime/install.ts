import type { Command } from "commander";
import { stat } from "node:fs/promises";
import type { Manifest } from "../../api/index.js";
import { DesiredStore } from "../../store/index.js";
import { type Backend, withBackend } from "../backend.js";
import { loadConfig, configPath } from "../config.js";
import { type CliIo, CliError, processIo, runVerb } from "../io.js";
import { named, ref } from "../kinds.js";
import type { ShownObject } from "../objects.js";
import { type StateOptions, verb } from "../options.js";
import { INSTALLED_FROM } from "./info.js";
import { followBuild, ProgressView, readyLine } from "./progress.js";
import { packageLocation, packageSha256, pickEntry, readRegistry, registryName } from "./registry.js";

interface InstallOptions extends StateOptions {
  registry?: string;
  name?: string;
  wait?: boolean;
}

const EXAMPLE = `joblet runtime install python-3.11-ml --registry https://example.com/joblet/registry.json
joblet runtime install python-3.11-ml@1.3.1            # registry from ~/.config/joblet/config.yaml
joblet runtime install node-18 --registry ./registry.json --name node --no-wait`;

/** How long reading the registry's index may take. */
const REGISTRY_TIMEOUT_MS = 30_000;

/**
 * `joblet runtime install`: picks a package from a registry's index and applies a Runtime
 * named NAME@VERSION whose source is that package (URL and sha256), as `joblet apply`
 * would; the daemon downloads, checks and unpacks it. Versions install side by side; a
 * Job's `runtime: NAME` takes the highest installed one.
 */
export function runtimeInstallCommand(io: CliIo = processIo()): Command {
  return verb(io, "install", "Install a runtime from a registry (a Runtime NAME@VERSION from the package's URL and checksum), then follow its build", EXAMPLE)
    .argument("<name>", "NAME or NAME@VERSION (default: the highest version the registry has for this host)")
    .option("--registry <url>", "registry index: an http(s) URL, a file:// URL or a path (default: runtimeRegistry in $JOBLET_CONFIG, else ~/.config/joblet/config.yaml)")
    .option("--name <object>", "name of the Runtime object (default: NAME@VERSION)")
    .option("--wait", "follow the build until the runtime is Ready (exit 0) or Failed (exit 1); the default")
    .option("--no-wait", "return once the Runtime's manifest is written")
    .action((wanted: string, options: InstallOptions) => runVerb(io, () => withBackend(options, io, (backend) => install(backend, wanted, options, io))));
}

function parseWanted(wanted: string): { name: string; version?: string } {
  const at = wanted.indexOf("@");
  if (at === -1) return { name: wanted };
  const name = wanted.slice(0, at);
  const version = wanted.slice(at + 1);
  if (name === "" || version === "") throw new CliError(`'${wanted}' is not NAME or NAME@VERSION`);
  return { name, version };
}

async function install(backend: Backend, wanted: string, options: InstallOptions, io: CliIo): Promise<number> {
  const { name, version } = parseWanted(wanted);
  const location = options.registry ?? (await loadConfig(io)).runtimeRegistry;
  if (location === undefined) {
    throw new CliError(`No registry to install from: give --registry URL, or set runtimeRegistry: URL in ${configPath(io.env, io.cwd).path}`);
  }
  const registry = await readRegistry(location, { cwd: io.cwd, timeoutMs: REGISTRY_TIMEOUT_MS, signal: io.signal });
  const where = registryName(registry.url);
  // The builder's own module, loaded only here: the CLI's other verbs start without it.
  const { hostArchitectures } = await import("../../runtimes/build.js");
  const entry = pickEntry(registry.entries, name, version, hostArchitectures(), where);
  const source = { ...packageLocation(entry, registry.url, where), sha256: packageSha256(entry, where) };
  if (backend.layout === undefined && "path" in source) {
    // The daemon fetches the package itself: a path on this host means nothing there.
    throw new CliError(`Cannot install ${name} ${entry.version} on ${backend.where}: the registry ${where} gives its package as a path on this host (${source.path}); a remote daemon needs an http(s) URL`);
  }
  const objectName = options.name ?? `${name}@${entry.version}`;
  const manifest = {
    apiVersion: "joblet/v1",
    kind: "Runtime",
    metadata: { name: objectName, annotations: { [INSTALLED_FROM]: where } },
    spec: { version: entry.version, ...(entry.description ? { description: entry.description } : {}), source: { package: source } },
  } as Manifest;
  const prepared = await backend.prepare({ kind: "Runtime", name: objectName, manifest, uploads: [] }, `Cannot install ${named("Runtime", objectName)}`);
  // What the daemon said before this apply is no news about it (see followBuild).
  const before = await backend.get("Runtime", objectName);
  const outcome = await backend.apply(prepared, false);
  const appliedAt = backend.layout === undefined ? undefined : await mtime(new DesiredStore(backend.layout).path("Runtime", objectName));
  const isNews = (shown: ShownObject): boolean => {
    const seen = shown.seen?.getTime() ?? 0;
    if (appliedAt !== undefined) return seen >= appliedAt;
    return !before?.hasStatus || seen > (before.seen?.getTime() ?? 0);
  };
  io.out.write(`${ref("Runtime", objectName)} ${outcome} (${name} ${entry.version} from ${where})\n`);
  if (options.wait === false) return 0;

  const view = new ProgressView(io.out, objectName, io.out.isTTY === true);
  const result = await followBuild(backend, objectName, prepared.generation, isNews, view, io);
  view.end();
  if (result === undefined) {
    io.err.write(`Stopped waiting; the daemon goes on with ${ref("Runtime", objectName)} (see joblet runtime list)\n`);
    return 130;
  }
  if (!result.ok) {
    // Written as is, not as a CliError: the build log's lines must keep their case.
    io.err.write(`${result.message}\n`);
    return 1;
  }
  io.out.write(`${readyLine(objectName, result.status)}\n`);
  return 0;
}

async function mtime(path: string): Promise<number | undefined> {
  return stat(path).then(
    (s) => Math.floor(s.mtimeMs), // as ShownObject.seen has it: whole milliseconds
    () => undefined,
  );
}
