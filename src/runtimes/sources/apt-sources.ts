/**
 * The host's apt sources, read the way apt reads them (sources.list and
 * sources.list.d/*.list in one-line format, sources.list.d/*.sources in
 * deb822; nothing else in that directory), and the Debian entries among them
 * narrowed to one suite for a runtime build. joblet never names a mirror of
 * its own: a build uses the archive this host is configured for.
 */
import { readdir, readFile } from "node:fs/promises";
import { posix } from "node:path";

export interface AptEntry {
  uris: string[];
  suites: string[];
  components: string[];
  /** deb822 fields kept as they are (Signed-By, Architectures, Trusted, ...), values possibly multi-line. */
  fields: [string, string][];
  /** File it came from, for messages. */
  origin: string;
}

/** Fields the entry model holds itself; every other field of a stanza is kept verbatim. */
const STRUCTURAL = new Set(["types", "uris", "suites", "components", "enabled"]);
/** One-line options and the deb822 fields they are. */
const ONE_LINE_OPTIONS: Record<string, string> = {
  arch: "Architectures",
  "signed-by": "Signed-By",
  trusted: "Trusted",
  lang: "Languages",
  target: "Targets",
  "by-hash": "By-Hash",
  "check-valid-until": "Check-Valid-Until",
  "allow-insecure": "Allow-Insecure",
  "allow-weak": "Allow-Weak",
  "allow-downgrade-to-insecure": "Allow-Downgrade-To-Insecure",
};
const DEBIAN_COMPONENTS = new Set(["main", "contrib", "non-free", "non-free-firmware"]);
/** Suites that have no -updates / -security companions. */
const ROLLING = new Set(["sid", "unstable", "experimental", "rc-buggy"]);

/** sources.list one-line entries: `deb [options] uri suite [component...]`; deb-src and malformed lines are left out. */
export function parseOneLine(text: string, origin: string): AptEntry[] {
  const entries: AptEntry[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*$/, "").trim();
    if (line === "") continue;
    const match = /^(\S+)\s+(?:\[([^\]]*)\]\s*)?(\S+)\s+(\S+)(?:\s+(.*))?$/.exec(line);
    if (!match || match[1] !== "deb") continue;
    const fields: [string, string][] = [];
    for (const option of (match[2] ?? "").trim().split(/\s+/).filter((o) => o !== "")) {
      const eq = /^([^=+-]+(?:-[^=+-]+)*)[+-]?=(.*)$/.exec(option);
      if (!eq?.[1]) continue;
      const name = ONE_LINE_OPTIONS[eq[1].toLowerCase()];
      if (name) fields.push([name, (eq[2] ?? "").split(",").join(" ")]);
    }
    entries.push({
      uris: [match[3] as string],
      suites: [match[4] as string],
      components: (match[5] ?? "").split(/\s+/).filter((c) => c !== ""),
      fields,
      origin,
    });
  }
  return entries;
}

/** deb822 stanzas (`Types: deb`, `URIs:`, `Suites:`, `Components:`, ...); `Enabled: no` and deb-src-only stanzas are left out. */
export function parseDeb822(text: string, origin: string): AptEntry[] {
  const entries: AptEntry[] = [];
  const stanzas: [string, string][][] = [];
  let current: [string, string][] = [];
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    if (line.trim() === "") {
      if (current.length > 0) stanzas.push(current);
      current = [];
      continue;
    }
    if (/^[ \t]/.test(line)) {
      const last = current.at(-1);
      if (last) last[1] += `\n${line}`;
      continue;
    }
    const field = /^([^\s:]+):[ \t]*(.*)$/.exec(line);
    if (field?.[1]) current.push([field[1], (field[2] ?? "").trimEnd()]);
  }
  if (current.length > 0) stanzas.push(current);

  for (const stanza of stanzas) {
    const get = (name: string): string | undefined => stanza.find(([key]) => key.toLowerCase() === name)?.[1];
    const list = (name: string): string[] => (get(name) ?? "").split(/\s+/).filter((v) => v !== "");
    if (/^(no|false|0)$/i.test((get("enabled") ?? "yes").trim())) continue;
    if (!list("types").includes("deb")) continue;
    const uris = list("uris");
    const suites = list("suites");
    if (uris.length === 0 || suites.length === 0) continue;
    entries.push({
      uris,
      suites,
      components: list("components"),
      fields: stanza.filter(([key]) => !STRUCTURAL.has(key.toLowerCase())).map(([key, value]) => [key, value]),
      origin,
    });
  }
  return entries;
}

