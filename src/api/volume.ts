/**
 * kind: Volume (issue 6): storage that outlives jobs, mounted at
 * /volumes/<name>. The size is a hard quota for both types.
 */
import { z } from "zod";
import { bytes } from "./fields.js";
import { manifestSchema } from "./meta.js";
import { checkBytes } from "./quantity.js";

// Below this mkfs.ext4 cannot lay down its metadata; say so before the controller tries.
export const MIN_FILESYSTEM_BYTES = 1024 * 1024;

export const volumeSpecSchema = z
  .strictObject({
    type: z
      .enum(["filesystem", "memory"])
      .default("filesystem")
      .meta({ description: "filesystem: an ext4 image on a loop device, kept on disk; memory: a tmpfs, gone on reboot." }),
    size: bytes("Hard size limit: 1Gi, 512Mi."),
    reclaimPolicy: z
      .enum(["Retain", "Delete"])
      .default("Retain")
      .meta({ description: "Retain keeps the data when the manifest is removed; Delete removes it." }),
  })
  .superRefine((spec, ctx) => {
    const size = checkBytes(spec.size);
    if ((spec.type ?? "filesystem") === "filesystem" && size.ok && size.value < MIN_FILESYSTEM_BYTES) {
      ctx.addIssue({ code: "custom", path: ["size"], message: "is too small for a filesystem volume (at least 1Mi)" });
    }
  });

export const volumeSchema = manifestSchema("Volume", volumeSpecSchema);

export type VolumeManifest = z.input<typeof volumeSchema>;
export type VolumeManifestWithDefaults = z.output<typeof volumeSchema>;
export type VolumeSpec = VolumeManifest["spec"];
