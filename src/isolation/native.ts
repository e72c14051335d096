import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { packageRoot } from "../package-root.js";

/** A link of the daemon's network namespace. */
export interface NativeLink {
  name: string;
  index: number;
  /** "bridge", "veth"...; absent for links the kernel gives no kind (lo, physical NICs). */
  kind?: string;
  /** Name of the bridge this link is a port of. */
  master?: string;
}

/** The typed face of addon/binding/addon.cc (and network.cc). */
export interface NativeBinding {
  /**
   * Ask the fork server for a supervisor; it waits for its spec on specFd
   * (write it, then close it). Always follow with supervisorStarted().
   */
  /** supervisorCgroups: where the fork server (and so every supervisor) lives; used when it starts. */
  requestSupervisor(
    executable: string,
    supervisorCgroups: readonly string[],
    title: string,
    netnsFd: number,
  ): { readyFd: number; specFd: number };
  /** The supervisor last requested: its pid and a pidfd. */
  supervisorStarted(): { pid: number; pidfd: number };
  /** A fresh network namespace (lo up) made ahead of time, or -1 when none is ready. */
  takeNetns(): number;
  /** A fresh network namespace (lo up) made now, off the event-loop thread; throws when not permitted. */
  makeNetns(): number;
  /*
   * rtnetlink, in the calling process's network namespace. Errors read
   * "Cannot <step naming the interface>: <errno text>" and carry errno and code.
   */
  /** Create the bridge unless it exists, make address/prefix its only IPv4 address, bring it up. */
  netEnsureBridge(name: string, address: string, prefix: number): void;
  /** false when there was no such link. Blocks for about 20 ms (RCU grace periods). */
  netDeleteLink(name: string): boolean;
  /** The same on a thread of its own, without blocking the event loop. */
  netDeleteLinkAsync(name: string): Promise<boolean>;
  netListLinks(): NativeLink[];
  /**
   * A veth pair: hostInterface here, its peer "eth0" made inside the namespace
   * netnsFd; the host end joins bridge, or without one gets hostAddress/prefix,
   * and is brought up. Nothing is left behind on failure.
   */
  netCreateVeth(netnsFd: number, veth: { hostInterface: string; bridge?: string; hostAddress?: string; prefix: number }): void;
  pidfdOpen(pid: number): number;
  /** false when the process has already exited. */
  pidfdSendSignal(pidfd: number, signal: number): boolean;
  /** Reaps our own exited child; false for a process we did not start. */
  reap(pidfd: number): boolean;
  ReadableWatch: new (fd: number, onReadable: () => void) => { close(): void };
}

const buildDir = join(packageRoot, "build", "Release");

function load(): NativeBinding {
  const file = join(buildDir, "joblet.node");
  if (!existsSync(file)) {
    throw new Error(`Cannot load joblet's native addon: ${file} is missing; run 'npm install' to build it`);
  }
  return createRequire(import.meta.url)(file) as NativeBinding;
}

export const native: NativeBinding = load();
export const supervisorExecutable = join(buildDir, "joblet-supervisor");
