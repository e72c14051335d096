/**
 * The peers joblet is measured against. Each one is prepared (and probed once,
 * with its stderr kept) before any timing; a peer that cannot run on this host
 * is skipped with the reason printed, never silently.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { CleanupStack } from "./cleanup.js";
import type { CgroupLayout, UsrLayout } from "./host.js";
import type { MountNamespace } from "./mntns.js";
import { describeExit, oneLine, runCapture, spawnAndWait, type ChildSlot } from "./proc.js";

/** A peer that cannot run here for a reason outside the benchmark's control (not installed, not needed). */
export class SkipPeer extends Error {}

/** Executables the peers use, resolved to absolute paths (undefined: not installed). */
export interface Tools {
  true: string;
  unshare?: string | undefined;
  chroot?: string | undefined;
  nsenter?: string | undefined;
  mount?: string | undefined;
  umount?: string | undefined;
  bwrap?: string | undefined;
  crun?: string | undefined;
  runc?: string | undefined;
}

/** Debian package that provides each tool, for the "how to install" hint. */
export const DEBIAN_PACKAGE: Record<string, string> = {
  unshare: "util-linux",
  nsenter: "util-linux",
  mount: "mount",
  umount: "mount",
  chroot: "coreutils",
  bwrap: "bubblewrap",
  crun: "crun",
  runc: "runc",
};

export interface BenchContext {
  /** Prefix of every container id this run creates, unique to the process. */
  idPrefix: string;
  tmpBase: string;
  cleanup: CleanupStack;
  slot: ChildSlot;
  tools: Tools;
  layout: CgroupLayout;
  usr: UsrLayout;
  /** The shared OCI bundle directory, written on first use. */
  bundle(): Promise<string>;
  /** The v1-only mount namespace, created on first use. */
  mountNamespace(): Promise<MountNamespace>;
  /** Names of the runtimes that had to run through nsenter. */
  nsenterUsers: string[];
}

export interface Runner {
  /** The command line of one run, for the report. */
  command: string;
  /** How the peer had to be run on this host. */
  notes: string[];
  /** The measured time includes an `nsenter` hop that joblet does not pay. */
  viaNsenter: boolean;
  /** Run one job to its exit; `seq` is unique over warmup and timed runs. */
  once(seq: number): Promise<void>;
  /** Stop the run in flight (on a signal); command peers are stopped through the ChildSlot. */
  stop?(): void;
  /** Lines printed after the table: the row's own comparisons, measured after its timed loop. */
  report?(iterations: number): Promise<string[]>;
}

export interface Peer {
  name: string;
  label: string;
  prepare(ctx: BenchContext): Promise<Runner>;
}

function need(ctx: BenchContext, tool: keyof Tools): string {
  const path = ctx.tools[tool];
  if (!path) {
    throw new SkipPeer(`'${tool}' is not installed; install it with: apt-get install ${DEBIAN_PACKAGE[tool] ?? tool}`);
  }
  return path;
}

function commandRunner(
  ctx: BenchContext,
  name: string,
  file: string,
  argsFor: (seq: number) => string[],
  notes: string[] = [],
  viaNsenter = false,
): Runner {
  return {
    command: [file, ...argsFor(0)].join(" "),
    notes,
    viaNsenter,
    async once(seq) {
      const s = await spawnAndWait(file, argsFor(seq), ctx.slot);
      if (s.code !== 0) throw new Error(`${name} run ${seq} failed (${describeExit(s)})`);
    },
  };
}

/** One untimed run with stderr kept; returns the failure text, or undefined when it exited 0. */
async function probe(file: string, args: string[]): Promise<string | undefined> {
  const r = await runCapture(file, args);
  return r.code === 0 ? undefined : `${describeExit(r)}: ${oneLine(r.stderr)}`;
}

async function probeOrThrow(name: string, file: string, args: string[]): Promise<void> {
  const failure = await probe(file, args);
  if (failure) throw new Error(`${name} cannot run '${[file, ...args].join(" ")}' (${failure})`);
}

const raw: Peer = {
  name: "raw",
  label: "raw fork/exec",
  async prepare(ctx) {
    const args: string[] = [];
    await probeOrThrow("raw", ctx.tools.true, args);
    return commandRunner(ctx, "raw", ctx.tools.true, () => args);
  },
};

const unshare: Peer = {
  name: "unshare",
  label: "unshare+chroot",
  async prepare(ctx) {
    const args = ["-pfmuin", "--fork", need(ctx, "chroot"), "/", ctx.tools.true];
    const file = need(ctx, "unshare");
    await probeOrThrow("unshare", file, args);
    return commandRunner(ctx, "unshare", file, () => args);
  },
};

