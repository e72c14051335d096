import { describe, expect, it } from "vitest";
import { parseMountinfo } from "../../src/volumes/index.js";

const SAMPLE = [
  "22 27 0:21 / /proc rw,relatime - proc proc rw",
  "42 27 7:0 / /var/lib/joblet/volumes/data/data rw,nosuid,nodev,relatime shared:1 - ext4 /dev/loop0 rw",
  "43 27 0:50 / /tmp/state\\040dir/volumes/ram/data rw,nosuid,nodev - tmpfs joblet-ram rw,size=4096k,mode=755,uid=65534,gid=65534",
  "",
].join("\n");

describe("parseMountinfo", () => {
  it("reads mount point, filesystem type and source, past optional fields and octal escapes", () => {
    expect(parseMountinfo(SAMPLE)).toEqual([
      { mountPoint: "/proc", fsType: "proc", source: "proc" },
      { mountPoint: "/var/lib/joblet/volumes/data/data", fsType: "ext4", source: "/dev/loop0" },
      { mountPoint: "/tmp/state dir/volumes/ram/data", fsType: "tmpfs", source: "joblet-ram" },
    ]);
  });
});
