/**
 * Flags every verb shares, declared once so they read the same everywhere.
 */
import { Command, Option } from "commander";
import { resolveLayout, STATE_DIR_ENV, type StateLayout } from "../store/index.js";
import type { CliIo } from "./io.js";

/** Where a verb works: a local state dir, or a remote daemon (see target.ts). */
export interface StateOptions {
  stateDir?: string;
  manifests?: string;
  server?: string;
  cert?: string;
  key?: string;
  ca?: string;
  context?: string;
}

/** --state-dir and --manifests, and the remote daemon's --server, certificates and --context. */
export function addStateOptions(command: Command): Command {
  return command
    .addOption(new Option("--state-dir <dir>", `state directory (default: $${STATE_DIR_ENV}, else /var/lib/joblet)`))
    .addOption(new Option("--manifests <dir>", "manifests directory, when not <state-dir>/manifests (e.g. a git checkout)"))
    .addOption(new Option("--server <url>", "a remote daemon: https://HOST:PORT (joblet daemon --listen)"))
    .addOption(new Option("--cert <file>", "client certificate for --server (joblet certs init: clients/NAME.crt)"))
    .addOption(new Option("--key <file>", "client private key for --server"))
    .addOption(new Option("--ca <file>", "CA certificate the server's certificate is checked against (ca.crt)"))
    .addOption(new Option("--context <name>", `a context of the config file ($JOBLET_CONFIG, else ~/.config/joblet/config.yaml); default: its currentContext`));
}

export function layoutFrom(options: StateOptions, io: Pick<CliIo, "env">): StateLayout {
  return resolveLayout({ stateDir: options.stateDir, manifestsDir: options.manifests, env: io.env });
}

/** A verb's Command with shared flags, its example in --help, and output routed to `io`. */
export function verb(io: CliIo, name: string, description: string, example: string): Command {
  const command = new Command(name)
    .description(description)
    .configureOutput({ writeOut: (s) => void io.out.write(s), writeErr: (s) => void io.err.write(s) })
    .showHelpAfterError()
    .addHelpText("after", `\nExample:\n${example.replace(/^/gm, "  ")}\n`);
  return addStateOptions(command);
}

/** For repeatable flags: --env A=1 --env B=2. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
