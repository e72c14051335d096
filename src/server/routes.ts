/**
 * The remote API's paths (api.md), parsed from the raw request target: segments are split
 * before they are percent-decoded, so `%2F` inside a name stays inside that name, and is
 * then refused with every other name that could climb out of a directory.
 */
import { KINDS, type Kind } from "../api/index.js";
import { dnsLabelProblem, runtimeNameProblem } from "../api/names.js";
import { kindPlural } from "../store/index.js";
import { HttpError } from "./http.js";

export const API_PREFIX = "/apis/joblet/v1";

export type Route =
  | { type: "healthz" }
  | { type: "metrics" }
  | { type: "collection"; kind: Kind }
  | { type: "object"; kind: Kind; name: string }
  | { type: "log"; name: string };

const BY_PLURAL = new Map<string, Kind>(KINDS.map((k) => [kindPlural(k), k]));

/** Methods each route answers; anything else is a 405 naming them. */
export function methodsOf(route: Route): string[] {
  return route.type === "object" ? ["GET", "PUT", "DELETE"] : ["GET"];
}

export function parseTarget(target: string): { route: Route; query: URLSearchParams } {
  const q = target.indexOf("?");
  const path = q === -1 ? target : target.slice(0, q);
  const query = new URLSearchParams(q === -1 ? "" : target.slice(q + 1));
  return { route: parseRoute(path), query };
}

function notFound(path: string): HttpError {
  return new HttpError(404, `No such path: ${path}`);
}

function parseRoute(path: string): Route {
  if (path === "/healthz") return { type: "healthz" };
  if (path === "/metrics") return { type: "metrics" };
  if (path !== API_PREFIX && !path.startsWith(`${API_PREFIX}/`)) throw notFound(path);
  const segments = path.slice(API_PREFIX.length + 1).split("/");
  const kind = BY_PLURAL.get(segments[0] ?? "");
  if (kind === undefined) throw new HttpError(404, `No such path: ${path} (kinds: ${[...BY_PLURAL.keys()].join(", ")})`);
  if (segments.length === 1) return { type: "collection", kind };
  const name = checkName(kind, decode(segments[1]!));
  if (segments.length === 2) return { type: "object", kind, name };
  if (segments.length === 3 && kind === "Job" && segments[2] === "log") return { type: "log", name };
  throw notFound(path);
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, `Name '${segment}' is not valid percent-encoding`);
  }
}

/** The name as it came, or a 400 saying why it is not one. */
export function checkName(kind: Kind, name: string): string {
  const shown = name.replaceAll("\0", "\\0");
  const problem = name.includes("\0")
    ? "must not contain a NUL byte"
    : name.includes("/")
      ? "must not contain '/'"
      : name.includes("..")
        ? "must not contain '..'"
        : kind === "Runtime"
          ? runtimeNameProblem(name)
          : dnsLabelProblem(name);
  if (problem !== undefined) throw new HttpError(400, `${kind} name '${shown}' ${problem}`);
  return name;
}
