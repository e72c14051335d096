/**
 * Capacity admission: whether a Job's run may start on this node now.
 *
 * - A running run holds what its resources ask (cpu, memory, and with
 *   exclusiveCpus that many whole CPUs, which also count as that much cpu).
 *   A job that asks for none of these holds nothing and is never queued.
 * - A job that does not fit waits in one queue ordered by
 *   `since - priority * agingMs` (then name): each priority level is worth
 *   agingMs of waiting, so a job's effective priority grows by one per agingMs
 *   it waits and a low-priority job is not starved by a stream of higher ones.
 * - A job starts only if it fits in what is free after setting aside the
 *   requests of every job ahead of it in the queue (jobs that could never fit
 *   on this node are not set aside): no job jumps ahead of one that waits for
 *   the same resource, so the head gets what it needs as runs end.
 *
 * Everything is synchronous: a decision and the hold it takes happen in one
 * turn of the event loop, so concurrent reconciles never admit past capacity.
 */
import { humanBytes } from "../api/index.js";

export interface ResourceRequest {
  /** Cores (resources.cpu). */
  cpu: number;
  memoryBytes: number;
  exclusiveCpus: number;
  /** An explicit resources.cpuset: it may not name a CPU an exclusive job holds. */
  cpuset?: readonly number[];
}

export interface NodeAllocatable {
  /** Cores jobs may reserve. */
  cpu: number;
  memoryBytes: number;
  /** Online CPUs: exclusive jobs are pinned to these. */
  cpus: readonly number[];
}

/** Where a job stands in the queue: its priority and since when it is ready to start (epoch ms). */
export interface QueueOrder {
  priority: number;
  since: number;
}

export type Admit = { ok: true; cpus: number[] } | { ok: false; message: string };

interface Held {
  job: string;
  milliCpu: number;
  memoryBytes: number;
  exclusive: number[];
  pinned: readonly number[];
}

/** Sums of the requests set aside for the jobs ahead of one in the queue. */
interface Ahead {
  milliCpu: number;
  memoryBytes: number;
  exclusiveCpus: number;
  jobs: number;
}

interface Waiting {
  name: string;
  key: number;
  milliCpu: number;
  memoryBytes: number;
  exclusiveCpus: number;
  cpuset: readonly number[] | undefined;
  /** Why it can never fit on this node; such a job sets nothing aside. */
  never: string | undefined;
}

/** Reserved cpu in millicores: an exclusive job's whole CPUs count too. */
function milliCpuOf(request: ResourceRequest): number {
  return Math.round(Math.max(request.cpu, request.exclusiveCpus) * 1000);
}

function asksNothing(request: ResourceRequest): boolean {
  return request.cpu <= 0 && request.memoryBytes <= 0 && request.exclusiveCpus <= 0 && request.cpuset === undefined;
}

const cores = (milli: number) => `${Number((milli / 1000).toFixed(3))}`;
const jobs = (n: number) => `${n} job${n === 1 ? "" : "s"}`;

function before(a: Waiting, b: Waiting): boolean {
  return a.key < b.key || (a.key === b.key && a.name < b.name);
}

/** CPU list text: [0,1,2,5] -> "0-2,5". */
export function cpuListText(cpus: readonly number[]): string {
  const sorted = [...cpus].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; i++) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j;
  }
  return parts.join(",");
}

export class Admission {
  private readonly held = new Map<string, Held>();
  private heldMilliCpu = 0;
  private heldMemory = 0;
  /** CPU -> the job holding it exclusively. */
  private readonly exclusiveOwner = new Map<number, string>();
  /** CPU -> running runs pinned to it by an explicit cpuset: not given out exclusively. */
  private readonly pinnedCount = new Map<number, number>();
  /** Sorted by `before`. */
  private readonly queue: Waiting[] = [];
  private readonly queued = new Map<string, Waiting>();
  private readonly milliAllocatable: number;

  constructor(
    readonly node: NodeAllocatable,
    private readonly o: {
      /** Waiting this long counts as one priority level. */
      agingMs: number;
      /** Queued jobs that would start now, after capacity was freed or a job ahead left the queue. */
      wake?(names: string[]): void;
    },
  ) {
    this.milliAllocatable = Math.round(node.cpu * 1000);
  }

