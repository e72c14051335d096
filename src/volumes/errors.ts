/**
 * Why a volume could not be made, mounted, resized or removed. The reason
 * becomes the Volume's Ready=False reason, so it is CamelCase and stable.
 */
export type VolumeFailure = "LoopUnavailable" | "FormatFailed" | "MountFailed" | "ResizeFailed" | "UnmountFailed";

export class VolumeError extends Error {
  constructor(
    readonly reason: VolumeFailure,
    message: string,
  ) {
    super(message);
    this.name = "VolumeError";
  }
}
