import { describe, expect, it } from "vitest";
import { canonicalJson, generation } from "../../src/api/index.js";

describe("generation", () => {
  const spec = { command: ["sh", "-c", "echo hi"], resources: { memory: "64Mi", cpu: "1" }, env: [{ name: "A", value: "1" }] };

  it("is a 16-digit hex hash of the canonical spec", () => {
    expect(canonicalJson(spec)).toBe('{"command":["sh","-c","echo hi"],"env":[{"name":"A","value":"1"}],"resources":{"cpu":"1","memory":"64Mi"}}');
    expect(generation(spec)).toMatch(/^[0-9a-f]{16}$/);
    expect(generation({})).toBe("44136fa355b3678a");
  });

  it("does not depend on key order or undefined members", () => {
    const reordered = { env: [{ value: "1", name: "A" }], resources: { cpu: "1", memory: "64Mi" }, command: ["sh", "-c", "echo hi"], args: undefined };
    expect(generation(reordered)).toBe(generation(spec));
  });

  it("changes with any change of the spec", () => {
    const base = generation(spec);
    expect(generation({ ...spec, resources: { memory: "65Mi", cpu: "1" } })).not.toBe(base);
    expect(generation({ ...spec, command: ["sh", "echo hi", "-c"] })).not.toBe(base);
    expect(generation({ ...spec, suspend: false })).not.toBe(base);
    // A number and a string of the same digits are different specs.
    expect(generation({ ...spec, resources: { memory: "64Mi", cpu: 1 } })).not.toBe(base);
  });
});
