/**
 * The `joblet runtime` verbs against real daemons: `pack` a built runtime,
 * serve it with a registry index from an HTTP server on loopback, `install`
 * it by name into a second state dir, then `test` it (a real isolated job)
 * and `list` it.
 */
import { createReadStream, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Command } from "commander";
import type { CliIo } from "../../src/cli/io.js";
import { runtimeCommand } from "../../src/cli/runtime/index.js";
import { hostArchitectures } from "../../src/runtimes/build.js";
import { Capture } from "../unit/cli-harness.js";
import { DaemonLab, runtime } from "../helpers/daemon-lab.js";
import { requireRoot } from "../helpers/root.js";

async function cli(stateDir: string, args: string[]): Promise<{ code: number; out: string; err: string }> {
  const io: CliIo = { out: new Capture(), err: new Capture(), stdin: Readable.from([]), env: { JOBLET_STATE_DIR: stateDir }, cwd: stateDir, now: () => new Date(), pollMs: 50 };
  const command = (runtimeCommand(io) as Command).exitOverride();
  let code = 0;
  try {
    await command.parseAsync(args, { from: "user" });
  } catch (e) {
    code = (e as { exitCode?: number }).exitCode ?? 99;
  }
  return { code, out: (io.out as Capture).text, err: (io.err as Capture).text };
}

describe("joblet runtime verbs with real daemons", () => {
  const origin = new DaemonLab();
  const target = new DaemonLab();
  const files = mkdtempSync(join(tmpdir(), "joblet-registry-"));
  let server: Server;
  let base = "";

  beforeAll(async () => {
    requireRoot("the runtime verbs");
    await origin.start();
    await target.start();
    server = createServer((req, res) => {
      const path = join(files, (req.url ?? "/").replace(/^\/+/, ""));
      try {
        statSync(path);
      } catch {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200);
      createReadStream(path).pipe(res);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await origin.cleanup();
    await target.cleanup();
    rmSync(files, { recursive: true, force: true });
  });

  it("packs, installs from a loopback registry, tests and lists a runtime", async () => {
    origin.write("rt.yaml", runtime("tools", `source:\n  host:\n    binaries: [sh, cat]\ntest:\n  command: [sh, -c, "echo tested | cat"]`));
    const built = await origin.waitForRuntime("tools", (o) => o.status.phase === "Ready" || o.status.phase === "Failed");
    expect(built.status.phase, built.status.message).toBe("Ready");

    const pack = await cli(origin.stateDir, ["pack", "tools", "-o", join(files, "tools-1.2.0.tar.gz")]);
    expect(pack.code, pack.err).toBe(0);
    const sha256 = readFileSync(join(files, "tools-1.2.0.tar.gz.sha256"), "utf8").split(" ")[0]!;
    expect(pack.out).toContain(sha256);

    const registry = {
      version: "1",
      runtimes: {
        tools: {
          "1.2.0": { version: "1.2.0", description: "sh and cat", download_url: "tools-1.2.0.tar.gz", checksum: `sha256:${sha256}`, platforms: [`debian-${hostArchitectures()[0]}`] },
          "1.1.0": { version: "1.1.0", download_url: "missing.tar.gz", checksum: `sha256:${"1".repeat(64)}`, platforms: [`debian-${hostArchitectures()[0]}`] },
        },
      },
    };
    writeFileSync(join(files, "registry.json"), JSON.stringify(registry));

    const install = await cli(target.stateDir, ["install", "tools", "--registry", `${base}/registry.json`]);
    expect(install.code, `${install.out}\n${install.err}`).toBe(0);
    const installed = target.runtime("tools@1.2.0")!;
    expect(installed.status.phase).toBe("Ready");
    expect(installed.spec).toMatchObject({ version: "1.2.0", source: { package: { url: `${base}/tools-1.2.0.tar.gz`, sha256 } } });

    const test = await cli(target.stateDir, ["test", "tools"]);
    expect(test.code, `${test.out}\n${test.err}`).toBe(0);
    expect(test.out).toContain("tested\n");
    expect(test.out).toMatch(/PASS runtime tools/);

    const list = await cli(target.stateDir, ["list"]);
    expect(list.code).toBe(0);
    expect(list.out).toMatch(/tools@1\.2\.0\s+1\.2\.0\s+package\s+\S+\s+True/);

    // A version whose package is not there fails the build, and says so.
    const broken = await cli(target.stateDir, ["install", "tools@1.1.0", "--registry", `${base}/registry.json`]);
    expect(broken.code).toBe(1);
    expect(broken.err).toContain("404");
  }, 120_000);
});
