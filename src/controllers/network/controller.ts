import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cidrsOverlap, formatAddress, parseCidr, type Cidr, type NetworkManifestWithDefaults, type NetworkStatus, type StoredObject } from "../../api/index.js";
import { deleteLink, ensureBridge, listLinks } from "../../isolation/index.js";
import { applyRuleset, deleteTable, FirewallError, listTable, renderRuleset } from "../../network/firewall.js";
import { conflictingRoute } from "../../network/host-routes.js";
import { LiveNetwork, type JobAttachment, type NetworkConfig } from "../../network/live-network.js";
import { HostNames } from "../../network/names.js";
import {
  lastGoodObject,
  manifestCondition,
  RemovalGrace,
  setCondition,
  storedMetadata,
  withEvents,
  type ReconcileResult,
} from "../../reconciler/index.js";
import type { ControllerOptions } from "../controller-options.js";

export type NetworkObject = StoredObject<NetworkManifestWithDefaults["spec"], NetworkStatus>;

export interface NetworkControllerOptions extends ControllerOptions {
  /** A network became Ready: jobs waiting for it may start. */
  onReady(name: string): void;
  /** The built-in "bridge" network's block. Default 172.20.0.0/16 (the original Joblet's). */
  bridgeCidr?: string;
  /** The block "isolated" jobs get their /30 pairs from. Default 172.21.0.0/16. */
  isolatedCidr?: string;
  removalGraceMs?: number;
}

export type NetworkResolution = ({ ok: true } & JobAttachment) | { ok: false; reason: "NetworkNotFound" | "NetworkNotReady" | "NetworkFull"; message: string };

export const networkKey = (name: string) => `Network/${name}`;

const BUILT_IN = { bridge: "bridge", isolated: "isolated" } as const;

/**
 * Networks on the host: the built-in "bridge" and "isolated" (made when a job
 * first asks for them) and `kind: Network` objects (made by reconcile). Jobs
 * are put on a live network by `attach` (an address lease and a hosts file)
 * and taken off by `release`; a Network is torn down only once no job uses it.
 */
export class NetworkController {
  readonly names: HostNames;
  private readonly live = new Map<string, LiveNetwork>();
  private readonly objects = new Map<string, NetworkObject>();
  private readonly builtInCidrs: Record<keyof typeof BUILT_IN, Cidr>;
  /** Built-in networks being made: concurrent first jobs wait for the same attempt. */
  private readonly making = new Map<string, Promise<string | undefined>>();
  private readonly removalGrace: RemovalGrace;
  /** Firewall swaps run one after the other, each from the live set of its moment. */
  private firewall: Promise<void> = Promise.resolve();

  constructor(private readonly o: NetworkControllerOptions) {
    this.names = new HostNames(o.layout.stateDir);
    this.removalGrace = new RemovalGrace(o.removalGraceMs ?? 1000);
    this.builtInCidrs = {
      bridge: builtInCidr("bridge", o.bridgeCidr ?? "172.20.0.0/16"),
      isolated: builtInCidr("isolated", o.isolatedCidr ?? "172.21.0.0/16"),
    };
  }

  /** Loads the stored statuses; returns the names to reconcile. */
  async adopt(): Promise<string[]> {
    const names = await this.o.statuses.list("Network");
    for (const name of names) {
      const object = (await this.o.statuses.read("Network", name)) as NetworkObject | undefined;
      if (object) this.objects.set(name, object);
    }
    // Networks that were Ready come back first, so that they keep their blocks.
    for (const object of this.objects.values()) {
      if (object.status.phase !== "Ready" && object.status.phase !== "Terminating") continue;
      const cidr = parseCidr(object.status.cidr ?? object.spec.cidr);
      if (typeof cidr === "string") continue;
      try {
        await this.make(object.metadata.name, { cidr, egress: object.spec.egress ?? false, hostPorts: object.spec.hostPorts ?? [] });
      } catch (err) {
        this.o.logger.error({ key: networkKey(object.metadata.name), err }, "cannot bring back a network");
      }
    }
    return names;
  }

