/**
 * KIND arguments as kubectl takes them: `job`, `jobs`, `Job`, `job/NAME`.
 */
import { KINDS, type Kind } from "../api/index.js";
import { closest } from "../api/suggest.js";
import { CliError } from "./io.js";

export interface KindRef {
  kind: Kind;
  name?: string;
}

const SPELLINGS = new Map<string, Kind>(KINDS.flatMap((k) => [[k.toLowerCase(), k], [`${k.toLowerCase()}s`, k]] as [string, Kind][]));

export function parseKind(word: string): Kind {
  const kind = SPELLINGS.get(word.toLowerCase());
  if (kind !== undefined) return kind;
  const near = closest(word.toLowerCase(), [...SPELLINGS.keys()]);
  const hint = near === undefined ? ` (one of ${KINDS.map((k) => k.toLowerCase()).join(", ")})` : `; did you mean '${near}'?`;
  throw new CliError(`Unknown kind '${word}'${hint}`);
}

/** "job/hello" or ("job", "hello"); a name given twice must not disagree. */
export function parseKindRef(kindArg: string, nameArg?: string): KindRef {
  const slash = kindArg.indexOf("/");
  if (slash === -1) return nameArg === undefined ? { kind: parseKind(kindArg) } : { kind: parseKind(kindArg), name: nameArg };
  const kind = parseKind(kindArg.slice(0, slash));
  const name = kindArg.slice(slash + 1);
  if (name === "") throw new CliError(`'${kindArg}' names no object; write ${kindArg}NAME`);
  if (nameArg !== undefined && nameArg !== name) throw new CliError(`'${kindArg}' already names an object; drop the extra name '${nameArg}'`);
  return { kind, name };
}

/** "job/hello": how kubectl prints objects in its one-line results. */
export function ref(kind: string, name: string): string {
  return `${kind.toLowerCase()}/${name}`;
}

/** "job 'hello'": how sentences name an object. */
export function named(kind: string, name: string): string {
  return `${kind.toLowerCase()} '${name}'`;
}
