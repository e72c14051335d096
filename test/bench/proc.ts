/** Child-process helpers: one timed path shared by every command peer, and a capturing path for setup. */
import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The child currently running a timed iteration, so a signal handler can stop it. */
export interface ChildSlot {
  current: ChildProcess | undefined;
}

/**
 * The measured path: spawn with no pipes and resolve on 'exit'. Every command
 * peer goes through exactly this, so the event-loop cost is the same for all.
 */
export function spawnAndWait(file: string, args: readonly string[], slot: ChildSlot): Promise<ExitStatus> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: "ignore" });
    slot.current = child;
    child.once("error", (err) => {
      slot.current = undefined;
      reject(err);
    });
    child.once("exit", (code, signal) => {
      slot.current = undefined;
      resolve({ code, signal });
    });
  });
}

export interface Captured extends ExitStatus {
  stdout: string;
  stderr: string;
}

/** Setup and probe path (never timed): run to completion and keep the output. */
export function runCapture(file: string, args: readonly string[], timeoutMs = 30_000): Promise<Captured> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ["ignore", "pipe", "pipe"], timeout: timeoutMs });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    child.once("error", reject);
    child.once("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Like runCapture, but a non-zero exit is an error naming the command and its stderr. */
export async function runChecked(file: string, args: readonly string[]): Promise<string> {
  const r = await runCapture(file, args);
  if (r.code !== 0) {
    throw new Error(`Command '${[file, ...args].join(" ")}' failed (${describeExit(r)}): ${oneLine(r.stderr)}`);
  }
  return r.stdout;
}

export function describeExit(s: ExitStatus): string {
  return s.signal ? `killed by ${s.signal}` : `exit code ${s.code}`;
}

export function oneLine(text: string): string {
  const t = text.trim().replace(/\s*\n\s*/g, " | ");
  return t === "" ? "(no output)" : t.length > 400 ? `${t.slice(0, 400)}...` : t;
}

/**
 * Absolute path of an executable, looked up on PATH plus the sbin directories
 * (runc lives in /usr/sbin, which a non-login root shell may not have on PATH).
 * Peers are spawned by absolute path so no peer pays for a PATH search.
 */
export function findExecutable(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/local/sbin", "/usr/sbin", "/sbin"];
  for (const dir of dirs) {
    if (dir === "") continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
