import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "./jobs.js";

/**
 * Run a fixture script (through the built engine, dist/) in a network
 * namespace made for it alone with `unshare --net`: the bridges, veths and
 * addresses it makes, and the traffic it sends, never touch the host's own
 * networking, and all of it is gone once the script and its jobs have ended.
 * The script prints one line of JSON, returned here.
 */
export async function runInNetns<T>(fixture: string, args: string[], timeoutMs = 60_000): Promise<T> {
  const engine = join(repoRoot, "dist/src/isolation/index.js");
  if (!existsSync(engine)) throw new Error(`Cannot run ${fixture}: ${engine} is missing; run 'npm run build' first`);
  const script = join(repoRoot, "test/fixtures", fixture);
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile("unshare", ["--net", "--", process.execPath, script, ...args], { timeout: timeoutMs, killSignal: "SIGKILL", maxBuffer: 16 << 20 }, (error, out, err) => {
      if (error) reject(new Error(`${fixture} ${args.join(" ")} failed in its network namespace: ${error.message}\n${err}`));
      else resolve(out);
    });
  });
  const result = JSON.parse(stdout.trim().split("\n").at(-1) ?? "null") as T & { error?: string };
  if (result && typeof result === "object" && "error" in result && result.error) throw new Error(`${fixture} ${args[0]}: ${result.error}`);
  return result;
}
