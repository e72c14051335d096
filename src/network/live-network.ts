import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { formatAddress, type Cidr } from "../api/index.js";
import type { NetworkAttachment } from "../isolation/index.js";
import type { FirewallNetwork } from "./firewall.js";
import { writeHostsFile } from "./hosts-file.js";
import { Leases } from "./leases.js";
import type { HostNames } from "./names.js";

export interface NetworkConfig {
  cidr: Cidr;
  egress: boolean;
  hostPorts: number[];
}

/** A job's place on a network: what the engine wires up, and what its status records. */
export interface JobAttachment {
  network: string;
  ip: string;
  attachment: NetworkAttachment;
  /** The /etc/hosts the job sees (bound read-only). */
  hostsFile: string;
}

/**
 * A network that exists on the host: its addresses and, for a bridge network,
 * its bridge and the hosts file its jobs share. "isolated" has no bridge: each
 * job gets a point-to-point pair and a hosts file of its own.
 */
export class LiveNetwork {
  readonly leases: Leases;
  /** Jobs' run ids, for their veth names. */
  readonly #runs = new Map<string, string>();

  constructor(
    readonly name: string,
    readonly config: NetworkConfig,
    /** The bridge interface; absent for isolated. */
    readonly bridge: string | undefined,
    private readonly dir: string,
    private readonly names: HostNames,
  ) {
    this.leases = new Leases(config.cidr, bridge ? "shared" : "pairs");
    mkdirSync(dir, { recursive: true });
    if (bridge) this.writeHosts();
  }

  get cidrText(): string {
    return `${formatAddress(this.config.cidr.network)}/${this.config.cidr.prefix}`;
  }

  get users(): { job: string; ip: string }[] {
    return this.leases
      .owners()
      .sort()
      .map((job) => ({ job, ip: this.leases.leaseOf(job)!.address }));
  }

  /** What the firewall must know of it. */
  get firewall(): FirewallNetwork {
    return {
      interface: this.bridge ?? `${this.names.linkPrefix}i*`,
      bridged: this.bridge !== undefined,
      cidr: this.cidrText,
      egress: this.config.egress,
      hostPorts: this.config.hostPorts,
    };
  }

  /** A lease for the job's run, or undefined when every address is taken. */
  attach(job: string, run: string): JobAttachment | undefined {
    const lease = this.leases.take(job);
    if (!lease) return undefined;
    this.#runs.set(job, run);
    const attachment: NetworkAttachment = this.bridge
      ? { hostInterface: this.names.port(job, run), bridge: this.bridge, address: lease.address, prefix: lease.prefix, gateway: lease.gateway }
      : { hostInterface: this.names.pointToPoint(job, run), hostAddress: lease.gateway, address: lease.address, prefix: lease.prefix, gateway: lease.gateway };
    let hostsFile: string;
    if (this.bridge) {
      this.writeHosts();
      hostsFile = this.sharedHostsFile;
    } else {
      hostsFile = join(this.dir, `${job}.hosts`);
      writeHostsFile(hostsFile, `job ${job}, isolated`, [{ address: lease.address, name: job }]);
    }
    return { network: this.name, ip: lease.address, attachment, hostsFile };
  }

  /** After a restart: the job keeps the address its status records. */
  reserve(job: string, run: string, ip: string): boolean {
    if (!this.leases.reserve(job, ip)) return false;
    this.#runs.set(job, run);
    if (this.bridge) this.writeHosts();
    return true;
  }

  release(job: string): void {
    this.leases.release(job);
    this.#runs.delete(job);
    if (this.bridge) this.writeHosts();
    else rmSync(join(this.dir, `${job}.hosts`), { force: true });
  }

  /** Host interface names of its running jobs (kept by the sweep). */
  jobLinks(): string[] {
    return [...this.#runs].map(([job, run]) => (this.bridge ? this.names.port(job, run) : this.names.pointToPoint(job, run)));
  }

  /** Its files on disk go; the caller removes the bridge. */
  removeFiles(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  private get sharedHostsFile(): string {
    return join(this.dir, "hosts");
  }

  private writeHosts(): void {
    const entries = this.users.map(({ job, ip }) => ({ address: ip, name: job }));
    writeHostsFile(this.sharedHostsFile, `network ${this.name}`, entries);
  }
}
