import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseCidr, type Cidr } from "../../src/api/index.js";
import { renderRuleset } from "../../src/network/firewall.js";
import { writeHostsFile } from "../../src/network/hosts-file.js";
import { Leases } from "../../src/network/leases.js";
import { HostNames } from "../../src/network/names.js";

const cidr = (text: string) => parseCidr(text) as Cidr;

describe("address leases", () => {
  it("hand out the lowest free address after the gateway, and none when the block is full", () => {
    const leases = new Leases(cidr("10.9.0.0/29"), "shared");
    expect(leases.capacity).toBe(5);
    expect(leases.gateway).toBe("10.9.0.1");
    const got = ["a", "b", "c", "d", "e"].map((job) => leases.take(job)!.address);
    expect(got).toEqual(["10.9.0.2", "10.9.0.3", "10.9.0.4", "10.9.0.5", "10.9.0.6"]);
    expect(leases.take("f")).toBeUndefined();
    leases.release("c");
    expect(leases.take("f")).toEqual({ address: "10.9.0.4", gateway: "10.9.0.1", prefix: 29 });
    expect(leases.take("a")!.address).toBe("10.9.0.2");
  });

  it("give each isolated job a /30 pair of its own", () => {
    const leases = new Leases(cidr("10.10.0.0/28"), "pairs");
    expect(leases.capacity).toBe(4);
    expect(leases.take("a")).toEqual({ address: "10.10.0.2", gateway: "10.10.0.1", prefix: 30 });
    expect(leases.take("b")).toEqual({ address: "10.10.0.6", gateway: "10.10.0.5", prefix: 30 });
  });

  it("give a job back its address after a restart, never one another job holds", () => {
    const leases = new Leases(cidr("10.9.0.0/24"), "shared");
    expect(leases.reserve("a", "10.9.0.7")).toBe(true);
    expect(leases.reserve("b", "10.9.0.7")).toBe(false);
    expect(leases.reserve("c", "10.9.1.7")).toBe(false);
    expect(leases.reserve("d", "10.9.0.1")).toBe(false);
    expect(leases.take("b")!.address).toBe("10.9.0.2");
    expect(leases.owners().sort()).toEqual(["a", "b"]);
  });
});

describe("host object names", () => {
  it("fit an interface name, carry the daemon's tag and differ per state dir", () => {
    const one = new HostNames("/var/lib/joblet");
    const two = new HostNames("/tmp/other");
    for (const name of [one.bridge("a-very-long-network-name-that-goes-on-and-on"), one.port("job", "1234abcd-1"), one.pointToPoint("job", "1234abcd-1")]) {
      expect(name.length).toBeLessThanOrEqual(15);
      expect(one.ours(name)).toBe(true);
      expect(two.ours(name)).toBe(false);
    }
    expect(one.port("job", "r-1")).not.toBe(one.port("job", "r-2"));
  });
});

describe("the firewall ruleset", () => {
  it("drops new connections into job networks, lets egress out only where allowed, and masquerades it", () => {
    const text = renderRuleset("joblet_abcd", "jlabcd", [
      { interface: "jlabcdb1", bridged: true, cidr: "10.1.0.0/24", egress: true, hostPorts: [] },
      { interface: "jlabcdb2", bridged: true, cidr: "10.2.0.0/24", egress: false, hostPorts: [53, 8080] },
    ]);
    expect(text).toContain('oifname "jlabcd*" ct state established,related accept\n    oifname "jlabcd*" drop');
    expect(text).toContain('iifname "jlabcdb1" oifname "jlabcdb1" accept');
    expect(text).toContain('iifname "jlabcdb1" accept');
    expect(text).not.toContain('iifname "jlabcdb2" accept');
    expect(text).toContain('iifname "jlabcdb2" meta l4proto { tcp, udp } th dport { 53, 8080 } accept');
    expect(text).toContain('ip saddr 10.1.0.0/24 oifname != "jlabcd*" masquerade');
    expect(text).not.toContain("10.2.0.0/24 oifname");
    // One transaction: the table is created if missing, deleted, and defined again.
    expect(text.startsWith("table inet joblet_abcd\ndelete table inet joblet_abcd\ntable inet joblet_abcd {")).toBe(true);
  });
});

describe("a network's hosts file", () => {
  it("is rewritten in place, so a bind mount of it sees every change", () => {
    const dir = mkdtempSync(join(tmpdir(), "joblet-hosts-"));
    try {
      const path = join(dir, "hosts");
      writeHostsFile(path, "network lab", [{ address: "10.1.0.3", name: "web" }, { address: "10.1.0.2", name: "db" }]);
      const { ino } = statSync(path);
      expect(readFileSync(path, "utf8")).toContain("10.1.0.2\tdb\n10.1.0.3\tweb\n");
      writeHostsFile(path, "network lab", [{ address: "10.1.0.2", name: "db" }]);
      expect(statSync(path).ino).toBe(ino);
      expect(readFileSync(path, "utf8")).not.toContain("web");
      expect(readFileSync(path, "utf8")).toMatch(/^127\.0\.0\.1\tlocalhost$/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
