/**
 * The CLI's own settings file, for defaults a user would otherwise type each time:
 * $JOBLET_CONFIG if set, else ~/.config/joblet/config.yaml. YAML:
 *
 *   # Where `joblet runtime install` looks when --registry is not given:
 *   # an http(s) URL, a file:// URL, or a path (relative to this file).
 *   runtimeRegistry: https://example.com/joblet/registry.json
 *
 *   # Remote daemons, as kubeconfig names clusters: `--context NAME` picks one,
 *   # currentContext is used when no --server, --context or --state-dir is given.
 *   currentContext: prod
 *   contexts:
 *     - name: prod
 *       server: https://joblet.example.com:8443
 *       cert: certs/alice.crt        # paths relative to this file
 *       key: certs/alice.key
 *       ca: certs/ca.crt
 *
 * A missing default file is no error (every setting is optional); a missing file that
 * $JOBLET_CONFIG names is. Keys this version does not know are ignored, so that a file
 * written for a later version still loads.
 */
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import yaml from "js-yaml";
import { CliError } from "./io.js";

export const CONFIG_ENV = "JOBLET_CONFIG";

/** A remote daemon and the client certificate to show it; paths are absolute. */
export interface Context {
  name: string;
  server: string;
  cert: string;
  key: string;
  ca: string;
}

export interface CliConfig {
  /** The file read, or undefined when there was none. */
  file?: string;
  /** Default for `runtime install --registry`: a URL, or an absolute path. */
  runtimeRegistry?: string;
  contexts: Context[];
  currentContext?: string;
}

/** Where the config file is: $JOBLET_CONFIG, else ~/.config/joblet/config.yaml ($HOME from `env`). */
export function configPath(env: Record<string, string | undefined>, cwd: string): { path: string; explicit: boolean } {
  const explicit = env[CONFIG_ENV];
  if (explicit !== undefined && explicit !== "") return { path: resolve(cwd, explicit), explicit: true };
  const home = env.HOME !== undefined && env.HOME !== "" ? env.HOME : homedir();
  return { path: join(home, ".config", "joblet", "config.yaml"), explicit: false };
}

/** Reads and checks the config file; errors name the file and the field. */
export async function loadConfig(io: { env: Record<string, string | undefined>; cwd: string }): Promise<CliConfig> {
  const { path, explicit } = configPath(io.env, io.cwd);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" && !explicit) return { contexts: [] };
    throw new CliError(`Cannot read config file ${path}${explicit ? ` (from $${CONFIG_ENV})` : ""}: ${code === "ENOENT" ? "it does not exist" : (e as Error).message}`);
  }
  let value: unknown;
  try {
    value = yaml.load(text, { schema: yaml.CORE_SCHEMA, filename: path });
  } catch (e) {
    throw new CliError(`Config file ${path} is not valid YAML: ${(e as Error).message.split("\n")[0]}`);
  }
  if (value === undefined || value === null) return { file: path, contexts: [] };
  if (typeof value !== "object" || Array.isArray(value)) throw new CliError(`Config file ${path} must hold a mapping (key: value lines), not ${Array.isArray(value) ? "a list" : typeof value}`);
  const fields = value as Record<string, unknown>;
  const config: CliConfig = { file: path, contexts: contextsOf(path, fields.contexts) };
  const registry = fields.runtimeRegistry;
  if (registry !== undefined && registry !== null) {
    if (typeof registry !== "string" || registry.trim() === "") throw new CliError(`Config file ${path}: runtimeRegistry must be a URL or a path, not ${JSON.stringify(registry)}`);
    config.runtimeRegistry = isUrl(registry) ? registry : besideFile(path, registry);
  }
  const current = fields.currentContext;
  if (current !== undefined && current !== null && current !== "") {
    if (typeof current !== "string") throw new CliError(`Config file ${path}: currentContext must be a context's name, not ${JSON.stringify(current)}`);
    findContext(config, current, "currentContext");
    config.currentContext = current;
  }
  return config;
}

/** The context called `name`; `field` says where the name came from (--context, currentContext). */
export function findContext(config: CliConfig, name: string, field: string): Context {
  const found = config.contexts.find((c) => c.name === name);
  if (found !== undefined) return found;
  const names = config.contexts.map((c) => c.name);
  const where = config.file === undefined ? "no config file was found" : `config file ${config.file} has ${names.length === 0 ? "no contexts" : `contexts ${names.join(", ")}`}`;
  throw new CliError(`${field} '${name}' names no context: ${where}`);
}

const CONTEXT_FIELDS = ["server", "cert", "key", "ca"] as const;

function contextsOf(path: string, value: unknown): Context[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new CliError(`Config file ${path}: contexts must be a list of {name, server, cert, key, ca}, not ${typeof value}`);
  const contexts: Context[] = [];
  value.forEach((entry: unknown, i) => {
    const at = `Config file ${path}: contexts[${i}]`;
    if (entry === null || typeof entry !== "object" || Array.isArray(entry)) throw new CliError(`${at} must be a mapping with name, server, cert, key and ca`);
    const fields = entry as Record<string, unknown>;
    const text = (field: string): string => {
      const v = fields[field];
      if (typeof v !== "string" || v.trim() === "") throw new CliError(`${at}.${field} must be ${field === "name" ? "a name" : field === "server" ? "an https:// URL" : "a file path"}${v === undefined ? " (it is missing)" : `, not ${JSON.stringify(v)}`}`);
      return v;
    };
    const name = text("name");
    if (contexts.some((c) => c.name === name)) throw new CliError(`${at}.name '${name}' is used by an earlier context too`);
    const [server, cert, key, ca] = CONTEXT_FIELDS.map(text) as [string, string, string, string];
    if (!/^https:\/\//i.test(server)) throw new CliError(`${at}.server must be an https:// URL, not ${JSON.stringify(server)}`);
    // A path in the file means a path next to the file, wherever the CLI is run from.
    contexts.push({ name, server, cert: besideFile(path, cert), key: besideFile(path, key), ca: besideFile(path, ca) });
  });
  return contexts;
}

function isUrl(text: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(text);
}

function besideFile(file: string, path: string): string {
  return isAbsolute(path) ? path : resolve(dirname(file), path);
}
