import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { NetworkStatus, StoredObject } from "../../src/api/index.js";
import { DaemonLab } from "./daemon-lab.js";
import { repoRoot } from "./jobs.js";

export type NetworkObject = StoredObject<Record<string, unknown>, NetworkStatus>;

/**
 * A real daemon in a child process inside a network namespace this test made
 * (`ip netns add`): its bridges, veths, nft tables and forwarding setting live
 * there, so the host's own networking is never touched, and all traffic stays
 * between namespaces the test created. Only the network namespace is entered:
 * the daemon sees the host's mounts and cgroups as any daemon does.
 */
export class NetnsDaemon {
  readonly netns = `jltest-${randomBytes(4).toString("hex")}`;
  readonly lab = new DaemonLab();
  private child?: ChildProcess;

  constructor() {
    execFileSync("ip", ["netns", "add", this.netns]);
    this.exec(["ip", "link", "set", "lo", "up"]);
  }

  /** Starts the daemon (again, after `kill`, over the same state dir); resolves once it is up. */
  async start(): Promise<void> {
    const child = spawn("nsenter", [`--net=/run/netns/${this.netns}`, "--", process.execPath, join(repoRoot, "test/fixtures/daemon.mjs"), this.lab.stateDir, this.lab.manifests], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on("data", (d: Buffer) => d.toString().includes("ready") && resolve());
      child.on("exit", (code) => reject(new Error(`the daemon in ${this.netns} exited with ${code}`)));
    });
  }

  /** kill -9: running jobs carry on under their supervisors. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const gone = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await gone;
    this.child = undefined;
  }

  /** A command run inside the namespace (ip, nft, a test server): its stdout. */
  exec(argv: string[]): string {
    return execFileSync("nsenter", [`--net=/run/netns/${this.netns}`, "--", ...argv], { encoding: "utf8" });
  }

  /** A long-running command inside the namespace; the caller kills it. */
  spawn(argv: string[]): ChildProcess {
    return spawn("nsenter", [`--net=/run/netns/${this.netns}`, "--", ...argv], { stdio: ["ignore", "pipe", "pipe"] });
  }

  network(name: string): NetworkObject | undefined {
    try {
      return JSON.parse(readFileSync(join(this.lab.stateDir, "status/networks", `${name}.json`), "utf8")) as NetworkObject;
    } catch {
      return undefined;
    }
  }

  async waitForNetwork(name: string, done: (o: NetworkObject | undefined) => boolean, timeoutMs = 20_000): Promise<NetworkObject | undefined> {
    const end = Date.now() + timeoutMs;
    let last: NetworkObject | undefined;
    while (Date.now() < end) {
      last = this.network(name);
      if (done(last)) return last;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`Network '${name}' never reached the expected state; last status: ${JSON.stringify(last?.status)}`);
  }

  /** Names of the links in the namespace (lo, bridges, veths). */
  links(): string[] {
    return (JSON.parse(this.exec(["ip", "-j", "link", "show"])) as { ifname: string }[]).map((l) => l.ifname);
  }

  /** The whole nft ruleset of the namespace. */
  ruleset(): string {
    return this.exec(["nft", "list", "ruleset"]);
  }

  /**
   * Removes every manifest and waits for the daemon to stop the jobs and tear
   * the networks down, then ends the daemon and deletes the namespace.
   */
  async cleanup(): Promise<void> {
    try {
      if (this.child) {
        execFileSync("sh", ["-c", `rm -rf ${JSON.stringify(this.lab.manifests)}/*`]);
        const end = Date.now() + 15_000;
        while (Date.now() < end && this.links().some((l) => l.startsWith("jl"))) await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await this.kill();
      execFileSync("ip", ["netns", "delete", this.netns]);
      await this.lab.cleanup();
    }
  }
}

/** A Network manifest. */
export function network(name: string, spec: string): string {
  return `apiVersion: joblet/v1\nkind: Network\nmetadata:\n  name: ${name}\nspec:\n${spec.replace(/^/gm, "  ")}\n`;
}
