/**
 * mount, umount, losetup, mkfs.ext4, e2fsck and resize2fs, run with a fixed
 * PATH and C messages; a failure becomes a VolumeError carrying the tool's
 * own words, which end up on the Volume's status.
 */
import { run, toolEnv } from "../runtimes/sources/exec.js";
import { VolumeError, type VolumeFailure } from "./errors.js";

/** mkfs and resize2fs of a large image can take a while; a hung mount must not hold a worker forever. */
const TOOL_TIMEOUT_MS = 5 * 60 * 1000;

/** Runs `tool`; an exit code outside `okCodes` throws `failure` with `what` and the tool's last lines. */
export async function runTool(failure: VolumeFailure, what: string, tool: string, args: string[], okCodes: readonly number[] = [0]): Promise<string> {
  let result;
  try {
    result = await run(tool, args, { env: toolEnv(), signal: AbortSignal.timeout(TOOL_TIMEOUT_MS) });
  } catch (e) {
    throw new VolumeError(failure, `${what}: ${tool} did not run: ${(e as Error).message}`);
  }
  if (result.code !== null && okCodes.includes(result.code)) return result.stdout;
  const said = (result.stderr.trim() || result.stdout.trim()).split("\n").slice(-3).join("; ");
  const how = result.code === null ? `was killed by ${result.signal}` : `exited with ${result.code}`;
  throw new VolumeError(failure, `${what}: ${tool} ${how}${said ? `: ${said}` : ""}`);
}
