/**
 * What the HTTPS server hands a streaming handler: the request and response it owns from
 * here on, the state dir, and which objects it is about. `signal` aborts when the client
 * goes away (or the server shuts down); a handler then stops and releases everything.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Kind } from "../../api/index.js";
import type { StateLayout } from "../../store/index.js";

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
