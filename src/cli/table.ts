/** Column-aligned text as kubectl prints it: upper-case headers, three spaces between columns. */
export function table(headers: string[], rows: string[][]): string {
  const all = [headers, ...rows];
  const widths = headers.map((_, i) => Math.max(...all.map((row) => (row[i] ?? "").length)));
  return all.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]! + 3))).join("").trimEnd()).join("\n") + "\n";
}

/** Only the rows, padded as `table` would pad them together with its headers (for --watch updates). */
export function tableRows(headers: string[], rows: string[][], widthsFrom: string[][]): string {
  const text = table(headers, [...widthsFrom, ...rows]).split("\n");
  return text.slice(1 + widthsFrom.length, 1 + widthsFrom.length + rows.length).join("\n") + "\n";
}
