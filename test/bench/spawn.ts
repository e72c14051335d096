/**
 * Spawn benchmark: how long "start /bin/true isolated and observe its exit"
 * takes, joblet against its peers, all measured sequentially from this one
 * process with the same clock (process.hrtime.bigint) and the same event-loop
 * path (child_process.spawn + 'exit').
 *
 *   npm run bench -- [--iterations N] [--warmup N] [--only raw,crun,joblet] [--json PATH]
 *
 * Needs root. Leaves nothing behind: temp dirs, the OCI bundle, the mount
 * namespace and any runtime container state are removed, also on Ctrl-C.
 */
import { mkdtemp, readdir, rm, rmdir, writeFile } from "node:fs/promises";
import { existsSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { CleanupStack } from "./cleanup.js";
import { readCgroupLayout, readHostFacts, readUsrLayout, type CgroupLayout, type HostFacts } from "./host.js";
import { joblet, jobletRuntime } from "./joblet.js";
import { jobletNetwork } from "./joblet-network.js";
import { createV1OnlyMountNamespace, type MountNamespace } from "./mntns.js";
import { COMMAND_PEERS, DEBIAN_PACKAGE, SkipPeer, type BenchContext, type Peer, type Runner, type Tools } from "./peers.js";
import { findExecutable, type ChildSlot } from "./proc.js";
import { writeBundle } from "./oci.js";
import { summarize, type Summary } from "./stats.js";

const PEER_ORDER = ["raw", "unshare", "bwrap", "nsenter", "crun", "runc", "joblet", "joblet-runtime", "joblet-network"] as const;
const TARGET_MEDIAN_RATIO = 0.5;
const TARGET_THROUGHPUT_RATIO = 2;
/** Issue 5: a job on a runtime starts at most this much slower than without one. */
const TARGET_RUNTIME_RATIO = 1.2;

interface Options {
  iterations: number;
  warmup: number;
  only: Set<string>;
  json: string | undefined;
}

class Interrupted extends Error {}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      iterations: { type: "string", default: "200" },
      warmup: { type: "string", default: "20" },
      only: { type: "string" },
      json: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    console.log(
      "usage: node dist/test/bench/spawn.js [--iterations N] [--warmup N] [--only name,name] [--json PATH]\n" +
        `peers: ${PEER_ORDER.join(", ")}`,
    );
    process.exit(0);
  }
  const count = (flag: string, text: string, min: number) => {
    const n = Number(text);
    if (!/^\d+$/.test(text) || n < min) throw new Error(`Cannot run the benchmark: --${flag} '${text}' is not an integer >= ${min}`);
    return n;
  };
  const only = new Set((values.only ?? PEER_ORDER.join(",")).split(",").map((s) => s.trim()).filter(Boolean));
  for (const name of only) {
    if (!(PEER_ORDER as readonly string[]).includes(name)) {
      throw new Error(`Cannot run the benchmark: --only names unknown peer '${name}' (known: ${PEER_ORDER.join(", ")})`);
    }
  }
  return {
    iterations: count("iterations", values.iterations, 1),
    warmup: count("warmup", values.warmup, 0),
    only,
    json: values.json,
  };
}

interface Row {
  name: string;
  label: string;
  status: "ok" | "skipped" | "failed";
  reason?: string;
  command?: string;
  notes?: string[];
  iterations?: number;
  warmup?: number;
  summary?: Summary;
  /** Wall time of the timed loop, in ms. */
  totalMs?: number;
  throughputPerSecond?: number;
}

/** Abort state shared with the signal handlers. */
const abort = { signal: undefined as NodeJS.Signals | undefined, runner: undefined as Runner | undefined };
function throwIfAborted(): void {
  if (abort.signal) throw new Interrupted(`Interrupted by ${abort.signal}`);
}

