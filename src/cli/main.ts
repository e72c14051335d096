import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import { packageRoot } from "../package-root.js";

const pkg = JSON.parse(readFileSync(join(packageRoot, "package.json"), "utf8")) as { version: string };

/** The `joblet` command. Verbs register here, one file each under src/cli/. */
export function buildProgram(): Command {
  return new Command("joblet")
    .description("Run Linux jobs in micro-containers, driven by YAML manifests")
    .version(pkg.version, "-v, --version")
    .showHelpAfterError();
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 1;
  }
}
