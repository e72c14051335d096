/**
 * Runs CLI verbs in-process against a temporary state dir: writers that capture, a
 * stdin of our choosing, and status/log files written by the test in the daemon's place.
 */
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import type { Command } from "commander";
import type { StoredObject } from "../../src/api/index.js";
import type { CliIo, Writer } from "../../src/cli/io.js";
import { resolveLayout, runLogFile, statusFile, type StateLayout } from "../../src/store/index.js";

export class Capture implements Writer {
  private readonly chunks: string[] = [];
  write(chunk: string | Uint8Array): boolean {
    this.chunks.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
    return true;
  }
  get text(): string {
    return this.chunks.join("");
  }
}

export interface Result {
  code: number;
  out: string;
  err: string;
}

export class Lab {
  readonly root = mkdtempSync(join(tmpdir(), "joblet-cli-"));
  readonly state = join(this.root, "state");
  /** Where tests put the manifests they apply. */
  readonly src = join(this.root, "src");
  readonly layout: StateLayout = resolveLayout({ stateDir: this.state, env: {} });
  now = new Date("2030-01-01T00:10:00Z");

  constructor() {
    mkdirSync(this.src, { recursive: true });
  }

  io(extra: Partial<CliIo> = {}): CliIo & { out: Capture; err: Capture } {
    return {
      out: new Capture(),
      err: new Capture(),
      stdin: Readable.from([]),
      env: { JOBLET_STATE_DIR: this.state },
      cwd: this.src,
      now: () => this.now,
      pollMs: 20,
      ...extra,
    } as CliIo & { out: Capture; err: Capture };
  }

  /** Runs `make(io)` with `args` as a user would type them after the verb. */
  async run(make: (io: CliIo) => Command, args: string[], extra: Partial<CliIo> = {}): Promise<Result> {
    const io = this.io(extra) as CliIo & { out: { text: string }; err: { text: string } };
    const command = make(io).exitOverride();
    let code = 0;
    try {
      await command.parseAsync(args, { from: "user" });
    } catch (e) {
      code = (e as { exitCode?: number }).exitCode ?? 99;
    }
    return { code, out: io.out.text, err: io.err.text };
  }

  file(name: string, text: string): string {
    const path = join(this.src, name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
    return path;
  }

  /** What the daemon would write to status/<kind-plural>/<name>.json. */
  status(object: StoredObject<unknown, Record<string, unknown>>): void {
    const path = statusFile(this.layout, object.kind, object.metadata.name);
    mkdirSync(dirname(path), { recursive: true });
    // Renamed into place as the daemon's store does, so a reader never sees half a file.
    writeFileSync(`${path}.tmp`, JSON.stringify(object, null, 2));
    renameSync(`${path}.tmp`, path);
  }

  log(name: string, run: string, stream: "stdout" | "stderr", text: string, append = false): void {
    const path = runLogFile(this.layout, name, run, stream);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text, { flag: append ? "a" : "w" });
  }

  cleanup(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

export function job(name: string, status: Record<string, unknown>, spec: Record<string, unknown> = { command: ["echo", "hi"] }): StoredObject<unknown, Record<string, unknown>> {
  return {
    apiVersion: "joblet/v1",
    kind: "Job",
    metadata: { name, generation: "0123456789abcdef" },
    spec: { restartPolicy: "Never", backoffLimit: 6, suspend: false, network: "none", concurrencyPolicy: "Allow", ...spec },
    status: { conditions: [], attempts: 0, ...status },
  };
}

export const HELLO = `apiVersion: joblet/v1
kind: Job
metadata:
  name: hello
spec:
  command: ["echo", "hello"]
`;

/** Polls `ready` until it holds; fails the test after `ms`. */
export async function until(ready: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`Condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
