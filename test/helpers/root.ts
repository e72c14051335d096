/**
 * Isolation tests need root (namespaces, cgroups, mounts). They never skip:
 * without root they fail, with this message, so a run that proved nothing
 * cannot pass.
 */
export function requireRoot(what: string): void {
  const uid = process.getuid?.() ?? -1;
  if (uid !== 0) {
    throw new Error(`Cannot test ${what}: it needs root (uid ${uid})${process.env.CI ? " and CI is set" : ""}`);
  }
}

export const inCgroup2Vm = process.env.CI_CGROUP2_VM === "1";
