export * from "./spec.js";
export { spawnJob, attachJob, type SpawnOptions } from "./spawn.js";
export { ensureBridge, deleteLink, deleteLinkAsync, listLinks, createJobVeth, type HostLink } from "./net-links.js";
export { JobHandle, DEFAULT_GRACE_PERIOD_MS } from "./job-handle.js";
export { InvalidJobSpecError } from "./errors.js";
export { minimalHostRoot } from "./host-root.js";
export { detectCgroupBackend } from "./cgroup/detect.js";
export { parseCpuList } from "./cgroup/limits.js";
export type { CgroupBackend, JobCgroup } from "./cgroup/backend.js";
