import { mkdir, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { removeFileDurably, sweepTempFiles, writeFileAtomic } from "./atomic-file.js";
import { kindPlural, type StateLayout, statusFile, statusKindDir } from "./layout.js";

/** An object's `status` as stored: a JSON object. */
export type StoredStatus = Record<string, unknown>;

/**
 * Where controllers keep the actual state of objects. Controllers see only this
 * interface: the embedded file store below may later give way to a distributed
 * backend (etcd with watches and leases) without them noticing.
 */
export interface StatusStore {
  /** The stored status, or undefined when there is none. */
  read(kind: string, name: string): Promise<StoredStatus | undefined>;
  /** Stores `status` durably; false when it equals what is stored already (nothing written). */
  write(kind: string, name: string, status: StoredStatus): Promise<boolean>;
  /** Forgets the status; false when there was none. */
  remove(kind: string, name: string): Promise<boolean>;
  /** Names of the objects of `kind` that have a status, sorted. */
  list(kind: string): Promise<string[]>;
}

const SUFFIX = ".json";

/**
 * status/<kind-plural>/<name>.json, each replaced atomically (see writeFileAtomic).
 *
 * It assumes it is the only writer of its status dir (one daemon per state dir, as
 * DESIGN.md says: status is written only by controllers); that is what lets it skip
 * writes of an unchanged status by remembering what it last wrote or read.
 */
export class FileStatusStore implements StatusStore {
  /** kind/name -> serialized status as on disk, to skip identical writes. */
  private readonly known = new Map<string, string>();
  /** kind/name -> the last queued operation, so two writes of one key never reorder their renames. */
  private readonly pending = new Map<string, Promise<unknown>>();
  private readonly madeDirs = new Set<string>();

  constructor(private readonly layout: StateLayout) {}

  /** Removes temp files of writers killed mid-write (call once, at daemon start). */
  async sweep(): Promise<number> {
    let kinds: string[];
    try {
      kinds = await readdir(this.layout.statusDir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return 0;
      throw e;
    }
    let removed = 0;
    for (const plural of kinds) removed += await sweepTempFiles(join(this.layout.statusDir, plural));
    return removed;
  }

  async read(kind: string, name: string): Promise<StoredStatus | undefined> {
    const path = statusFile(this.layout, kind, name);
    return this.serialize(kind, name, async () => {
      let text: string;
      try {
        text = await readFile(path, "utf8");
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
        this.known.delete(key(kind, name));
        return undefined;
      }
      const status = parseStatus(path, text);
      this.known.set(key(kind, name), text);
      return status;
    });
  }

  async write(kind: string, name: string, status: StoredStatus): Promise<boolean> {
    const path = statusFile(this.layout, kind, name);
    const text = `${JSON.stringify(status, null, 2)}\n`;
    return this.serialize(kind, name, async () => {
      if (this.known.get(key(kind, name)) === text) return false;
      const dir = statusKindDir(this.layout, kind);
      if (!this.madeDirs.has(dir)) {
        await mkdir(dir, { recursive: true });
        this.madeDirs.add(dir);
      }
      try {
        await writeFileAtomic(path, text);
      } catch (e) {
        // What is on disk is unknown now: the next write must not be skipped.
        this.known.delete(key(kind, name));
        throw new Error(`Cannot write status of ${kind}/${name} to ${path}: ${(e as Error).message}`, { cause: e });
      }
      this.known.set(key(kind, name), text);
      return true;
    });
  }

  async remove(kind: string, name: string): Promise<boolean> {
    const path = statusFile(this.layout, kind, name);
    return this.serialize(kind, name, async () => {
      this.known.delete(key(kind, name));
      return removeFileDurably(path);
    });
  }

  async list(kind: string): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(statusKindDir(this.layout, kind));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw e;
    }
    return names
      .filter((n) => n.endsWith(SUFFIX) && !n.startsWith("."))
      .map((n) => n.slice(0, -SUFFIX.length))
      .sort();
  }

  private serialize<T>(kind: string, name: string, op: () => Promise<T>): Promise<T> {
    const k = key(kind, name);
    const previous = this.pending.get(k) ?? Promise.resolve();
    const next = previous.then(op, op);
    const settled = next.catch(() => undefined);
    this.pending.set(k, settled);
    void settled.then(() => {
      if (this.pending.get(k) === settled) this.pending.delete(k);
    });
    return next;
  }
}

function key(kind: string, name: string): string {
  return `${kindPlural(kind)}/${name}`;
}

function parseStatus(path: string, text: string): StoredStatus {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`Cannot read status file ${path}: ${(e as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error(`Cannot read status file ${path}: it holds ${Array.isArray(value) ? "an array" : typeof value}, not an object`);
  }
  return value as StoredStatus;
}
