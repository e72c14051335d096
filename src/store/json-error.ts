/**
 * Where a JSON text stops being JSON, as 1-based line and column. JSON.parse on Node 20
 * names an offset for some errors only ("Unexpected token '}', ...") and js-yaml accepts
 * things JSON does not, so after JSON.parse has failed this small strict scanner finds
 * the spot. It only runs on the error path.
 */
export function jsonErrorPosition(text: string): { line: number; column: number } {
  const offset = firstErrorOffset(text);
  const lineStart = text.lastIndexOf("\n", offset - 1) + 1;
  let line = 1;
  for (let i = text.indexOf("\n"); i !== -1 && i < offset; i = text.indexOf("\n", i + 1)) line++;
  return { line, column: offset - lineStart + 1 };
}

class Stop {
  constructor(readonly at: number) {}
}

function firstErrorOffset(text: string): number {
  let pos = 0;
  const fail = (): never => {
    throw new Stop(Math.min(pos, text.length));
  };
  const ws = (): void => {
    while (pos < text.length && " \t\r\n".includes(text[pos]!)) pos++;
  };
  const expect = (ch: string): void => {
    if (text[pos] !== ch) fail();
    pos++;
  };
  const string = (): void => {
    expect('"');
    while (pos < text.length && text[pos] !== '"') {
      const c = text.charCodeAt(pos);
      if (c < 0x20) fail();
      if (text[pos] === "\\") {
        pos++;
        if (text[pos] === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(pos + 1, pos + 5))) fail();
          pos += 4;
        } else if (!'"\\/bfnrt'.includes(text[pos] ?? "x")) fail();
      }
      pos++;
    }
    expect('"');
  };
  const value = (): void => {
    ws();
    const ch = text[pos];
    if (ch === "{") {
      pos++;
      ws();
      if (text[pos] === "}") return void pos++;
      for (;;) {
        ws();
        string();
        ws();
        expect(":");
        value();
        ws();
        if (text[pos] === ",") pos++;
        else return expect("}");
      }
    }
    if (ch === "[") {
      pos++;
      ws();
      if (text[pos] === "]") return void pos++;
      for (;;) {
        value();
        ws();
        if (text[pos] === ",") pos++;
        else return expect("]");
      }
    }
    if (ch === '"') return string();
    for (const word of ["true", "false", "null"]) {
      if (text.startsWith(word, pos)) return void (pos += word.length);
    }
    const number = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(pos, pos + 400));
    if (number === null || number[0] === "" || number[0] === "-") fail();
    pos += number![0].length;
  };
  try {
    value();
    ws();
    if (pos < text.length) fail();
  } catch (e) {
    if (e instanceof Stop) return e.at;
    throw e;
  }
  return text.length; // valid after all: point at the end
}