async function measure(runner: Runner, opts: Options, seq: { next: number }): Promise<{ summary: Summary; totalNs: bigint }> {
  for (let i = 0; i < opts.warmup; i++) {
    throwIfAborted();
    await runner.once(seq.next++);
  }
  const durations = new Float64Array(opts.iterations);
  const loopStart = process.hrtime.bigint();
  for (let i = 0; i < opts.iterations; i++) {
    throwIfAborted();
    const n = seq.next++;
    const t0 = process.hrtime.bigint();
    await runner.once(n);
    durations[i] = Number(process.hrtime.bigint() - t0);
  }
  const totalNs = process.hrtime.bigint() - loopStart;
  return { summary: summarize(durations), totalNs };
}

/**
 * A runtime's figures with what the nsenter hop adds taken out. Launching the
 * runtime costs a fork/exec with or without the hop, so only the hop's extra
 * over a plain fork/exec (both medians from this run) is subtracted, from
 * every figure and from each run of the loop. Without a fork/exec row the
 * whole hop is subtracted, which flatters the runtime.
 */
function netOfNsenter(row: Row, hop: Row, raw: Row | undefined): Row {
  const s = row.summary as Summary;
  const hopMedian = (hop.summary as Summary).medianMs;
  const rawMedian = raw?.status === "ok" ? (raw.summary as Summary).medianMs : 0;
  const hopMs = Math.max(0, hopMedian - rawMedian);
  const iterations = row.iterations as number;
  const totalMs = (row.totalMs as number) - iterations * hopMs;
  return {
    ...row,
    name: `${row.name}-net`,
    label: `${row.label} (net)`,
    notes: [
      raw?.status === "ok"
        ? `measured figures minus the nsenter hop's extra over fork/exec (${hopMedian.toFixed(3)} - ${rawMedian.toFixed(3)} = ${hopMs.toFixed(3)} ms)`
        : `measured figures minus the whole nsenter median (${hopMs.toFixed(3)} ms): no fork/exec row`,
    ],
    summary: { ...s, medianMs: s.medianMs - hopMs, p90Ms: s.p90Ms - hopMs, p99Ms: s.p99Ms - hopMs, minMs: s.minMs - hopMs, maxMs: s.maxMs - hopMs },
    totalMs,
    throughputPerSecond: iterations / (totalMs / 1000),
  };
}

/**
 * Remove cgroup directories a killed runtime may have left, named by this
 * run's id prefix, at the top of each hierarchy and under this process's own
 * group (where runc puts them when cgroupsPath is unset). Only empty
 * directories can go, so this never touches a live job.
 */
async function sweepCgroups(layout: CgroupLayout, idPrefix: string): Promise<void> {
  const ownPaths = new Set(
    readFileSync("/proc/self/cgroup", "utf8")
      .split("\n")
      .map((line) => line.split(":").slice(2).join(":"))
      .filter((p) => p.startsWith("/")),
  );
  for (const { mountPoint } of [...layout.v1, ...layout.v2]) {
    for (const own of ownPaths) {
      const parent = join(mountPoint, own);
      let entries: string[];
      try {
        entries = await readdir(parent);
      } catch {
        continue;
      }
      for (const entry of entries.filter((e) => e.startsWith(idPrefix))) {
        await rmdir(join(parent, entry)).then(
          () => console.error(`cleanup: removed leftover cgroup ${join(parent, entry)}`),
          (err: Error) => console.error(`cleanup: cannot remove cgroup ${join(parent, entry)}: ${err.message}`),
        );
      }
    }
  }
}

const fmt = (n: number | undefined, digits: number) => (n === undefined || !Number.isFinite(n) ? "-" : n.toFixed(digits));

