// Config contexts and which joblet a verb talks to (src/cli/config.ts, src/cli/target.ts).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/cli/config.js";
import type { StateOptions } from "../../src/cli/options.js";
import { targetFrom } from "../../src/cli/target.js";

let root: string;
let home: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "joblet-config-"));
  home = join(root, "home");
  mkdirSync(join(home, ".config", "joblet"), { recursive: true });
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const CONFIG = `currentContext: dev
contexts:
  - name: dev
    server: https://127.0.0.1:8443
    cert: certs/dev.crt
    key: certs/dev.key
    ca: /etc/joblet/ca.crt
  - name: prod
    server: https://joblet.example.com:8443
    cert: prod.crt
    key: prod.key
    ca: ca.crt
`;

function homeConfig(text: string): string {
  const path = join(home, ".config", "joblet", "config.yaml");
  writeFileSync(path, text);
  return path;
}

const env = (extra: Record<string, string> = {}) => ({ HOME: home, ...extra });
const target = (options: StateOptions, extra: Record<string, string> = {}) => targetFrom(options, { env: env(extra), cwd: root });

describe("config contexts", () => {
  it("reads contexts and currentContext; relative paths are relative to the config file", async () => {
    const path = homeConfig(CONFIG);
    const config = await loadConfig({ env: env(), cwd: root });
    const dir = join(home, ".config", "joblet");
    expect(config).toEqual({
      file: path,
      currentContext: "dev",
      contexts: [
        { name: "dev", server: "https://127.0.0.1:8443", cert: join(dir, "certs/dev.crt"), key: join(dir, "certs/dev.key"), ca: "/etc/joblet/ca.crt" },
        { name: "prod", server: "https://joblet.example.com:8443", cert: join(dir, "prod.crt"), key: join(dir, "prod.key"), ca: join(dir, "ca.crt") },
      ],
    });
  });

  it("reads $JOBLET_CONFIG instead of the file in $HOME", async () => {
    homeConfig(CONFIG);
    const other = join(root, "other.yaml");
    writeFileSync(other, "contexts:\n  - {name: x, server: 'https://x:1', cert: a, key: b, ca: c}\n");
    const config = await loadConfig({ env: env({ JOBLET_CONFIG: "other.yaml" }), cwd: root });
    expect(config.contexts.map((c) => [c.name, c.cert])).toEqual([["x", join(root, "a")]]);
    expect(config.currentContext).toBeUndefined();
  });

  it("names the file and the field of every mistake", async () => {
    const path = homeConfig("");
    const problem = async (text: string) => {
      writeFileSync(path, text);
      return loadConfig({ env: env(), cwd: root }).then(
        () => "loaded",
        (e: Error) => e.message,
      );
    };
    expect(await problem("contexts: {name: x}\n")).toBe(`Config file ${path}: contexts must be a list of {name, server, cert, key, ca}, not object`);
    expect(await problem("contexts:\n  - name: x\n    cert: a\n    key: b\n    ca: c\n")).toBe(`Config file ${path}: contexts[0].server must be an https:// URL (it is missing)`);
    expect(await problem("contexts:\n  - {name: x, server: 'http://x:1', cert: a, key: b, ca: c}\n")).toBe(`Config file ${path}: contexts[0].server must be an https:// URL, not "http://x:1"`);
    expect(await problem("contexts:\n  - {name: x, server: 'https://x:1', key: b, ca: c}\n")).toBe(`Config file ${path}: contexts[0].cert must be a file path (it is missing)`);
    expect(await problem("contexts:\n  - {name: x, server: 'https://x:1', cert: a, key: b, ca: c}\n  - {name: x, server: 'https://y:1', cert: a, key: b, ca: c}\n")).toBe(
      `Config file ${path}: contexts[1].name 'x' is used by an earlier context too`,
    );
    expect(await problem("contexts:\n  - just-a-name\n")).toBe(`Config file ${path}: contexts[0] must be a mapping with name, server, cert, key and ca`);
    expect(await problem("currentContext: nope\ncontexts:\n  - {name: x, server: 'https://x:1', cert: a, key: b, ca: c}\n")).toBe(`currentContext 'nope' names no context: config file ${path} has contexts x`);
  });
});

describe("which joblet a verb talks to", () => {
  it("is this host's state dir when nothing names a server", async () => {
    expect(await target({})).toMatchObject({ remote: false, layout: { stateDir: "/var/lib/joblet" } });
    expect(await target({}, { JOBLET_STATE_DIR: "/srv/joblet" })).toMatchObject({ remote: false, layout: { stateDir: "/srv/joblet" } });
  });

  it("is the config's currentContext by default, unless a state dir is given (flag or environment)", async () => {
    homeConfig(CONFIG);
    const dir = join(home, ".config", "joblet");
    expect(await target({})).toEqual({ remote: true, target: { server: "https://127.0.0.1:8443", cert: join(dir, "certs/dev.crt"), key: join(dir, "certs/dev.key"), ca: "/etc/joblet/ca.crt" } });
    expect(await target({ stateDir: "/x" })).toMatchObject({ remote: false, layout: { stateDir: "/x" } });
    expect(await target({}, { JOBLET_STATE_DIR: "/srv/joblet" })).toMatchObject({ remote: false });
  });

  it("--context picks a context; flags override its fields (relative to the working dir)", async () => {
    homeConfig(CONFIG);
    const dir = join(home, ".config", "joblet");
    expect(await target({ context: "prod" })).toEqual({ remote: true, target: { server: "https://joblet.example.com:8443", cert: join(dir, "prod.crt"), key: join(dir, "prod.key"), ca: join(dir, "ca.crt") } });
    expect(await target({ context: "prod", cert: "mine.crt", key: "mine.key" })).toMatchObject({ target: { cert: join(root, "mine.crt"), key: join(root, "mine.key"), ca: join(dir, "ca.crt") } });
    await expect(target({ context: "stage" })).rejects.toThrow(`--context 'stage' names no context: config file ${join(dir, "config.yaml")} has contexts dev, prod`);
  });

  it("--server with the three certificate files needs no config; without them it takes the current context's", async () => {
    expect(await target({ server: "https://h:1", cert: "c.crt", key: "c.key", ca: "ca.crt" })).toEqual({
      remote: true,
      target: { server: "https://h:1", cert: join(root, "c.crt"), key: join(root, "c.key"), ca: join(root, "ca.crt") },
    });
    await expect(target({ server: "https://h:1", cert: "c.crt", key: "c.key" })).rejects.toThrow(
      "--server https://h:1 needs --ca FILE (the CA certificate, ca.crt from joblet certs init), or a context in the config file that names it",
    );
    homeConfig(CONFIG);
    expect(await target({ server: "https://h:1" })).toMatchObject({ target: { server: "https://h:1", ca: "/etc/joblet/ca.crt" } });
  });

  it("refuses a state dir together with a server, and certificates without a server", async () => {
    await expect(target({ stateDir: "/x", server: "https://h:1" })).rejects.toThrow(
      "--state-dir and --server cannot be used together: --state-dir works on this host's state directory, --server on a daemon over HTTPS",
    );
    await expect(target({ manifests: "/m", context: "dev" })).rejects.toThrow("--manifests and --context cannot be used together");
    await expect(target({ cert: "c.crt" })).rejects.toThrow("--cert needs --server URL (or --context NAME): it is the client certificate for a remote daemon");
    await expect(target({ stateDir: "/x", key: "k" })).rejects.toThrow("--key is for a remote daemon (with --server or --context), not with --state-dir");
  });
});
