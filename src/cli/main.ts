import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import { packageRoot } from "../package-root.js";
import { certsCommand } from "./certs.js";
import { daemonCommand } from "./daemon.js";
import { clientVerbs } from "./verbs.js";

const pkg = JSON.parse(readFileSync(join(packageRoot, "package.json"), "utf8")) as { version: string };

/** The `joblet` command. Verbs register here, one file each under src/cli/. */
export function buildProgram(): Command {
  const program = new Command("joblet")
    .description("Run Linux jobs in micro-containers, driven by YAML manifests")
    .version(pkg.version, "-v, --version")
    .showHelpAfterError()
    // `joblet run -- ls -la`: options after the command belong to the command.
    .enablePositionalOptions();
  program.addCommand(daemonCommand());
  for (const verb of clientVerbs()) program.addCommand(verb);
  program.addCommand(certsCommand());
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (e) {
    // Verbs have written their message already and carry their exit code (diff: 1 = differs).
    const { message, exitCode } = e as Error & { exitCode?: unknown };
    if (message !== "") process.stderr.write(`${message}\n`);
    return typeof exitCode === "number" && exitCode !== 0 ? exitCode : 1;
  }
}
