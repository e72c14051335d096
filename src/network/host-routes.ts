import { readFileSync } from "node:fs";
import { cidrsOverlap, formatAddress, type Cidr } from "../api/index.js";

export interface HostRoute {
  interface: string;
  cidr: Cidr;
}

/**
 * The host's IPv4 routes, from /proc/net/route of this process's network
 * namespace (the default route left out): a Network whose block overlaps one
 * would make the host send that traffic the wrong way.
 */
export function hostRoutes(): HostRoute[] {
  const lines = readFileSync("/proc/net/route", "utf8").trim().split("\n").slice(1);
  const routes: HostRoute[] = [];
  for (const line of lines) {
    const [iface, destination, , , , , , mask] = line.trim().split(/\s+/);
    if (!iface || !destination || !mask) continue;
    const network = littleEndian(destination);
    const maskValue = littleEndian(mask);
    const prefix = 32 - Math.log2(2 ** 32 - maskValue);
    if (maskValue === 0 || !Number.isInteger(prefix)) continue;
    routes.push({ interface: iface, cidr: { network, prefix } });
  }
  return routes;
}

/** The first route that is not one of ours and overlaps `cidr`, described; else undefined. */
export function conflictingRoute(cidr: Cidr, ours: (link: string) => boolean): string | undefined {
  const route = hostRoutes().find((r) => !ours(r.interface) && cidrsOverlap(r.cidr, cidr));
  return route && `${formatAddress(route.cidr.network)}/${route.cidr.prefix} on ${route.interface}`;
}

/** /proc/net/route prints addresses as the hex of their in-memory (little-endian) value. */
function littleEndian(hex: string): number {
  const value = parseInt(hex, 16);
  return (((value & 0xff) << 24) | (((value >>> 8) & 0xff) << 16) | (((value >>> 16) & 0xff) << 8) | ((value >>> 24) & 0xff)) >>> 0;
}
