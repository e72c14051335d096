// What a job sees from inside: every point of the isolation contract, checked
// in a real job (real namespaces, root, privileges, seccomp filter).
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { constants } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JobLab } from "../helpers/jobs.js";
import { requireRoot } from "../helpers/root.js";

const lab = new JobLab();
beforeAll(() => {
  requireRoot("job isolation");
  lab.probe();
});
afterAll(() => lab.cleanup());

const sh = (script: string) => ["/bin/sh", "-c", script];

describe("a job with no network", () => {
  it("has its own PID namespace: init is PID 1 and at most 3 processes are visible", async () => {
    const { stdout, exit } = await lab.run({ argv: sh('cat /proc/1/cmdline | tr "\\0" " "; echo; echo $$; ls /proc > /tmp/procs; grep -c "^[0-9]" /tmp/procs') });
    expect(exit.exitCode).toBe(0);
    const [init, self, count] = stdout.trim().split("\n");
    expect(init).toMatch(/^joblet-supervisor /);
    expect(self).toBe("2");
    expect(Number(count)).toBeLessThanOrEqual(3);
  });

  it("has the hostname it was given and runs as 65534:65534 with no supplementary groups", async () => {
    const { stdout } = await lab.run({ hostname: "sandbox-a", argv: sh("hostname; id -u; id -g; id -G") });
    expect(stdout.trim().split("\n")).toEqual(["sandbox-a", "65534", "65534", "65534"]);
  });

  it("has no capabilities in any set, no_new_privs and a seccomp filter", async () => {
    const { stdout } = await lab.run({ argv: ["/bin/cat", "/proc/self/status"] });
    const field = (name: string) => new RegExp(`^${name}:\\s*(\\S+)`, "m").exec(stdout)?.[1];
    for (const set of ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"]) expect(field(set), set).toBe("0000000000000000");
    expect(field("NoNewPrivs")).toBe("1");
    expect(field("Seccomp")).toBe("2");
  });

  it("refuses unshare, mount, mknod, ptrace, bpf, keyctl, init_module, setns and chroot with EPERM", async () => {
    const { stdout, exit } = await lab.run({ argv: ["/probe/job-probe", "syscalls"] });
    expect(exit.exitCode).toBe(0);
    const results = Object.fromEntries(stdout.trim().split("\n").map((l) => l.split(" ")));
    const expected = ["unshare", "unshare_user", "mount", "mknod", "ptrace", "bpf", "keyctl", "init_module", "setns", "chroot"];
    expect(Object.keys(results).sort()).toEqual([...expected].sort());
    for (const call of expected) expect(Number(results[call]), call).toBe(constants.errno.EPERM);
  });

  it("has a read-only root without host secrets", async () => {
    const { stdout } = await lab.run({
      argv: sh("touch /newfile 2>/dev/null && echo root-writable; for p in /etc/shadow /root /home /etc/passwd /var; do test -e $p && echo visible $p; done; echo done"),
    });
    expect(stdout.trim()).toBe("done");
  });

  it("writes to /tmp and /work, owned so the job's user can", async () => {
    const { stdout, exit } = await lab.run({ argv: sh("echo a > /tmp/a && echo b > /work/b && pwd && stat -c '%u %a' /work /tmp") });
    expect(exit.exitCode).toBe(0);
    expect(stdout.trim().split("\n")).toEqual(["/work", "65534 755", "0 1777"]);
  });

  it("finds its staged files in /work, owned by its user", async () => {
    const seed = join(lab.base, "seed");
    mkdirSync(join(seed, "data"), { recursive: true });
    writeFileSync(join(seed, "run.sh"), "echo from run.sh\n", { mode: 0o755 });
    writeFileSync(join(seed, "data", "input.txt"), "42\n");
    symlinkSync("data/input.txt", join(seed, "link"));
    const base = lab.spec({ argv: ["x"] });
    const { stdout, exit } = await lab.run({
      rootfs: { ...base.rootfs, workSeed: seed },
      argv: sh("./run.sh; cat link; stat -c '%n %u %a' run.sh data data/input.txt; echo more > data/new && echo writable"),
    });
    expect(exit.exitCode).toBe(0);
    expect(stdout.trim().split("\n")).toEqual(["from run.sh", "42", "run.sh 65534 755", "data 65534 755", "data/input.txt 65534 644", "writable"]);
  });

  it("sizes /tmp and /work as the plan says", async () => {
    const { stdout } = await lab.run({
      rootfs: { ...lab.spec({ argv: ["x"] }).rootfs, tmpSizeBytes: 1 << 20, workSizeBytes: 2 << 20 },
      argv: sh("df -k /tmp /work | tail -n 2 | awk '{print $2}'; head -c 3000000 /dev/zero > /work/big || echo full"),
    });
    expect(stdout.trim().split("\n")).toEqual(["1024", "2048", "full"]);
  });

  it("has a read-only /proc/sys, masked kernel files, a read-only /sys and no cgroup filesystem", async () => {
    const { stdout } = await lab.run({
      argv: sh("cat /proc/self/mountinfo; for f in /proc/kcore /proc/keys /proc/sysrq-trigger; do test -e $f && echo mask $f $(stat -c '%t:%T %s' $f); done; echo 1 > /proc/sys/kernel/hostname 2>/dev/null && echo sys-writable; echo end"),
    });
    const mounts = stdout.split("\n").filter((l) => / - /.test(l)).map((l) => {
      const [pre, post] = l.split(" - ");
      const f = pre!.split(" ");
      return { point: f[4]!, opts: f[5]!, type: post!.split(" ")[0]! };
    });
    const at = (p: string) => mounts.filter((m) => m.point === p);
    expect(at("/")[0]?.opts).toMatch(/^ro\b/);
    expect(at("/proc/sys")[0]?.opts).toMatch(/^ro\b/);
    expect(at("/sys")[0]?.opts).toMatch(/^ro\b/);
    expect(mounts.filter((m) => m.type.startsWith("cgroup"))).toEqual([]);
    for (const m of mounts.filter((m) => m.point.startsWith("/sys"))) expect(m.opts, m.point).toMatch(/^ro\b/);
    // Masked where this kernel has them: /dev/null (1:3) is bound over each.
    const sensitive = ["/proc/kcore", "/proc/keys", "/proc/sysrq-trigger"].filter((f) => existsSync(f));
    expect(sensitive.length).toBeGreaterThan(0);
    const masks = stdout.split("\n").filter((l) => l.startsWith("mask "));
    expect(masks).toEqual(sensitive.map((f) => `mask ${f} 1:3 0`));
    expect(stdout).not.toContain("sys-writable");
  });

  it("has a minimal /dev: six device nodes, pts, shm and the usual links", async () => {
    const { stdout } = await lab.run({ argv: sh("cd /dev && for f in *; do echo $f $(stat -c %F $f); done; touch /dev/x 2>/dev/null && echo dev-writable") });
    const entries = Object.fromEntries(stdout.trim().split("\n").map((l) => [l.split(" ")[0], l.split(" ").slice(1).join(" ")]));
    const devices = Object.keys(entries).filter((k) => entries[k] === "character special file").sort();
    expect(devices).toEqual(["full", "null", "random", "tty", "urandom", "zero"]);
    const rest = Object.keys(entries).filter((k) => !devices.includes(k)).sort();
    expect(rest).toEqual(["fd", "ptmx", "pts", "shm", "stderr", "stdin", "stdout"]);
    for (const link of ["fd", "ptmx", "stderr", "stdin", "stdout"]) expect(entries[link]).toBe("symbolic link");
  });

  it("sees only the loopback interface, and it is up", async () => {
    const { stdout } = await lab.run({ argv: sh("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; cat /sys/class/net/lo/operstate /sys/class/net/lo/flags") });
    const [ifaces, , flags] = [stdout.trim().split("\n").slice(0, -2), null, stdout.trim().split("\n").at(-1)];
    expect(ifaces).toEqual(["lo"]);
    expect(Number(flags) & 1).toBe(1); // IFF_UP
  });

  it("gets exactly the environment of its spec, nothing of the daemon's", async () => {
    process.env.JOBLET_DAEMON_SECRET = "must-not-leak";
    try {
      const { stdout } = await lab.run({ env: { PATH: "/usr/bin", GREETING: "hi there" }, argv: ["/usr/bin/env"] });
      expect(stdout.trim().split("\n").sort()).toEqual(["GREETING=hi there", "PATH=/usr/bin"]);
    } finally {
      delete process.env.JOBLET_DAEMON_SECRET;
    }
  });

  it("passes argv through byte for byte", async () => {
    const args = ["a b", "", "ü", "$HOME", "--x=1"];
    const { stdout } = await lab.run({ argv: ["printf", "[%s]\\n", ...args] });
    expect(stdout).toBe(args.map((a) => `[${a}]\n`).join(""));
  });
});
