// Job networks for real: a daemon in a network namespace this test made, real
// bridges, veths and nft rules, jobs talking TCP. Traffic goes only between the
// namespaces the test created; egress is checked by its NAT rule, never by
// contacting an outside address.
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { job, runtime, type JobObject } from "../helpers/daemon-lab.js";
import { NetnsDaemon, network } from "../helpers/netns-daemon.js";
import { requireRoot } from "../helpers/root.js";
import { requireCommands } from "../helpers/commands.js";

let env: NetnsDaemon | undefined;
beforeAll(() => {
  requireRoot("job networks");
  requireCommands("job networks", ["ip", "nft", "nsenter"]);
});
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

const finished = (o: JobObject) => o.status.phase === "Succeeded" || o.status.phase === "Failed";
const running = (o: JobObject) => o.status.phase === "Running";

/** A TCP server job: prints what it receives, answers "pong". */
const server = (port: number) =>
  `command: ["python3", "-c", "import socket\\ns = socket.socket()\\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\\ns.bind(('0.0.0.0', ${port}))\\ns.listen()\\nwhile True:\\n  c, _ = s.accept()\\n  print(c.recv(100).decode(), flush=True)\\n  c.sendall(b'pong')\\n  c.close()"]`;

/** A client job: connects to host:port (retrying for `seconds`), says hello, prints the answer; exit 1 when it never got through. */
const client = (host: string, port: number, seconds = 5) =>
  `command: ["python3", "-c", "import socket, sys, time\\nend = time.time() + ${seconds}\\nwhile True:\\n  try:\\n    c = socket.create_connection(('${host}', ${port}), timeout=1)\\n    break\\n  except OSError as e:\\n    if time.time() > end:\\n      print('unreachable:', e, flush=True)\\n      sys.exit(1)\\n    time.sleep(0.05)\\nc.sendall(b'hello from ' + socket.gethostname().encode())\\nprint(c.recv(100).decode(), flush=True)"]`;

