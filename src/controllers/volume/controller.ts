import { access } from "node:fs/promises";
import { formatBytes, parseBytes, type StoredObject, type VolumeManifestWithDefaults, type VolumePhase, type VolumeStatus } from "../../api/index.js";
import { lastGoodObject, manifestCondition, RemovalGrace, setCondition, storedMetadata, withEvents, type ReconcileResult } from "../../reconciler/index.js";
import {
  ext4Bytes,
  formatImage,
  growOffline,
  growOnline,
  mountAt,
  mountImage,
  mountTmpfs,
  removeVolumeData,
  requireLoopDevices,
  resizeTmpfs,
  unmountVolume,
  VolumeError,
  volumePaths,
  volumeUsage,
  type MountEntry,
  type VolumePaths,
} from "../../volumes/index.js";
import type { ControllerOptions } from "../controller-options.js";

export type VolumeObject = StoredObject<VolumeManifestWithDefaults["spec"], VolumeStatus>;
type VolumeType = VolumeManifestWithDefaults["spec"]["type"];

/** One volume of a job: a bind of `hostPath` at /volumes/<name>. */
export interface VolumeMount {
  name: string;
  hostPath: string;
  readOnly: boolean;
}

export type VolumeClaim = { ok: true; mounts: VolumeMount[] } | { ok: false; reason: "VolumeNotFound" | "VolumeNotReady"; message: string };

export interface VolumeControllerOptions extends ControllerOptions {
  /** The Jobs that mount each volume now (running, or being started), by volume name. */
  users(): ReadonlyMap<string, readonly string[]>;
  /** A Volume became usable, or went away: jobs waiting for it look again. */
  onReady(name: string): void;
  /** First retry of a volume that failed to mount or resize, doubled per failure. Default 5 s. */
  retryBaseMs?: number;
  /** As for Jobs: a manifest must stay gone this long before its Volume is removed. Default 1 s. */
  removalGraceMs?: number;
}

/** Why a volume that exists is not given to new jobs, short of a failure to retry. */
interface Hold {
  phase: VolumePhase;
  reason: string;
  message: string;
  /** Look again after this long: nothing else will say when the cause is gone. */
  retryAfterMs?: number;
}

const MAX_RETRY_MS = 5 * 60 * 1000;

export const volumeKey = (name: string) => `Volume/${name}`;

/**
 * Level-triggered: reconcile(key) compares a Volume's spec with what is
 * mounted under volumes/<name>/ (the mount table and the image are the
 * truth, the stored status only a record of them) and mounts, grows or
 * removes. Jobs get volumes through forJob(), which never hands out one that
 * is not mounted, is being deleted or is being unmounted for a resize.
 */
export class VolumeController {
  private readonly objects = new Map<string, VolumeObject>();
  /** Volumes being unmounted (to grow, or to go): what they are going through, for waiting jobs. */
  private readonly busy = new Map<string, string>();
  private readonly retryBase: number;
  private readonly removalGrace: RemovalGrace;

  constructor(private readonly o: VolumeControllerOptions) {
    this.retryBase = o.retryBaseMs ?? 5000;
    this.removalGrace = new RemovalGrace(o.removalGraceMs ?? 1000);
  }

  /**
   * At daemon start, before any job starts: every Volume the status says was
   * made is mounted again (a mount still there is kept), so its data is back
   * after a daemon restart or a reboot. Failures are left to reconcile.
   */
  async adopt(): Promise<string[]> {
    const names = await this.o.statuses.list("Volume");
    for (const name of names) {
      const object = (await this.o.statuses.read("Volume", name)) as VolumeObject | undefined;
      if (!object) continue;
      this.objects.set(name, object);
      const type = object.status.type;
      if (!type || object.status.size === undefined) continue;
      try {
        await this.mount(name, volumePaths(this.o.layout, name), type, object.status.size, object.status);
      } catch (e) {
        if (!(e instanceof VolumeError)) throw e;
        await this.failed(name, object, e);
      }
    }
    return names;
  }

  /**
   * The mounts for a Job's `spec.volumes`, or why it must wait. Synchronous on
   * purpose: the caller records the claim before anything else runs, so a
   * volume is never unmounted between this answer and the job's start.
   */
  forJob(refs: readonly { name: string; readOnly: boolean }[]): VolumeClaim {
    const mounts: VolumeMount[] = [];
    for (const ref of refs) {
      const object = this.objects.get(ref.name);
      const refused = this.unusable(ref.name, object);
      if (refused) return refused;
      mounts.push({ name: ref.name, hostPath: object!.status.mountPath!, readOnly: ref.readOnly });
    }
    return { ok: true, mounts };
  }

