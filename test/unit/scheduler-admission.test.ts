// Capacity admission with an injected clock: queue times are numbers the test chose.
import { describe, expect, it } from "vitest";
import { Admission, cpuListText, memoryAllocatable, type ResourceRequest } from "../../src/scheduler/index.js";

const Mi = 1024 ** 2;
const Gi = 1024 ** 3;
const req = (r: Partial<ResourceRequest>): ResourceRequest => ({ cpu: 0, memoryBytes: 0, exclusiveCpus: 0, ...r });
const node = { cpu: 2, memoryBytes: Gi, cpus: [0, 1] };
const MINUTE = 60_000;

function lab(wake?: (names: string[]) => void) {
  return new Admission(node, { agingMs: MINUTE, ...(wake ? { wake } : {}) });
}

describe("fit", () => {
  it("admits what fits, holds it, and says what is short of the rest", () => {
    const a = lab();
    expect(a.admit("a", "a/1", req({ memoryBytes: 400 * Mi }), { priority: 0, since: 1 })).toEqual({ ok: true, cpus: [] });
    expect(a.admit("b", "b/1", req({ memoryBytes: 400 * Mi }), { priority: 0, since: 2 })).toEqual({ ok: true, cpus: [] });
    expect(a.admit("c", "c/1", req({ memoryBytes: 400 * Mi }), { priority: 0, since: 3 })).toEqual({ ok: false, message: "needs 400Mi memory, 224Mi free of 1Gi allocatable" });
    expect(a.admit("d", "d/1", req({ cpu: 2.5 }), { priority: 0, since: 4 })).toEqual({ ok: false, message: "needs 2.5 CPU, more than the node's 2 allocatable" });
    expect(a.queuedNames()).toEqual(["c", "d"]);
  });

  it("never queues a job that asks for nothing: it holds nothing", () => {
    const a = lab();
    a.hold("big/1", "big", req({ memoryBytes: Gi, cpu: 2 }));
    expect(a.admit("free", "free/1", req({}), { priority: 0, since: 1 })).toEqual({ ok: true, cpus: [] });
    expect(a.queuedNames()).toEqual([]);
  });

  it("wakes the queued jobs that fit once a run ends", () => {
    const woken: string[][] = [];
    const a = lab((names) => woken.push(names));
    a.admit("a", "a/1", req({ memoryBytes: 600 * Mi }), { priority: 0, since: 1 });
    a.admit("b", "b/1", req({ memoryBytes: 600 * Mi }), { priority: 0, since: 2 });
    a.admit("c", "c/1", req({ memoryBytes: 500 * Mi }), { priority: 0, since: 3 });
    a.admit("d", "d/1", req({ memoryBytes: 100 * Mi }), { priority: 0, since: 4 });
    expect(woken).toEqual([]);
    a.release("a/1");
    // b fits now; c would fit alone, but b's 600Mi is set aside ahead of it, and d may not jump ahead of c.
    expect(woken).toEqual([["b"]]);
    expect(a.admit("c", "c/1", req({ memoryBytes: 500 * Mi }), { priority: 0, since: 3 })).toEqual({
      ok: false,
      message: "needs 500Mi memory, 1Gi free of 1Gi allocatable, 600Mi of it set aside for 1 job ahead in the queue",
    });
    expect(a.admit("b", "b/1", req({ memoryBytes: 600 * Mi }), { priority: 0, since: 2 }).ok).toBe(true);
    expect(a.admit("c", "c/1", req({ memoryBytes: 500 * Mi }), { priority: 0, since: 3 }).ok).toBe(false);
    a.release("b/1");
    expect(woken.at(-1)).toEqual(["c", "d"]);
  });

  it("does not let a job that can never fit hold up the queue", () => {
    const a = lab();
    a.admit("huge", "huge/1", req({ memoryBytes: 2 * Gi }), { priority: 9, since: 0 });
    expect(a.admit("small", "small/1", req({ memoryBytes: Mi }), { priority: 0, since: 1 }).ok).toBe(true);
  });

  it("withdrawing a queued job wakes the ones behind it", () => {
    const woken: string[][] = [];
    const a = lab((names) => woken.push(names));
    a.hold("run/1", "run", req({ memoryBytes: 512 * Mi }));
    a.admit("head", "head/1", req({ memoryBytes: 900 * Mi }), { priority: 0, since: 1 });
    a.admit("next", "next/1", req({ memoryBytes: 100 * Mi }), { priority: 0, since: 2 });
    a.withdraw("head");
    expect(woken).toEqual([["next"]]);
  });
});

