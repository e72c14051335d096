/**
 * `source.directory`: an existing runtime directory (runtime.yml + isolated/),
 * such as the original Joblet's /opt/joblet/runtimes/<name>. It is copied,
 * never used in place: the installed tree must be owned by joblet and never
 * change under a job. Symlinks are copied as symlinks, and the copy goes
 * through the same checks as any other tree afterwards.
 */
import { execFile } from "node:child_process";
import { lstat } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { RuntimeSourceError, type BuildContext } from "../build-context.js";

const run = promisify(execFile);

export async function copyRuntimeDirectory(source: { path: string }, ctx: BuildContext): Promise<void> {
  const field = "spec.source.directory.path";
  const st = await lstat(source.path).catch(() => undefined);
  if (!st?.isDirectory()) throw new RuntimeSourceError(`${field}: '${source.path}' is not a directory on this host`);
  const yml = await lstat(join(source.path, "runtime.yml")).catch(() => undefined);
  if (!yml?.isFile()) throw new RuntimeSourceError(`${field}: '${source.path}' has no runtime.yml file`);
  const isolated = await lstat(join(source.path, "isolated")).catch(() => undefined);
  if (!isolated?.isDirectory()) throw new RuntimeSourceError(`${field}: '${source.path}' has no isolated/ directory`);
  ctx.progress({ phase: "copying" });
  ctx.log(`copying ${source.path}/runtime.yml and isolated/`);
  // cp -a keeps symlinks as symlinks and never follows them.
  const options = { signal: ctx.signal, maxBuffer: 1 << 20 };
  await run("cp", ["-a", "--no-target-directory", join(source.path, "runtime.yml"), join(ctx.dir, "runtime.yml")], options);
  await run("cp", ["-a", "--no-target-directory", join(source.path, "isolated"), join(ctx.dir, "isolated")], options);
  const original = await lstat(join(source.path, "runtime.yml.original")).catch(() => undefined);
  if (original?.isFile()) await run("cp", ["-a", join(source.path, "runtime.yml.original"), join(ctx.dir, "runtime.yml.original")], options);
}
