import { describe, expect, it } from "vitest";
import { checkBytes, checkCores, formatBytes, parseBytes, parseCores } from "../../src/api/quantity.js";

describe("parseBytes", () => {
  it.each([
    ["512Mi", 536870912],
    ["1Gi", 1073741824],
    ["1.5Gi", 1610612736],
    ["100M", 100000000],
    ["64k", 64000],
    ["1Ki", 1024],
    ["2Ti", 2199023255552],
    ["7Pi", 7881299347898368],
    ["1000000", 1000000],
    [1000000, 1000000],
    [0, 0],
    ["1e3", 1000],
    ["5E2", 500],
    [".5Ki", 512],
    ["2.", 2],
  ] as const)("reads %j as %d bytes", (text, expected) => {
    expect(parseBytes(text)).toBe(expected);
  });

  it("is exact where floating point is not", () => {
    // 0.1 * 1000 and 1.1 * 1000 are not whole numbers in floating point.
    expect(parseBytes("0.1k")).toBe(100);
    expect(parseBytes("1.1k")).toBe(1100);
    expect(parseBytes("0.3M")).toBe(300000);
  });

  it("rounds a fraction of a byte up, as Kubernetes does", () => {
    expect(parseBytes("1.1Gi")).toBe(1181116007);
    expect(parseBytes("1.5")).toBe(2);
    expect(parseBytes("100m")).toBe(1);
  });

  it.each(["12Zi", "-1", "1.2.3", "", " 1Gi", "1gi", "Gi", "1 Gi", "1Gib", "+5", "0x10", "1e"])("refuses %j", (text) => {
    expect(() => parseBytes(text)).toThrow(`memory '${text}' is not a quantity (e.g. 512Mi, 1Gi, 1000000)`);
  });

  it("names the field and gives the exact message", () => {
    expect(() => parseBytes("12Zi")).toThrow(new Error("memory '12Zi' is not a quantity (e.g. 512Mi, 1Gi, 1000000)"));
    expect(() => parseBytes("3X", "ioBps")).toThrow(new Error("ioBps '3X' is not a quantity (e.g. 512Mi, 1Gi, 1000000)"));
    expect(() => parseBytes(-5)).toThrow(new Error("memory -5 is not a quantity (e.g. 512Mi, 1Gi, 1000000)"));
    expect(() => parseBytes(Number.NaN)).toThrow(new Error("memory NaN is not a quantity (e.g. 512Mi, 1Gi, 1000000)"));
  });

  it("refuses sizes beyond what a number holds exactly", () => {
    expect(checkBytes("8Pi")).toEqual({ ok: false, reason: "is too large (at most 9007199254740991 bytes)" });
    expect(checkBytes("1E")).toEqual({ ok: false, reason: "is too large (at most 9007199254740991 bytes)" });
    expect(checkBytes("1e999999999")).toEqual({ ok: false, reason: "is too large (at most 9007199254740991 bytes)" });
    expect(checkBytes(true)).toEqual({ ok: false, reason: "is not a quantity (e.g. 512Mi, 1Gi, 1000000)" });
  });
});

describe("parseCores", () => {
  it.each([
    ["1.5", 1.5],
    ["250m", 0.25],
    [2, 2],
    [0.5, 0.5],
    ["2", 2],
    ["1.1", 1.1],
    [1.1, 1.1],
    ["0.1", 0.1],
    ["1500m", 1.5],
  ] as const)("reads %j as %d cores", (text, expected) => {
    expect(parseCores(text)).toBe(expected);
  });

  it("rounds up to a whole millicore, as Kubernetes does", () => {
    expect(parseCores("0.0001")).toBe(0.001);
    expect(parseCores("1.0005")).toBe(1.001);
  });

  it.each(["2Gi", "1k", "abc", "", "-1", "1.5.0", "250 m"])("refuses %j", (text) => {
    expect(() => parseCores(text)).toThrow(new Error(`cpu '${text}' is not a CPU quantity (e.g. 0.5, 250m, 2)`));
  });

  it("refuses absurd core counts", () => {
    expect(checkCores("2000000")).toEqual({ ok: false, reason: "is too large (at most 1000000 cores)" });
  });
});

describe("formatBytes", () => {
  it("uses the largest binary unit that divides exactly", () => {
    expect(formatBytes(536870912)).toBe("512Mi");
    expect(formatBytes(1610612736)).toBe("1536Mi");
    expect(formatBytes(1024)).toBe("1Ki");
    expect(formatBytes(1000)).toBe("1000");
    expect(formatBytes(0)).toBe("0");
  });
});
