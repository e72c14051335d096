import { createHash } from "node:crypto";

/**
 * Names of the host objects a daemon makes for job networks. Every one starts
 * with "jl" and a tag derived from the state dir, so that the sweep at start
 * removes this daemon's leftovers and never another daemon's (tests run
 * several daemons on one host). Interface names have at most 15 characters:
 * "jl" + 4 tag + 1 role + 8 hash.
 */
export class HostNames {
  readonly tag: string;

  constructor(stateDir: string) {
    this.tag = hex(stateDir, 4);
  }

  /** Every link name this daemon makes starts with this. */
  get linkPrefix(): string {
    return `jl${this.tag}`;
  }

  /** The bridge of a network (the built-in "bridge" or a Network). */
  bridge(network: string): string {
    return `${this.linkPrefix}b${hex(network, 8)}`;
  }

  /** The host end of a job run's veth on a bridge: a bridge port, never routed to. */
  port(job: string, run: string): string {
    return `${this.linkPrefix}v${hex(`${job}/${run}`, 8)}`;
  }

  /** The host end of an isolated job's point-to-point veth: routed, and addressed. */
  pointToPoint(job: string, run: string): string {
    return `${this.linkPrefix}i${hex(`${job}/${run}`, 8)}`;
  }

  /** The nftables table (inet family) holding every rule of this daemon. */
  get table(): string {
    return `joblet_${this.tag}`;
  }

  ours(link: string): boolean {
    return link.startsWith(this.linkPrefix);
  }
}

function hex(text: string, length: number): string {
  return createHash("sha256").update(text).digest("hex").slice(0, length);
}
