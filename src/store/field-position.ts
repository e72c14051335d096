/**
 * Finds the line of a field path ("spec.resources.memory", ["spec", "env", 0, "name"])
 * in a manifest's text, so that a validation error can name file, line and field.
 *
 * A light scan rather than a second parse: it follows block-style YAML by indentation
 * (mappings, sequences, compact `- key:` items, block scalars skipped by their deeper
 * indentation) and JSON by its brackets. Flow collections inside YAML are leaves. When a
 * path does not exist completely (a missing required field, or one the scan cannot
 * follow) the line of the deepest part that exists is given, with `found: false`.
 */

export type FieldPath = readonly (string | number)[];

export interface FieldPosition {
  /** 1-based line in the stream the text came from. */
  line: number;
  /** True when the whole path was found; otherwise `line` is that of its deepest existing prefix. */
  found: boolean;
}

/** "spec.containers[0].name" -> ["spec", "containers", 0, "name"]. */
export function parseFieldPath(path: string | FieldPath): FieldPath {
  if (typeof path !== "string") return path;
  const out: (string | number)[] = [];
  for (const part of path.split(".")) {
    if (part === "") continue;
    const re = /\[(\d+)\]/g;
    const head = part.replace(/\[.*$/, "");
    if (head !== "") out.push(head);
    for (let m = re.exec(part); m !== null; m = re.exec(part)) out.push(Number(m[1]));
  }
  return out;
}

function asIndex(segment: string | number): number | undefined {
  if (typeof segment === "number") return segment;
  return /^\d+$/.test(segment) ? Number(segment) : undefined;
}

// ---- block YAML ----

interface Node {
  line: number;
  col: number;
  end: number;
}

class YamlLines {
  readonly lines: string[];

  constructor(text: string) {
    this.lines = text.split("\n").map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
  }

  indent(i: number): number {
    const line = this.lines[i] ?? "";
    let n = 0;
    while (line[n] === " ") n++;
    return n;
  }

  isContent(i: number): boolean {
    const line = this.lines[i] ?? "";
    const trimmed = line.trimStart();
    if (trimmed === "" || trimmed.startsWith("#")) return false;
    // Document markers and directives are structure, not content.
    return !(/^(---|\.\.\.)(\s|$)/.test(line) || line.startsWith("%"));
  }

  nextContent(after: number, end: number): number | undefined {
    for (let j = after + 1; j < end; j++) if (this.isContent(j)) return j;
    return undefined;
  }

  isDash(i: number, col: number): boolean {
    const line = this.lines[i] ?? "";
    const next = line[col + 1];
    return line[col] === "-" && (next === undefined || next === " " || next === "\t");
  }

  /** The line after the last one of a node starting at (line, col). */
  nodeEnd(line: number, col: number, limit: number, sequence: boolean): number {
    for (let j = line + 1; j < limit; j++) {
      if (!this.isContent(j)) continue;
      const ind = this.indent(j);
      if (ind < col || (sequence && ind === col && !this.isDash(j, col))) return j;
    }
    return limit;
  }

  /** The mapping key at (i, col) and the column after its colon, if the text there is `key:`. */
  readKey(i: number, col: number): { key: string; after: number } | undefined {
    const line = this.lines[i] ?? "";
    const ch = line[col];
    let key: string;
    let pos: number;
    if (ch === '"') {
      let j = col + 1;
      while (j < line.length && line[j] !== '"') j += line[j] === "\\" ? 2 : 1;
      const raw = line.slice(col, j + 1);
      try {
        key = JSON.parse(raw) as string;
      } catch {
        key = raw.slice(1, -1);
      }
      pos = j + 1;
    } else if (ch === "'") {
      let j = col + 1;
      while (j < line.length && !(line[j] === "'" && line[j + 1] !== "'")) j += line[j] === "'" ? 2 : 1;
      key = line.slice(col + 1, j).replace(/''/g, "'");
      pos = j + 1;
    } else {
      if (ch === undefined || "[{?&!*|>#-".includes(ch)) return undefined;
      let j = col;
      for (; j < line.length; j++) {
        if (line[j] === ":" && (j + 1 === line.length || line[j + 1] === " " || line[j + 1] === "\t")) break;
        if (line[j] === "#" && (line[j - 1] === " " || line[j - 1] === "\t")) return undefined;
      }
      if (j >= line.length) return undefined;
      return { key: line.slice(col, j).trimEnd(), after: j + 1 };
    }
    while (line[pos] === " " || line[pos] === "\t") pos++;
    return line[pos] === ":" ? { key, after: pos + 1 } : undefined;
  }

  kind(node: Node): "map" | "seq" | "leaf" {
    if (this.isDash(node.line, node.col)) return "seq";
    return this.readKey(node.line, node.col) !== undefined ? "map" : "leaf";
  }

  /** The node starting at (line, col) up to `limit`. */
  node(line: number, col: number, limit: number): Node {
    const sequence = this.isDash(line, col);
    return { line, col, end: this.nodeEnd(line, col, limit, sequence) };
  }

  /** The value after `key:` (ending at column `after` of line i) of a mapping at column `col`. */
  valueOfKey(i: number, after: number, col: number, limit: number): Node | undefined {
    const rest = stripProperties((this.lines[i] ?? "").slice(after));
    if (rest !== "") return undefined;
    const j = this.nextContent(i, limit);
    if (j === undefined) return undefined;
    const ind = this.indent(j);
    if (ind > col) return this.node(j, ind, limit);
    if (ind === col && this.isDash(j, col)) return this.node(j, col, limit);
    return undefined;
  }

  /** The value of a `-` item at (i, col). */
  valueOfItem(i: number, col: number, limit: number): Node | undefined {
    const line = this.lines[i] ?? "";
    let c = col + 1;
    while (line[c] === " " || line[c] === "\t") c++;
    if (c < line.length && line[c] !== "#") return this.node(i, c, limit);
    const j = this.nextContent(i, limit);
    if (j === undefined || this.indent(j) <= col) return undefined;
    return this.node(j, this.indent(j), limit);
  }

  entries(node: Node): number[] {
    const out = [node.line];
    for (let j = node.line + 1; j < node.end; j++) {
      if (this.isContent(j) && this.indent(j) === node.col && !this.isDash(j, node.col)) out.push(j);
    }
    return out;
  }

  items(node: Node): number[] {
    const out: number[] = [];
    for (let j = node.line; j < node.end; j++) {
      if (this.isContent(j) && this.indent(j) === node.col && this.isDash(j, node.col)) out.push(j);
    }
    if (out[0] !== node.line) out.unshift(node.line); // an inline `- - x` starts mid-line
    return out;
  }
}

/** Drops a comment and anchors/tags (`&a`, `!!map`) that may precede a block value. */
function stripProperties(rest: string): string {
  let s = rest.trim();
  while (/^[&!]/.test(s)) s = s.replace(/^\S+\s*/, "");
  return s.startsWith("#") ? "" : s;
}

/** Position of `path` in a block-style YAML document whose first line is line `firstLine` of its stream. */
export function findYamlField(text: string, path: string | FieldPath, firstLine = 1): FieldPosition {
  const y = new YamlLines(text);
  const segments = parseFieldPath(path);
  const root = y.nextContent(-1, y.lines.length);
  if (root === undefined) return { line: firstLine, found: segments.length === 0 };
  let node: Node | undefined = y.node(root, y.indent(root), y.lines.length);
  let best = root;
  let depth = 0;
  for (const segment of segments) {
    if (node === undefined) break;
    const kind = y.kind(node);
    let next: Node | undefined;
    if (kind === "map") {
      const map = node;
      const entry = y
        .entries(map)
        .map((i) => ({ i, key: y.readKey(i, map.col) }))
        .find((e) => e.key?.key === String(segment));
      if (entry?.key === undefined) break;
      best = entry.i;
      next = y.valueOfKey(entry.i, entry.key.after, map.col, map.end);
    } else if (kind === "seq") {
      const index = asIndex(segment);
      const item = index === undefined ? undefined : y.items(node)[index];
      if (item === undefined) break;
      best = item;
      next = y.valueOfItem(item, node.col, node.end);
    } else {
      break;
    }
    depth++;
    node = next;
  }
  return { line: firstLine + best, found: depth === segments.length };
}

// ---- JSON ----

class JsonScan {
  constructor(readonly text: string) {}

  ws(pos: number): number {
    while (pos < this.text.length && " \t\r\n".includes(this.text[pos]!)) pos++;
    return pos;
  }

  string(pos: number): number {
    let j = pos + 1;
    while (j < this.text.length && this.text[j] !== '"') j += this.text[j] === "\\" ? 2 : 1;
    return j + 1;
  }

  value(pos: number): number {
    const ch = this.text[pos];
    if (ch === '"') return this.string(pos);
    if (ch === "{" || ch === "[") {
      let depth = 0;
      for (let j = pos; j < this.text.length; j++) {
        const c = this.text[j];
        if (c === '"') j = this.string(j) - 1;
        else if (c === "{" || c === "[") depth++;
        else if (c === "}" || c === "]") if (--depth === 0) return j + 1;
      }
      return this.text.length;
    }
    while (pos < this.text.length && !",}] \t\r\n".includes(this.text[pos]!)) pos++;
    return pos;
  }

  /** Position of the member `key` of the object at `pos` (its key) and of its value. */
  member(pos: number, key: string): { at: number; value: number } | undefined {
    pos = this.ws(pos + 1);
    while (pos < this.text.length && this.text[pos] === '"') {
      const end = this.string(pos);
      let name: string;
      try {
        name = JSON.parse(this.text.slice(pos, end)) as string;
      } catch {
        return undefined;
      }
      const colon = this.ws(end);
      if (this.text[colon] !== ":") return undefined;
      const value = this.ws(colon + 1);
      if (name === key) return { at: pos, value };
      pos = this.ws(this.value(value));
      if (this.text[pos] !== ",") return undefined;
      pos = this.ws(pos + 1);
    }
    return undefined;
  }

  element(pos: number, index: number): number | undefined {
    pos = this.ws(pos + 1);
    for (let i = 0; pos < this.text.length && this.text[pos] !== "]"; i++) {
      if (i === index) return pos;
      pos = this.ws(this.value(pos));
      if (this.text[pos] !== ",") return undefined;
      pos = this.ws(pos + 1);
    }
    return undefined;
  }
}

/** Position of `path` in a JSON text whose first line is line `firstLine` of its stream. */
export function findJsonField(text: string, path: string | FieldPath, firstLine = 1): FieldPosition {
  const scan = new JsonScan(text);
  const segments = parseFieldPath(path);
  let pos = scan.ws(0);
  let best = pos;
  let depth = 0;
  for (const segment of segments) {
    const ch = text[pos];
    if (ch === "{") {
      const member = scan.member(pos, String(segment));
      if (member === undefined) break;
      best = member.at;
      pos = member.value;
    } else if (ch === "[") {
      const index = asIndex(segment);
      const at = index === undefined ? undefined : scan.element(pos, index);
      if (at === undefined) break;
      best = pos = at;
    } else {
      break;
    }
    depth++;
  }
  return { line: firstLine + countLines(text, Math.min(best, text.length)), found: depth === segments.length };
}

function countLines(text: string, end: number): number {
  let n = 0;
  for (let i = text.indexOf("\n"); i !== -1 && i < end; i = text.indexOf("\n", i + 1)) n++;
  return n;
}
