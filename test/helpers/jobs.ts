import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { minimalHostRoot, spawnJob, type JobExit, type JobHandle, type JobSpec } from "../../src/isolation/index.js";

export const repoRoot = resolve(fileURLToPath(new URL(".", import.meta.url)), "../..");

/** A scratch area for one test file: run dirs, logs and the probe binary; removed by cleanup(). */
export class JobLab {
  readonly base = mkdtempSync(join(tmpdir(), "joblet-test-"));
  private n = 0;
  private probeDir?: string;

  /** test/native/job-probe.c built static, in a directory to bind into jobs at /probe. */
  probe(): string {
    if (!this.probeDir) {
      this.probeDir = join(this.base, "probe");
      mkdirSync(this.probeDir);
      execFileSync("cc", ["-static", "-O1", "-o", join(this.probeDir, "job-probe"), join(repoRoot, "test/native/job-probe.c")]);
    }
    return this.probeDir;
  }

  /** A spec with a fresh id and run dir on the minimal host root; override anything. */
  spec(overrides: Partial<JobSpec> & Pick<JobSpec, "argv">): JobSpec {
    const id = `t${process.pid}-${++this.n}`;
    const runDir = join(this.base, id);
    mkdirSync(runDir);
    const root = minimalHostRoot();
    return {
      id,
      env: { PATH: "/usr/bin:/bin" },
      rootfs: {
        ...root,
        readOnly: [...root.readOnly, ...(this.probeDir ? [{ source: this.probeDir, target: "/probe" }] : [])],
      },
      logs: { stdout: join(runDir, "stdout.log"), stderr: join(runDir, "stderr.log") },
      runDir,
      ...overrides,
    };
  }

  async run(overrides: Partial<JobSpec> & Pick<JobSpec, "argv">): Promise<JobRun> {
    const spec = this.spec(overrides);
    const handle = await spawnJob(spec);
    const exit = await handle.wait();
    return { spec, handle, exit, stdout: readFileSync(spec.logs.stdout, "utf8"), stderr: readFileSync(spec.logs.stderr, "utf8") };
  }

  cleanup(): void {
    rmSync(this.base, { recursive: true, force: true });
  }
}

export interface JobRun {
  spec: JobSpec;
  handle: JobHandle;
  exit: JobExit;
  stdout: string;
  stderr: string;
}

/** Pids of processes whose command line starts with the given words (our supervisors). */
export function processesNamed(prefix: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8").replace(/\0/g, " ");
      if (cmdline.startsWith(prefix)) found.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

/** Every cgroup directory below the joblet parent groups, on either layout. */
export function jobletCgroupDirs(): string[] {
  const dirs: string[] = [];
  const walk = (dir: string) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) if (e.isDirectory()) {
      dirs.push(join(dir, e.name));
      walk(join(dir, e.name));
    }
  };
  for (const hierarchy of ["", ...readdirSync("/sys/fs/cgroup")]) walk(join("/sys/fs/cgroup", hierarchy, "joblet"));
  return dirs;
}

export function mountCount(): number {
  return readFileSync("/proc/self/mountinfo", "utf8").split("\n").length;
}

/**
 * Open file descriptors of this process, not counting network namespaces: the
 * spawner keeps a few fresh ones ready on purpose.
 */
export function openFdCount(): number {
  return readdirSync("/proc/self/fd").filter((fd) => {
    try {
      return !readlinkSync(`/proc/self/fd/${fd}`).startsWith("net:");
    } catch {
      return false; // the fd readdir itself used
    }
  }).length;
}

/** Poll until check() holds or the time is up; the last value is returned for asserting. */
export async function settle<T>(read: () => T, done: (v: T) => boolean, ms = 2000): Promise<T> {
  let value = read();
  for (const end = Date.now() + ms; !done(value) && Date.now() < end; value = read()) {
    await new Promise((r) => setTimeout(r, 10));
  }
  return value;
}
