/** Every verb of the CLI side, in the order `joblet --help` lists them. */
import type { Command } from "commander";
import { applyCommand } from "./apply.js";
import { deleteCommand } from "./delete.js";
import { describeCommand } from "./describe.js";
import { diffCommand } from "./diff.js";
import { getCommand } from "./get.js";
import type { CliIo } from "./io.js";
import { logsCommand } from "./logs.js";
import { runCommand } from "./run.js";
import { runtimeCommand } from "./runtime/index.js";
import { waitCommand } from "./wait.js";

export function clientVerbs(io?: CliIo): Command[] {
  return [applyCommand, getCommand, describeCommand, deleteCommand, logsCommand, waitCommand, diffCommand, runCommand, runtimeCommand].map((make) => make(io));
}
