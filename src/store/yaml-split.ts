/**
 * Splits a multi-document YAML stream into its documents' texts before parsing, so
 * that each document knows the line it starts on (js-yaml's loadAll does not say) and
 * can be searched for field positions later.
 *
 * A line starting with `---` (alone or followed by a space) or `...` at column 0 is a
 * document marker wherever it appears: YAML forbids such lines inside content, and
 * js-yaml refuses them there too, so splitting on them cannot cut a valid document.
 */

export interface YamlChunk {
  /** The document's text, `---` line included. */
  text: string;
  /** 1-based line of the chunk's first line within the stream. */
  firstLine: number;
  /** 1-based line where the document starts: its `---` marker, else its first content line. */
  line: number;
}

const START = /^---(?:[ \t\r]|$)/;
const END = /^\.\.\.(?:[ \t\r]|$)/;

function isContent(line: string): boolean {
  const trimmed = line.trimStart();
  return trimmed !== "" && !trimmed.startsWith("#");
}

export function splitYamlDocuments(text: string): YamlChunk[] {
  const lines = text.split("\n");
  const chunks: YamlChunk[] = [];
  let start = 0;
  let marker: number | undefined;
  let content: number | undefined;
  let sawDirective = false;

  const flush = (end: number): void => {
    if (end > start && (marker !== undefined || content !== undefined)) {
      chunks.push({
        text: lines.slice(start, end).join("\n"),
        firstLine: start + 1,
        line: (marker ?? content ?? start) + 1,
      });
    }
    start = end;
    marker = undefined;
    content = undefined;
    sawDirective = false;
  };

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? "";
    if (START.test(line)) {
      // Directives (%YAML) and comments before a marker belong to the document it opens.
      if (marker !== undefined || content !== undefined) flush(i);
      marker = i;
    } else if (END.test(line)) {
      flush(i + 1);
    } else if (line.startsWith("%") && marker === undefined && content === undefined) {
      sawDirective = true;
    } else if (isContent(line) && content === undefined && marker === undefined) {
      content = i;
    }
  }
  if (sawDirective && marker === undefined && content === undefined) {
    // A directive with no document after it: keep it so the parser reports the mistake.
    chunks.push({ text: lines.slice(start).join("\n"), firstLine: start + 1, line: start + 1 });
    return chunks;
  }
  flush(lines.length);
  return chunks;
}
