/**
 * Runtime registries for `joblet runtime install`: an index (JSON) of runtime packages,
 * read from an http(s) URL, a file:// URL or a path. Two layouts are read:
 *
 * the original Joblet's registry.json, runtimes by name, then by version:
 *
 *   {"version": "1", "runtimes": {"python-3.11-ml": {"1.3.1": {
 *     "version": "1.3.1", "description": "...", "download_url": "https://.../x.tar.gz",
 *     "checksum": "sha256:<hex>", "size": 123, "platforms": ["ubuntu-amd64", "debian-arm64"]}}}}
 *
 * and a flat list, one entry per package (a version may have one entry per platform):
 *
 *   {"runtimes": [{"name": "...", "version": "...", "url": "...", "sha256": "<hex>",
 *     "platforms": ["amd64"], "description": "..."}]}
 *
 * Package URLs may be relative to the index. An entry without platforms fits any host.
 */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { compareVersions } from "../../controllers/runtime/resolve.js";
import { CliError } from "../io.js";

export interface RegistryEntry {
  name: string;
  version: string;
  /** The package's URL as the index writes it (may be relative to the index). */
  url?: string;
  /** As the index writes it: "<hex>" or "sha256:<hex>". */
  checksum?: string;
  size?: number;
  platforms?: string[];
  description?: string;
}

export interface Registry {
  /** Where the index was read from, after redirects: package URLs resolve against it. */
  url: URL;
  entries: RegistryEntry[];
}

/** Longest index read: a registry of thousands of packages is a few MB. */
const MAX_INDEX_BYTES = 32 * 1024 * 1024;
const MAX_REDIRECTS = 5;

/** A registry given on the command line or in the config: a URL, or a path from `cwd`. */
export function registryUrl(location: string, cwd: string): URL {
  if (/^[a-z][a-z0-9+.-]*:/i.test(location) && !/^[a-z]:[\\/]/i.test(location)) {
    let url: URL;
    try {
      url = new URL(location);
    } catch {
      throw new CliError(`Registry '${location}' is not a valid URL`);
    }
    if (!["http:", "https:", "file:"].includes(url.protocol)) throw new CliError(`Registry '${location}' is not an http://, https:// or file:// URL, nor a path`);
    return url;
  }
  return pathToFileURL(resolve(cwd, location));
}

/** How errors name a registry: its URL, or its path for a local file. */
export function registryName(url: URL): string {
  return url.protocol === "file:" ? fileURLToPath(url) : url.href;
}

