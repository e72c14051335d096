import { spawn } from "node:child_process";

/** What the firewall needs to know of one live network. */
export interface FirewallNetwork {
  /** The interface (or name pattern, ending in '*') its jobs' traffic enters the host by. */
  interface: string;
  /** `interface` is a bridge its jobs share (not point-to-point links). */
  bridged: boolean;
  cidr: string;
  /** Traffic may leave the host, masqueraded. */
  egress: boolean;
  /** Ports of the host's own address on this network that its jobs may reach (TCP and UDP). */
  hostPorts: readonly number[];
}

/** nft is missing or refused the ruleset: networks cannot be isolated, so none is made. */
export class FirewallError extends Error {
  constructor(
    message: string,
    readonly reason: "NftablesUnavailable" | "FirewallFailed",
  ) {
    super(message);
  }
}

/**
 * The whole of this daemon's nftables table, rebuilt from the live networks and
 * swapped in one `nft -f` transaction (never a half-applied state). Rules name
 * interfaces by this daemon's prefix, so jobs coming and going change nothing.
 *
 * - forward: traffic between two jobs of one bridge stays allowed (it reaches
 *   this hook only where br_netfilter is loaded, Docker hosts among them, and
 *   then with the bridge as both interfaces); nothing may start a connection into
 *   a job network (from another network, an isolated job or outside), replies
 *   excepted; traffic out of a network leaves only when it has egress.
 * - input: jobs reach the host's own services only on the ports allowed.
 * - postrouting: egress is masqueraded behind the host's address.
 */
export function renderRuleset(table: string, linkPrefix: string, networks: readonly FirewallNetwork[]): string {
  const ours = `"${linkPrefix}*"`;
  const lines = [
    `table inet ${table}`,
    `delete table inet ${table}`,
    `table inet ${table} {`,
    "  chain forward {",
    "    type filter hook forward priority filter; policy accept;",
    ...networks.filter((n) => n.bridged).map((n) => `    iifname "${n.interface}" oifname "${n.interface}" accept`),
    `    oifname ${ours} ct state established,related accept`,
    `    oifname ${ours} drop`,
    ...networks.filter((n) => n.egress).map((n) => `    iifname "${n.interface}" accept`),
    `    iifname ${ours} drop`,
    "  }",
    "  chain input {",
    "    type filter hook input priority filter; policy accept;",
    `    iifname ${ours} ct state established,related accept`,
    ...networks
      .filter((n) => n.hostPorts.length > 0)
      .map((n) => `    iifname "${n.interface}" meta l4proto { tcp, udp } th dport { ${n.hostPorts.join(", ")} } accept`),
    `    iifname ${ours} drop`,
    "  }",
    "  chain postrouting {",
    "    type nat hook postrouting priority srcnat; policy accept;",
    ...networks.filter((n) => n.egress).map((n) => `    ip saddr ${n.cidr} oifname != ${ours} masquerade`),
    "  }",
    "}",
  ];
  return `${lines.join("\n")}\n`;
}

/** Replace the table with `ruleset` (from renderRuleset). */
export function applyRuleset(ruleset: string): Promise<void> {
  return nft(["-f", "-"], ruleset).then(() => undefined);
}

/** Remove the table; nothing to do when it is not there. */
export async function deleteTable(table: string): Promise<void> {
  await nft(["-f", "-"], `table inet ${table}\ndelete table inet ${table}\n`);
}

/** The table as nft lists it, or undefined when it does not exist. */
export async function listTable(table: string): Promise<string | undefined> {
  try {
    return await nft(["list", "table", "inet", table]);
  } catch (e) {
    if (e instanceof FirewallError && e.reason === "FirewallFailed" && /No such file or directory/.test(e.message)) return undefined;
    throw e;
  }
}

function nft(args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("nft", args, { stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout!.on("data", (d: Buffer) => (out += d));
    child.stderr!.on("data", (d: Buffer) => (err += d));
    child.on("error", (e: NodeJS.ErrnoException) =>
      reject(
        e.code === "ENOENT"
          ? new FirewallError("nft (nftables) is not installed: job networks need it to isolate jobs and masquerade their egress (apt-get install nftables)", "NftablesUnavailable")
          : new FirewallError(`Cannot run nft: ${e.message}`, "FirewallFailed"),
      ),
    );
    child.on("close", (code) => {
      if (code === 0) resolve(out);
      else reject(new FirewallError(`nft ${args.join(" ")} failed: ${err.trim() || `exit code ${code}`}`, "FirewallFailed"));
    });
    if (input !== undefined) {
      // An nft that fails before reading all of it closes the pipe: its exit code says why.
      child.stdin!.on("error", () => undefined);
      child.stdin!.end(input);
    }
  });
}
