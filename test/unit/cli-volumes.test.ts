import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { applyCommand } from "../../src/cli/apply.js";
import { describeCommand } from "../../src/cli/describe.js";
import { getCommand } from "../../src/cli/get.js";
import type { StoredObject, VolumeStatus } from "../../src/api/index.js";
import { Lab } from "./cli-harness.js";

let lab: Lab;
beforeEach(() => {
  lab = new Lab();
});
afterEach(() => lab.cleanup());

const MiB = 1024 * 1024;

function stored(name: string, spec: Record<string, unknown>, status: Partial<VolumeStatus>): StoredObject<unknown, Record<string, unknown>> {
  return {
    apiVersion: "joblet/v1",
    kind: "Volume",
    metadata: { name, generation: "0123456789abcdef" },
    spec: { type: "filesystem", reclaimPolicy: "Retain", ...spec },
    status: { phase: "Pending", conditions: [], ...status },
  };
}

const data = stored(
  "data",
  { size: "1Gi" },
  {
    phase: "Ready",
    type: "filesystem",
    size: 1024 * MiB,
    used: 300 * MiB,
    users: ["train", "eval"],
    mountPath: "/var/lib/joblet/volumes/data/data",
    device: "/dev/loop3",
    image: "/var/lib/joblet/volumes/data/image",
    createdAt: "2030-01-01T00:07:00Z",
    conditions: [{ type: "Ready", status: "True", reason: "Mounted", message: "1Gi ext4 on /dev/loop3", lastTransitionTime: "2030-01-01T00:07:00Z" }],
  },
);
const scratch = stored(
  "scratch",
  { type: "memory", size: "64Mi", reclaimPolicy: "Delete" },
  {
    phase: "Terminating",
    type: "memory",
    size: 64 * MiB,
    used: 0,
    users: ["a", "b", "c", "d", "e"],
    createdAt: "2030-01-01T00:09:00Z",
    reason: "InUse",
    conditions: [{ type: "Ready", status: "False", reason: "InUse", message: "deleted", lastTransitionTime: "2030-01-01T00:09:30Z" }],
  },
);

const rows = (out: string) => out.trimEnd().split("\n").map((line) => line.split(/\s{2,}/));

describe("joblet get volumes", () => {
  it("shows type, size, use, the jobs using each volume, its phase and age; an applied one not yet reported from its manifest", async () => {
    lab.status(data);
    lab.status(scratch);
    lab.file("cache.yaml", "apiVersion: joblet/v1\nkind: Volume\nmetadata:\n  name: cache\nspec:\n  size: 512Mi\n");
    await lab.run(applyCommand, ["-f", "cache.yaml"]);
    const result = await lab.run(getCommand, ["volumes"]);
    expect(result.code).toBe(0);
    const [header, ...body] = rows(result.out);
    expect(header).toEqual(["NAME", "TYPE", "SIZE", "USED", "USERS", "STATUS", "AGE"]);
    expect(body[0]?.slice(0, 6)).toEqual(["cache", "filesystem", "512Mi", "-", "-", "Pending"]);
    expect(body[1]).toEqual(["data", "filesystem", "1Gi", "300Mi", "train,eval", "Ready", "3m"]);
    expect(body[2]).toEqual(["scratch", "memory", "64Mi", "0", "a,b,c +2", "Terminating", "1m"]);
  });

  it("-o wide adds the reclaim policy, loop device, reason and host mount path", async () => {
    lab.status(data);
    lab.status(scratch);
    const [header, first, second] = rows((await lab.run(getCommand, ["volumes", "-o", "wide"])).out);
    expect(header).toEqual(["NAME", "TYPE", "SIZE", "USED", "USERS", "STATUS", "AGE", "RECLAIM", "DEVICE", "REASON", "PATH"]);
    expect(first?.slice(7)).toEqual(["Retain", "/dev/loop3", "-", "/var/lib/joblet/volumes/data/data"]);
    expect(second?.slice(7)).toEqual(["Delete", "-", "InUse", "-"]);
  });
});

describe("joblet describe volume", () => {
  it("shows the volume's type, size and use, users, mount path, device and image", async () => {
    lab.status(data);
    const { code, out } = await lab.run(describeCommand, ["volume", "data"]);
    expect(code).toBe(0);
    expect(out).toMatch(/^Kind:\s+Volume$/m);
    expect(out).toMatch(/^Age:\s+3m$/m);
    expect(out).toMatch(/^ {2}size: 1Gi$/m);
    expect(out).toMatch(/^ {2}Phase:\s+Ready$/m);
    expect(out).toMatch(/^ {2}Size:\s+1Gi$/m);
    expect(out).toMatch(/^ {2}Used:\s+300Mi \(29%\)$/m);
    expect(out).toMatch(/^ {2}Users:\s+train, eval$/m);
    expect(out).toMatch(/^ {2}Mount path:\s+\/var\/lib\/joblet\/volumes\/data\/data$/m);
    expect(out).toMatch(/^ {2}Device:\s+\/dev\/loop3$/m);
    expect(out).toMatch(/^ {2}Image:\s+\/var\/lib\/joblet\/volumes\/data\/image$/m);
    expect(out).toMatch(/^ {2}Ready\s+True\s+Mounted\s+3m\s+1Gi ext4 on \/dev\/loop3$/m);
  });
});
