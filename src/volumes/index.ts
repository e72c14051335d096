// Host side of Volumes: images, loop devices, tmpfs and mounts under the state dir.
export { VolumeError, type VolumeFailure } from "./errors.js";
export { volumePaths, type VolumePaths } from "./paths.js";
export { mountAt, mountsUnder, parseMountinfo, readMounts, type MountEntry } from "./mountinfo.js";
export { LOOP_CONTROL, attachedLoopDevices, detachLoopDevices, loopDevicesOf, requireLoopDevices } from "./loop-devices.js";
export { ext4Bytes, formatImage, growOffline, growOnline, mountImage } from "./filesystem.js";
export { mountTmpfs, resizeTmpfs } from "./memory.js";
export { volumeUsage } from "./usage.js";
export { removeVolumeData, unmountVolume } from "./unmount.js";