  private unusable(name: string, object: VolumeObject | undefined): Extract<VolumeClaim, { ok: false }> | undefined {
    const notReady = (why: string) => ({ ok: false as const, reason: "VolumeNotReady" as const, message: `Volume '${name}' ${why}` });
    if (!object) {
      if (this.o.desired.get(volumeKey(name))) return notReady("is not mounted yet");
      return { ok: false, reason: "VolumeNotFound", message: `Volume '${name}' does not exist` };
    }
    const busy = this.busy.get(name);
    if (busy) return notReady(`is ${busy}`);
    const status = object.status;
    if (status.phase === "Terminating") return notReady("is being deleted: it waits for the jobs that still use it");
    if (status.phase !== "Ready" || !status.mountPath) {
      const why = status.conditions.find((c) => c.status === "False");
      return notReady(`is not ready (${status.phase}${why ? `, ${why.reason}: ${why.message}` : ""})`);
    }
    return undefined;
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const name = key.slice("Volume/".length);
    const entry = this.o.desired.get(key);
    if (!entry) return this.removalGrace.whenGone(name, () => this.removed(name));
    this.removalGrace.present(name);
    const stored = this.objects.get(name);
    if (!entry.manifest || !entry.generation) {
      // A broken manifest: the volume stays as it is, for the jobs that use it; say why on the object.
      const status = stored?.status ?? { phase: "Pending", conditions: [] };
      await this.save(name, lastGoodObject("Volume", name, stored, { ...status, conditions: manifestCondition(status.conditions, "Valid", entry) }));
      return;
    }
    const manifest = entry.manifest as VolumeManifestWithDefaults;
    const status: VolumeStatus = stored ? { ...stored.status } : { phase: "Pending", conditions: [] };
    status.conditions = manifestCondition(status.conditions, "Valid", entry);
    if (status.observedGeneration !== entry.generation) {
      // A new spec is tried at once, whatever the old one's failures were.
      delete status.failures;
      delete status.nextAttemptAt;
    }
    status.observedGeneration = entry.generation;
    const object: VolumeObject = {
      apiVersion: "joblet/v1",
      kind: "Volume",
      metadata: storedMetadata(name, entry.generation, manifest.metadata),
      spec: manifest.spec,
      status,
    };
    const untilRetry = status.phase === "Failed" && status.nextAttemptAt ? Date.parse(status.nextAttemptAt) - Date.now() : 0;
    if (untilRetry > 0) {
      await this.save(name, object);
      return { requeueAfter: untilRetry };
    }
    const wasReady = stored?.status.phase === "Ready";
    let hold: Hold | undefined;
    try {
      hold = await this.converge(name, object);
    } catch (e) {
      if (!(e instanceof VolumeError)) throw e;
      return this.failed(name, object, e);
    }
    await this.observe(name, object);
    if (hold) this.hold(name, object, hold);
    else this.ready(name, object);
    await this.save(name, object);
    if (!hold && !wasReady) this.o.onReady(name);
    if (hold?.retryAfterMs !== undefined) return { requeueAfter: hold.retryAfterMs };
  }

  /** Makes what is mounted match the spec, or says why it is held back. */
  private async converge(name: string, object: VolumeObject): Promise<Hold | undefined> {
    const { spec, status } = object;
    const paths = volumePaths(this.o.layout, name);
    const wanted = parseBytes(spec.size, "size");
    let mounted = await mountAt(paths.mountPath);
    const present: VolumeType | undefined = mounted ? typeOf(mounted) : (await exists(paths.image)) ? "filesystem" : undefined;
    if (present && present !== spec.type) {
      const kept = mounted ? "" : ` (its image is kept at ${paths.image})`;
      return {
        phase: "Failed",
        reason: "TypeChangeRefused",
        message: `Volume '${name}' is a ${present} volume${kept} and cannot become a ${spec.type} volume without losing its data: set spec.type back to ${present}, or delete the Volume with reclaimPolicy Delete and apply it again`,
      };
    }
    if (!mounted) mounted = await this.mount(name, paths, spec.type, wanted, status);
    if (status.type !== spec.type || status.size === undefined) {
      status.size = await measure(paths, spec.type);
      status.type = spec.type;
    }
    const size = status.size;
    if (wanted === size) return undefined;
    if (spec.type === "memory") {
      const { usedBytes } = await volumeUsage(paths.mountPath);
      if (wanted < usedBytes) {
        return { phase: "Failed", reason: "ShrinkRefused", message: `Cannot shrink memory Volume '${name}' to ${formatBytes(wanted)}: it holds ${usedBytes} bytes. It keeps ${formatBytes(size)}` };
      }
      await resizeTmpfs(paths, wanted, name);
    } else if (wanted < size) {
      return {
        phase: "Failed",
        reason: "ShrinkRefused",
        message: `Cannot shrink filesystem Volume '${name}' from ${formatBytes(size)} to ${formatBytes(wanted)}: its ext4 image only grows. It keeps ${formatBytes(size)}; set spec.size to ${formatBytes(size)} or more, or delete the Volume and apply it again`,
      };
    } else {
      const waiting = await this.grow(name, paths, mounted, size, wanted);
      if (waiting) return waiting;
    }
    this.o.events.record(volumeKey(name), { type: "Normal", reason: "Resized", message: `Resized from ${formatBytes(size)} to ${formatBytes(wanted)}` });
    status.size = wanted;
    return undefined;
  }

