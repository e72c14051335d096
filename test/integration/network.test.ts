// Job networks for real: bridges, veths, addresses and routes made through
// rtnetlink, jobs talking TCP. Everything runs in network namespaces the test
// makes itself (test/helpers/in-netns.ts runs test/fixtures/network-jobs.mjs
// under `unshare --net`), and traffic only goes between those namespaces.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InvalidJobSpecError, spawnJob, type NetworkAttachment } from "../../src/isolation/index.js";
import { runInNetns } from "../helpers/in-netns.js";
import { JobLab, jobletCgroupDirs, processesNamed } from "../helpers/jobs.js";
import { requireRoot } from "../helpers/root.js";

const lab = new JobLab();
beforeAll(() => requireRoot("job networks"));
afterAll(() => {
  lab.cleanup();
  // The fixture stops its jobs whatever happens; check that it did.
  expect(processesNamed("joblet-supervisor net-")).toEqual([]);
  expect(jobletCgroupDirs().filter((d) => /\/net-\d+-\d+$/.test(d))).toEqual([]);
});

interface JobResult {
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}
interface Link {
  name: string;
  index: number;
  kind?: string;
  master?: string;
}

/** Each scenario runs once, in a namespace of its own; several tests look at its result. */
const runs = new Map<string, Promise<unknown>>();
function scenario<T>(name: string): Promise<T> {
  if (!runs.has(name)) runs.set(name, runInNetns<T>("network-jobs.mjs", [name, lab.base]));
  return runs.get(name) as Promise<T>;
}
const bridge = () => scenario<{ server: JobResult; client: JobResult; during: Link[]; after: string[] }>("bridge");

/** /proc/net/route prints IPv4 addresses as the hex of their little-endian value. */
const routeAddress = (hex: string) => [0, 2, 4, 6].map((i) => parseInt(hex.slice(i, i + 2), 16)).reverse().join(".");

describe("host links through rtnetlink", () => {
  it("makes a bridge (idempotently), lists links with kind and master, readdresses, and deletes links saying whether they existed", async () => {
    const r = await scenario<{
      listed: Link[];
      errors: Record<string, { message: string; code: string }>;
      addresses: string;
      deleted: Record<string, boolean>;
      after: string[];
    }>("links");
    expect(r.listed.map(({ name, kind, master }) => ({ name, kind, master }))).toEqual([
      { name: "lo", kind: undefined, master: undefined },
      { name: "jtbr0", kind: "bridge", master: undefined },
      { name: "jtv0", kind: "veth", master: "jtbr0" },
      { name: "jtp0", kind: "veth", master: undefined },
    ]);
    expect(r.addresses).toMatch(/jtbr0\s+inet 10\.126\.0\.1\/16 /);
    expect(r.addresses).not.toContain("10.123.0.1");
    expect(r.deleted).toEqual({ veth: true, again: false, p2p: true, bridge: true });
    expect(r.after).toEqual(["lo"]);
  });

  it("names the interface and the errno when it cannot do something", async () => {
    const { errors } = await scenario<{ errors: Record<string, { message: string; code: string }> }>("links");
    expect(errors.missingBridge).toEqual({ message: "Cannot find bridge 'jtnone' for 'jtv1': No such device", code: "ENODEV" });
    expect(errors.notABridge).toEqual({ message: "Cannot use 'jtv0' as a bridge (it is a veth link): File exists", code: "EEXIST" });
    expect(errors.taken?.message).toMatch(/^Cannot create veth 'jtv0' .*: File exists$/);
    expect(errors.taken?.code).toBe("EEXIST");
  });
});

