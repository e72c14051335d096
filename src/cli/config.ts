/**
 * The CLI's own settings file, for defaults a user would otherwise type each time:
 * $JOBLET_CONFIG if set, else ~/.config/joblet/config.yaml. YAML:
 *
 *   # Where `joblet runtime install` looks when --registry is not given:
 *   # an http(s) URL, a file:// URL, or a path (relative to this file).
 *   runtimeRegistry: https://example.com/joblet/registry.json
 *
 * A missing default file is no error (every setting is optional); a missing file that
 * $JOBLET_CONFIG names is. Keys this version does not know are ignored, so that a file
 * written for a later version (contexts, like kubeconfig's) still loads.
 */
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import yaml from "js-yaml";
import { CliError } from "./io.js";

export const CONFIG_ENV = "JOBLET_CONFIG";

export interface CliConfig {
  /** The file read, or undefined when there was none. */
  file?: string;
  /** Default for `runtime install --registry`: a URL, or an absolute path. */
  runtimeRegistry?: string;
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
    if (code === "ENOENT" && !explicit) return {};
    throw new CliError(`Cannot read config file ${path}${explicit ? ` (from $${CONFIG_ENV})` : ""}: ${code === "ENOENT" ? "it does not exist" : (e as Error).message}`);
  }
  let value: unknown;
  try {
    value = yaml.load(text, { schema: yaml.CORE_SCHEMA, filename: path });
  } catch (e) {
    throw new CliError(`Config file ${path} is not valid YAML: ${(e as Error).message.split("\n")[0]}`);
  }
  if (value === undefined || value === null) return { file: path };
  if (typeof value !== "object" || Array.isArray(value)) throw new CliError(`Config file ${path} must hold a mapping (key: value lines), not ${Array.isArray(value) ? "a list" : typeof value}`);
  const config: CliConfig = { file: path };
  const registry = (value as Record<string, unknown>).runtimeRegistry;
  if (registry !== undefined && registry !== null) {
    if (typeof registry !== "string" || registry.trim() === "") throw new CliError(`Config file ${path}: runtimeRegistry must be a URL or a path, not ${JSON.stringify(registry)}`);
    // A path in the file means a path next to the file, wherever the CLI is run from.
    config.runtimeRegistry = /^[a-z][a-z0-9+.-]*:\/\//i.test(registry) || isAbsolute(registry) ? registry : resolve(dirname(path), registry);
  }
  return config;
}
