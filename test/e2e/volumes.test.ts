/**
 * Volumes end to end, with a real daemon, real loop devices, ext4 images and
 * tmpfs mounts: quotas hit inside jobs, data shared between jobs and kept
 * across a daemon restart, read-only mounts, resizes, deletion while in use
 * (Terminating), reclaim policies, nothing left behind, and a host without loop
 * devices (a daemon in its own mount namespace).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, statfsSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { DaemonLab, job, volume, type JobObject } from "../helpers/daemon-lab.js";
import { repoRoot } from "../helpers/jobs.js";
import { requireRoot } from "../helpers/root.js";
import { loopDevicesUnder, releaseVolumesUnder, requireLoopDevices } from "../helpers/volumes.js";
import { mountAt, mountsUnder } from "../../src/volumes/index.js";

const MiB = 1024 * 1024;

/** Polls `done` until it holds; fails after `ms`. */
async function until(done: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await done())) {
    if (Date.now() > end) throw new Error(`Not done within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
const finished = (o: JobObject) => o.status.phase === "Succeeded" || o.status.phase === "Failed";

describe("volumes", () => {
  const lab = new DaemonLab();
  const volumesDir = join(lab.stateDir, "volumes");
  const image = (name: string) => join(volumesDir, name, "image");
  const mountPath = (name: string) => join(volumesDir, name, "data");
  let n = 0;
  /** A Job that runs `script` with sh and the given volumes; resolves when it ended. */
  const runJob = async (script: string, volumes: string, extra = "") => {
    const name = `job-${++n}`;
    lab.write(`jobs/${name}.yaml`, job(name, `command: [sh, -c, ${JSON.stringify(script)}]\nvolumes: ${volumes}${extra}`));
    const done = await lab.waitFor(name, finished);
    return { name, done, out: lab.log(name, done.status.run!), err: lab.log(name, done.status.run!, "stderr") };
  };
  /**
   * A Job on `volumeName` that runs `first`, then waits for a file `stop` in the volume;
   * resolves once it runs and the volume counts it as a user, with what ends it.
   */
  const holdVolume = async (jobName: string, volumeName: string, first = "true") => {
    lab.write(`jobs/${jobName}.yaml`, job(jobName, `command: [sh, -c, '${first}; while [ ! -e /volumes/${volumeName}/stop ]; do sleep 0.05; done']\nvolumes: [{name: ${volumeName}}]`));
    await lab.waitFor(jobName, (o) => o.status.phase === "Running");
    await lab.waitForVolume(volumeName, (o) => o.status.users?.includes(jobName) === true);
    return { release: () => writeFileSync(join(mountPath(volumeName), "stop"), "") };
  };
  const ready = (name: string) => lab.waitForVolume(name, (o) => o.status.phase === "Ready" && o.status.observedGeneration === o.metadata.generation);
  /** Writes a Volume's manifest and waits until it is mounted. */
  const applyVolume = (name: string, spec: string) => {
    lab.write(`volumes/${name}.yaml`, volume(name, spec));
    return ready(name);
  };

  beforeAll(async () => {
    requireRoot("volumes");
    requireLoopDevices("volumes");
    await lab.start();
  });
  afterEach(async () => {
    // Each test removes its volumes; whatever a failing one left goes here, and the next starts clean.
    const left = await mountsUnder(volumesDir);
    if (left.length) await releaseVolumesUnder(volumesDir);
  });
  afterAll(async () => {
    await lab.cleanup();
    expect(await mountsUnder(lab.stateDir)).toEqual([]);
    expect(await loopDevicesUnder(lab.stateDir)).toEqual([]);
  });

  /** Deletes the Volume's manifest and waits until it is gone: not mounted, no loop device. */
  const deleteVolume = async (name: string) => {
    lab.remove(`volumes/${name}.yaml`);
    await lab.waitForVolumeGone(name);
    expect(await mountAt(mountPath(name))).toBeUndefined();
    expect(await loopDevicesUnder(join(volumesDir, name))).toEqual([]);
  };

  it("a filesystem volume is an ext4 image on a loop device: writing past its size fails with ENOSPC in the job, and the host is unaffected", async () => {
    const v = await applyVolume("quota", "size: 8Mi");
    expect(v.status).toMatchObject({ type: "filesystem", size: 8 * MiB, mountPath: mountPath("quota"), image: image("quota"), users: [] });
    expect(v.status.device).toMatch(/^\/dev\/loop\d+$/);
    expect(v.status.conditions.find((c) => c.type === "Ready")).toMatchObject({ status: "True", reason: "Mounted" });
    const mounted = await mountAt(mountPath("quota"));
    expect(mounted).toMatchObject({ fsType: "ext4", source: v.status.device });
    expect(await loopDevicesUnder(volumesDir)).toEqual([{ device: v.status.device, backingFile: image("quota") }]);
    expect(statSync(image("quota")).size).toBe(8 * MiB);

    const run = await runJob("id -u; stat -c %u /volumes/quota; dd if=/dev/zero of=/volumes/quota/big bs=1M count=16", "[{name: quota}]");
    expect(run.done.status.phase).toBe("Failed");
    expect(run.done.status.exitCode).toBe(1);
    expect(run.err).toContain("No space left on device");
    expect(run.out.split("\n").slice(0, 2)).toEqual(["65534", "65534"]);
    // The host gave the volume its 8Mi and not a byte more.
    expect(statSync(image("quota")).size).toBe(8 * MiB);
    expect(statSync(image("quota")).blocks * 512).toBeLessThanOrEqual(8 * MiB);
    const full = await lab.waitForVolume("quota", (o) => (o.status.used ?? 0) > 4 * MiB);
    expect(full.status.used).toBeLessThanOrEqual(8 * MiB);
    await deleteVolume("quota");
    // Retain: the image stays.
    expect(existsSync(image("quota"))).toBe(true);
  });

  it("a memory volume is a tmpfs of its size: writing past it fails with ENOSPC in the job", async () => {
    const v = await applyVolume("scratch", "type: memory\nsize: 4Mi");
    expect(v.status).toMatchObject({ type: "memory", size: 4 * MiB, mountPath: mountPath("scratch") });
    expect(v.status.device).toBeUndefined();
    expect(await mountAt(mountPath("scratch"))).toMatchObject({ fsType: "tmpfs" });
    expect(statfsSync(mountPath("scratch")).blocks * statfsSync(mountPath("scratch")).bsize).toBe(4 * MiB);

    const run = await runJob("dd if=/dev/zero of=/volumes/scratch/big bs=1M count=8", "[{name: scratch}]");
    expect(run.done.status.phase).toBe("Failed");
    expect(run.err).toContain("No space left on device");
    const st = statfsSync(mountPath("scratch"));
    expect((st.blocks - st.bfree) * st.bsize).toBeLessThanOrEqual(4 * MiB);
    await deleteVolume("scratch");
  });

  it("two jobs share data through a volume; a read-only mount reads it and refuses writes", async () => {
    await applyVolume("shared", "size: 8Mi");
    const writer = await runJob("echo hello from the writer > /volumes/shared/note", "[{name: shared}]");
    expect(writer.done.status.phase, writer.err).toBe("Succeeded");
    expect(writer.done.status.volumes).toEqual(["shared"]);
    expect(statSync(join(mountPath("shared"), "note")).uid).toBe(65534);

    const reader = await runJob("cat /volumes/shared/note; echo more > /volumes/shared/other", "[{name: shared, readOnly: true}]");
    expect(reader.out).toBe("hello from the writer\n");
    expect(reader.done.status.phase).toBe("Failed");
    expect(reader.err).toContain("Read-only file system");
    expect(existsSync(join(mountPath("shared"), "other"))).toBe(false);
    await deleteVolume("shared");
  });

  it("a job waits Pending for a missing Volume and starts once it is Ready", async () => {
    lab.write("jobs/early.yaml", job("early", "command: [sh, -c, 'echo ok > /volumes/late/mark']\nvolumes: [{name: late}]"));
    const waiting = await lab.waitFor("early", (o) => o.status.reason === "VolumeNotFound");
    expect(waiting.status.phase).toBe("Pending");
    expect(waiting.status.message).toBe("Volume 'late' does not exist");
    lab.write("volumes/late.yaml", volume("late", "size: 4Mi"));
    const done = await lab.waitFor("early", finished);
    expect(done.status.phase).toBe("Succeeded");
    expect(done.status.reason).toBeUndefined();
    expect(readFileSync(join(mountPath("late"), "mark"), "utf8")).toBe("ok\n");
    lab.remove("jobs/early.yaml");
    await deleteVolume("late");
  });

  it("data survives a daemon restart: the new daemon mounts the volume again before jobs start", async () => {
    await applyVolume("kept", "size: 8Mi");
    expect((await runJob("echo before the restart > /volumes/kept/data", "[{name: kept}]")).done.status.phase).toBe("Succeeded");
    await lab.stop();
    // As after a reboot: nothing mounted, no loop device.
    await releaseVolumesUnder(volumesDir);
    expect(await mountAt(mountPath("kept"))).toBeUndefined();
    await lab.start();
    expect(await mountAt(mountPath("kept"))).toMatchObject({ fsType: "ext4" });
    const after = await runJob("cat /volumes/kept/data", "[{name: kept, readOnly: true}]");
    expect(after.done.status.phase, after.err).toBe("Succeeded");
    expect(after.out).toBe("before the restart\n");
    await deleteVolume("kept");
  });

  it("a Volume deleted while a job uses it stays Terminating until the job ends; Retain keeps the data for a re-apply", async () => {
    await applyVolume("busy", "size: 8Mi");
    const holder = await holdVolume("holder", "busy", "echo kept > /volumes/busy/data");
    expect(lab.volume("busy")?.status.users).toEqual(["holder"]);

    lab.remove("volumes/busy.yaml");
    const terminating = await lab.waitForVolume("busy", (o) => o.status.phase === "Terminating");
    expect(terminating.status.conditions.find((c) => c.type === "Ready")).toMatchObject({ status: "False", reason: "InUse" });
    expect(terminating.status.message).toContain("holder");
    expect(await mountAt(mountPath("busy"))).toBeDefined();
    // A Terminating volume is given to no new job.
    lab.write("jobs/latecomer.yaml", job("latecomer", "command: [cat, /volumes/busy/data]\nvolumes: [{name: busy}]"));
    const refused = await lab.waitFor("latecomer", (o) => o.status.reason === "VolumeNotReady");
    expect(refused.status.message).toContain("Volume 'busy' is being deleted");

    holder.release();
    expect((await lab.waitFor("holder", finished)).status.phase).toBe("Succeeded");
    await lab.waitForVolumeGone("busy");
    expect(await mountAt(mountPath("busy"))).toBeUndefined();
    expect(await loopDevicesUnder(volumesDir)).toEqual([]);
    expect(existsSync(image("busy"))).toBe(true);
    expect((await lab.waitFor("latecomer", (o) => o.status.reason === "VolumeNotFound")).status.phase).toBe("Pending");

    // Applied again, the Volume mounts the same image: the waiting job reads what the first one wrote.
    lab.write("volumes/busy.yaml", volume("busy", "size: 8Mi"));
    const latecomer = await lab.waitFor("latecomer", finished);
    expect(latecomer.status.phase).toBe("Succeeded");
    expect(lab.log("latecomer", latecomer.status.run!)).toBe("kept\n");
    lab.remove("jobs/holder.yaml");
    lab.remove("jobs/latecomer.yaml");
    await deleteVolume("busy");
  });

  it("after a daemon restart, a running job still counts as the volume's user", async () => {
    await applyVolume("sticky", "size: 4Mi\nreclaimPolicy: Delete");
    const holder = await holdVolume("sticky-holder", "sticky");
    await lab.stop();
    await lab.start();
    lab.remove("volumes/sticky.yaml");
    const terminating = await lab.waitForVolume("sticky", (o) => o.status.phase === "Terminating");
    expect(terminating.status.users).toEqual(["sticky-holder"]);
    holder.release();
    await lab.waitForVolumeGone("sticky");
    expect(existsSync(join(volumesDir, "sticky"))).toBe(false);
    expect(await loopDevicesUnder(volumesDir)).toEqual([]);
    lab.remove("jobs/sticky-holder.yaml");
  });

  it("reclaimPolicy Delete removes the image, and nothing is left: no mount, no loop device", async () => {
    await applyVolume("gone", "size: 4Mi\nreclaimPolicy: Delete");
    expect((await runJob("echo x > /volumes/gone/x", "[{name: gone}]")).done.status.phase).toBe("Succeeded");
    await deleteVolume("gone");
    expect(existsSync(join(volumesDir, "gone"))).toBe(false);
    // Applied again, it starts empty.
    await applyVolume("gone", "size: 4Mi\nreclaimPolicy: Delete");
    expect(existsSync(join(mountPath("gone"), "x"))).toBe(false);
    await deleteVolume("gone");
    expect(existsSync(join(volumesDir, "gone"))).toBe(false);
  });

  it("a filesystem volume grows and keeps its data; shrinking is refused and the old size kept", async () => {
    await applyVolume("elastic", "size: 8Mi\nreclaimPolicy: Delete");
    writeFileSync(join(mountPath("elastic"), "data"), "still here\n");
    const before = statfsSync(mountPath("elastic")).blocks * statfsSync(mountPath("elastic")).bsize;

    lab.write("volumes/elastic.yaml", volume("elastic", "size: 16Mi\nreclaimPolicy: Delete"));
    const grown = await lab.waitForVolume("elastic", (o) => o.status.size === 16 * MiB && o.status.phase === "Ready");
    expect(grown.status.events?.map((e) => e.reason)).toContain("Resized");
    expect(statfsSync(mountPath("elastic")).blocks * statfsSync(mountPath("elastic")).bsize).toBeGreaterThan(before + 7 * MiB);
    expect(statSync(image("elastic")).size).toBe(16 * MiB);
    expect(readFileSync(join(mountPath("elastic"), "data"), "utf8")).toBe("still here\n");

    lab.write("volumes/elastic.yaml", volume("elastic", "size: 4Mi\nreclaimPolicy: Delete"));
    const refused = await lab.waitForVolume("elastic", (o) => o.status.reason === "ShrinkRefused");
    expect(refused.status.phase).toBe("Failed");
    expect(refused.status.size).toBe(16 * MiB);
    expect(refused.status.conditions.find((c) => c.type === "Ready")).toMatchObject({ status: "False", reason: "ShrinkRefused" });
    expect(refused.status.message).toBe(
      "Cannot shrink filesystem Volume 'elastic' from 16Mi to 4Mi: its ext4 image only grows. It keeps 16Mi; set spec.size to 16Mi or more, or delete the Volume and apply it again",
    );
    // Not Ready: new jobs wait.
    lab.write("jobs/on-elastic.yaml", job("on-elastic", "command: [cat, /volumes/elastic/data]\nvolumes: [{name: elastic}]"));
    expect((await lab.waitFor("on-elastic", (o) => o.status.reason === "VolumeNotReady")).status.message).toContain("ShrinkRefused");

    lab.write("volumes/elastic.yaml", volume("elastic", "size: 16Mi\nreclaimPolicy: Delete"));
    const back = await lab.waitFor("on-elastic", finished);
    expect(lab.log("on-elastic", back.status.run!)).toBe("still here\n");
    lab.remove("jobs/on-elastic.yaml");
    await deleteVolume("elastic");
  });

  it("a filesystem volume in use grows in place, or, where the kernel refuses that, once its jobs have ended", async () => {
    await applyVolume("busy-grow", "size: 8Mi\nreclaimPolicy: Delete");
    const holder = await holdVolume("grow-holder", "busy-grow");

    lab.write("volumes/busy-grow.yaml", volume("busy-grow", "size: 16Mi\nreclaimPolicy: Delete"));
    const after = await lab.waitForVolume("busy-grow", (o) => o.status.size === 16 * MiB || o.status.reason === "ResizePending");
    if (after.status.reason === "ResizePending") {
      // Online resize needs CAP_SYS_RESOURCE: the volume waits for its job, and takes no new ones meanwhile.
      expect(after.status.phase).toBe("Pending");
      expect(after.status.message).toContain("it waits until no job uses it (now: grow-holder)");
      lab.write("jobs/grow-waiter.yaml", job("grow-waiter", "command: [ls, /volumes/busy-grow]\nvolumes: [{name: busy-grow}]"));
      expect((await lab.waitFor("grow-waiter", (o) => o.status.reason === "VolumeNotReady")).status.message).toContain("ResizePending");
      holder.release();
      await lab.waitForVolume("busy-grow", (o) => o.status.size === 16 * MiB && o.status.phase === "Ready");
      expect((await lab.waitFor("grow-waiter", finished)).status.phase).toBe("Succeeded");
      lab.remove("jobs/grow-waiter.yaml");
    } else {
      expect(after.status.phase).toBe("Ready");
      holder.release();
    }
    expect(statfsSync(mountPath("busy-grow")).blocks * statfsSync(mountPath("busy-grow")).bsize).toBeGreaterThan(12 * MiB);
    expect((await lab.waitFor("grow-holder", finished)).status.phase).toBe("Succeeded");
    lab.remove("jobs/grow-holder.yaml");
    await deleteVolume("busy-grow");
  });

  it("a mount namespace made while a volume was mounted: no offline resize under it, and its loop device detaches itself when it ends", async () => {
    await applyVolume("pinned", "size: 8Mi\nreclaimPolicy: Delete");
    // As `unshare --mount` elsewhere on the host would: a private copy of every mount, this volume's too.
    const pin = spawn("unshare", ["--mount", "--propagation", "private", "sleep", "600"], { stdio: "ignore" });
    const pinGone = new Promise((r) => pin.on("exit", r));
    try {
      await until(() => existsSync(`/proc/${pin.pid}/mountinfo`) && readFileSync(`/proc/${pin.pid}/mountinfo`, "utf8").includes(mountPath("pinned")));
      lab.write("volumes/pinned.yaml", volume("pinned", "size: 16Mi\nreclaimPolicy: Delete"));
      const after = await lab.waitForVolume("pinned", (o) => o.status.size === 16 * MiB || o.status.reason === "ResizePending");
      // Grown in place where the kernel allows it; else the image is left alone while another namespace has the filesystem live.
      if (after.status.reason === "ResizePending") expect(after.status.message).toMatch(/waits: \/dev\/loop\d+ is still held by a mount namespace made while the volume was mounted$/);
      expect(await mountAt(mountPath("pinned"))).toMatchObject({ fsType: "ext4" });

      lab.remove("volumes/pinned.yaml");
      await lab.waitForVolumeGone("pinned");
      expect(await mountAt(mountPath("pinned"))).toBeUndefined();
      expect(existsSync(join(volumesDir, "pinned"))).toBe(false);
    } finally {
      pin.kill("SIGKILL");
      await pinGone;
    }
    // Autoclear: the device goes with the last namespace that had the filesystem.
    await until(async () => (await loopDevicesUnder(join(volumesDir, "pinned"))).length === 0);
  });

  it("a memory volume is resized in place; shrinking below what it holds and changing its type are refused", async () => {
    await applyVolume("ram", "type: memory\nsize: 4Mi");
    writeFileSync(join(mountPath("ram"), "blob"), Buffer.alloc(3 * MiB, 1));
    lab.write("volumes/ram.yaml", volume("ram", "type: memory\nsize: 8Mi"));
    await lab.waitForVolume("ram", (o) => o.status.size === 8 * MiB && o.status.phase === "Ready");
    expect(statfsSync(mountPath("ram")).blocks * statfsSync(mountPath("ram")).bsize).toBe(8 * MiB);
    expect(statSync(join(mountPath("ram"), "blob")).size).toBe(3 * MiB);

    lab.write("volumes/ram.yaml", volume("ram", "type: memory\nsize: 2Mi"));
    const shrink = await lab.waitForVolume("ram", (o) => o.status.reason === "ShrinkRefused");
    expect(shrink.status.message).toMatch(/^Cannot shrink memory Volume 'ram' to 2Mi: it holds \d+ bytes. It keeps 8Mi$/);

    lab.write("volumes/ram.yaml", volume("ram", "type: filesystem\nsize: 8Mi"));
    const retyped = await lab.waitForVolume("ram", (o) => o.status.reason === "TypeChangeRefused");
    expect(retyped.status.message).toContain("Volume 'ram' is a memory volume and cannot become a filesystem volume without losing its data");
    expect(retyped.status.type).toBe("memory");
    expect(await mountAt(mountPath("ram"))).toMatchObject({ fsType: "tmpfs" });
    await deleteVolume("ram");
  });

  it("a bad Volume manifest is reported on the Volume naming the file and field, and nothing is made", async () => {
    lab.write("volumes/tiny.yaml", volume("tiny", "size: 512Ki"));
    lab.write("volumes/odd.yaml", volume("odd", "type: disk\nsize: 8Mi"));
    for (const [name, field] of [["tiny", "spec.size"], ["odd", "spec.type"]] as const) {
      const bad = await lab.waitForVolume(name, (o) => o.status.conditions.some((c) => c.type === "Valid" && c.status === "False"));
      const valid = bad.status.conditions.find((c) => c.type === "Valid")!;
      expect(valid.reason).toBe("InvalidManifest");
      expect(valid.message).toContain(`volumes/${name}.yaml`);
      expect(valid.message).toContain(field);
      expect(bad.status.phase).toBe("Pending");
      expect(existsSync(join(volumesDir, name))).toBe(false);
    }
    expect((await lab.waitForVolume("tiny", () => true)).status.conditions.find((c) => c.type === "Valid")!.message).toContain("too small for a filesystem volume");
    lab.write("jobs/on-tiny.yaml", job("on-tiny", "command: [\"true\"]\nvolumes: [{name: tiny}]"));
    expect((await lab.waitFor("on-tiny", (o) => o.status.reason === "VolumeNotReady")).status.message).toContain("InvalidManifest");
    lab.remove("jobs/on-tiny.yaml");
    lab.remove("volumes/tiny.yaml");
    lab.remove("volumes/odd.yaml");
    await lab.waitForVolumeGone("tiny");
    await lab.waitForVolumeGone("odd");
  });
});

describe("volumes on a host without loop devices", () => {
  const lab = new DaemonLab();
  let daemon: ChildProcess | undefined;

  beforeAll(() => {
    requireRoot("volumes without loop devices");
    if (!existsSync(join(repoRoot, "dist/src/daemon/daemon.js"))) throw new Error("Cannot test volumes without loop devices: run 'npm run build' first (npm test does)");
  });
  afterAll(async () => {
    daemon?.kill("SIGKILL");
    await lab.cleanup();
  });

  it("a filesystem Volume is Ready=False LoopUnavailable, with no image made and its jobs waiting, never an unlimited directory; a memory Volume works", async () => {
    // A daemon in a mount namespace of its own, where /dev/loop-control is an empty file:
    // a host without loop devices, made without touching this one's.
    const blank = join(lab.stateDir, "no-loop-control");
    writeFileSync(blank, "");
    const script = 'mount --bind "$1" /dev/loop-control && shift && exec "$@"';
    daemon = spawn("unshare", ["--mount", "--propagation", "private", "--", "sh", "-c", script, "sh", blank, process.execPath, join(repoRoot, "test/fixtures/daemon.mjs"), lab.stateDir, lab.manifests], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    await new Promise<void>((resolve, reject) => {
      daemon!.stdout!.on("data", (d: Buffer) => d.toString().includes("ready") && resolve());
      daemon!.on("exit", (code) => reject(new Error(`the daemon without loop devices exited with ${code}`)));
    });

    lab.write("volumes/disk.yaml", volume("disk", "size: 8Mi"));
    lab.write("volumes/ram.yaml", volume("ram", "type: memory\nsize: 4Mi"));
    const failed = await lab.waitForVolume("disk", (o) => o.status.reason === "LoopUnavailable");
    expect(failed.status.phase).toBe("Failed");
    expect(failed.status.conditions.find((c) => c.type === "Ready")).toMatchObject({ status: "False", reason: "LoopUnavailable" });
    expect(failed.status.message).toBe(
      "Cannot attach filesystem Volume 'disk': /dev/loop-control is not the loop control device; without a loop device its size cannot be enforced. Use type memory, or give this host loop devices",
    );
    expect(failed.status.mountPath).toBeUndefined();
    expect(existsSync(join(lab.stateDir, "volumes/disk/image"))).toBe(false);

    lab.write("jobs/on-disk.yaml", job("on-disk", "command: [sh, -c, 'echo x > /volumes/disk/x']\nvolumes: [{name: disk}]"));
    const waiting = await lab.waitFor("on-disk", (o) => o.status.reason === "VolumeNotReady");
    expect(waiting.status.message).toContain("Volume 'disk' is not ready (Failed, LoopUnavailable: ");

    await lab.waitForVolume("ram", (o) => o.status.phase === "Ready");
    lab.write("jobs/on-ram.yaml", job("on-ram", "command: [sh, -c, 'echo x > /volumes/ram/x && cat /volumes/ram/x']\nvolumes: [{name: ram}]"));
    const done = await lab.waitFor("on-ram", (o) => o.status.phase === "Succeeded" || o.status.phase === "Failed");
    expect(done.status.phase, lab.log("on-ram", done.status.run!, "stderr")).toBe("Succeeded");
    expect(lab.log("on-ram", done.status.run!)).toBe("x\n");
  });
});
