/**
 * Who may do what, from the client certificate: CN is the identity, OU the role, as in the
 * original Joblet. viewer reads everything; operator also applies and deletes Jobs; admin
 * also Runtimes, Volumes and Networks.
 */
import type { TLSSocket } from "node:tls";
import type { Kind } from "../api/index.js";
import { kindPlural } from "../store/index.js";

export const ROLES = ["viewer", "operator", "admin"] as const;
export type Role = (typeof ROLES)[number];

export type Verb = "get" | "apply" | "delete";

export interface Caller {
  identity: string;
  /** The certificate's OU as written; `role` is set only when it names a known role. */
  ou: string | undefined;
  role?: Role;
}

/** The caller behind a verified client certificate. */
export function callerOf(socket: TLSSocket): Caller {
  const subject = socket.getPeerCertificate().subject ?? {};
  const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
  const identity = first(subject.CN) ?? "";
  const ous = subject.OU === undefined ? [] : Array.isArray(subject.OU) ? subject.OU : [subject.OU];
  // Several OUs would make the role ambiguous: none of them is taken.
  const ou = ous.length === 1 ? ous[0] : ous.length === 0 ? undefined : ous.join(",");
  const role = (ROLES as readonly string[]).includes(ou ?? "") ? (ou as Role) : undefined;
  return role === undefined ? { identity, ou } : { identity, ou, role };
}

/** Why the certificate carries no usable role, or undefined when it does. */
export function roleProblem(caller: Caller): string | undefined {
  if (caller.role !== undefined) return undefined;
  const what = caller.ou === undefined ? "has no OU" : `has OU '${caller.ou}'`;
  return `Certificate of CN ${caller.identity || "(none)"} ${what}, which is not a role (${ROLES.join(", ")})`;
}

/** Operators manage Jobs; everything else that changes the machine is an admin's. */
export function allowed(role: Role, verb: Verb, kind: Kind | undefined): boolean {
  if (verb === "get") return true;
  if (role === "admin") return true;
  return role === "operator" && kind === "Job";
}

/** The 403 sentence: "role 'viewer' (CN alice) may not apply jobs". */
export function denial(caller: Caller, verb: Verb, kind: Kind): string {
  return `role '${caller.role ?? caller.ou ?? ""}' (CN ${caller.identity}) may not ${verb} ${kindPlural(kind)}`;
}
