import { join } from "node:path";
import { volumeDir, type StateLayout } from "../store/index.js";

/** Where one Volume lives on the host: volumes/<name>/{image, data}. */
export interface VolumePaths {
  dir: string;
  /** A filesystem volume's sparse ext4 image. */
  image: string;
  /** The mount point (both types); jobs get binds of it. */
  mountPath: string;
}

export function volumePaths(layout: StateLayout, name: string): VolumePaths {
  const dir = volumeDir(layout, name);
  return { dir, image: join(dir, "image"), mountPath: join(dir, "data") };
}
