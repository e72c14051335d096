/**
 * A unified diff of two texts (manifests: small), by longest common subsequence, with
 * three lines of context as `diff -u` prints.
 */

type Op = { tag: " " | "-" | "+"; line: string; a: number; b: number };

function lines(text: string): string[] {
  if (text === "") return [];
  const out = text.split("\n");
  if (out[out.length - 1] === "") out.pop();
  return out;
}

function edits(a: string[], b: string[]): Op[] {
  const n = a.length;
  const m = b.length;
  // lcs[i][j]: length of the LCS of a[i..] and b[j..].
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) ops.push({ tag: " ", line: a[i]!, a: i++, b: j++ });
    // Removals before additions on a tie, as diff -u prints a changed line.
    else if (i < n && (j === m || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) ops.push({ tag: "-", line: a[i]!, a: i++, b: j });
    else ops.push({ tag: "+", line: b[j]!, a: i, b: j++ });
  }
  return ops;
}

/** "" when equal; otherwise ---/+++ headers and @@ hunks. */
export function unifiedDiff(before: string, after: string, fromLabel: string, toLabel: string, context = 3): string {
  if (before === after) return "";
  const ops = edits(lines(before), lines(after));
  const changed = ops.map((op, k) => (op.tag !== " " ? k : -1)).filter((k) => k >= 0);
  let out = `--- ${fromLabel}\n+++ ${toLabel}\n`;
  let k = 0;
  while (k < changed.length) {
    const start = Math.max(0, changed[k]! - context);
    let end = Math.min(ops.length, changed[k]! + context + 1);
    while (k + 1 < changed.length && changed[k + 1]! - context <= end) end = Math.min(ops.length, changed[++k]! + context + 1);
    k++;
    const hunk = ops.slice(start, end);
    const aLen = hunk.filter((o) => o.tag !== "+").length;
    const bLen = hunk.filter((o) => o.tag !== "-").length;
    const aStart = aLen === 0 ? hunk[0]!.a : hunk[0]!.a + 1;
    const bStart = bLen === 0 ? hunk[0]!.b : hunk[0]!.b + 1;
    out += `@@ -${aStart},${aLen} +${bStart},${bLen} @@\n`;
    out += hunk.map((o) => `${o.tag}${o.line}\n`).join("");
  }
  return out;
}
