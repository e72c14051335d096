// Bad specs fail before anything exists; failed spawns and many spawns leave nothing behind.
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InvalidJobSpecError, spawnJob, type JobSpec } from "../../src/isolation/index.js";
import { JobLab, jobletCgroupDirs, mountCount, openFdCount, processesNamed, settle } from "../helpers/jobs.js";
import { requireRoot } from "../helpers/root.js";

const lab = new JobLab();
beforeAll(() => requireRoot("spawn failures"));
afterAll(() => lab.cleanup());

/** Nothing of the job exists: no cgroup, no supervisor or init process. */
function expectNothingLeft(spec: JobSpec) {
  expect(jobletCgroupDirs().filter((d) => d.endsWith(spec.id))).toEqual([]);
  expect(processesNamed(`joblet-supervisor ${spec.id}`)).toEqual([]);
}

async function expectInvalid(overrides: Partial<JobSpec> & Pick<JobSpec, "argv">, message: RegExp) {
  const spec = lab.spec(overrides);
  const error = await spawnJob(spec).then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(InvalidJobSpecError);
  expect((error as Error).message).toMatch(message);
  expect((error as Error).message).toContain(`'${spec.id}'`);
  expectNothingLeft(spec);
}

describe("a bad spec is refused before anything is created", () => {
  it("names a relative or bare command that is not in the job's root", () =>
    expectInvalid({ argv: ["no-such-tool"] }, /command 'no-such-tool' is not an executable file in the job's root/));

  it("names an absolute command outside the root (the host has it, the job does not)", () =>
    expectInvalid({ argv: ["/root/.bashrc"] }, /command '\/root\/.bashrc'/));

  it("names a missing bind source", () =>
    expectInvalid({ argv: ["/bin/true"], rootfs: { readOnly: [{ source: "/no/such/dir", target: "/data" }] } }, /bind source '\/no\/such\/dir' does not exist/));

  it("names a limit out of range", async () => {
    await expectInvalid({ argv: ["/bin/true"], limits: { cpu: 0 } }, /cpu/);
    await expectInvalid({ argv: ["/bin/true"], limits: { memoryBytes: 1024 } }, /memory/);
    await expectInvalid({ argv: ["/bin/true"], limits: { pids: 0 } }, /pids/);
    await expectInvalid({ argv: ["/bin/true"], limits: { cpuset: "999" } }, /cpuset/);
  });

  it("names an id that is not a DNS-1123 label, and a reserved mount target", async () => {
    await expectInvalid({ argv: ["/bin/true"], id: "Bad_Id" }, /id 'Bad_Id'/);
    await expectInvalid({ argv: ["/bin/true"], rootfs: { readOnly: [{ source: "/usr", target: "/proc/x" }] } }, /reserved/);
  });
});

describe("a spawn that fails while setting up", () => {
  it("reports why and leaves no cgroup, mount or process behind", async () => {
    // Executable bit set, but not a program: the kernel refuses it at exec time.
    const dir = join(lab.base, "bad-exec");
    mkdirSync(dir);
    writeFileSync(join(dir, "not-a-program"), "\x7fELF garbage");
    chmodSync(join(dir, "not-a-program"), 0o755);
    const mountsBefore = mountCount();
    const base = lab.spec({ argv: ["x"] });
    const spec = { ...base, argv: ["/bad/not-a-program"], rootfs: { ...base.rootfs, readOnly: [...base.rootfs.readOnly, { source: dir, target: "/bad" }] } };
    await expect(spawnJob(spec)).rejects.toThrow(/Cannot start job '.*': exec \/bad\/not-a-program: Exec format error/);
    expectNothingLeft(spec);
    expect(mountCount()).toBe(mountsBefore);
  });
});

describe("200 spawns in a row", () => {
  it("leave no cgroup, mount, process or file descriptor behind", async () => {
    const mountsBefore = mountCount();
    const fdsBefore = openFdCount();
    const ids: string[] = [];
    for (let i = 0; i < 200; i++) {
      const run = await lab.run({ argv: ["/bin/true"], limits: { cpu: 1, memoryBytes: 64 << 20, pids: 32 } });
      expect(run.exit.exitCode).toBe(0);
      ids.push(run.spec.id);
    }
    const left = new Set(ids);
    expect(jobletCgroupDirs().filter((d) => left.has(d.split("/").at(-1)!))).toEqual([]);
    // wait() resolves once the cgroup is gone; the last supervisor may still be
    // writing its exit record to disk for a moment after that.
    expect(await settle(() => processesNamed("joblet-supervisor t" + process.pid), (p) => p.length === 0)).toEqual([]);
    expect(mountCount()).toBe(mountsBefore);
    expect(await settle(openFdCount, (n) => n === fdsBefore)).toBe(fdsBefore);
  });
});