describe("jobs on a network", () => {
  it("two jobs on one bridge exchange data over TCP", async () => {
    const { server, client, during } = await bridge();
    expect(server).toMatchObject({ exitCode: 0, stderr: "" });
    expect(client).toMatchObject({ exitCode: 0, stderr: "" });
    expect(server.stdout.trim()).toBe("10.123.0.3 ping from 10.123.0.3");
    expect(client.stdout.split("\n")[0]).toBe("pong ping from 10.123.0.3");
    expect(during).toEqual([expect.objectContaining({ name: "jtv2", kind: "veth", master: "jtbr0" })]);
  });

  it("a job sees lo and eth0, with its address, netmask and a default route via the gateway", async () => {
    const { client } = await bridge();
    const view = JSON.parse(client.stdout.trim().split("\n")[1] ?? "{}") as { interfaces: string[]; address: string; netmask: string; routes: string };
    expect(view.interfaces).toEqual(["lo", "eth0"]);
    expect(view.address).toBe("10.123.0.3");
    expect(view.netmask).toBe("255.255.255.0");
    const routes = view.routes.trim().split("\n").slice(1).map((line) => line.split(/\s+/));
    const table = routes.map(([iface, destination, gateway, , , , , mask]) => [iface, routeAddress(destination!), routeAddress(gateway!), routeAddress(mask!)]);
    expect(table).toContainEqual(["eth0", "0.0.0.0", "10.123.0.1", "0.0.0.0"]);
    expect(table).toContainEqual(["eth0", "10.123.0.0", "0.0.0.0", "255.255.255.0"]);
  });

  it("a point-to-point (isolated) job reaches the host end of its link", async () => {
    const r = await scenario<{ job: JobResult; received: string[]; after: string[] }>("pointToPoint");
    expect(r.job).toMatchObject({ exitCode: 0, stderr: "" });
    expect(r.job.stdout.trim()).toBe("hello 10.124.0.2");
    expect(r.received).toEqual(["ping from 10.124.0.2"]);
  });

  it("fifty jobs started at once on one bridge each call the next one over TCP", async () => {
    const r = await scenario<{ failedToStart: string[]; answers: string[]; after: string[] }>("fifty");
    expect(r.failedToStart).toEqual([]);
    expect(r.answers).toEqual(Array.from({ length: 50 }, (_, i) => `pong ${i}`));
    expect(r.after).toEqual(["lo", "jtbr0"]);
  });

  it("leaves no veth once its jobs have ended", async () => {
    expect((await bridge()).after).toEqual(["lo", "jtbr0"]);
    expect((await scenario<{ after: string[] }>("pointToPoint")).after).toEqual(["lo"]);
  });

  it("a failed spawn leaves no veth: a missing bridge is named, a setup failure after the veth was made takes it back, and the name is free at once", async () => {
    const r = await scenario<{ noBridge: string; afterNoBridge: string[]; badExec: string; afterBadExec: string[]; reuse: JobResult; after: string[] }>("failures");
    expect(r.noBridge).toMatch(/^Cannot start job 'net-\d+-1': Cannot find bridge 'jtnobr' for 'jtv4': No such device$/);
    expect(r.afterNoBridge).toEqual(["lo", "jtbr0"]);
    expect(r.badExec).toMatch(/^Cannot start job 'net-\d+-2': exec \/bad\/not-a-program: Exec format error/);
    expect(r.afterBadExec).toEqual(["lo", "jtbr0"]);
    expect(r.reuse.exitCode).toBe(0);
    expect(r.after).toEqual(["lo", "jtbr0"]);
  });

  it("a daemon that attaches after a restart removes the job's veth when the job ends", async () => {
    const r = await scenario<{ whileOrphaned: string[]; signal: string; after: string[] }>("reattach");
    expect(r.whileOrphaned).toEqual(["lo", "jtbr0", "jtv6"]);
    expect(r.signal).toBe("SIGTERM");
    expect(r.after).toEqual(["lo", "jtbr0"]);
  });
});

describe("a bad network attachment is refused before anything is created", () => {
  const good: NetworkAttachment = { hostInterface: "jtv9", bridge: "jtbr0", address: "10.123.0.9", prefix: 24, gateway: "10.123.0.1" };
  const refused = async (change: Partial<NetworkAttachment>, message: RegExp) => {
    const network = { ...good, ...change };
    for (const key of Object.keys(network) as (keyof NetworkAttachment)[]) if (network[key] === undefined) delete network[key];
    const error = await spawnJob(lab.spec({ argv: ["/bin/true"], network })).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidJobSpecError);
    expect((error as Error).message).toMatch(message);
  };

  it("names the field and the value", async () => {
    await refused({ hostInterface: "much-too-long-name" }, /network\.hostInterface 'much-too-long-name' is not an interface name/);
    await refused({ hostInterface: "" }, /network\.hostInterface '' is not an interface name/);
    await refused({ bridge: "a/b" }, /network\.bridge 'a\/b' is not an interface name/);
    await refused({ address: "10.123.0.256" }, /network\.address '10\.123\.0\.256' is not an IPv4 address/);
    await refused({ address: "10.123.0.0" }, /network\.address '10\.123\.0\.0\/24' is the network or broadcast address/);
    await refused({ prefix: 31 }, /network\.prefix 31 is not a prefix length from 1 to 30/);
    await refused({ gateway: "10.124.0.1" }, /network\.gateway '10\.124\.0\.1' is not in the job's block 10\.123\.0\.9\/24/);
    await refused({ gateway: "10.123.0.9" }, /network\.gateway '10\.123\.0\.9' is the job's own address/);
    await refused({ hostAddress: "10.123.0.1" }, /network\.hostAddress '10\.123\.0\.1' is only for a point-to-point link/);
    await refused({ bridge: undefined }, /network\.hostAddress is required for a point-to-point link/);
    await refused({ bridge: undefined, hostAddress: "10.124.0.1" }, /network\.hostAddress '10\.124\.0\.1' is not in the job's block/);
  });
});
