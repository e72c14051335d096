import { execFileSync } from "node:child_process";

/**
 * Tests that drive host tools (ip, nft, nsenter) fail, never skip, when one is
 * missing: .ci/run installs them, and a run that proved nothing cannot pass.
 */
export function requireCommands(what: string, commands: readonly string[]): void {
  const missing = commands.filter((command) => {
    try {
      execFileSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" });
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length) throw new Error(`Cannot test ${what}: ${missing.join(", ")} not installed (apt-get install iproute2 nftables util-linux)`);
}