/** Reads and parses the index; errors say which registry and why (unreachable, HTTP status, not JSON, no runtimes). */
export async function readRegistry(location: string, options: { cwd: string; timeoutMs: number; signal?: AbortSignal }): Promise<Registry> {
  const url = registryUrl(location, options.cwd);
  let text: string;
  let final = url;
  try {
    if (url.protocol === "file:") text = await readFile(fileURLToPath(url), "utf8");
    else ({ text, url: final } = await httpGet(url, options.timeoutMs, options.signal, MAX_REDIRECTS));
  } catch (e) {
    const error = e as NodeJS.ErrnoException;
    const reason = error.code === "ENOENT" && url.protocol === "file:" ? "no such file" : error.message;
    throw new CliError(`Cannot read registry ${registryName(url)}: ${reason}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new CliError(`Registry ${registryName(final)} is not JSON: ${(e as Error).message}`);
  }
  return { url: final, entries: registryEntries(value, registryName(final)) };
}

/** GET with an overall deadline, following up to `redirects` redirects; the body as text and the URL it came from. */
async function httpGet(url: URL, timeoutMs: number, signal: AbortSignal | undefined, redirects: number): Promise<{ text: string; url: URL }> {
  const client = url.protocol === "https:" ? await import("node:https") : await import("node:http");
  return new Promise((resolvePromise, reject) => {
    let settled = false;
    const settle = (error: Error | undefined, value?: Promise<{ text: string; url: URL }> | { text: string; url: URL }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error !== undefined) reject(error);
      else resolvePromise(value!);
    };
    const request = client.get(url, { headers: { accept: "application/json", "user-agent": "joblet" }, ...(signal ? { signal } : {}) }, (response) => {
      const status = response.statusCode ?? 0;
      const location = response.headers.location;
      if (status >= 300 && status < 400 && location !== undefined) {
        response.resume();
        if (redirects === 0) return settle(new Error(`more than ${MAX_REDIRECTS} redirects`));
        let next: URL;
        try {
          next = new URL(location, url);
        } catch {
          return settle(new Error(`HTTP ${status} redirects to '${location}', which is not a URL`));
        }
        if (next.protocol !== "http:" && next.protocol !== "https:") return settle(new Error(`HTTP ${status} redirects to ${next.href}, which is not http(s)`));
        clearTimeout(timer);
        settled = true;
        resolvePromise(httpGet(next, timeoutMs, signal, redirects - 1));
        return;
      }
      if (status !== 200) {
        response.resume();
        return settle(new Error(`HTTP ${status}${response.statusMessage ? ` ${response.statusMessage}` : ""}`));
      }
      const chunks: Buffer[] = [];
      let size = 0;
      response.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_INDEX_BYTES) request.destroy(new Error(`the index is larger than ${MAX_INDEX_BYTES} bytes`));
        else chunks.push(chunk);
      });
      response.on("end", () => settle(undefined, { text: Buffer.concat(chunks).toString("utf8"), url }));
      response.on("error", (e) => settle(e));
    });
    const timer = setTimeout(() => request.destroy(new Error(`no complete answer within ${timeoutMs / 1000} s`)), timeoutMs);
    request.on("error", (e) => settle(e));
  });
}

function str(value: unknown): string | undefined {
  if (typeof value === "string" && value !== "") return value;
  return typeof value === "number" ? String(value) : undefined;
}

function entry(name: string, version: string, raw: Record<string, unknown>): RegistryEntry {
  const platforms = Array.isArray(raw.platforms) ? raw.platforms.filter((p): p is string => typeof p === "string") : undefined;
  const out: RegistryEntry = { name, version };
  const url = str(raw.download_url) ?? str(raw.url);
  const checksum = str(raw.checksum) ?? str(raw.sha256);
  if (url !== undefined) out.url = url;
  if (checksum !== undefined) out.checksum = checksum;
  if (typeof raw.size === "number") out.size = raw.size;
  if (platforms !== undefined) out.platforms = platforms;
  if (typeof raw.description === "string") out.description = raw.description;
  return out;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The packages an index lists, in either layout; entries without a name or version are left out. */
export function registryEntries(value: unknown, where: string): RegistryEntry[] {
  const runtimes = isObject(value) ? value.runtimes : undefined;
  const entries: RegistryEntry[] = [];
  if (Array.isArray(runtimes)) {
    for (const raw of runtimes) {
      if (!isObject(raw)) continue;
      const name = str(raw.name);
      const version = str(raw.version);
      if (name !== undefined && version !== undefined) entries.push(entry(name, version, raw));
    }
  } else if (isObject(runtimes)) {
    for (const [name, versions] of Object.entries(runtimes)) {
      if (!isObject(versions)) continue;
      for (const [key, raw] of Object.entries(versions)) {
        if (isObject(raw)) entries.push(entry(name, str(raw.version) ?? key, raw));
      }
    }
  } else {
    throw new CliError(
      `Registry ${where} lists no runtimes: expected {"runtimes": {NAME: {VERSION: {download_url, checksum, platforms}}}} or {"runtimes": [{name, version, url, sha256, platforms}]}`,
    );
  }
  return entries;
}

/** "ubuntu-amd64" and "amd64" fit an amd64 host; a platform is the architecture or ends with -ARCH. */
export function platformFits(platform: string, architectures: readonly string[]): boolean {
  const p = platform.toLowerCase();
  return architectures.some((a) => p === a || p.endsWith(`-${a}`));
}

function fits(entry: RegistryEntry, architectures: readonly string[]): boolean {
  return entry.platforms === undefined || entry.platforms.length === 0 || entry.platforms.some((p) => platformFits(p, architectures));
}

const unique = (list: string[]): string[] => [...new Set(list)];

/**
 * The entry to install: `version` exactly, else the highest version with a package for
 * this host. Errors list what the registry has instead.
 */
export function pickEntry(entries: RegistryEntry[], name: string, version: string | undefined, architectures: readonly string[], where: string): RegistryEntry {
  const named = entries.filter((e) => e.name === name);
  if (named.length === 0) {
    const names = unique(entries.map((e) => e.name)).sort();
    throw new CliError(`Runtime '${name}' is not in registry ${where}; ${names.length === 0 ? "it lists no runtimes" : `it has: ${names.join(", ")}`}`);
  }
  const versions = unique(named.map((e) => e.version)).sort((a, b) => compareVersions(b, a));
  const candidates = version === undefined ? named : named.filter((e) => e.version === version);
  if (candidates.length === 0) throw new CliError(`Registry ${where} has no version '${version}' of runtime '${name}'; it has: ${versions.join(", ")}`);
  const fitting = candidates.filter((e) => fits(e, architectures)).sort((a, b) => compareVersions(b.version, a.version));
  const best = fitting[0];
  if (best === undefined) {
    const platforms = unique(candidates.flatMap((e) => e.platforms ?? [])).join(", ");
    const what = version === undefined ? `runtime '${name}'` : `runtime '${name}' version '${version}'`;
    throw new CliError(`Registry ${where} has no package of ${what} for this host (${architectures.join("/")}); it has platforms: ${platforms}`);
  }
  return best;
}

/** Where the Runtime's package source points: an http(s) URL, or a path for a package beside a local index. */
export function packageLocation(entry: RegistryEntry, registry: URL, where: string): { url: string } | { path: string } {
  const label = `runtime '${entry.name}' version '${entry.version}' in registry ${where}`;
  if (entry.url === undefined) throw new CliError(`The entry of ${label} has no download_url (or url)`);
  let url: URL;
  try {
    url = new URL(entry.url, registry);
  } catch {
    throw new CliError(`The entry of ${label} has download_url '${entry.url}', which is not a URL`);
  }
  if (url.protocol === "file:") return { path: fileURLToPath(url) };
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new CliError(`The entry of ${label} has download_url '${entry.url}', which is not http(s)`);
  return { url: url.href };
}

/** The package's sha256 in the form a Runtime manifest takes: 64 lowercase hex digits. */
export function packageSha256(entry: RegistryEntry, where: string): string {
  const label = `runtime '${entry.name}' version '${entry.version}' in registry ${where}`;
  if (entry.checksum === undefined) throw new CliError(`The entry of ${label} has no checksum (or sha256): joblet installs only packages it can verify`);
  const hex = entry.checksum.replace(/^sha256:/i, "").toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new CliError(`The entry of ${label} has checksum '${entry.checksum}', which is not sha256:<64 hex digits>`);
  return hex;
}