  /**
   * Job `name` is ready to start a run: admit it, holding its request under
   * `holder` until release(holder), or queue it and say what is short.
   */
  admit(name: string, holder: string, request: ResourceRequest, order: QueueOrder): Admit {
    if (asksNothing(request)) {
      this.withdraw(name);
      return { ok: true, cpus: [] };
    }
    const entry = this.enqueue(name, request, order);
    if (entry.never) return { ok: false, message: entry.never };
    const ahead = this.aheadOf(entry);
    if (!this.fits(entry, ahead, this.freeCpus().length)) return { ok: false, message: this.shortage(entry, ahead) };
    const cpus = this.freeCpus().slice(0, entry.exclusiveCpus);
    this.remove(entry);
    this.hold(holder, name, request, cpus);
    return { ok: true, cpus };
  }

  /** Queue a job without deciding (after a restart, before anything is admitted). */
  enqueue(name: string, request: ResourceRequest, order: QueueOrder): Waiting {
    const key = order.since - order.priority * this.o.agingMs;
    const found = this.queued.get(name);
    const entry: Waiting = {
      name,
      key,
      milliCpu: milliCpuOf(request),
      memoryBytes: request.memoryBytes,
      exclusiveCpus: request.exclusiveCpus,
      cpuset: request.cpuset,
      never: this.never(request),
    };
    if (found && found.key === key) {
      Object.assign(found, entry);
      return found;
    }
    if (found) this.remove(found);
    this.queue.splice(this.position(entry), 0, entry);
    this.queued.set(name, entry);
    return entry;
  }

  /** A run holds its request (admitted, or adopted after a restart with the CPUs its status records). */
  hold(holder: string, job: string, request: ResourceRequest, exclusive: readonly number[] = []): void {
    this.release(holder, false);
    const held: Held = { job, milliCpu: milliCpuOf(request), memoryBytes: request.memoryBytes, exclusive: [...exclusive], pinned: request.cpuset ?? [] };
    this.held.set(holder, held);
    this.heldMilliCpu += held.milliCpu;
    this.heldMemory += held.memoryBytes;
    for (const cpu of held.exclusive) this.exclusiveOwner.set(cpu, job);
    for (const cpu of held.pinned) this.pinnedCount.set(cpu, (this.pinnedCount.get(cpu) ?? 0) + 1);
  }

  /** A run ended (or never started): its request is free again, and queued jobs that now fit are woken. */
  release(holder: string, wake = true): boolean {
    const held = this.held.get(holder);
    if (!held) return false;
    this.held.delete(holder);
    this.heldMilliCpu -= held.milliCpu;
    this.heldMemory -= held.memoryBytes;
    for (const cpu of held.exclusive) if (this.exclusiveOwner.get(cpu) === held.job) this.exclusiveOwner.delete(cpu);
    for (const cpu of held.pinned) {
      const n = (this.pinnedCount.get(cpu) ?? 1) - 1;
      if (n > 0) this.pinnedCount.set(cpu, n);
      else this.pinnedCount.delete(cpu);
    }
    if (wake) this.wakeAdmittable();
    return true;
  }

  /** The job no longer waits for capacity (it was deleted, suspended, changed, or waits for something else). */
  withdraw(name: string): boolean {
    const entry = this.queued.get(name);
    if (!entry) return false;
    this.remove(entry);
    // Jobs behind it had its request set aside.
    this.wakeAdmittable();
    return true;
  }

  isQueued(name: string): boolean {
    return this.queued.has(name);
  }

  /** Queued jobs, in queue order. */
  queuedNames(): string[] {
    return this.queue.map((w) => w.name);
  }

  /** Queued jobs that would be admitted now, in queue order: one pass with the set-asides accumulated. */
  admittable(): string[] {
    const out: string[] = [];
    const ahead = { milliCpu: 0, memoryBytes: 0, exclusiveCpus: 0, jobs: 0 };
    const freeCpus = this.freeCpus().length;
    for (const entry of this.queue) {
      if (entry.never) continue;
      if (this.fits(entry, ahead, freeCpus)) out.push(entry.name);
      ahead.milliCpu += entry.milliCpu;
      ahead.memoryBytes += entry.memoryBytes;
      ahead.exclusiveCpus += entry.exclusiveCpus;
      ahead.jobs++;
    }
    return out;
  }

  private wakeAdmittable(): void {
    if (!this.o.wake || this.queue.length === 0) return;
    const names = this.admittable();
    if (names.length > 0) this.o.wake(names);
  }

  private never(request: ResourceRequest): string | undefined {
    const milliCpu = milliCpuOf(request);
    if (request.exclusiveCpus > this.node.cpus.length) {
      return `needs ${request.exclusiveCpus} exclusive CPUs, and the node has ${this.node.cpus.length} (${cpuListText(this.node.cpus)})`;
    }
    if (milliCpu > this.milliAllocatable) return `needs ${cores(milliCpu)} CPU, more than the node's ${cores(this.milliAllocatable)} allocatable`;
    if (request.memoryBytes > this.node.memoryBytes) {
      return `needs ${humanBytes(request.memoryBytes)} memory, more than the node's ${humanBytes(this.node.memoryBytes)} allocatable`;
    }
    return undefined;
  }

