// The job's privilege drop and seccomp filter, proven against the real kernel:
// test/native/privileges-seccomp-check.c links the supervisor's own
// privileges.c and seccomp.c, applies them in forked children and reports
// what /proc says and what each syscall returned.
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { constants, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const repo = resolve(fileURLToPath(new URL(".", import.meta.url)), "../..");
const { EPERM, ENOSYS, ENOTTY } = constants.errno;
const SIGSYS = constants.signals.SIGSYS;

interface Phase {
  status: Map<string, string>;
  probes: Map<string, number>;
  errors: string[];
  securebits?: number;
}

interface CheckReport {
  unfiltered: Map<string, number>;
  phases: Map<string, Phase>;
  exits: Map<string, number>;
}

// Calls the filter refuses with EPERM, probed with harmless arguments.
const deniedWithEperm = [
  "mount",
  "umount2",
  "unshare_newns",
  "unshare_newuser",
  "setns",
  "mknod_chr",
  "mknodat_blk",
  "ptrace",
  "bpf",
  "keyctl",
  "init_module",
  "io_uring_setup",
  "perf_event_open",
  "clone_newnet",
  "clone_newnet_high_bits",
  "ioctl_tiocsti",
  "ioctl_tiocsti_high_bits",
  "personality_bsd",
];

// Calls a job needs, some of them checked by the same rules as denied ones.
const allowed = [
  "mknod_fifo",
  "mknod_regular",
  "clone_plain",
  "fork",
  "pthread_create",
  "personality_query",
];

// Probes whose unfiltered outcome is not EPERM on any Linux host, so an EPERM
// under the filter (while still root with every capability) is the filter's.
const provenByControl = [
  "mount",
  "umount2",
  "setns",
  "clone3",
  "ioctl_tiocsti",
  "ioctl_tiocsti_high_bits",
  "personality_bsd",
];

const capabilitySets = ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"];
const SECUREBITS_LOCKED_NOROOT = 0x2f; // NOROOT, NO_SETUID_FIXUP, both locked, KEEP_CAPS locked off

function requireRoot(): void {
  if (process.getuid?.() === 0) return;
  const why = process.env.CI
    ? "CI is set, so this test must run as root"
    : "it switches uids and drops capabilities; run it as root";
  throw new Error(`Cannot prove the job's privilege drop and seccomp filter: ${why} (uid ${process.getuid?.()})`);
}

function parseReport(output: string): CheckReport {
  const report: CheckReport = { unfiltered: new Map(), phases: new Map(), exits: new Map() };
  let phase: Phase | undefined;
  for (const line of output.split("\n")) {
    if (line === "") continue;
    const status = /^(\w+):\s*(.*)$/.exec(line);
    const [word, a, b] = line.split(" ");
    if (status && phase) {
      phase.status.set(status[1]!, status[2]!.trim());
    } else if (word === "phase") {
      phase = { status: new Map(), probes: new Map(), errors: [] };
      report.phases.set(a!, phase);
    } else if (word === "exit") {
      report.exits.set(a!, Number(b));
    } else if (word === "error") {
      if (!phase) throw new Error(`Check program failed before any phase: '${line}'`);
      phase.errors.push(line);
    } else if (word === "securebits" && phase) {
      phase.securebits = Number(a);
    } else if (a !== undefined && /^\d+$/.test(a)) {
      (phase ? phase.probes : report.unfiltered).set(word!, Number(a));
    } else {
      throw new Error(`Check program printed an unexpected line: '${line}'`);
    }
  }
  return report;
}

let workdir = "";
let outcome: { report: CheckReport } | { error: unknown } | undefined;

// Built and run once, on first use, so that without root every test fails
// with the reason instead of being reported as skipped.
function checkReport(): CheckReport {
  outcome ??= (() => {
    try {
      return { report: runCheck() };
    } catch (error) {
      return { error };
    }
  })();
  if ("error" in outcome) throw outcome.error;
  return outcome.report;
}

function phase(name: string): Phase {
  const found = checkReport().phases.get(name);
  if (!found) throw new Error(`Check program printed no phase '${name}'`);
  expect(found.errors).toEqual([]);
  return found;
}

function probe(phaseName: string, name: string): number {
  const value = phase(phaseName).probes.get(name);
  if (value === undefined) throw new Error(`Phase '${phaseName}' has no probe '${name}'`);
  return value;
}

function runCheck(): CheckReport {
  requireRoot();
  workdir = mkdtempSync(join(tmpdir(), "joblet-seccomp-"));
  // The dropped child (uid 65534) creates and removes its FIFO here.
  chmodSync(workdir, 0o777);
  const check = join(workdir, "check");
  execFileSync(
    "cc",
    [
      "-std=gnu11",
      "-Wall",
      "-Wextra",
      "-static",
      "-O1",
      "test/native/privileges-seccomp-check.c",
      "addon/supervisor/seccomp.c",
      "addon/supervisor/privileges.c",
      "-Iaddon/supervisor",
      "-o",
      check,
    ],
    { cwd: repo, stdio: ["ignore", "pipe", "pipe"] },
  );
  const output = execFileSync(check, [workdir], { encoding: "utf8", timeout: 30_000 });
  return parseReport(output);
}

afterAll(() => {
  if (workdir) rmSync(workdir, { recursive: true, force: true });
});

describe("privileges_drop", () => {
  it("every phase's child exits cleanly", () => {
    for (const name of ["full", "root", "filter-only", "control"]) {
      expect(checkReport().exits.get(name), `exit status of phase '${name}'`).toBe(0);
    }
  });

  it.each(["full", "full.after-exec"])("leaves uid 65534 with no capability at all (%s)", (name) => {
    const { status, securebits } = phase(name);
    for (const set of capabilitySets) expect(status.get(set), set).toMatch(/^0+$/);
    expect(status.get("Uid")).toBe("65534\t65534\t65534\t65534");
    expect(status.get("Gid")).toBe("65534\t65534\t65534\t65534");
    expect(status.get("Groups")).toBe("");
    expect(status.get("NoNewPrivs")).toBe("1");
    expect(status.get("Seccomp")).toBe("2");
    expect(securebits).toBe(SECUREBITS_LOCKED_NOROOT);
  });

  it.each(["root", "root.after-exec"])("gives uid 0 no capability, not even through exec (%s)", (name) => {
    const { status, securebits } = phase(name);
    for (const set of capabilitySets) expect(status.get(set), set).toMatch(/^0+$/);
    expect(status.get("Uid")).toBe("0\t0\t0\t0");
    expect(status.get("NoNewPrivs")).toBe("1");
    expect(status.get("Seccomp")).toBe("2");
    expect(securebits).toBe(SECUREBITS_LOCKED_NOROOT);
  });
});

describe("seccomp_install_job_filter", () => {
  it("was installed while the filter-only child still had root's capabilities", () => {
    const { status } = phase("filter-only");
    expect(status.get("Seccomp")).toBe("2");
    expect(status.get("CapEff")).not.toMatch(/^0+$/);
  });

  it.each(["full", "filter-only"])("refuses the denied calls with EPERM (%s)", (name) => {
    for (const call of deniedWithEperm) expect(probe(name, call), call).toBe(EPERM);
  });

  it.each(["full", "filter-only"])("answers clone3 with ENOSYS so libc falls back to clone (%s)", (name) => {
    expect(probe(name, "clone3")).toBe(ENOSYS);
    expect(probe(name, "pthread_create")).toBe(0);
  });

  it.each(["full", "filter-only"])("lets through what a job needs (%s)", (name) => {
    for (const call of allowed) expect(probe(name, call), call).toBe(0);
    // Reaches the driver, which refuses it for its own reason.
    expect(probe(name, "ioctl_tcgets")).toBe(ENOTTY);
  });

  it("is what refuses them: without it, root's calls get other answers", () => {
    for (const call of provenByControl) {
      const unfiltered = probe("control", call);
      expect(unfiltered, `${call} without the filter`).not.toBe(EPERM);
      expect(unfiltered, `${call} without the filter`).not.toBe(probe("filter-only", call));
    }
  });

  it("closes the x32 and i386 side doors on x86_64", () => {
    if (process.arch !== "x64") {
      expect(phase("full").probes.has("x32_getpid")).toBe(false);
      return;
    }
    for (const name of ["full", "filter-only"]) {
      expect(probe(name, "x32_getpid"), `x32 in ${name}`).toBe(EPERM);
      const i386 = probe(name, "i386_abi");
      // Where the kernel runs i386 calls, the filter must kill the process;
      // where it does not, the call must fail anyway.
      if (checkReport().unfiltered.get("i386_abi_unfiltered") === 0) expect(i386, `i386 in ${name}`).toBe(SIGSYS);
      else expect(i386, `i386 in ${name}`).not.toBe(0);
    }
  });
});
