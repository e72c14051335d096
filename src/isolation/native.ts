import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { packageRoot } from "../package-root.js";

/** The typed face of addon/binding/addon.cc. */
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