const bwrap: Peer = {
  name: "bwrap",
  label: "bwrap hardened",
  async prepare(ctx) {
    const file = need(ctx, "bwrap");
    const args = [
      "--unshare-all",
      "--die-with-parent",
      "--new-session",
      "--cap-drop",
      "ALL",
      "--ro-bind",
      "/usr",
      "/usr",
      ...ctx.usr.binds.flatMap((dir) => ["--ro-bind", dir, dir]),
      ...ctx.usr.symlinks.flatMap(([path, target]) => ["--symlink", target, path]),
      "--proc",
      "/proc",
      "--dev",
      "/dev",
      "--tmpfs",
      "/tmp",
      ctx.tools.true,
    ];
    await probeOrThrow("bwrap", file, args);
    return commandRunner(ctx, "bwrap", file, () => args);
  },
};

/** The cost of entering the persistent mount namespace, subtracted from runtimes that need it. */
const nsenter: Peer = {
  name: "nsenter",
  label: "nsenter hop",
  async prepare(ctx) {
    if (ctx.nsenterUsers.length === 0) {
      throw new SkipPeer("not needed: no runtime had to run through the mount-namespace trick");
    }
    const file = need(ctx, "nsenter");
    const ns = await ctx.mountNamespace();
    const args = [`--mount=${ns.file}`, ctx.tools.true];
    await probeOrThrow("nsenter", file, args);
    return commandRunner(ctx, "nsenter", file, () => args, [`baseline for ${ctx.nsenterUsers.join(", ")}`]);
  },
};

/**
 * crun or runc on the shared bundle, `run` = create + start + wait + delete.
 * Tried directly first; on a hybrid host that fails, retried inside the
 * v1-only mount namespace.
 */
function ociRuntime(name: "crun" | "runc"): Peer {
  return {
    name,
    label: name,
    async prepare(ctx) {
      const bin = need(ctx, name);
      const bundle = await ctx.bundle();
      const stateRoot = join(ctx.tmpBase, `${name}-state`);
      await mkdir(stateRoot, { recursive: true, mode: 0o700 });
      const id = (seq: number | string) => `${ctx.idPrefix}${name}-${seq}`;
      const runArgs = (seq: number | string) => ["--root", stateRoot, "run", "--bundle", bundle, id(seq)];
      const forceDelete = async (prefix: string[], seq: string) => {
        const [file, ...rest] = [...prefix, bin];
        await runCapture(file as string, [...rest, "--root", stateRoot, "delete", "-f", id(seq)]);
      };
      const keepStateClean = (prefix: string[]) =>
        ctx.cleanup.push(`delete leftover ${name} containers`, async () => {
          const [file, ...rest] = [...prefix, bin];
          const list = await runCapture(file as string, [...rest, "--root", stateRoot, "list", "-q"]);
          for (const leftover of list.stdout.split("\n").map((s) => s.trim()).filter(Boolean)) {
            console.error(`cleanup: deleting leftover ${name} container ${leftover}`);
            await runCapture(file as string, [...rest, "--root", stateRoot, "delete", "-f", leftover]);
          }
        });

      const directFailure = await probe(bin, runArgs("probe"));
      if (directFailure === undefined) {
        keepStateClean([]);
        return commandRunner(ctx, name, bin, (seq) => runArgs(seq), ["runs directly (no mount-namespace trick needed)"]);
      }
      await forceDelete([], "probe");
      if (ctx.layout.kind !== "hybrid") {
        throw new Error(`${name} cannot run the bundle (${directFailure})`);
      }
      const nsenterBin = ctx.tools.nsenter;
      if (!nsenterBin) {
        throw new Error(
          `${name} refuses this hybrid host (${directFailure}) and 'nsenter' is missing for the workaround; install it with: apt-get install util-linux`,
        );
      }
      const ns = await ctx.mountNamespace();
      const prefix = [nsenterBin, `--mount=${ns.file}`];
      const viaNs = (seq: number | string) => [`--mount=${ns.file}`, bin, ...runArgs(seq)];
      const nsFailure = await probe(nsenterBin, viaNs("probe-ns"));
      if (nsFailure !== undefined) {
        await forceDelete(prefix, "probe-ns");
        throw new Error(`${name} fails directly (${directFailure}) and in the v1-only mount namespace (${nsFailure})`);
      }
      keepStateClean(prefix);
      ctx.nsenterUsers.push(name);
      return commandRunner(
        ctx,
        name,
        nsenterBin,
        (seq) => viaNs(seq),
        [`direct run fails (${directFailure})`, `runs via nsenter in a mount namespace without the cgroup2 mount (${ns.file})`],
        true,
      );
    },
  };
}

export const COMMAND_PEERS: Peer[] = [raw, unshare, bwrap, ociRuntime("crun"), ociRuntime("runc"), nsenter];
