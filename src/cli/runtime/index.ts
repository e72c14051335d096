/** `joblet runtime`: the verbs about runtimes, one file each beside this one. */
import { Command } from "commander";
import { type CliIo, processIo } from "../io.js";
import { runtimeInfoCommand } from "./info.js";
import { runtimeInstallCommand } from "./install.js";
import { runtimeListCommand } from "./list.js";
import { runtimePackCommand } from "./pack.js";
import { runtimeTestCommand } from "./test.js";

const EXAMPLE = `joblet runtime list
joblet runtime install python-3.11-ml --registry https://example.com/joblet/registry.json
joblet runtime info python-3.11-ml
joblet runtime test python-3.11-ml
joblet runtime pack python-3.11-ml -o python-3.11-ml.tar.gz`;

export function runtimeCommand(io: CliIo = processIo()): Command {
  const group = new Command("runtime")
    .description("List, inspect, install, test and pack runtimes (the language environments jobs run in)")
    .configureOutput({ writeOut: (s) => void io.out.write(s), writeErr: (s) => void io.err.write(s) })
    .showHelpAfterError()
    .addHelpText("after", `\nExample:\n${EXAMPLE.replace(/^/gm, "  ")}\n`);
  for (const make of [runtimeListCommand, runtimeInfoCommand, runtimeInstallCommand, runtimeTestCommand, runtimePackCommand]) group.addCommand(make(io));
  return group;
}
