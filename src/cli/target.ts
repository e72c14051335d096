/**
 * Which joblet a verb talks to: this host's state directory, or a daemon over HTTPS.
 *
 *   --server URL [--cert F --key F --ca F]   that daemon; missing files from the context
 *   --context NAME                           a context of the config file (flags override its fields)
 *   --state-dir DIR / $JOBLET_STATE_DIR      this host's state dir
 *   currentContext in the config file        when none of the above is given
 *   otherwise                                this host's state dir (/var/lib/joblet)
 *
 * --state-dir together with --server or --context is refused: one verb, one joblet.
 */
import { resolve } from "node:path";
import type { RemoteTarget } from "../client/api-client.js";
import { STATE_DIR_ENV, type StateLayout } from "../store/index.js";
import { type CliConfig, type Context, findContext, loadConfig } from "./config.js";
import { CliError, type CliIo } from "./io.js";
import { layoutFrom, type StateOptions } from "./options.js";

export type Target = { remote: false; layout: StateLayout } | { remote: true; target: RemoteTarget };

const FILE_FLAGS = [
  ["cert", "--cert"],
  ["key", "--key"],
  ["ca", "--ca"],
] as const;

export async function targetFrom(options: StateOptions, io: Pick<CliIo, "env" | "cwd">): Promise<Target> {
  const remoteFlag = options.server !== undefined || options.context !== undefined;
  const localFlag = options.stateDir !== undefined || options.manifests !== undefined;
  if (remoteFlag && localFlag) {
    const local = options.stateDir !== undefined ? "--state-dir" : "--manifests";
    const remote = options.server !== undefined ? "--server" : "--context";
    throw new CliError(`${local} and ${remote} cannot be used together: ${local} works on this host's state directory, ${remote} on a daemon over HTTPS`);
  }
  const fileFlag = FILE_FLAGS.find(([field]) => options[field] !== undefined)?.[1];
  if (localFlag) {
    if (fileFlag !== undefined) throw new CliError(`${fileFlag} is for a remote daemon (with --server or --context), not with --state-dir`);
    return { remote: false, layout: layoutFrom(options, io) };
  }
  const stateEnv = io.env[STATE_DIR_ENV];
  if (!remoteFlag && fileFlag === undefined && stateEnv !== undefined && stateEnv !== "") return { remote: false, layout: layoutFrom(options, io) };

  const config = await loadConfig(io);
  const context = contextFor(options, config);
  if (!remoteFlag && context === undefined) {
    if (fileFlag !== undefined) throw new CliError(`${fileFlag} needs --server URL (or --context NAME): it is the client certificate for a remote daemon`);
    return { remote: false, layout: layoutFrom(options, io) };
  }
  const server = options.server ?? context?.server;
  if (server === undefined) throw new CliError("No server to talk to: give --server URL or --context NAME");
  const file = (field: "cert" | "key" | "ca", flag: string): string => {
    const given = options[field];
    if (given !== undefined) return resolve(io.cwd, given);
    if (context !== undefined) return context[field];
    const what = field === "ca" ? "the CA certificate, ca.crt" : field === "cert" ? "the client certificate, clients/NAME.crt" : "the client key, clients/NAME.key";
    throw new CliError(`--server ${server} needs ${flag} FILE (${what} from joblet certs init), or a context in ${config.file ?? "the config file"} that names it`);
  };
  const [cert, key, ca] = FILE_FLAGS.map(([field, flag]) => file(field, flag)) as [string, string, string];
  return { remote: true, target: { server, cert, key, ca } };
}

/** --context's context, else currentContext's (which --server alone also takes its files from). */
function contextFor(options: StateOptions, config: CliConfig): Context | undefined {
  if (options.context !== undefined) return findContext(config, options.context, "--context");
  // As kubectl's --server does, a server given alone takes the current context's certificates.
  return config.currentContext === undefined ? undefined : findContext(config, config.currentContext, "currentContext");
}