  /**
   * After a restart, running jobs get their addresses back (recorded on their
   * statuses). A job whose network is gone cannot keep its address; it runs
   * on, unreachable by name, and the caller is told.
   */
  async adoptLeases(runs: readonly { job: string; run: string; network: string; ip: string }[]): Promise<string[]> {
    const lost: string[] = [];
    for (const { job, run, network, ip } of runs) {
      if (network in BUILT_IN && !this.live.has(network)) await this.makeBuiltIn(network as keyof typeof BUILT_IN);
      if (!this.live.get(network)?.reserve(job, run, ip)) lost.push(job);
    }
    return lost;
  }

  /**
   * Removes this daemon's host objects that nothing live uses: bridges of
   * networks that are gone, veths of runs that ended while no daemon ran, and
   * the firewall table when no network is live.
   */
  async sweep(): Promise<void> {
    const keep = new Set<string>();
    for (const network of this.live.values()) {
      if (network.bridge) keep.add(network.bridge);
      for (const link of network.jobLinks()) keep.add(link);
    }
    for (const link of listLinks()) {
      if (!this.names.ours(link.name) || keep.has(link.name)) continue;
      deleteLink(link.name);
      this.o.logger.warn({ link: link.name }, "removed a network interface no job or network uses");
    }
    if (this.live.size > 0) await this.applyFirewall();
    // Only looked at (nft list) when no network is live: a daemon without networks changes nothing.
    else if (await listTable(this.names.table).catch(() => undefined)) await deleteTable(this.names.table);
  }

  /** Puts a job's run on `network` (bridge, isolated or a Network's name). */
  async attach(job: string, run: string, network: string): Promise<NetworkResolution> {
    let live = this.live.get(network);
    if (network in BUILT_IN && !live) {
      const problem = await this.makeBuiltIn(network as keyof typeof BUILT_IN);
      if (problem) return { ok: false, reason: "NetworkNotReady", message: problem };
      live = this.live.get(network);
    }
    if (!live) {
      const object = this.objects.get(network);
      if (!this.o.desired.get(networkKey(network))) return { ok: false, reason: "NetworkNotFound", message: `Network '${network}' does not exist` };
      return { ok: false, reason: "NetworkNotReady", message: `Network '${network}' is not ready${object?.status.message ? `: ${object.status.message}` : ""}` };
    }
    if (this.objects.get(network)?.status.phase === "Terminating") {
      return { ok: false, reason: "NetworkNotReady", message: `Network '${network}' is being deleted` };
    }
    const attached = live.attach(job, run);
    if (!attached) {
      const { used, capacity } = { used: live.leases.used, capacity: live.leases.capacity };
      return { ok: false, reason: "NetworkFull", message: `Network '${network}' (${live.cidrText}) has no free address: ${used} of ${capacity} are leased to running jobs` };
    }
    if (!(network in BUILT_IN)) this.o.queue.add(networkKey(network));
    return { ok: true, ...attached };
  }