/** Waits until something in the daemon's namespace accepts connections on `port`. */
async function listening(d: NetnsDaemon, port: number): Promise<void> {
  const end = Date.now() + 10_000;
  for (;;) {
    try {
      d.exec(["python3", "-c", `import socket; socket.create_connection(('127.0.0.1', ${port}), timeout=1).close()`]);
      return;
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

async function daemon(): Promise<NetnsDaemon> {
  env = new NetnsDaemon();
  await env.start();
  return env;
}

describe("job networks", () => {
  it("lets two jobs on one Network talk TCP by name, each with its own address", async () => {
    const d = await daemon();
    d.lab.write("net.yaml", network("lab", "cidr: 10.77.0.0/24"));
    await d.waitForNetwork("lab", (o) => o?.status.phase === "Ready");
    d.lab.write("server.yaml", job("server", `${server(8080)}\nnetwork: lab`));
    const up = await d.lab.waitFor("server", running);
    d.lab.write("client.yaml", job("client", `${client("server", 8080)}\nnetwork: lab`));
    const done = await d.lab.waitFor("client", finished);
    expect(done.status.phase, d.lab.log("client", done.status.run!)).toBe("Succeeded");
    expect(d.lab.log("client", done.status.run!)).toBe("pong\n");
    expect(d.lab.log("server", up.status.run!)).toContain("hello from client");
    expect(up.status.network?.name).toBe("lab");
    expect(up.status.network?.ip).toMatch(/^10\.77\.0\.\d+$/);
    expect(done.status.network?.ip).not.toBe(up.status.network?.ip);
    const lab = d.network("lab")!;
    expect(lab.status).toMatchObject({ cidr: "10.77.0.0/24", gateway: "10.77.0.1" });
  });

  it("keeps jobs on different networks, and isolated jobs, from reaching each other", async () => {
    const d = await daemon();
    d.lab.write("nets.yaml", `${network("red", "cidr: 10.78.0.0/24")}---\n${network("blue", "cidr: 10.79.0.0/24")}`);
    await d.waitForNetwork("red", (o) => o?.status.phase === "Ready");
    await d.waitForNetwork("blue", (o) => o?.status.phase === "Ready");
    d.lab.write("server.yaml", job("server", `${server(8080)}\nnetwork: red`));
    d.lab.write("lonely.yaml", job("lonely", `${server(8080)}\nnetwork: isolated`));
    const red = await d.lab.waitFor("server", running);
    const lonely = await d.lab.waitFor("lonely", running);
    d.lab.write("other.yaml", job("other", `${client(red.status.network!.ip!, 8080, 1)}\nnetwork: blue`));
    d.lab.write("iso.yaml", job("iso", `${client(lonely.status.network!.ip!, 8080, 1)}\nnetwork: isolated`));
    d.lab.write("iso2.yaml", job("iso2", `${client(red.status.network!.ip!, 8080, 1)}\nnetwork: isolated`));
    for (const name of ["other", "iso", "iso2"]) {
      const done = await d.lab.waitFor(name, finished);
      expect(done.status.phase, name).toBe("Failed");
      expect(d.lab.log(name, done.status.run!), name).toMatch(/^unreachable:/);
    }
    // An isolated job's address pair is its own.
    const iso = d.lab.status("iso")!;
    expect(iso.status.network?.ip).not.toBe(lonely.status.network?.ip);
  });

  it("gives a job on a runtime whose /etc has no hosts file its peers' names too", async () => {
    const d = await daemon();
    // A tree with an /etc of its own (from `paths`) but no /etc/hosts, as a minimal Debian root has.
    d.lab.write("rt.yaml", runtime("bb", "source:\n  host:\n    binaries: [busybox]\n    paths: [/etc/protocols]"));
    d.lab.write("net.yaml", network("names", "cidr: 10.89.0.0/24"));
    const built = await d.lab.waitForRuntime("bb", (o) => o.status.phase === "Ready" || o.status.phase === "Failed");
    expect(built.status.phase, built.status.message).toBe("Ready");
    await d.waitForNetwork("names", (o) => o?.status.phase === "Ready");
    d.lab.write("peer.yaml", job("peer", 'command: ["sleep", "30"]\nnetwork: names'));
    const peer = await d.lab.waitFor("peer", running);
    d.lab.write("reader.yaml", job("reader", 'runtime: bb\ncommand: ["busybox", "cat", "/etc/hosts"]\nnetwork: names'));
    const done = await d.lab.waitFor("reader", finished);
    expect(done.status.phase, d.lab.log("reader", done.status.run!)).toBe("Succeeded");
    const hosts = d.lab.log("reader", done.status.run!);
    expect(hosts).toContain(`${peer.status.network!.ip}\tpeer\n`);
    expect(hosts).toContain(`${done.status.network!.ip}\treader\n`);
  });

  it("gives a job without a network only loopback", async () => {
    const d = await daemon();
    d.lab.write("none.yaml", job("alone", 'command: ["sh", "-c", "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d \' \'"]'));
    const done = await d.lab.waitFor("alone", finished);
    expect(d.lab.log("alone", done.status.run!)).toBe("lo\n");
    expect(d.links().filter((l) => l.startsWith("jl"))).toEqual([]);
  });

  it("keeps jobs off the host's own services unless the Network allows the port", async () => {
    const d = await daemon();
    const listener = d.spawn(["python3", "-m", "http.server", "--bind", "0.0.0.0", "8099"]);
    try {
      await listening(d, 8099);
      d.lab.write("nets.yaml", `${network("closed", "cidr: 10.80.0.0/24")}---\n${network("open", "cidr: 10.81.0.0/24\nhostPorts: [8099]")}`);
      await d.waitForNetwork("closed", (o) => o?.status.phase === "Ready");
      await d.waitForNetwork("open", (o) => o?.status.phase === "Ready");
      const probe = (to: string) => `command: ["python3", "-c", "import socket\\ntry:\\n  socket.create_connection(('${to}', 8099), timeout=1).close()\\n  print('reached')\\nexcept OSError as e:\\n  print('blocked', e)"]`;
      d.lab.write("a.yaml", job("a", `${probe("10.80.0.1")}\nnetwork: closed`));
      d.lab.write("b.yaml", job("b", `${probe("10.81.0.1")}\nnetwork: open`));
      const a = await d.lab.waitFor("a", finished);
      const b = await d.lab.waitFor("b", finished);
      expect(d.lab.log("a", a.status.run!)).toMatch(/^blocked/);
      expect(d.lab.log("b", b.status.run!)).toBe("reached\n");
    } finally {
      listener.kill("SIGKILL");
    }
  });

  it("masquerades egress only for networks that have it", async () => {
    const d = await daemon();
    d.lab.write("nets.yaml", `${network("out", "cidr: 10.82.0.0/24\negress: true")}---\n${network("in", "cidr: 10.83.0.0/24")}`);
    await d.waitForNetwork("out", (o) => o?.status.phase === "Ready");
    await d.waitForNetwork("in", (o) => o?.status.phase === "Ready");
    const rules = d.ruleset();
    expect(rules).toMatch(/ip saddr 10\.82\.0\.0\/24 oifname != "jl[0-9a-f]{4}\*" masquerade/);
    expect(rules).not.toContain("10.83.0.0/24");
    expect(d.exec(["cat", "/proc/sys/net/ipv4/ip_forward"]).trim()).toBe("1");
  });

  it("keeps a Network in use Terminating, then leaves nothing behind", async () => {
    const d = await daemon();
    d.lab.write("net.yaml", network("gone", "cidr: 10.84.0.0/24"));
    await d.waitForNetwork("gone", (o) => o?.status.phase === "Ready");
    d.lab.write("sleeper.yaml", job("sleeper", 'command: ["sleep", "30"]\nnetwork: gone'));
    d.lab.write("bridged.yaml", job("bridged", 'command: ["sleep", "30"]\nnetwork: bridge'));
    await d.lab.waitFor("sleeper", running);
    await d.lab.waitFor("bridged", running);
    expect(d.links().filter((l) => l.startsWith("jl"))).toHaveLength(4);
    d.lab.remove("net.yaml");
    const terminating = await d.waitForNetwork("gone", (o) => o?.status.phase === "Terminating");
    expect(terminating!.status.users).toEqual([{ job: "sleeper", ip: expect.stringMatching(/^10\.84\.0\./) }]);
    d.lab.remove("sleeper.yaml");
    d.lab.remove("bridged.yaml");
    await d.waitForNetwork("gone", (o) => o === undefined);
    const end = Date.now() + 10_000;
    while (Date.now() < end && d.links().some((l) => l.startsWith("jl") && !l.includes("b"))) await new Promise((r) => setTimeout(r, 50));
    // The built-in bridge stays while the daemon runs; the Network's bridge and every veth are gone.
    expect(d.links().filter((l) => l.startsWith("jl"))).toHaveLength(1);
    await d.kill();
    await d.start();
    // A new daemon sweeps what no job uses: the built-in bridge and the nft table.
    expect(d.links().filter((l) => l.startsWith("jl"))).toEqual([]);
    expect(d.ruleset()).not.toContain("joblet_");
  });

  it("says why on the status: overlapping block, unknown network, a network too small for its jobs", async () => {
    const d = await daemon();
    d.lab.write("a.yaml", network("first", "cidr: 10.85.0.0/16"));
    await d.waitForNetwork("first", (o) => o?.status.phase === "Ready");
    d.lab.write("b.yaml", network("second", "cidr: 10.85.3.0/24"));
    const second = await d.waitForNetwork("second", (o) => o?.status.reason === "CidrConflict");
    expect(second!.status.message).toBe("cidr 10.85.3.0/24 overlaps Network 'first' (10.85.0.0/16)");
    d.lab.write("c.yaml", network("tiny", "cidr: 10.86.0.0/30"));
    await d.waitForNetwork("tiny", (o) => o?.status.phase === "Ready");
    d.lab.write("j1.yaml", job("one", 'command: ["sleep", "30"]\nnetwork: tiny'));
    await d.lab.waitFor("one", running);
    d.lab.write("j2.yaml", job("two", 'command: ["true"]\nnetwork: tiny'));
    const full = await d.lab.waitFor("two", (o) => o.status.reason === "NetworkFull");
    expect(full.status).toMatchObject({ phase: "Pending", message: "Network 'tiny' (10.86.0.0/30) has no free address: 1 of 1 are leased to running jobs" });
    d.lab.write("j3.yaml", job("three", 'command: ["true"]\nnetwork: nowhere'));
    const unknown = await d.lab.waitFor("three", (o) => o.status.reason === "NetworkNotFound");
    expect(unknown.status).toMatchObject({ phase: "Pending", message: "Network 'nowhere' does not exist" });
    // The waiting job starts once the address is free.
    d.lab.remove("j1.yaml");
    const two = await d.lab.waitFor("two", finished);
    expect(two.status.phase).toBe("Succeeded");
    // Nothing half-made for the refused network.
    expect(d.links().filter((l) => l.startsWith("jl"))).toHaveLength(2);
  });

  it("keeps leases, names and peers across a daemon restart", async () => {
    const d = await daemon();
    d.lab.write("net.yaml", network("keep", "cidr: 10.87.0.0/24"));
    await d.waitForNetwork("keep", (o) => o?.status.phase === "Ready");
    d.lab.write("server.yaml", job("server", `${server(8080)}\nnetwork: keep`));
    const before = await d.lab.waitFor("server", running);
    await d.kill();
    await d.start();
    d.lab.write("client.yaml", job("client", `${client("server", 8080)}\nnetwork: keep`));
    const done = await d.lab.waitFor("client", finished);
    expect(d.lab.log("client", done.status.run!)).toBe("pong\n");
    expect(done.status.network?.ip).not.toBe(before.status.network?.ip);
    expect(d.lab.status("server")!.status).toMatchObject({ phase: "Running", run: before.status.run, network: before.status.network });
  });

  it("starts 50 jobs on one network that all reach a peer by name", async () => {
    const d = await daemon();
    d.lab.write("net.yaml", network("many", "cidr: 10.88.0.0/24"));
    await d.waitForNetwork("many", (o) => o?.status.phase === "Ready");
    d.lab.write("server.yaml", job("hub", `${server(8080)}\nnetwork: many`));
    await d.lab.waitFor("hub", running);
    for (let i = 0; i < 50; i++) d.lab.write(`c${i}.yaml`, job(`c${i}`, `${client("hub", 8080, 20)}\nnetwork: many`));
    for (let i = 0; i < 50; i++) {
      const done = await d.lab.waitFor(`c${i}`, finished, 60_000);
      expect(d.lab.log(`c${i}`, done.status.run!), `c${i}`).toBe("pong\n");
    }
  });
});
