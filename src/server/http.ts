/**
 * Responses of the remote API: JSON bodies, and errors as `{"error": "<one sentence>"}`
 * (plus `errors` with paths for validation), whatever went wrong.
 */
import type { ServerResponse } from "node:http";

export interface FieldError {
  path: string;
  message: string;
}

/** A failure the client caused or may act on: its status code and sentence go back as they are. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors?: FieldError[],
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "HttpError";
  }
}

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = `${JSON.stringify(value)}\n`;
  res.writeHead(status, { ...headers, "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

export function sendText(res: ServerResponse, status: number, text: string, contentType = "text/plain; charset=utf-8"): void {
  res.writeHead(status, { "content-type": contentType, "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/** `headers` add to the error's own (e.g. Connection: close while a body is still unread). */
export function sendError(res: ServerResponse, error: HttpError, headers: Record<string, string> = {}): void {
  const body = error.errors === undefined ? { error: error.message } : { error: error.message, errors: error.errors };
  sendJson(res, error.status, body, { ...error.headers, ...headers });
}