  /** A job's run ended (or never started): its address and name go. */
  release(job: string, network: string): void {
    this.live.get(network)?.release(job);
    if (!(network in BUILT_IN)) this.o.queue.add(networkKey(network));
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const name = key.slice("Network/".length);
    const entry = this.o.desired.get(key);
    if (!entry) return this.removalGrace.whenGone(name, () => this.removed(name));
    this.removalGrace.present(name);
    const stored = this.objects.get(name);
    const status: NetworkStatus = stored ? { ...stored.status } : { phase: "Pending", conditions: [] };
    status.conditions = manifestCondition(status.conditions, "Valid", entry);
    if (!entry.manifest || !entry.generation) {
      // A broken manifest: a network already made stays as it is; say why on the object.
      await this.save(name, lastGoodObject("Network", name, stored, status));
      return;
    }
    const manifest = entry.manifest as NetworkManifestWithDefaults;
    const object: NetworkObject = { apiVersion: "joblet/v1", kind: "Network", metadata: storedMetadata(name, entry.generation, manifest.metadata), spec: manifest.spec, status };
    const cidr = parseCidr(manifest.spec.cidr);
    if (typeof cidr === "string") throw new Error(`Network '${name}': cidr ${cidr}`); // the schema refuses this first
    const wanted: NetworkConfig = { cidr, egress: manifest.spec.egress ?? false, hostPorts: manifest.spec.hostPorts ?? [] };

    let live = this.live.get(name);
    if (live && !sameBlock(live.config.cidr, cidr)) {
      if (live.leases.used > 0) {
        object.status = this.describe(status, live, {
          ready: false,
          reason: "InUse",
          message: `The cidr change to ${manifest.spec.cidr} waits until its jobs end (${live.users.map((u) => u.job).join(", ")}); new jobs wait too`,
        });
        await this.save(name, object);
        return;
      }
      await this.unmake(name);
      live = undefined;
    }
    if (!live) {
      const problem = this.blockProblem(name, cidr);
      if (problem) {
        object.status = notReady(status, problem.reason, problem.message);
        await this.save(name, object);
        return;
      }
      try {
        live = await this.make(name, wanted);
      } catch (e) {
        const reason = e instanceof FirewallError ? e.reason : "BridgeFailed";
        object.status = notReady(status, reason, (e as Error).message);
        this.o.events.record(key, { type: "Warning", reason, message: (e as Error).message });
        await this.save(name, object);
        return;
      }
      this.o.events.record(key, { type: "Normal", reason: "Created", message: `Bridge ${live.bridge} at ${live.leases.gateway}/${cidr.prefix}` });
    } else if (live.config.egress !== wanted.egress || live.config.hostPorts.join() !== wanted.hostPorts.join()) {
      live.config.egress = wanted.egress;
      live.config.hostPorts = wanted.hostPorts;
      await this.applyFirewall();
    }
    const wasReady = status.phase === "Ready";
    object.status = this.describe(status, live, { ready: true, reason: "Created", message: `${live.leases.used} of ${live.leases.capacity} addresses in use` });
    object.status.observedGeneration = entry.generation;
    await this.save(name, object);
    if (!wasReady) this.o.onReady(name);
  }

  /** Why `cidr` cannot be used for Network `name` now, if it cannot. */
  private blockProblem(name: string, cidr: Cidr): { reason: string; message: string } | undefined {
    const text = formatCidr(cidr);
    for (const [builtIn, block] of Object.entries(this.builtInCidrs)) {
      if (cidrsOverlap(block, cidr)) return { reason: "CidrConflict", message: `cidr ${text} overlaps the built-in '${builtIn}' network (${formatCidr(block)})` };
    }
    for (const other of this.live.values()) {
      if (other.name !== name && cidrsOverlap(other.config.cidr, cidr)) {
        return { reason: "CidrConflict", message: `cidr ${text} overlaps Network '${other.name}' (${other.cidrText})` };
      }
    }
    const route = conflictingRoute(cidr, (link) => this.names.ours(link));
    if (route) return { reason: "HostRouteConflict", message: `cidr ${text} overlaps the host's route ${route}` };
    return undefined;
  }

  /** Makes a built-in network on first use; the problem, if it cannot be made. */
  private makeBuiltIn(name: keyof typeof BUILT_IN): Promise<string | undefined> {
    let making = this.making.get(name);
    if (!making) {
      making = (async () => {
        const cidr = this.builtInCidrs[name];
        const route = conflictingRoute(cidr, (link) => this.names.ours(link));
        if (route) return `the built-in '${name}' network's block ${formatCidr(cidr)} overlaps the host's route ${route}; start the daemon with another --${name}-cidr`;
        try {
          await this.make(name, { cidr, egress: true, hostPorts: [] }, name === "isolated");
          return undefined;
        } catch (e) {
          return `the built-in '${name}' network cannot be made: ${(e as Error).message}`;
        }
      })().finally(() => this.making.delete(name));
      this.making.set(name, making);
    }
    return making;
  }

  /** Bridge (unless point-to-point), firewall, forwarding: all or nothing. */
  private async make(name: string, config: NetworkConfig, pointToPoint = false): Promise<LiveNetwork> {
    const existing = this.live.get(name);
    if (existing) return existing;
    const bridge = pointToPoint ? undefined : this.names.bridge(name);
    if (bridge) ensureBridge(bridge, formatAddress(config.cidr.network + 1), config.cidr.prefix);
    const live = new LiveNetwork(name, { ...config }, bridge, join(this.o.layout.runDir, "networks", name), this.names);
    this.live.set(name, live);
    try {
      await this.applyFirewall();
      if (config.egress) enableForwarding();
    } catch (e) {
      this.live.delete(name);
      if (bridge) deleteLink(bridge);
      live.removeFiles();
      throw e;
    }
    return live;
  }

