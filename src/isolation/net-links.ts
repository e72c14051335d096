import { native, type NativeLink } from "./native.js";
import type { NetworkAttachment } from "./spec.js";

/**
 * Host-side links for job networks, in the daemon's own network namespace
 * (rtnetlink through the addon; no ip(8)). The network layer makes bridges
 * here; the engine makes and removes each job's veth pair.
 */
export type HostLink = NativeLink;

/** Create bridge `name` unless it exists, give it address/prefix as its only IPv4 address, bring it up. */
export function ensureBridge(name: string, address: string, prefix: number): void {
  native.netEnsureBridge(name, address, prefix);
}

/** Remove a link (a bridge, or either end of a veth pair, which removes both); false when it did not exist. */
export function deleteLink(name: string): boolean {
  return native.netDeleteLink(name);
}

/** deleteLink without blocking the event loop for the ~20 ms the kernel takes. */
export function deleteLinkAsync(name: string): Promise<boolean> {
  return native.netDeleteLinkAsync(name);
}

/** Every link of the namespace, with its kind and the bridge it is a port of. */
export function listLinks(): HostLink[] {
  return native.netListLinks();
}

/** The job's veth pair: attachment.hostInterface here, "eth0" in the namespace netnsFd. */
export function createJobVeth(netnsFd: number, attachment: NetworkAttachment): void {
  const { hostInterface, bridge, hostAddress, prefix } = attachment;
  native.netCreateVeth(netnsFd, bridge !== undefined ? { hostInterface, bridge, prefix } : { hostInterface, hostAddress: hostAddress as string, prefix });
}

/**
 * Remove a job's host end once the job is over. The kernel would remove the
 * pair with the job's namespace, but later and asynchronously, while the
 * caller may reuse the name at once. A failure does not fail the job's exit:
 * it is reported as a warning, and the network layer's sweep removes the link.
 */
export async function removeJobVeth(jobId: string, hostInterface: string): Promise<void> {
  try {
    await deleteLinkAsync(hostInterface);
  } catch (e) {
    process.emitWarning(`Cannot remove the network link of job '${jobId}': ${(e as Error).message}`);
  }
}
