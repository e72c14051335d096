/**
 * Server-Sent Events as the WHATWG spec reads them (the part joblet's streams use):
 * lines end with LF, CRLF or CR; `event`, `data` (several lines joined with LF) and `id`
 * fields; a line starting with ':' is a comment (the server's keep-alives); a blank line
 * dispatches the event. The id persists from event to event, so every event carries the
 * id to resume from.
 */

export interface SseEvent {
  /** "message" when the event names none. */
  event: string;
  data: string;
  /** The last id the stream set (this event's or an earlier one's). */
  id?: string;
}

export class SseParser {
  /** The start of a line whose end has not arrived: kept as chunks, joined once (a log chunk's line can be megabytes). */
  private parts: Buffer[] = [];
  private first = true;
  /** The last chunk ended in CR: an LF starting the next one belongs to it. */
  private afterCr = false;
  private type = "";
  private data: string[] = [];
  private lastId: string | undefined;

  /** Events completed by `chunk`; a partial line waits for the next one. */
  push(chunk: Uint8Array): SseEvent[] {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let start = 0;
    if (this.afterCr && bytes.length > 0) {
      this.afterCr = false;
      if (bytes[0] === LF) start = 1;
    }
    const events: SseEvent[] = [];
    // Positions of the next CR and LF, searched again only once passed: a chunk of many
    // lines is scanned once, not once per line.
    let cr = -1;
    let lf = -1;
    for (;;) {
      if (cr !== Infinity && cr < start) cr = find(bytes, CR, start);
      if (lf !== Infinity && lf < start) lf = find(bytes, LF, start);
      const end = Math.min(cr, lf);
      if (end === Infinity) break;
      const tail = bytes.subarray(start, end);
      // Lines end at ASCII bytes, so a line is whole UTF-8 however the chunks were cut.
      let line = (this.parts.length > 0 ? Buffer.concat([...this.parts, tail]) : tail).toString("utf8");
      if (this.first) {
        this.first = false;
        if (line.charCodeAt(0) === 0xfeff) line = line.slice(1); // a byte order mark
      }
      this.line(line, events);
      this.parts = [];
      if (end === cr && end + 1 === bytes.length) {
        this.afterCr = true;
        start = end + 1;
      } else start = end === cr && bytes[end + 1] === LF ? end + 2 : end + 1;
    }
    if (start < bytes.length) this.parts.push(bytes.subarray(start));
    return events;
  }

  /** At the end of the stream an event without its blank line is dropped, as the spec says. */
  end(): void {
    this.parts = [];
    this.type = "";
    this.data = [];
  }

  private line(line: string, events: SseEvent[]): void {
    if (line === "") {
      if (this.data.length > 0) events.push({ event: this.type === "" ? "message" : this.type, data: this.data.join("\n"), ...(this.lastId !== undefined ? { id: this.lastId } : {}) });
      this.type = "";
      this.data = [];
      return;
    }
    if (line.charCodeAt(0) === 58 /* ':' */) return;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.type = value;
    else if (field === "id" && !value.includes("\0")) this.lastId = value;
    // retry and unknown fields: ignored (reconnecting is the caller's business)
  }
}

const CR = 0x0d;
const LF = 0x0a;

function find(bytes: Buffer, byte: number, from: number): number {
  const at = bytes.indexOf(byte, from);
  return at === -1 ? Infinity : at;
}

/** The events of a byte stream, in order. */
export async function* sseEvents(body: AsyncIterable<Uint8Array>): AsyncGenerator<SseEvent> {
  const parser = new SseParser();
  for await (const chunk of body) yield* parser.push(chunk);
  parser.end();
}