  private async unmake(name: string): Promise<void> {
    const live = this.live.get(name);
    if (!live) return;
    this.live.delete(name);
    await this.applyFirewall();
    if (live.bridge) deleteLink(live.bridge);
    live.removeFiles();
  }

  /** Swaps in the ruleset of the live networks; with none, the table goes. */
  private applyFirewall(): Promise<void> {
    const next = this.firewall.catch(() => undefined).then(() => {
      const networks = [...this.live.values()].map((n) => n.firewall);
      if (networks.length === 0) return deleteTable(this.names.table).catch((e) => {
        // Nothing to remove where nft itself is missing.
        if (!(e instanceof FirewallError && e.reason === "NftablesUnavailable")) throw e;
      });
      return applyRuleset(renderRuleset(this.names.table, this.names.linkPrefix, networks));
    });
    this.firewall = next;
    return next;
  }

  /** The manifest is gone: torn down once no job uses it (Terminating until then). */
  private async removed(name: string): Promise<void> {
    const live = this.live.get(name);
    const object = this.objects.get(name);
    if (live && live.leases.used > 0 && object) {
      const users = live.users.map((u) => u.job);
      if (object.status.phase !== "Terminating") {
        this.o.events.record(networkKey(name), { type: "Normal", reason: "Terminating", message: `Deleted; waiting for ${users.join(", ")}` });
      }
      object.status = this.describe(object.status, live, { ready: false, reason: "InUse", message: `Deleted; removed once its jobs end: ${users.join(", ")}` });
      object.status.phase = "Terminating";
      await this.save(name, object);
      return;
    }
    await this.unmake(name);
    this.objects.delete(name);
    await this.o.statuses.remove("Network", name);
    this.o.events.forget(networkKey(name));
  }

  private describe(status: NetworkStatus, live: LiveNetwork, ready: { ready: boolean; reason: string; message: string }): NetworkStatus {
    const next: NetworkStatus = {
      ...status,
      phase: ready.ready ? "Ready" : status.phase === "Terminating" ? "Terminating" : "Pending",
      cidr: live.cidrText,
      gateway: live.leases.gateway,
      egress: live.config.egress,
      addresses: { used: live.leases.used, capacity: live.leases.capacity },
      users: live.users,
    };
    if (live.bridge) next.bridge = live.bridge;
    if (live.config.hostPorts.length) next.hostPorts = live.config.hostPorts;
    else delete next.hostPorts;
    if (ready.ready) {
      delete next.reason;
      delete next.message;
    } else {
      next.reason = ready.reason;
      next.message = ready.message;
    }
    next.conditions = setCondition(next.conditions, { type: "Ready", status: ready.ready ? "True" : "False", reason: ready.reason, message: ready.message });
    return next;
  }

  private async save(name: string, object: NetworkObject): Promise<void> {
    object = { ...object, status: withEvents(object.status, this.o.events.list(networkKey(name))) };
    this.objects.set(name, object);
    await this.o.statuses.write("Network", name, object as unknown as Record<string, unknown>);
  }
}

function notReady(status: NetworkStatus, reason: string, message: string): NetworkStatus {
  return {
    ...status,
    phase: "Failed",
    reason,
    message,
    conditions: setCondition(status.conditions, { type: "Ready", status: "False", reason, message }),
  };
}

function builtInCidr(name: string, text: string): Cidr {
  const cidr = parseCidr(text);
  if (typeof cidr === "string") throw new Error(`The '${name}' network's block '${text}' ${cidr}`);
  return cidr;
}

function sameBlock(a: Cidr, b: Cidr): boolean {
  return a.network === b.network && a.prefix === b.prefix;
}

function formatCidr(cidr: Cidr): string {
  return `${formatAddress(cidr.network)}/${cidr.prefix}`;
}

/** Egress is routed: forwarding must be on (as Docker and Podman turn it on). Never turned off: others may rely on it. */
function enableForwarding(): void {
  const path = "/proc/sys/net/ipv4/ip_forward";
  if (readFileSync(path, "utf8").trim() !== "1") writeFileSync(path, "1\n");
}