describe("queue order and aging", () => {
  it("is priority first, then first come first served", () => {
    const a = lab();
    a.hold("full/1", "full", req({ memoryBytes: Gi }));
    a.admit("low-early", "x", req({ memoryBytes: Mi }), { priority: 0, since: 1000 });
    a.admit("high-late", "x", req({ memoryBytes: Mi }), { priority: 5, since: 2000 });
    a.admit("low-late", "x", req({ memoryBytes: Mi }), { priority: 0, since: 3000 });
    a.admit("high-early", "x", req({ memoryBytes: Mi }), { priority: 5, since: 1500 });
    expect(a.queuedNames()).toEqual(["high-early", "high-late", "low-early", "low-late"]);
  });

  it("lets a long-waiting low-priority job overtake newer higher ones: one priority level per minute waited", () => {
    const a = lab();
    a.hold("full/1", "full", req({ memoryBytes: Gi }));
    a.admit("patient", "x", req({ memoryBytes: Mi }), { priority: 0, since: 0 });
    // Priority 5 arriving 4 minutes later is ahead (its 5 levels are worth 5 minutes)...
    a.admit("early-burst", "x", req({ memoryBytes: Mi }), { priority: 5, since: 4 * MINUTE });
    // ...one arriving 6 minutes later is behind: the patient job has aged past it.
    a.admit("late-burst", "x", req({ memoryBytes: Mi }), { priority: 5, since: 6 * MINUTE });
    expect(a.queuedNames()).toEqual(["early-burst", "patient", "late-burst"]);
    a.release("full/1");
    expect(a.admittable()).toEqual(["early-burst", "patient", "late-burst"]);
  });

  it("re-queues a job whose priority changed in its new place", () => {
    const a = lab();
    a.hold("full/1", "full", req({ memoryBytes: Gi }));
    a.admit("a", "x", req({ memoryBytes: Mi }), { priority: 0, since: 1 });
    a.admit("b", "x", req({ memoryBytes: Mi }), { priority: 0, since: 2 });
    a.admit("b", "x", req({ memoryBytes: Mi }), { priority: 1, since: 2 });
    expect(a.queuedNames()).toEqual(["b", "a"]);
  });
});

describe("exclusive CPUs", () => {
  it("gives disjoint CPUs, counts them as CPU, and frees them at the end", () => {
    const a = lab();
    expect(a.admit("x", "x/1", req({ exclusiveCpus: 1 }), { priority: 0, since: 1 })).toEqual({ ok: true, cpus: [0] });
    expect(a.admit("y", "y/1", req({ exclusiveCpus: 1 }), { priority: 0, since: 2 })).toEqual({ ok: true, cpus: [1] });
    expect(a.admit("z", "z/1", req({ exclusiveCpus: 1 }), { priority: 0, since: 3 })).toEqual({
      ok: false,
      message: "needs 1 CPU, 0 free of 2 allocatable; needs 1 exclusive CPU, 0 free of 2 (0-1); held exclusively by 'x', 'y'",
    });
    a.release("x/1");
    expect(a.admit("z", "z/1", req({ exclusiveCpus: 1 }), { priority: 0, since: 3 })).toEqual({ ok: true, cpus: [0] });
  });

  it("refuses more than the node has, and an explicit cpuset on a CPU held exclusively", () => {
    const a = lab();
    expect(a.admit("wide", "w/1", req({ exclusiveCpus: 3 }), { priority: 0, since: 1 })).toEqual({ ok: false, message: "needs 3 exclusive CPUs, and the node has 2 (0-1)" });
    a.hold("x/1", "x", req({ exclusiveCpus: 1 }), [1]);
    expect(a.admit("pinned", "p/1", req({ cpuset: [0, 1] }), { priority: 0, since: 2 })).toEqual({ ok: false, message: "resources.cpuset names CPU 1, which job 'x' holds exclusively" });
    expect(a.admit("pinned0", "p0/1", req({ cpuset: [0] }), { priority: 0, since: 3 }).ok).toBe(true);
    // CPU 0 is pinned explicitly now: not given out exclusively.
    expect(a.admit("y", "y/1", req({ exclusiveCpus: 1 }), { priority: 0, since: 4 }).ok).toBe(false);
  });

  it("writes CPU lists as the kernel does", () => {
    expect(cpuListText([5, 0, 1, 2, 7, 8])).toBe("0-2,5,7-8");
  });
});

describe("node capacity", () => {
  it("keeps 10% of memory, at most 1 GiB, for the system", () => {
    expect(memoryAllocatable(2 * Gi)).toBe(2 * Gi - Math.floor(0.2 * Gi));
    expect(memoryAllocatable(64 * Gi)).toBe(63 * Gi);
  });
});
