import { describe, expect, it } from "vitest";
import {
  getCondition,
  isFalse,
  isTrue,
  removeCondition,
  setCondition,
  type Condition,
} from "../../src/reconciler/conditions.js";
import { EventLog } from "../../src/reconciler/events.js";
import { isObserved, markObserved } from "../../src/reconciler/generation.js";

const T1 = "2026-01-01T00:00:00.000Z";
const T2 = "2026-01-01T00:01:00.000Z";
const T3 = "2026-01-01T00:02:00.000Z";

describe("conditions", () => {
  it("adds a condition with the transition time", () => {
    const next = setCondition([], { type: "Ready", status: "True", reason: "Converged", message: "" }, T1);
    expect(next).toEqual([{ type: "Ready", status: "True", reason: "Converged", message: "", lastTransitionTime: T1 }]);
    expect(getCondition(next, "Ready")?.lastTransitionTime).toBe(T1);
    expect(isTrue(next, "Ready")).toBe(true);
    expect(isFalse(next, "Ready")).toBe(false);
    expect(isTrue(undefined, "Ready")).toBe(false);
  });

  it("keeps the transition time while the status stays, and moves it when the status flips", () => {
    let conditions: Condition[] = setCondition(
      [],
      { type: "Ready", status: "False", reason: "InvalidManifest", message: "a.yaml:3: spec.command is required" },
      T1,
    );
    conditions = setCondition(
      conditions,
      { type: "Ready", status: "False", reason: "InvalidManifest", message: "a.yaml:4: spec.args must be a list" },
      T2,
    );
    expect(conditions[0]).toMatchObject({ message: "a.yaml:4: spec.args must be a list", lastTransitionTime: T1 });
    conditions = setCondition(conditions, { type: "Ready", status: "True", reason: "Converged", message: "" }, T3);
    expect(conditions[0]).toMatchObject({ status: "True", reason: "Converged", lastTransitionTime: T3 });
    expect(conditions).toHaveLength(1);
  });

  it("returns the same array when nothing changed, so status writes can be skipped", () => {
    const conditions = setCondition([], { type: "Complete", status: "True", reason: "Succeeded", message: "" }, T1);
    const again = setCondition(conditions, { type: "Complete", status: "True", reason: "Succeeded", message: "" }, T2);
    expect(again).toBe(conditions);
    const original = [...conditions];
    setCondition(conditions, { type: "Failed", status: "False", reason: "Running", message: "" }, T2);
    expect(conditions).toEqual(original); // Never mutated.
    expect(removeCondition(conditions, "Absent")).toBe(conditions);
    expect(removeCondition(conditions, "Complete")).toEqual([]);
  });

  it("rejects a reason that is not CamelCase", () => {
    expect(() => setCondition([], { type: "Ready", status: "False", reason: "invalid manifest", message: "" })).toThrow(
      "Cannot set condition 'Ready': reason 'invalid manifest' is not CamelCase",
    );
  });
});

describe("EventLog", () => {
  it("folds identical events into one with a count and first/last timestamps", () => {
    const log = new EventLog();
    log.record("job/a", { type: "Normal", reason: "Started", message: "Started run 1" }, T1);
    log.record("job/a", { type: "Warning", reason: "BackOff", message: "Back-off restarting" }, T1);
    log.record("job/a", { type: "Warning", reason: "BackOff", message: "Back-off restarting" }, T2);
    log.record("job/a", { type: "Warning", reason: "BackOff", message: "Back-off restarting" }, T3);
    log.record("job/b", { type: "Normal", reason: "Started", message: "Started run 1" }, T2);
    expect(log.list("job/a")).toEqual([
      { type: "Normal", reason: "Started", message: "Started run 1", count: 1, firstTimestamp: T1, lastTimestamp: T1 },
      { type: "Warning", reason: "BackOff", message: "Back-off restarting", count: 3, firstTimestamp: T1, lastTimestamp: T3 },
    ]);
    expect(log.list("job/b")).toHaveLength(1);
    expect(log.list("job/none")).toEqual([]);
  });

  it("orders by last occurrence and keeps a bounded number of events and objects", () => {
    const log = new EventLog({ maxPerObject: 3, maxObjects: 2 });
    for (let i = 0; i < 5; i++) log.record("job/a", { type: "Normal", reason: "Started", message: `run ${i}` }, T1);
    log.record("job/a", { type: "Normal", reason: "Started", message: "run 2" }, T2);
    expect(log.list("job/a").map((e) => e.message)).toEqual(["run 3", "run 4", "run 2"]);

    log.record("job/b", { type: "Normal", reason: "Started", message: "x" }, T1);
    log.record("job/c", { type: "Normal", reason: "Started", message: "x" }, T1);
    expect(log.list("job/a")).toEqual([]); // The least recently recorded object went.
    expect(log.list("job/b")).toHaveLength(1);
    log.forget("job/b");
    expect(log.list("job/b")).toEqual([]);
  });
});

describe("generation", () => {
  it("tells whether the status describes the current spec", () => {
    expect(isObserved(undefined, 1)).toBe(false);
    expect(isObserved({}, 1)).toBe(false);
    expect(isObserved({ observedGeneration: 1 }, 2)).toBe(false);
    expect(isObserved({ observedGeneration: "sha256:ab" }, "sha256:ab")).toBe(true);
    const status = { phase: "Running", observedGeneration: 1 };
    expect(markObserved(status, 1)).toBe(status);
    expect(markObserved(status, 2)).toEqual({ phase: "Running", observedGeneration: 2 });
  });
});
