/**
 * `joblet runtime list` with 20 runtimes installed, timed as a user sees it:
 * a fresh `joblet` process each time, from exec to exit. Issue 5's target:
 * under 200 ms. The state dir holds 20 status files shaped as the Runtime
 * controller writes them (a Ready build with its config, conditions, events).
 *
 *   npm run build && node dist/test/bench/runtime-list.js [--runs 30]
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { packageRoot } from "../../src/package-root.js";

const TARGET_MS = 200;
const RUNTIMES = 20;

function statusFile(i: number): object {
  const name = `runtime-${i}@1.${i}.0`;
  const now = new Date().toISOString();
  const build = {
    id: `b${i}`.padEnd(16, "0"),
    generation: `g${i}`.padEnd(64, "0"),
    path: `/var/lib/joblet/runtimes/.builds/${name}/b${i}`,
    source: i % 2 ? "debian" : "package",
    sizeBytes: 300 * 1024 * 1024 + i,
    files: 10_000 + i,
    builtAt: now,
    durationMs: 45_000,
    config: { version: `1.${i}.0`, mounts: [], environment: { PYTHONUNBUFFERED: "1" }, test: { command: ["python", "-V"] } },
  };
  const events = Array.from({ length: 3 }, (_, k) => ({ type: "Normal", reason: "Ready", message: `event ${k}`, count: 1, firstTimestamp: now, lastTimestamp: now }));
  return {
    apiVersion: "joblet/v1",
    kind: "Runtime",
    metadata: { name, generation: build.generation },
    spec: { version: `1.${i}.0`, source: { debian: { suite: "bookworm", packages: ["python3"] } } },
    status: {
      phase: "Ready",
      observedGeneration: build.generation,
      conditions: [{ type: "Ready", status: "True", reason: "Installed", message: `Build ${build.id}`, lastTransitionTime: now }],
      current: build,
      events,
    },
  };
}

function main(): void {
  const { values } = parseArgs({ options: { runs: { type: "string", default: "30" } } });
  const runs = Number(values.runs);
  const stateDir = mkdtempSync(join(tmpdir(), "joblet-bench-list-"));
  try {
    const dir = join(stateDir, "status/runtimes");
    mkdirSync(dir, { recursive: true });
    for (let i = 0; i < RUNTIMES; i++) {
      const object = statusFile(i) as { metadata: { name: string } };
      writeFileSync(join(dir, `${object.metadata.name}.json`), JSON.stringify(object, null, 2));
    }
    const cli = join(packageRoot, "bin/joblet.js");
    const list = () => execFileSync(process.execPath, [cli, "runtime", "list", "--state-dir", stateDir], { encoding: "utf8" });
    const lines = list().trim().split("\n");
    if (lines.length !== RUNTIMES + 1) throw new Error(`runtime list printed ${lines.length} lines, expected ${RUNTIMES + 1}:\n${lines.join("\n")}`);
    list(); // warm the page cache
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const start = process.hrtime.bigint();
      list();
      times.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
    times.sort((a, b) => a - b);
    const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!;
    const bare: number[] = [];
    for (let i = 0; i < 10; i++) {
      const start = process.hrtime.bigint();
      execFileSync(process.execPath, ["-e", "0"]);
      bare.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
    bare.sort((a, b) => a - b);
    console.log(`joblet runtime list, ${RUNTIMES} runtimes, ${runs} runs (a new process each):`);
    console.log(`  median ${at(0.5).toFixed(1)} ms, p90 ${at(0.9).toFixed(1)} ms, max ${times.at(-1)!.toFixed(1)} ms (node -e 0: median ${bare[5]!.toFixed(1)} ms)`);
    console.log(`  target < ${TARGET_MS} ms: ${at(0.5) < TARGET_MS ? "meets target" : "MISSES target"}`);
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
}

main();