function printTable(rows: Row[], baseline: Row | undefined): void {
  const header = ["peer", "median ms", "p90 ms", "p99 ms", "jobs/s", `median vs ${baseline?.label ?? "crun"}`];
  const data = rows.map((r) =>
    r.status === "ok" && r.summary
      ? [
          r.label,
          fmt(r.summary.medianMs, 3),
          fmt(r.summary.p90Ms, 3),
          fmt(r.summary.p99Ms, 3),
          fmt(r.throughputPerSecond, 1),
          baseline?.summary ? `${fmt(r.summary.medianMs / baseline.summary.medianMs, 2)}x` : "-",
        ]
      : [r.label, `${r.status}: ${r.reason ?? ""}`],
  );
  const full = data.filter((cells) => cells.length === header.length);
  const widths = header.map((h, i) => Math.max(h.length, ...(i === 0 ? data : full).map((cells) => (cells[i] ?? "").length)));
  const render = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[0] ?? 0) : cells.length === header.length ? c.padStart(widths[i] ?? 0) : c)).join("  ");
  console.log(render(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const cells of data) console.log(render(cells));
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  if (process.getuid?.() !== 0) {
    console.error("The spawn benchmark needs root (namespaces, cgroups, mounts): run it as root.");
    return 2;
  }

  const cleanup = new CleanupStack();
  const slot: ChildSlot = { current: undefined };
  let interruptedTwice = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (abort.signal) {
      // Second signal: stop waiting for the loop, clean up now.
      if (interruptedTwice) return;
      interruptedTwice = true;
      console.error(`\n${signal} again: cleaning up and exiting`);
      void cleanup.runAll().finally(() => process.exit(130));
      return;
    }
    abort.signal = signal;
    console.error(`\n${signal}: stopping after the current run, then cleaning up`);
    slot.current?.kill("SIGTERM");
    abort.runner?.stop?.();
  };
  for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(s, onSignal);

  try {
    return await runBenchmark(opts, cleanup, slot);
  } catch (err) {
    if (err instanceof Interrupted) {
      console.error(err.message);
      return 130;
    }
    throw err;
  } finally {
    await cleanup.runAll();
  }
}

