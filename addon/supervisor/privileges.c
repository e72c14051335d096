/*
 * Dropping the job's privileges: the last step before exec, in the job's own
 * namespaces, while still real root.
 *
 * The order matters. Everything that needs CAP_SETPCAP (bounding set,
 * securebits) happens first; CAP_SETGID is needed for the groups; the uid goes
 * last among the ids because afterwards nothing may be changed any more. With
 * SECBIT_NO_SETUID_FIXUP the setresuid leaves the capability sets alone, so
 * they are cleared explicitly with capset; with SECBIT_NOROOT, exec grants
 * nothing even to uid 0, and the locks keep the job from undoing either.
 *
 * This runs in a freshly cloned child: no malloc, no stdio, raw syscalls only
 * (glibc's set*id wrappers would try to synchronise threads this child does
 * not have).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/securebits.h>

#include "supervisor.h"

/* Capability numbers fit in the 64 bits of the two v3 data words. */
#define CAP_NUMBER_LIMIT 64

/* /proc/sys/kernel/cap_last_cap, or -1 when unreadable (no /proc yet, or masked). */
static int read_cap_last_cap(void) {
  int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  char buf[16];
  ssize_t n = read(fd, buf, sizeof buf);
  close(fd);
  if (n <= 0)
    return -1;
  int value = 0;
  ssize_t i = 0;
  for (; i < n && buf[i] >= '0' && buf[i] <= '9'; i++)
    value = value * 10 + (buf[i] - '0');
  if (i == 0 || value >= CAP_NUMBER_LIMIT)
    return -1;
  return value;
}

/* Without the bounding set, no later exec of a file with capabilities (or a
 * setuid-root binary) can hand any capability back. */
static int drop_bounding_set(void) {
  int last = read_cap_last_cap();
  int limit = last >= 0 ? last : CAP_NUMBER_LIMIT - 1;
  for (int cap = 0; cap <= limit; cap++) {
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0)
      continue;
    /* Past the kernel's last capability: only expected when guessing. */
    if (errno == EINVAL && last < 0 && cap > 0)
      return 0;
    return -errno;
  }
  return 0;
}

/* Ambient capabilities survive exec of unprivileged binaries; none may. */
static int clear_ambient_set(void) {
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == 0)
    return 0;
  /* Kernels before 4.3 have no ambient set, so there is nothing to clear. */
  return errno == EINVAL ? 0 : -errno;
}

/* uid 0 inside the job is not root: exec and set*id never grant capabilities,
 * and the locks stop the job from turning that back on. */
static int lock_securebits(void) {
  unsigned long bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                       SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED;
  if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) != 0)
    return -errno;
  return 0;
}

/* Supplementary groups first (root's groups would outlive the gid change),
 * then the gid while CAP_SETGID is still there, then the uid. */
static int switch_ids(uid_t uid, gid_t gid) {
  if (syscall(SYS_setgroups, 0, NULL) != 0)
    return -errno;
  if (syscall(SYS_setresgid, gid, gid, gid) != 0)
    return -errno;
  if (syscall(SYS_setresuid, uid, uid, uid) != 0)
    return -errno;
  return 0;
}

/* Effective, permitted and inheritable all empty: lowering needs no privilege. */
static int clear_capability_sets(void) {
  struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {{0, 0, 0}};
  if (syscall(SYS_capset, &header, data) != 0)
    return -errno;
  return 0;
}

int privileges_drop(uid_t uid, gid_t gid) {
  int err;
  if ((err = drop_bounding_set()) != 0)
    return err;
  if ((err = clear_ambient_set()) != 0)
    return err;
  if ((err = lock_securebits()) != 0)
    return err;
  if ((err = switch_ids(uid, gid)) != 0)
    return err;
  if ((err = clear_capability_sets()) != 0)
    return err;
  /* Also the precondition for installing the seccomp filter without privilege. */
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return -errno;
  return 0;
}
