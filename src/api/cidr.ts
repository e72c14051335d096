/** IPv4 CIDR blocks for Networks: parsed strictly so that a typo is never a different network. */

export interface Cidr {
  /** Network address as an unsigned 32-bit integer. */
  network: number;
  prefix: number;
}

const OCTET = "(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";
const CIDR = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}/(\\d{1,2})$`);
export const CIDR_PATTERN = CIDR.source;

// /8 is the widest private range; a /31 or /32 leaves no address for a job beside the gateway.
export const MIN_PREFIX = 8;
export const MAX_PREFIX = 30;

export function formatAddress(address: number): string {
  return [24, 16, 8, 0].map((shift) => (address >>> shift) & 255).join(".");
}

/** The parsed block, or the reason it is not one. */
export function parseCidr(text: string): Cidr | string {
  const match = CIDR.exec(text);
  if (!match) return "is not an IPv4 CIDR block (e.g. 10.88.0.0/24)";
  const address = match.slice(1, 5).reduce((acc, octet) => acc * 256 + Number(octet), 0);
  const prefix = Number(match[5]);
  if (prefix < MIN_PREFIX || prefix > MAX_PREFIX) return `has prefix /${prefix} (between /${MIN_PREFIX} and /${MAX_PREFIX})`;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const network = (address & mask) >>> 0;
  if (network !== address) return `has host bits set; did you mean '${formatAddress(network)}/${prefix}'?`;
  return { network, prefix };
}

/** Whether two blocks share any address (Networks must not). */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  const prefix = Math.min(a.prefix, b.prefix);
  const mask = (0xffffffff << (32 - prefix)) >>> 0;
  return ((a.network & mask) >>> 0) === ((b.network & mask) >>> 0);
}