  /** Sums of the requests of the jobs queued ahead of `entry`. */
  private aheadOf(entry: Waiting): Ahead {
    const ahead = { milliCpu: 0, memoryBytes: 0, exclusiveCpus: 0, jobs: 0 };
    for (const other of this.queue) {
      if (other === entry) break;
      if (other.never) continue;
      ahead.milliCpu += other.milliCpu;
      ahead.memoryBytes += other.memoryBytes;
      ahead.exclusiveCpus += other.exclusiveCpus;
      ahead.jobs++;
    }
    return ahead;
  }

  /** Whether `entry` fits after the set-asides of the jobs ahead: only the resources it asks for count. */
  private fits(entry: Waiting, ahead: Ahead, freeCpus: number): boolean {
    if (entry.milliCpu > 0 && entry.milliCpu > this.milliAllocatable - this.heldMilliCpu - ahead.milliCpu) return false;
    if (entry.memoryBytes > 0 && entry.memoryBytes > this.node.memoryBytes - this.heldMemory - ahead.memoryBytes) return false;
    if (entry.exclusiveCpus > 0 && entry.exclusiveCpus > freeCpus - ahead.exclusiveCpus) return false;
    if (entry.cpuset && this.exclusiveOwner.size > 0) for (const cpu of entry.cpuset) if (this.exclusiveOwner.has(cpu)) return false;
    return true;
  }

  /** What `entry` lacks after the set-asides of the jobs ahead, in words (it does not fit). */
  private shortage(entry: Waiting, ahead: Ahead): string {
    const problems: string[] = [];
    const setAside = (what: string) => (ahead.jobs > 0 ? `, ${what} of it set aside for ${jobs(ahead.jobs)} ahead in the queue` : "");
    if (entry.milliCpu > 0) {
      const free = this.milliAllocatable - this.heldMilliCpu;
      if (entry.milliCpu > free - ahead.milliCpu) {
        problems.push(`needs ${cores(entry.milliCpu)} CPU, ${cores(Math.max(0, free))} free of ${cores(this.milliAllocatable)} allocatable${ahead.milliCpu > 0 ? setAside(cores(ahead.milliCpu)) : ""}`);
      }
    }
    if (entry.memoryBytes > 0) {
      const free = this.node.memoryBytes - this.heldMemory;
      if (entry.memoryBytes > free - ahead.memoryBytes) {
        problems.push(
          `needs ${humanBytes(entry.memoryBytes)} memory, ${humanBytes(Math.max(0, free))} free of ${humanBytes(this.node.memoryBytes)} allocatable${ahead.memoryBytes > 0 ? setAside(humanBytes(ahead.memoryBytes)) : ""}`,
        );
      }
    }
    if (entry.exclusiveCpus > 0) {
      const free = this.freeCpus();
      if (entry.exclusiveCpus > free.length - ahead.exclusiveCpus) {
        const holders = [...new Set(this.exclusiveOwner.values())].sort();
        const by = holders.length > 0 ? `; held exclusively by ${holders.map((h) => `'${h}'`).join(", ")}` : "";
        problems.push(
          `needs ${entry.exclusiveCpus} exclusive CPU${entry.exclusiveCpus === 1 ? "" : "s"}, ${free.length} free of ${this.node.cpus.length} (${cpuListText(this.node.cpus)})${by}${ahead.exclusiveCpus > 0 ? setAside(String(ahead.exclusiveCpus)) : ""}`,
        );
      }
    }
    for (const cpu of entry.cpuset ?? []) {
      const owner = this.exclusiveOwner.get(cpu);
      if (owner !== undefined) problems.push(`resources.cpuset names CPU ${cpu}, which job '${owner}' holds exclusively`);
    }
    return problems.join("; ");
  }

  /** Online CPUs no exclusive job holds and no running explicit cpuset pins, lowest first. */
  private freeCpus(): number[] {
    return this.node.cpus.filter((cpu) => !this.exclusiveOwner.has(cpu) && !this.pinnedCount.has(cpu));
  }

  /** Index where `entry` belongs in the sorted queue (binary search). */
  private position(entry: Waiting): number {
    let low = 0;
    let high = this.queue.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (before(this.queue[mid]!, entry)) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  private remove(entry: Waiting): void {
    const at = this.position(entry);
    if (this.queue[at] === entry) this.queue.splice(at, 1);
    else this.queue.splice(this.queue.indexOf(entry), 1);
    this.queued.delete(entry.name);
  }
}
