/**
 * Just enough of ELF to know what a host file needs to run: whether it is an
 * ELF file for this machine, whether it is dynamically linked (PT_DYNAMIC),
 * and which loader the kernel starts for it (PT_INTERP). Which libraries it
 * loads is ldd's job (it answers with the host loader's own search rules).
 */
import { open } from "node:fs/promises";

export interface ElfInfo {
  /** 1: 32-bit, 2: 64-bit. */
  elfClass: number;
  /** 1: little endian, 2: big endian. */
  data: number;
  machine: number;
  /** ET_REL 1, ET_EXEC 2, ET_DYN 3, ET_CORE 4. */
  type: number;
  dynamic: boolean;
  /** PT_INTERP: the loader's path, for executables. */
  interpreter?: string;
}

export type FileKind =
  | { kind: "elf"; elf: ElfInfo }
  | { kind: "script"; interpreter: string; argument?: string }
  | { kind: "other" };

const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const MAX_PHDR_BYTES = 64 * 1024;
const MAX_INTERP = 4096;

/** What a regular file is: ELF (with its header facts), a #! script (with its interpreter), or something else. */
export async function inspectFile(path: string): Promise<FileKind> {
  const handle = await open(path, "r");
  try {
    const head = Buffer.alloc(256);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    const bytes = head.subarray(0, bytesRead);
    if (bytes.length >= 2 && bytes[0] === 0x23 && bytes[1] === 0x21) return parseShebang(bytes);
    if (bytes.length < 52 || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) return { kind: "other" };
    const elf = await readElf(handle, bytes);
    return elf ? { kind: "elf", elf } : { kind: "other" };
  } finally {
    await handle.close();
  }
}

/** The first line of a #! script, split the way the kernel splits it: the interpreter and at most one argument. */
function parseShebang(bytes: Buffer): FileKind {
  const end = bytes.indexOf(0x0a);
  const line = bytes.subarray(2, end === -1 ? bytes.length : end).toString("latin1").trim();
  const match = /^(\S+)(?:[ \t]+(.*))?$/.exec(line);
  if (!match?.[1]) return { kind: "other" };
  const argument = match[2]?.trim();
  return argument ? { kind: "script", interpreter: match[1], argument } : { kind: "script", interpreter: match[1] };
}

async function readElf(handle: import("node:fs/promises").FileHandle, head: Buffer): Promise<ElfInfo | undefined> {
  const elfClass = head[4] ?? 0;
  const data = head[5] ?? 0;
  if ((elfClass !== 1 && elfClass !== 2) || (data !== 1 && data !== 2)) return undefined;
  const le = data === 1;
  const u16 = (buf: Buffer, at: number): number => (le ? buf.readUInt16LE(at) : buf.readUInt16BE(at));
  const u32 = (buf: Buffer, at: number): number => (le ? buf.readUInt32LE(at) : buf.readUInt32BE(at));
  const u64 = (buf: Buffer, at: number): number => Number(le ? buf.readBigUInt64LE(at) : buf.readBigUInt64BE(at));
  const is64 = elfClass === 2;
  if (is64 && head.length < 64) return undefined;
  const type = u16(head, 16);
  const machine = u16(head, 18);
  const phoff = is64 ? u64(head, 32) : u32(head, 28);
  const phentsize = u16(head, is64 ? 54 : 42);
  const phnum = u16(head, is64 ? 56 : 44);
  const info: ElfInfo = { elfClass, data, machine, type, dynamic: false };
  if (phnum === 0 || phentsize < (is64 ? 56 : 32) || phnum * phentsize > MAX_PHDR_BYTES) return info;
  const phdrs = Buffer.alloc(phnum * phentsize);
  const { bytesRead } = await handle.read(phdrs, 0, phdrs.length, phoff);
  for (let i = 0; i + 1 <= phnum && (i + 1) * phentsize <= bytesRead; i++) {
    const at = i * phentsize;
    const pType = u32(phdrs, at);
    if (pType === PT_DYNAMIC) info.dynamic = true;
    if (pType === PT_INTERP) {
      const offset = is64 ? u64(phdrs, at + 8) : u32(phdrs, at + 4);
      const size = Math.min(is64 ? u64(phdrs, at + 32) : u32(phdrs, at + 16), MAX_INTERP);
      const buf = Buffer.alloc(size);
      const got = await handle.read(buf, 0, size, offset);
      const nul = buf.indexOf(0);
      const interp = buf.subarray(0, nul === -1 ? got.bytesRead : Math.min(nul, got.bytesRead)).toString("utf8");
      if (interp.startsWith("/")) info.interpreter = interp;
    }
  }
  return info;
}

let hostElf: Promise<ElfInfo | undefined> | undefined;

/** The ELF facts of the running node binary: the host's class, byte order and machine. */
export function hostElfInfo(): Promise<ElfInfo | undefined> {
  hostElf ??= inspectFile(process.execPath).then((kind) => (kind.kind === "elf" ? kind.elf : undefined));
  return hostElf;
}

/** Same class, byte order and machine as the host: its libraries can be resolved with the host's ldd. */
export async function isHostArchitecture(elf: ElfInfo): Promise<boolean> {
  const host = await hostElfInfo();
  if (!host) return true;
  return host.elfClass === elf.elfClass && host.data === elf.data && host.machine === elf.machine;
}
