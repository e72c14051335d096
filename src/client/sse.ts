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
  private readonly decoder = new TextDecoder("utf-8");
  private pending = "";
  private first = true;
  private type = "";
  private data: string[] = [];
  private lastId: string | undefined;

  /** Events completed by `chunk`; partial lines wait for the next one. */
  push(chunk: Uint8Array): SseEvent[] {
    // What is pending holds no line end (but perhaps a last CR): search only from there.
    const scanFrom = Math.max(0, this.pending.length - 1);
    let text = this.pending + this.decoder.decode(chunk, { stream: true });
    if (this.first && text.length > 0) {
      this.first = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    const events: SseEvent[] = [];
    let start = 0;
    // Positions of the next CR and LF, searched again only once passed: a chunk of many
    // lines is scanned once, not once per line.
    let cr = find(text, "\r", scanFrom);
    let lf = find(text, "\n", scanFrom);
    for (;;) {
      if (cr < start) cr = find(text, "\r", start);
      if (lf < start) lf = find(text, "\n", start);
      let end: number;
      let next: number;
      if (cr < lf) {
        // A CR at the very end may be the first half of a CRLF: wait for the next chunk.
        if (cr === text.length - 1) break;
        end = cr;
        next = text.charCodeAt(cr + 1) === 10 ? cr + 2 : cr + 1;
      } else if (lf !== Infinity) {
        end = lf;
        next = lf + 1;
      } else break;
      this.line(text.slice(start, end), events);
      start = next;
    }
    this.pending = text.slice(start);
    return events;
  }

  /** At the end of the stream an event without its blank line is dropped, as the spec says. */
  end(): void {
    this.pending = "";
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

function find(text: string, char: string, from: number): number {
  const at = text.indexOf(char, from);
  return at === -1 ? Infinity : at;
}

/** The events of a byte stream, in order. */
export async function* sseEvents(body: AsyncIterable<Uint8Array>): AsyncGenerator<SseEvent> {
  const parser = new SseParser();
  for await (const chunk of body) yield* parser.push(chunk);
  parser.end();
}
