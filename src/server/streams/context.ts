/**
 * What the HTTPS server hands a streaming handler: the request and response it owns from
 * here on, the state dir, and which objects it is about. `signal` aborts when the client
 * goes away (or the server shuts down); a handler then stops and releases everything.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Kind } from "../../api/index.js";
import { checkSegment, type StateLayout } from "../../store/index.js";
import { HttpError } from "../http.js";

export interface StreamContext {
  req: IncomingMessage;
  res: ServerResponse;
  layout: StateLayout;
  kind: Kind;
  /** The object named in the URL (`/PLURAL/NAME`); absent for a whole-kind watch. */
  name?: string;
  query: URLSearchParams;
  signal: AbortSignal;
}

/** The object's name from the URL, refused with a 400 when it cannot name a file (the server core checks first; this is the backstop). */
export function objectName(kind: Kind, name: string): string {
  try {
    return checkSegment(`${kind} name`, name);
  } catch (e) {
    throw new HttpError(400, (e as Error).message);
  }
}
