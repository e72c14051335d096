import { Command } from "commander";
import { parseCidr } from "../api/cidr.js";
import { checkBytes, checkCores } from "../api/quantity.js";

/** `joblet daemon`: watch the manifests dir and run its Jobs until SIGTERM or SIGINT. */
export function daemonCommand(): Command {
  return new Command("daemon")
    .description("Watch the manifests directory and reconcile the machine to it")
    .option("--state-dir <dir>", "state directory (default /var/lib/joblet, or JOBLET_STATE_DIR)")
    .option("--manifests <dir>", "manifests directory to watch, e.g. a git checkout (default STATE_DIR/manifests)")
    .option("--workers <n>", "reconciles at once", (v) => positive("--workers", v), 4)
    .option("--grace-period <ms>", "SIGTERM to SIGKILL when a run is stopped, in ms", (v) => positive("--grace-period", v))
    .option("--backoff-base <ms>", "first retry delay of an OnFailure Job, in ms (doubles per retry)", (v) => positive("--backoff-base", v))
    .option("--bridge-cidr <cidr>", "block of the built-in 'bridge' network (default 172.20.0.0/16)", (v) => cidr("--bridge-cidr", v))
    .option("--isolated-cidr <cidr>", "block 'isolated' jobs get their address pairs from (default 172.21.0.0/16)", (v) => cidr("--isolated-cidr", v))
    .option("--listen <host:port>", "serve the remote API (HTTPS, client certificates required) here, e.g. 0.0.0.0:8443", listenAddress)
    .option("--tls-dir <dir>", "the remote API's ca.crt, server.crt and server.key (made by joblet certs init --dir DIR)")
    .option("--allocatable-cpu <cores>", "CPU jobs may reserve, e.g. 6 or 3500m (default every online CPU)", (v) => quantity("--allocatable-cpu", v, checkCores))
    .option("--allocatable-memory <bytes>", "memory jobs may reserve, e.g. 28Gi (default MemTotal less 10%, at most 1Gi less)", (v) => quantity("--allocatable-memory", v, checkBytes))
    .addHelpText(
      "after",
      "\nExample:\n  sudo joblet daemon --state-dir /var/lib/joblet --manifests ~/gitops/jobs\n  sudo joblet daemon --listen 0.0.0.0:8443 --tls-dir /etc/joblet/tls\n",
    )
    .action(async (opts: DaemonFlags) => {
      if ((opts.listen === undefined) !== (opts.tlsDir === undefined)) throw new Error("--listen and --tls-dir go together: the remote API is HTTPS with client certificates only");
      // Loaded here, not at the top: client verbs (get, runtime list) should not pay for the daemon's modules.
      const { startDaemon } = await import("../daemon/daemon.js");
      const daemon = await startDaemon({
        ...(opts.stateDir ? { stateDir: opts.stateDir } : {}),
        ...(opts.manifests ? { manifestsDir: opts.manifests } : {}),
        workers: opts.workers,
        ...(opts.gracePeriod !== undefined ? { gracePeriodMs: opts.gracePeriod } : {}),
        ...(opts.backoffBase !== undefined ? { backoffBaseMs: opts.backoffBase } : {}),
        ...(opts.bridgeCidr !== undefined ? { bridgeCidr: opts.bridgeCidr } : {}),
        ...(opts.isolatedCidr !== undefined ? { isolatedCidr: opts.isolatedCidr } : {}),
        ...(opts.listen !== undefined ? { listen: opts.listen, tlsDir: opts.tlsDir } : {}),
        ...(opts.allocatableCpu !== undefined ? { allocatableCpu: opts.allocatableCpu } : {}),
        ...(opts.allocatableMemory !== undefined ? { allocatableMemoryBytes: opts.allocatableMemory } : {}),
      });
      await new Promise<void>((resolve) => {
        const done = () => resolve();
        process.once("SIGTERM", done);
        process.once("SIGINT", done);
      });
      await daemon.stop();
      // The addon's helpers (fork server socket, namespace pool) would keep the loop alive.
      process.exit(0);
    });
}

interface DaemonFlags {
  stateDir?: string;
  manifests?: string;
  workers: number;
  gracePeriod?: number;
  backoffBase?: number;
  bridgeCidr?: string;
  isolatedCidr?: string;
  listen?: { host: string; port: number };
  tlsDir?: string;
  allocatableCpu?: number;
  allocatableMemory?: number;
}

/** A quantity flag (cores or bytes), greater than zero. */
function quantity(flag: string, value: string, check: typeof checkCores): number {
  const result = check(value);
  if (!result.ok) throw new Error(`${flag} '${value}' ${result.reason}`);
  if (result.value <= 0) throw new Error(`${flag} '${value}' must be greater than zero`);
  return result.value;
}

/** HOST:PORT, [IPv6]:PORT, or :PORT for every address. */
function listenAddress(value: string): { host: string; port: number } {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value);
  const port = Number(match?.[3]);
  if (!match || port > 65535) throw new Error(`--listen '${value}' is not HOST:PORT (e.g. 0.0.0.0:8443, [::1]:8443, :8443)`);
  const host = match[1] ?? match[2] ?? "";
  return { host: host === "" ? "::" : host, port };
}

function positive(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${flag} '${value}' is not a positive whole number`);
  return n;
}

function cidr(flag: string, value: string): string {
  const parsed = parseCidr(value);
  if (typeof parsed === "string") throw new Error(`${flag} '${value}' ${parsed}`);
  return value;
}
