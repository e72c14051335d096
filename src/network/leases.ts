import { formatAddress, type Cidr } from "../api/index.js";

/** One job's addresses: its own, and the one its default route goes through. */
export interface Lease {
  address: string;
  gateway: string;
  prefix: number;
}

/**
 * The addresses of one network, handed to jobs by name. On a bridge every job
 * gets one address of the block (the first is the bridge's, the gateway);
 * isolated, every job gets a /30 of its own: a point-to-point pair, host end
 * and job end, shared with no one. Leases live in memory and are rebuilt after
 * a restart from the running jobs' statuses (`reserve`), which is where they
 * are recorded.
 */
export class Leases {
  readonly #owners = new Map<string, number>();
  readonly #slots = new Map<number, string>();
  readonly capacity: number;
  readonly #pairs: boolean;

  constructor(
    readonly cidr: Cidr,
    mode: "shared" | "pairs",
  ) {
    this.#pairs = mode === "pairs";
    const size = 2 ** (32 - cidr.prefix);
    // Shared: minus network, gateway and broadcast. Pairs: a /30 each.
    this.capacity = this.#pairs ? Math.floor(size / 4) : Math.max(0, size - 3);
  }

  /** The bridge's own address on a shared block. */
  get gateway(): string {
    return formatAddress(this.cidr.network + 1);
  }

  get used(): number {
    return this.#owners.size;
  }

  owners(): string[] {
    return [...this.#owners.keys()];
  }

  leaseOf(owner: string): Lease | undefined {
    const slot = this.#owners.get(owner);
    return slot === undefined ? undefined : this.#lease(slot);
  }

  /** The lowest free slot for `owner` (the one it has, if any), or undefined when full. */
  take(owner: string): Lease | undefined {
    const held = this.#owners.get(owner);
    if (held !== undefined) return this.#lease(held);
    for (let slot = 0; slot < this.capacity; slot++) {
      if (this.#slots.has(slot)) continue;
      this.#owners.set(owner, slot);
      this.#slots.set(slot, owner);
      return this.#lease(slot);
    }
    return undefined;
  }

  /** Give `owner` back the address it had before a restart; false if that is impossible. */
  reserve(owner: string, address: string): boolean {
    const slot = this.#slotOf(address);
    if (slot === undefined) return false;
    const holder = this.#slots.get(slot);
    if (holder !== undefined) return holder === owner;
    this.release(owner);
    this.#owners.set(owner, slot);
    this.#slots.set(slot, owner);
    return true;
  }

  release(owner: string): void {
    const slot = this.#owners.get(owner);
    if (slot === undefined) return;
    this.#owners.delete(owner);
    this.#slots.delete(slot);
  }

  #lease(slot: number): Lease {
    if (this.#pairs) {
      const base = this.cidr.network + slot * 4;
      return { address: formatAddress(base + 2), gateway: formatAddress(base + 1), prefix: 30 };
    }
    return { address: formatAddress(this.cidr.network + 2 + slot), gateway: this.gateway, prefix: this.cidr.prefix };
  }

  #slotOf(address: string): number | undefined {
    const parts = address.split(".").map(Number);
    if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return undefined;
    const value = parts.reduce((acc, p) => acc * 256 + p, 0);
    const offset = value - this.cidr.network;
    const slot = this.#pairs ? (offset % 4 === 2 ? (offset - 2) / 4 : -1) : offset - 2;
    return slot >= 0 && slot < this.capacity ? slot : undefined;
  }
}
