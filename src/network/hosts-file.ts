import { closeSync, constants, ftruncateSync, openSync, writeSync } from "node:fs";

export interface HostEntry {
  address: string;
  name: string;
}

/**
 * Write a network's /etc/hosts: its jobs by name. Jobs see this very file
 * through a read-only bind mount, which pins the inode, so it is rewritten in
 * place (content first, then the length) rather than replaced by a rename:
 * peers that come and go show up in running jobs at once.
 */
export function writeHostsFile(path: string, title: string, entries: readonly HostEntry[]): void {
  const lines = [
    `# ${title}: written by joblet, kept current as jobs come and go.`,
    "127.0.0.1\tlocalhost",
    "::1\tlocalhost ip6-localhost ip6-loopback",
    ...[...entries].sort((a, b) => a.name.localeCompare(b.name)).map((e) => `${e.address}\t${e.name}`),
  ];
  const content = Buffer.from(`${lines.join("\n")}\n`);
  const fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o644);
  try {
    writeSync(fd, content, 0, content.length, 0);
    ftruncateSync(fd, content.length);
  } finally {
    closeSync(fd);
  }
}