  /** Mounts the volume, making its image first when there is none. Returns the new mount. */
  private async mount(name: string, paths: VolumePaths, type: VolumeType, sizeBytes: number, status: VolumeStatus): Promise<MountEntry> {
    const already = await mountAt(paths.mountPath);
    if (already) return already;
    const key = volumeKey(name);
    if (type === "filesystem") {
      // Before an image is made that could not be used.
      await requireLoopDevices(name);
      if (!(await exists(paths.image))) {
        if (status.type === "filesystem") this.o.events.record(key, { type: "Warning", reason: "ImageMissing", message: `${paths.image} is gone: the volume starts empty` });
        await formatImage(paths, sizeBytes, name);
        Object.assign(status, { type, size: sizeBytes });
        this.o.events.record(key, { type: "Normal", reason: "Formatted", message: `Made a ${formatBytes(sizeBytes)} ext4 image at ${paths.image}` });
      }
      await mountImage(paths, name);
    } else {
      if (status.type === "memory") {
        this.o.events.record(key, { type: "Warning", reason: "DataLost", message: "Its tmpfs was gone (a reboot, or an unmount by hand): the volume starts empty" });
      }
      await mountTmpfs(paths, sizeBytes, name);
      Object.assign(status, { type, size: sizeBytes });
    }
    const mounted = await mountAt(paths.mountPath);
    if (!mounted) throw new VolumeError("MountFailed", `Cannot mount Volume '${name}': mount succeeded but nothing is mounted at ${paths.mountPath}`);
    status.createdAt ??= new Date().toISOString();
    this.o.events.record(key, { type: "Normal", reason: "Mounted", message: `${mounted.source} at ${paths.mountPath}` });
    return mounted;
  }

  /**
   * Grows a filesystem volume in place if the kernel lets us (CAP_SYS_RESOURCE),
   * else unmounted; while jobs use it that has to wait for them, and new jobs
   * wait for the resize.
   */
  private async grow(name: string, paths: VolumePaths, mounted: MountEntry, from: number, to: number): Promise<Hold | undefined> {
    try {
      await growOnline(paths, mounted.source, to, name);
      return undefined;
    } catch (e) {
      if (!(e instanceof VolumeError)) throw e;
      const users = this.users(name);
      if (users.length) {
        return {
          phase: "Pending",
          reason: "ResizePending",
          message: `Growing Volume '${name}' from ${formatBytes(from)} to ${formatBytes(to)} needs it unmounted (${e.message}); it waits until no job uses it (now: ${users.join(", ")})`,
        };
      }
      // No await between the check above and this: no job can claim the volume while it is unmounted.
      this.busy.set(name, "being resized");
    }
    try {
      const held = await unmountVolume(paths, name);
      if (held.length) {
        // The filesystem lives on in that namespace: checking or resizing its image now could corrupt it.
        // Mounting again is safe: mount reuses the attached loop device, so there is one filesystem.
        await mountImage(paths, name);
        return {
          phase: "Pending",
          reason: "ResizePending",
          message: `Growing Volume '${name}' from ${formatBytes(from)} to ${formatBytes(to)} waits: ${held.join(", ")} is still held by a mount namespace made while the volume was mounted`,
          retryAfterMs: this.retryBase,
        };
      }
      await growOffline(paths, to, name).finally(() => mountImage(paths, name));
      return undefined;
    } finally {
      this.busy.delete(name);
    }
  }

  /** The facts of a volume as they are now: usage, users, where it is mounted. */
  private async observe(name: string, object: VolumeObject): Promise<void> {
    const status = object.status;
    const paths = volumePaths(this.o.layout, name);
    const mounted = await mountAt(paths.mountPath);
    delete status.mountPath;
    delete status.device;
    delete status.image;
    delete status.used;
    if (mounted) {
      status.mountPath = paths.mountPath;
      status.used = (await volumeUsage(paths.mountPath)).usedBytes;
      if (mounted.source.startsWith("/dev/loop")) status.device = mounted.source;
    }
    if (status.type === "filesystem") status.image = paths.image;
    status.users = this.users(name);
  }

