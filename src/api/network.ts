/**
 * kind: Network (issue 6): jobs on one Network reach each other by address and
 * name; nothing else reaches them. Egress is off unless asked for: jobs are
 * untrusted code, and a network is for talking to peers.
 */
import { z } from "zod";
import { checked } from "./fields.js";
import { CIDR_PATTERN, parseCidr } from "./cidr.js";
import { manifestSchema } from "./meta.js";
import { NETWORK_MODES } from "./job.js";

export const networkSpecSchema = z.strictObject({
  cidr: checked(z.string(), (text) => {
    const parsed = parseCidr(text);
    return typeof parsed === "string" ? parsed : undefined;
  }).meta({ description: "IPv4 block the network's addresses come from, e.g. 10.88.0.0/24; must not overlap another Network.", pattern: CIDR_PATTERN }),
  egress: z.boolean().default(false).meta({ description: "Allow traffic out of the host (NAT through nftables)." }),
  hostPorts: z
    .array(z.number().int().min(1).max(65535))
    .optional()
    .meta({ description: "Ports of the host's own address on this network (the gateway) that its jobs may reach, TCP and UDP. None by default." }),
});

export const networkSchema = manifestSchema("Network", networkSpecSchema).superRefine((manifest, ctx) => {
  const name = manifest.metadata.name;
  if ((NETWORK_MODES as readonly string[]).includes(name)) {
    ctx.addIssue({ code: "custom", path: ["metadata", "name"], message: `is a built-in network mode (${NETWORK_MODES.join(", ")}); choose another name` });
  }
});

export type NetworkManifest = z.input<typeof networkSchema>;
export type NetworkManifestWithDefaults = z.output<typeof networkSchema>;
export type NetworkSpec = NetworkManifest["spec"];