async function runBenchmark(opts: Options, cleanup: CleanupStack, slot: ChildSlot): Promise<number> {
  if (!existsSync("/bin/true")) throw new Error("Cannot run the benchmark: /bin/true does not exist");
  const tools: Tools = { true: "/bin/true" };
  for (const name of ["unshare", "chroot", "nsenter", "mount", "umount", "bwrap", "crun", "runc"] as const) {
    tools[name] = findExecutable(name);
  }
  const layout = readCgroupLayout();
  const usr = readUsrLayout();
  const facts: HostFacts = await readHostFacts(
    { node: process.execPath, crun: tools.crun, runc: tools.runc, bwrap: tools.bwrap, unshare: tools.unshare, nsenter: tools.nsenter },
    layout,
  );

  console.log("joblet spawn benchmark: spawn /bin/true isolated, wait for its exit, sequentially");
  console.log(`kernel:   ${facts.kernel}`);
  console.log(`cpu:      ${facts.cpu}`);
  console.log(`cgroups:  ${facts.cgroupLayout}`);
  console.log(`usr:      ${usr.symlinks.map(([p, t]) => `${p} -> ${t}`).join(", ")}${usr.binds.length ? `; real dirs bound: ${usr.binds.join(" ")}` : ""}`);
  for (const [name, v] of Object.entries(facts.tools)) {
    const hint = v === "missing" && DEBIAN_PACKAGE[name] ? ` (install with: apt-get install ${DEBIAN_PACKAGE[name]})` : "";
    console.log(`${`${name}:`.padEnd(9)} ${v}${hint}`);
  }
  console.log(`runs:     ${opts.warmup} warmup + ${opts.iterations} timed per peer; clock process.hrtime.bigint\n`);

  const idPrefix = `jb-${process.pid}-`;
  cleanup.push("sweep leftover runtime cgroups", () => sweepCgroups(layout, idPrefix));
  const tmpBase = await mkdtemp(join(tmpdir(), "joblet-bench-"));
  cleanup.push(`remove ${tmpBase}`, () => rm(tmpBase, { recursive: true, force: true }));

  let bundle: Promise<string> | undefined;
  let mntns: Promise<MountNamespace> | undefined;
  const ctx: BenchContext = {
    idPrefix,
    tmpBase,
    cleanup,
    slot,
    tools,
    layout,
    usr,
    nsenterUsers: [],
    bundle() {
      bundle ??= (async () => {
        const dir = join(tmpBase, "bundle");
        const shape = {
          args: ["/bin/true"],
          env: { PATH: "/usr/bin:/bin" },
          uid: 65534,
          gid: 65534,
          memoryBytes: 256 * 1024 * 1024,
          cpu: 1,
          pids: 64,
        };
        await writeBundle(dir, shape, usr);
        return dir;
      })();
      return bundle;
    },
    mountNamespace() {
      mntns ??= (async () => {
        const { mount, umount, unshare } = tools;
        if (!mount || !umount || !unshare) {
          throw new Error("Cannot create the v1-only mount namespace: mount, umount and unshare are needed (apt-get install mount util-linux)");
        }
        return createV1OnlyMountNamespace(
          `/run/joblet-bench-${process.pid}`,
          layout.v2.map((m) => m.mountPoint),
          { mount, umount, unshare },
          cleanup,
        );
      })();
      return mntns;
    },
  };

  // Prepare (and probe) every peer before timing any; nsenter last among the
  // command peers because it is measured only if a runtime needed it.
  const peers = new Map<string, Peer>([...COMMAND_PEERS, joblet, jobletRuntime, jobletNetwork].map((p) => [p.name, p]));
  const prepared = new Map<string, Runner>();
  const rows = new Map<string, Row>();
  for (const name of ["raw", "unshare", "bwrap", "crun", "runc", "nsenter", "joblet", "joblet-runtime", "joblet-network"]) {
    throwIfAborted();
    const peer = peers.get(name) as Peer;
    const implied = name === "nsenter" && ctx.nsenterUsers.length > 0;
    if (!opts.only.has(name) && !implied) continue;
    try {
      const runner = await peer.prepare(ctx);
      prepared.set(name, runner);
      if (implied && !opts.only.has(name)) runner.notes.push("measured because a selected runtime runs through it");
    } catch (err) {
      throwIfAborted();
      const reason = err instanceof Error ? err.message : String(err);
      const status = err instanceof SkipPeer ? "skipped" : "failed";
      console.log(`${name}: ${status === "skipped" ? "" : "FAILED: "}${reason}${status === "skipped" ? " - skipping this row" : ""}`);
      rows.set(name, { name, label: peer.label, status, reason });
    }
  }
  for (const [name, runner] of prepared) {
    console.log(`${name}: ${runner.command}`);
    for (const note of runner.notes) console.log(`${" ".repeat(name.length + 2)}${note}`);
  }
  console.log("");

  const seq = { next: 0 };
  for (const name of PEER_ORDER) {
    const runner = prepared.get(name);
    if (!runner) continue;
    const peer = peers.get(name) as Peer;
    process.stderr.write(`measuring ${name}...`);
    try {
      abort.runner = runner;
      const { summary, totalNs } = await measure(runner, opts, seq);
      const totalMs = Number(totalNs) / 1e6;
      rows.set(name, {
        name,
        label: peer.label,
        status: "ok",
        command: runner.command,
        notes: runner.notes,
        iterations: opts.iterations,
        warmup: opts.warmup,
        summary,
        totalMs,
        throughputPerSecond: opts.iterations / (totalMs / 1000),
      });
      process.stderr.write(` median ${summary.medianMs.toFixed(3)} ms\n`);
    } catch (err) {
      process.stderr.write("\n");
      if (err instanceof Interrupted) throw err;
      throwIfAborted();
      const reason = err instanceof Error ? err.message : String(err);
      console.log(`${name}: FAILED while measuring: ${reason}`);
      rows.set(name, { name, label: peer.label, status: "failed", reason });
    } finally {
      abort.runner = undefined;
    }
  }

  // Table rows in peer order, each runtime that went through nsenter followed by its net row.
  const table: Row[] = [];
  const hop = rows.get("nsenter");
  for (const name of PEER_ORDER) {
    const row = rows.get(name);
    if (!row) continue;
    table.push(row);
    if (row.status === "ok" && prepared.get(name)?.viaNsenter) {
      if (hop?.status === "ok") table.push(netOfNsenter(row, hop, rows.get("raw")));
      else console.log(`${name}: no nsenter baseline, so no net figure`);
    }
  }
  const crun = table.find((r) => r.name === "crun-net" && r.status === "ok") ?? table.find((r) => r.name === "crun" && r.status === "ok");
  const job = table.find((r) => r.name === "joblet" && r.status === "ok");

  console.log("");
  printTable(table, crun);
  console.log("");
  const onRuntime = table.find((r) => r.name === "joblet-runtime" && r.status === "ok");
  if (onRuntime && job) {
    const ratio = (onRuntime.summary as Summary).medianMs / (job.summary as Summary).medianMs;
    console.log(`joblet on a runtime / joblet: median ${ratio.toFixed(2)}x (target <= ${TARGET_RUNTIME_RATIO}x: ${ratio <= TARGET_RUNTIME_RATIO ? "meets target" : "MISSES target"})`);
  }
  for (const row of table) {
    const report = row.status === "ok" ? prepared.get(row.name)?.report : undefined;
    if (!report) continue;
    const lines = await report(opts.iterations);
    for (const line of lines) console.log(line);
    row.notes = [...(row.notes ?? []), ...lines];
  }
  let ratios: { median: number; throughput: number } | undefined;
  if (crun && job) {
    const median = (job.summary as Summary).medianMs / (crun.summary as Summary).medianMs;
    const throughput = (job.throughputPerSecond as number) / (crun.throughputPerSecond as number);
    ratios = { median, throughput };
    const verdict = (ok: boolean) => (ok ? "meets target" : "MISSES target");
    console.log(`joblet / ${crun.label}: median ${median.toFixed(2)}x (target <= ${TARGET_MEDIAN_RATIO}x: ${verdict(median <= TARGET_MEDIAN_RATIO)})`);
    console.log(
      `joblet / ${crun.label}: throughput ${throughput.toFixed(2)}x (target >= ${TARGET_THROUGHPUT_RATIO}x: ${verdict(throughput >= TARGET_THROUGHPUT_RATIO)})`,
    );
    const measured = table.find((r) => r.name === "crun" && r.status === "ok");
    if (measured && measured !== crun) {
      const m = (job.summary as Summary).medianMs / (measured.summary as Summary).medianMs;
      const t = (job.throughputPerSecond as number) / (measured.throughputPerSecond as number);
      console.log(`joblet / crun as measured (through nsenter): median ${m.toFixed(2)}x, throughput ${t.toFixed(2)}x`);
    }
  } else {
    console.log(
      `joblet / crun: n/a (${!job ? "no joblet figures" : "no crun figures"}); targets: median <= ${TARGET_MEDIAN_RATIO}x crun(net), throughput >= ${TARGET_THROUGHPUT_RATIO}x crun(net)`,
    );
  }

  if (opts.json) {
    const report = {
      benchmark: "spawn /bin/true and observe its exit",
      date: new Date().toISOString(),
      host: facts,
      options: { iterations: opts.iterations, warmup: opts.warmup, only: [...opts.only] },
      peers: table,
      baseline: crun?.name ?? null,
      ratios: ratios ?? null,
      targets: { medianAtMost: TARGET_MEDIAN_RATIO, throughputAtLeast: TARGET_THROUGHPUT_RATIO },
    };
    await writeFile(opts.json, JSON.stringify(report, null, 2) + "\n");
    console.log(`\nresults written to ${opts.json}`);
  }
  return table.some((r) => r.status === "failed") ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exit(1);
  },
);
