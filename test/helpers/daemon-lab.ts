import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { pino } from "pino";
import type { JobStatus, RuntimeStatus, StoredObject, VolumeStatus } from "../../src/api/index.js";
import { startDaemon, type DaemonOptions, type RunningDaemon } from "../../src/daemon/daemon.js";
import { repoRoot } from "./jobs.js";
import { releaseVolumesUnder } from "./volumes.js";

export type JobObject = StoredObject<Record<string, unknown>, JobStatus>;
export type RuntimeObject = StoredObject<Record<string, unknown>, RuntimeStatus>;
export type VolumeObject = StoredObject<Record<string, unknown>, VolumeStatus>;

/** A temporary state dir and a real daemon over it, for end-to-end tests. */
export class DaemonLab {
  readonly stateDir = mkdtempSync(join(tmpdir(), "joblet-e2e-"));
  readonly manifests: string;
  private daemon?: RunningDaemon;

  constructor(manifests?: string) {
    this.manifests = manifests ?? join(this.stateDir, "manifests");
    mkdirSync(this.manifests, { recursive: true });
  }

  async start(options: Partial<DaemonOptions> = {}): Promise<void> {
    this.daemon = await startDaemon({
      stateDir: this.stateDir,
      manifestsDir: this.manifests,
      gracePeriodMs: 500,
      backoffBaseMs: 50,
      logger: pino({ level: process.env.JOBLET_TEST_LOG ?? "silent" }),
      ...options,
    });
  }

  async stop(): Promise<void> {
    await this.daemon?.stop();
    this.daemon = undefined;
  }

  /**
   * A daemon in a child process over this state dir (the built dist/), for
   * tests that kill it; resolves once it is up, with its kill -9.
   */
  async startChild(options: Partial<Omit<DaemonOptions, "logger">> = {}): Promise<() => Promise<void>> {
    const args = [join(repoRoot, "test/fixtures/daemon.mjs"), this.stateDir, this.manifests, JSON.stringify(options)];
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (d: Buffer) => d.toString().includes("ready") && resolve());
      child.on("exit", (code) => reject(new Error(`child daemon exited with ${code}`)));
    });
    return async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((r) => child.on("exit", r));
      child.kill("SIGKILL");
      await gone;
    };
  }

  /** Write a manifest file the way a script would: temp file, then rename. */
  write(file: string, text: string): void {
    const path = join(this.manifests, file);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(`${path}.tmp`, text);
    renameSync(`${path}.tmp`, path);
  }

  remove(file: string): void {
    rmSync(join(this.manifests, file), { force: true });
  }

  status(name: string): JobObject | undefined {
    return this.stored<JobObject>("jobs", name);
  }

  /** Poll the stored status until `done` holds; fails with the last status seen. */
  waitFor(name: string, done: (o: JobObject) => boolean, timeoutMs = 20_000): Promise<JobObject> {
    return this.poll("Job", name, () => this.status(name), done, timeoutMs, 20);
  }

  runtime(name: string): RuntimeObject | undefined {
    return this.stored<RuntimeObject>("runtimes", name);
  }

  /** Poll a Runtime's stored status until `done` holds; fails with the last status seen. */
  waitForRuntime(name: string, done: (o: RuntimeObject) => boolean, timeoutMs = 60_000): Promise<RuntimeObject> {
    return this.poll("Runtime", name, () => this.runtime(name), done, timeoutMs, 50);
  }

  volume(name: string): VolumeObject | undefined {
    return this.stored<VolumeObject>("volumes", name);
  }

  /** Poll a Volume's stored status until `done` holds; fails with the last status seen. */
  waitForVolume(name: string, done: (o: VolumeObject) => boolean, timeoutMs = 20_000): Promise<VolumeObject> {
    return this.poll("Volume", name, () => this.volume(name), done, timeoutMs, 20);
  }

  /** Poll until the Volume's status is gone (it was removed); fails with the last status seen. */
  async waitForVolumeGone(name: string, timeoutMs = 20_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (this.volume(name) !== undefined) {
      if (Date.now() > end) throw new Error(`Volume '${name}' was never removed; last status: ${JSON.stringify(this.volume(name)?.status)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private stored<T>(kindDir: string, name: string): T | undefined {
    try {
      return JSON.parse(readFileSync(join(this.stateDir, "status", kindDir, `${name}.json`), "utf8")) as T;
    } catch {
      return undefined;
    }
  }

  private async poll<T extends { status: unknown }>(kind: string, name: string, read: () => T | undefined, done: (o: T) => boolean, timeoutMs: number, everyMs: number): Promise<T> {
    const end = Date.now() + timeoutMs;
    let last: T | undefined;
    while (Date.now() < end) {
      last = read();
      if (last && done(last)) return last;
      await new Promise((r) => setTimeout(r, everyMs));
    }
    throw new Error(`${kind} '${name}' never reached the expected state; last status: ${JSON.stringify(last?.status)}`);
  }

  runs(name: string): string[] {
    try {
      return readdirSync(join(this.stateDir, "logs/jobs", name)).sort();
    } catch {
      return [];
    }
  }

  log(name: string, run: string, stream: "stdout" | "stderr" = "stdout"): string {
    return readFileSync(join(this.stateDir, "logs/jobs", name, run, `${stream}.log`), "utf8");
  }

  async cleanup(): Promise<void> {
    await this.stop();
    // Volumes stay mounted when a daemon stops (the next one adopts them); a test's must not.
    await releaseVolumesUnder(this.stateDir);
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}

/** A manifest of `kind` with `spec` (YAML lines) indented under spec:. */
function manifest(kind: string, name: string, spec: string): string {
  return `apiVersion: joblet/v1\nkind: ${kind}\nmetadata:\n  name: ${name}\nspec:\n${spec.replace(/^/gm, "  ")}\n`;
}

export const runtime = (name: string, spec: string) => manifest("Runtime", name, spec);
export const volume = (name: string, spec: string) => manifest("Volume", name, spec);
export const job = (name: string, spec: string) => manifest("Job", name, spec);