  private ready(name: string, object: VolumeObject): void {
    const status = object.status;
    status.phase = "Ready";
    delete status.reason;
    delete status.message;
    delete status.failures;
    delete status.nextAttemptAt;
    const what = status.type === "filesystem" ? `ext4 on ${status.device ?? "a loop device"}` : "tmpfs";
    status.conditions = setCondition(status.conditions, {
      type: "Ready",
      status: "True",
      reason: "Mounted",
      message: `${formatBytes(status.size ?? 0)} ${what} at ${status.mountPath}`,
    });
  }

  private hold(name: string, object: VolumeObject, hold: Hold): void {
    const status = object.status;
    if (status.reason !== hold.reason || status.message !== hold.message) {
      this.o.events.record(volumeKey(name), { type: "Warning", reason: hold.reason, message: hold.message });
    }
    status.phase = hold.phase;
    status.reason = hold.reason;
    status.message = hold.message;
    status.conditions = setCondition(status.conditions, { type: "Ready", status: "False", reason: hold.reason, message: hold.message });
  }

  /** A mount, format or resize failed: Failed, and tried again later (the cause may be passing). */
  private async failed(name: string, object: VolumeObject, error: VolumeError, phase: VolumePhase = "Failed"): Promise<ReconcileResult> {
    const failures = (object.status.failures ?? 0) + 1;
    const delay = Math.min(MAX_RETRY_MS, this.retryBase * 2 ** (failures - 1));
    await this.observe(name, object);
    this.hold(name, object, { phase, reason: error.reason, message: error.message });
    object.status.failures = failures;
    object.status.nextAttemptAt = new Date(Date.now() + delay).toISOString();
    await this.save(name, object);
    this.o.logger.warn({ key: volumeKey(name), err: error, retryInMs: delay }, "volume failed");
    return { requeueAfter: delay };
  }

  /**
   * The manifest is gone. While jobs use the volume it stays, Terminating;
   * then it is unmounted, and with reclaimPolicy Delete its data removed.
   * With Retain the image stays where it was: applying the Volume again
   * mounts the same data.
   */
  private async removed(name: string): Promise<ReconcileResult | void> {
    const object = this.objects.get(name);
    const key = volumeKey(name);
    const users = this.users(name);
    if (users.length) {
      if (object) {
        const message = `Volume '${name}' was deleted; it is removed once no job uses it (now: ${users.join(", ")})`;
        await this.observe(name, object);
        this.hold(name, object, { phase: "Terminating", reason: "InUse", message });
        await this.save(name, object);
      }
      return;
    }
    // No await between the check above and this: no job can claim the volume from here on.
    this.busy.set(name, "being deleted");
    const paths = volumePaths(this.o.layout, name);
    const policy = object?.spec.reclaimPolicy ?? "Retain";
    try {
      if (object && object.status.phase !== "Terminating") {
        object.status = { ...object.status, phase: "Terminating" };
        await this.save(name, object);
      }
      const held = await unmountVolume(paths, name);
      if (held.length) {
        this.o.logger.warn({ key, devices: held }, "another mount namespace still holds the volume's loop device; the kernel detaches it when that namespace ends");
      }
      if (policy === "Delete") await removeVolumeData(paths, name);
    } catch (e) {
      if (!(e instanceof VolumeError) || !object) throw e;
      return this.failed(name, object, e, "Terminating");
    } finally {
      this.busy.delete(name);
    }
    const kept = policy === "Retain" && object?.status.type === "filesystem" ? `; its image stays at ${paths.image}` : "";
    this.o.logger.info({ key, policy }, `volume removed${kept}`);
    if (this.objects.delete(name)) {
      await this.o.statuses.remove("Volume", name);
      this.o.events.forget(key);
    }
    this.o.onReady(name);
  }

  private users(name: string): string[] {
    return [...(this.o.users().get(name) ?? [])].sort();
  }

  private async save(name: string, object: VolumeObject): Promise<void> {
    object = { ...object, status: withEvents(object.status, this.o.events.list(volumeKey(name))) };
    this.objects.set(name, object);
    await this.o.statuses.write("Volume", name, object as unknown as Record<string, unknown>);
  }
}

function typeOf(mounted: MountEntry): VolumeType {
  return mounted.fsType === "tmpfs" ? "memory" : "filesystem";
}

/** The size of what exists, for a volume the status knows nothing of (a retained image applied again). */
async function measure(paths: VolumePaths, type: VolumeType): Promise<number> {
  return type === "filesystem" ? ext4Bytes(paths.image) : (await volumeUsage(paths.mountPath)).capacityBytes;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
