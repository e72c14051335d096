/**
 * Kubernetes-style quantities: "512Mi", "1.5Gi", "100M", "64k", 1000000 for
 * bytes; "1.5", "250m", 2 for CPU cores.
 *
 * Arithmetic is exact (BigInt over the decimal digits) because floating point
 * turns "0.1k" into 100.00000000000001 and a limit one byte off is a bug
 * nobody can see. Like Kubernetes, fractions round up: bytes to a whole byte,
 * cores to a millicore.
 */

export type QuantityCheck = { ok: true; value: number } | { ok: false; reason: string };

export const BYTES_EXAMPLES = "e.g. 512Mi, 1Gi, 1000000";
export const CORES_EXAMPLES = "e.g. 0.5, 250m, 2";

// Kubernetes' grammar without a sign: a sign on a limit is never meant.
// "E" alone is exa; "E3" / "e3" is a decimal exponent, hence the ordering.
const QUANTITY = /^(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?\d+|k|M|G|T|P|E|m)?$/;

/** The grammar as a JSON Schema pattern, so editors flag a typo before joblet does. */
export const QUANTITY_PATTERN = QUANTITY.source;
export const CORES_PATTERN = "^(\\d+(?:\\.\\d*)?|\\.\\d+)m?$";

const BINARY: Record<string, bigint> = { Ki: 10n, Mi: 20n, Gi: 30n, Ti: 40n, Pi: 50n, Ei: 60n };
const DECIMAL: Record<string, number> = { m: -3, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };

// An exponent this large is a typo, and 10n ** 1e9n would hang the daemon.
const MAX_EXPONENT = 30;

/** A non-negative rational number: numerator / denominator. */
interface Exact {
  num: bigint;
  den: bigint;
}

function exactOf(value: unknown): Exact | "syntax" | "range" {
  let text: string;
  if (typeof value === "number") {
    if (!Number.isFinite(value) || value < 0) return "syntax";
    // String(n) is the shortest decimal that reads back as n: exact enough, and
    // it sends YAML numbers (cpu: 1.5) through the same grammar as strings.
    text = String(value);
  } else if (typeof value === "string") {
    text = value;
  } else {
    return "syntax";
  }
  const match = QUANTITY.exec(text);
  if (!match) return "syntax";
  const [, digits = "", suffix = ""] = match;
  const [whole = "", fraction = ""] = digits.split(".");
  let num = BigInt((whole + fraction) || "0");
  let den = 10n ** BigInt(fraction.length);

  let exponent = 0;
  if (suffix in BINARY) {
    num *= 2n ** (BINARY[suffix] as bigint);
  } else if (suffix in DECIMAL) {
    exponent = DECIMAL[suffix] as number;
  } else if (suffix !== "") {
    exponent = Number(suffix.slice(1));
  }
  if (Math.abs(exponent) > MAX_EXPONENT) return "range";
  if (exponent >= 0) num *= 10n ** BigInt(exponent);
  else den *= 10n ** BigInt(-exponent);
  return { num, den };
}

function ceilDiv(num: bigint, den: bigint): bigint {
  return (num + den - 1n) / den;
}

/** Checks a byte quantity without throwing: for schemas that collect every error. */
export function checkBytes(value: unknown): QuantityCheck {
  const exact = exactOf(value);
  if (exact === "syntax") return { ok: false, reason: `is not a quantity (${BYTES_EXAMPLES})` };
  const bytes = exact === "range" ? undefined : ceilDiv(exact.num, exact.den);
  if (bytes === undefined || bytes > BigInt(Number.MAX_SAFE_INTEGER)) {
    return { ok: false, reason: `is too large (at most ${Number.MAX_SAFE_INTEGER} bytes)` };
  }
  return { ok: true, value: Number(bytes) };
}

/** Checks a CPU quantity (cores) without throwing. */
export function checkCores(value: unknown): QuantityCheck {
  // Binary and large decimal suffixes are valid Kubernetes quantities but
  // never a sensible CPU count: "2Gi" cores is a memory value in the wrong field.
  const isCpuForm = typeof value === "number" || (typeof value === "string" && new RegExp(CORES_PATTERN).test(value));
  const exact = isCpuForm ? exactOf(value) : "syntax";
  if (exact === "syntax") return { ok: false, reason: `is not a CPU quantity (${CORES_EXAMPLES})` };
  if (exact === "range") return { ok: false, reason: "is too large" };
  const millicores = ceilDiv(exact.num * 1000n, exact.den);
  if (millicores > 1_000_000_000n) return { ok: false, reason: "is too large (at most 1000000 cores)" };
  return { ok: true, value: Number(millicores) / 1000 };
}

function describe(value: unknown): string {
  return typeof value === "string" ? `'${value}'` : String(value);
}

/**
 * Bytes in a quantity ("1.5Gi" -> 1610612736). Throws an Error naming the
 * field and value: "memory '12Zi' is not a quantity (e.g. 512Mi, 1Gi, 1000000)".
 */
export function parseBytes(value: string | number, field = "memory"): number {
  const check = checkBytes(value);
  if (!check.ok) throw new Error(`${field} ${describe(value)} ${check.reason}`);
  return check.value;
}

/** Cores in a CPU quantity ("250m" -> 0.25, "1.5" -> 1.5, 2 -> 2), rounded up to a millicore. */
export function parseCores(value: string | number, field = "cpu"): number {
  const check = checkCores(value);
  if (!check.ok) throw new Error(`${field} ${describe(value)} ${check.reason}`);
  return check.value;
}

/** The shortest exact binary form of a byte count, for tables: 536870912 -> "512Mi". */
export function formatBytes(bytes: number): string {
  const units = ["Ei", "Pi", "Ti", "Gi", "Mi", "Ki"] as const;
  for (const [i, unit] of units.entries()) {
    const size = 2 ** (10 * (units.length - i));
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return String(bytes);
}

/** Exact when round (512Mi), else one decimal (1.5Mi): for people, not for parsing back. */
export function humanBytes(bytes: number): string {
  const exact = formatBytes(bytes);
  if (exact !== String(bytes) || bytes < 1024) return exact;
  const units = ["Ki", "Mi", "Gi", "Ti"];
  let value = bytes / 1024;
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  return `${value.toFixed(1)}${units[i]}`;
}