/** Every deb entry of the host's apt configuration under `etcApt`, in the order apt reads the files. */
export async function readHostAptSources(etcApt = "/etc/apt"): Promise<AptEntry[]> {
  const entries: AptEntry[] = [];
  const main = posix.join(etcApt, "sources.list");
  const text = await readFile(main, "utf8").catch(() => undefined);
  if (text !== undefined) entries.push(...parseOneLine(text, main));
  const dir = posix.join(etcApt, "sources.list.d");
  const names = (await readdir(dir).catch(() => [] as string[])).sort();
  for (const name of names) {
    // apt reads only these two extensions (and names of letters, digits, _-.); *.disabled, *.save, *.dpkg-old are ignored.
    if (!/^[A-Za-z0-9_.-]+\.(list|sources)$/.test(name)) continue;
    const path = posix.join(dir, name);
    const content = await readFile(path, "utf8").catch(() => undefined);
    if (content === undefined) continue;
    entries.push(...(name.endsWith(".sources") ? parseDeb822(content, path) : parseOneLine(content, path)));
  }
  return entries;
}

/** The suite an entry's suite belongs to (bookworm-security -> bookworm), and the companion suffix. */
export function splitSuite(suite: string): { base: string; suffix: string } {
  const match = /^(.+?)(-updates|-security|-proposed-updates|-backports|\/updates)$/.exec(suite);
  return match?.[1] ? { base: match[1], suffix: match[2] as string } : { base: suite, suffix: "" };
}

/** Part of `suite` for a runtime build: the suite itself, its -updates and its -security (the old /updates too). */
function belongsTo(entrySuite: string, suite: string): boolean {
  const { base, suffix } = splitSuite(entrySuite);
  return base === suite && (suffix === "" || suffix === "-updates" || suffix === "-security" || suffix === "/updates");
}

/**
 * A Debian archive entry (not a third party's repository that happens to
 * use a Debian codename): signed with Debian's archive keyring, or served
 * from a .../debian or .../debian-security path with Debian's components.
 */
export function isDebianEntry(entry: AptEntry): boolean {
  const signedBy = entry.fields.find(([key]) => key.toLowerCase() === "signed-by")?.[1] ?? "";
  if (/debian-archive-keyring|debian-archive-[a-z0-9-]+\.(gpg|asc|pgp)/.test(signedBy)) return true;
  const components = entry.components.length > 0 && entry.components.every((c) => DEBIAN_COMPONENTS.has(c));
  const debianPath = entry.uris.some((uri) => /\/debian(-security)?\/?$/.test(uri.replace(/^[a-z+]+:\/\/[^/]*/, "")));
  return components && debianPath;
}

export interface SuiteSources {
  entries: AptEntry[];
  /** True when no host entry was for the suite and the host's Debian entries were re-pointed at it. */
  substituted: boolean;
}

/**
 * The host's Debian entries for `suite` (and its -updates, -security).
 * When the host has none for it, its Debian entries with `suite` put in
 * place of their own (bookworm-security -> trixie-security); a rolling suite
 * (sid, unstable) gets no -updates / -security. Undefined when the host has
 * no Debian entry at all.
 */
export function sourcesForSuite(all: AptEntry[], suite: string): SuiteSources | undefined {
  const debian = all.filter(isDebianEntry);
  const matching: AptEntry[] = [];
  for (const entry of debian) {
    const suites = entry.suites.filter((s) => belongsTo(s, suite));
    if (suites.length > 0) matching.push({ ...entry, suites });
  }
  if (matching.length > 0) return { entries: matching, substituted: false };
  if (debian.length === 0) return undefined;

  const substituted: AptEntry[] = [];
  const seen = new Set<string>();
  for (const entry of debian) {
    const suites: string[] = [];
    for (const entrySuite of entry.suites) {
      const { suffix } = splitSuite(entrySuite);
      if (suffix !== "" && suffix !== "-updates" && suffix !== "-security" && suffix !== "/updates") continue;
      if (suffix !== "" && ROLLING.has(suite)) continue;
      // Security moved from "<suite>/updates" to "<suite>-security" in bullseye; only the new form for a new suite.
      const replaced = `${suite}${suffix === "/updates" ? "-security" : suffix}`;
      const key = `${entry.uris.join(" ")}|${replaced}|${entry.components.join(" ")}`;
      if (seen.has(key)) continue;
      seen.add(key);
      suites.push(replaced);
    }
    if (suites.length > 0) substituted.push({ ...entry, suites });
  }
  return substituted.length > 0 ? { entries: substituted, substituted: true } : undefined;
}

/** The entries as a deb822 .sources file. */
export function formatDeb822(entries: AptEntry[]): string {
  return entries
    .map((entry) => {
      const lines = ["Types: deb", `URIs: ${entry.uris.join(" ")}`, `Suites: ${entry.suites.join(" ")}`];
      if (entry.components.length > 0) lines.push(`Components: ${entry.components.join(" ")}`);
      // A value that starts on the next line (an inline Signed-By key) keeps nothing after the colon.
      for (const [key, value] of entry.fields) lines.push(value.startsWith("\n") ? `${key}:${value}` : `${key}: ${value}`);
      return `${lines.join("\n")}\n`;
    })
    .join("\n");
}

/** A URI fit for a log line: credentials (user:password@) hidden. */
export function redactUri(uri: string): string {
  return uri.replace(/^([a-z+]+:\/\/)[^/@]*@/i, "$1***@");
}
