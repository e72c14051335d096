#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "supervisor.h"
#include "util.h"

/*
 * The job's root: a small tmpfs skeleton (made read-only once assembled)
 * holding read-only binds of host trees, read-write binds of the job's data,
 * sized tmpfs for /tmp and /work, a fresh /proc with the sensitive parts masked
 * and a /dev with six device nodes. Everything happens inside the job's own
 * mount namespace, so nothing here is ever visible on the host.
 */

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), -errno)

/* Paths in /proc that reveal host kernel state or let a process poke it.
 * (/proc/kallsyms shows only zeros to a job: it has no CAP_SYSLOG.) */
static const char *const masked_proc_paths[] = {
    "/proc/kcore", "/proc/keys", "/proc/sysrq-trigger", "/proc/timer_list", "/proc/latency_stats",
    "/proc/sched_debug", "/proc/acpi", "/proc/scsi", "/proc/asound", NULL,
};
static const char *const readonly_proc_paths[] = {"/proc/sys", "/proc/bus", "/proc/fs", "/proc/irq", NULL};

struct device_node { const char *name; unsigned major, minor; };
static const struct device_node device_nodes[] = {
    {"/null", 1, 3}, {"/zero", 1, 5}, {"/full", 1, 7}, {"/random", 1, 8}, {"/urandom", 1, 9}, {"/tty", 5, 0}, {NULL, 0, 0},
};
static const char *const device_links[][2] = {
    {"/fd", "/proc/self/fd"}, {"/stdin", "/proc/self/fd/0"}, {"/stdout", "/proc/self/fd/1"},
    {"/stderr", "/proc/self/fd/2"}, {"/ptmx", "pts/ptmx"}, {NULL, NULL},
};

/* out = root + path; fails with ENAMETOOLONG rather than truncate a path. */
static int join(char *out, size_t len, const char *root, const char *path) {
  int n = snprintf(out, len, "%s%s", root, path);
  if (n < 0 || n >= (int)len) {
    errno = ENAMETOOLONG;
    return -1;
  }
  return 0;
}

/* Mount point for a bind: a directory for a directory, an empty file otherwise. */
static int make_mount_point(const char *path, int is_dir) {
  if (is_dir) return make_dirs(path, 0755) == 0 ? 0 : -1;
  /* A file mount point a runtime's tree already holds sits in a read-only
   * bind: opening it for writing would fail with EROFS. */
  struct stat st;
  if (lstat(path, &st) == 0) return S_ISDIR(st.st_mode) ? (errno = EISDIR, -1) : 0;
  char parent[4096];
  snprintf(parent, sizeof parent, "%s", path);
  char *slash = strrchr(parent, '/');
  if (slash && slash != parent) {
    *slash = '\0';
    if (make_dirs(parent, 0755) < 0) return -1;
  }
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  close(fd);
  return 0;
}

#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#define MOUNT_ATTR_NOSUID 0x00000002
#define MOUNT_ATTR_NODEV 0x00000004
struct mount_attr { unsigned long long attr_set, attr_clr, propagation, userns_fd; };
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

/* Restrict a bind and every mount below it. mount_setattr reaches submounts in
 * one call; the old remount only the top one, which is enough where the kernel
 * predates 5.12 and the source has no submounts. */
static int restrict_bind(const char *path, int read_only) {
#ifdef SYS_mount_setattr
  struct mount_attr attr = {0};
  attr.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (read_only ? MOUNT_ATTR_RDONLY : 0);
  if (syscall(SYS_mount_setattr, AT_FDCWD, path, AT_RECURSIVE, &attr, sizeof attr) == 0) return 0;
  if (errno != ENOSYS) return -1;
#endif
  unsigned long flags = MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | (read_only ? MS_RDONLY : 0);
  return mount(NULL, path, NULL, flags, NULL);
}

static int mount_bind(const char *root, const struct mount_op *op, char *err, size_t errlen) {
  char target[4096];
  struct stat st;
  if (stat(op->source, &st) < 0) return ERR("bind source %s: %s", op->source, strerror(errno));
  if (join(target, sizeof target, root, op->target) < 0 || make_mount_point(target, S_ISDIR(st.st_mode)) < 0)
    return ERR("mount point %s: %s", op->target, strerror(errno));
  if (mount(op->source, target, NULL, MS_BIND | MS_REC, NULL) < 0)
    return ERR("bind %s on %s: %s", op->source, op->target, strerror(errno));
  if (restrict_bind(target, op->kind == MOUNT_BIND_RO) < 0)
    return ERR("restrict bind %s: %s", op->target, strerror(errno));
  return 0;
}

static int mount_tmpfs(const char *root, const struct mount_op *op, uid_t uid, gid_t gid, char *err, size_t errlen) {
  char target[4096], opts[128];
  if (join(target, sizeof target, root, op->target) < 0 || make_dirs(target, 0755) < 0)
    return ERR("mount point %s: %s", op->target, strerror(errno));
  snprintf(opts, sizeof opts, "size=%llu,mode=%o,uid=%u,gid=%u", (unsigned long long)op->size, op->mode,
           op->owned_by_job ? (unsigned)uid : 0, op->owned_by_job ? (unsigned)gid : 0);
  if (mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
    return ERR("tmpfs %s (%s): %s", op->target, opts, strerror(errno));
  return 0;
}

static int make_symlink(const char *root, const struct mount_op *op, char *err, size_t errlen) {
  char path[4096];
  if (join(path, sizeof path, root, op->target) < 0) return ERR("symlink %s: %s", op->target, strerror(errno));
  char *slash = strrchr(path, '/');
  *slash = '\0';
  int r = make_dirs(path, 0755);
  *slash = '/';
  if (r < 0 || symlink(op->source, path) < 0) return ERR("symlink %s -> %s: %s", op->target, op->source, strerror(errno));
  return 0;
}

static int mount_proc(const char *root, char *err, size_t errlen) {
  char path[4096];
  join(path, sizeof path, root, "/proc");
  if (make_dirs(path, 0555) < 0 || mount("proc", path, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
    return ERR("mount /proc: %s", strerror(errno));
  for (int i = 0; masked_proc_paths[i]; i++) {
    struct stat st;
    join(path, sizeof path, root, masked_proc_paths[i]);
    if (stat(path, &st) < 0) continue; /* only where present */
    int r = S_ISDIR(st.st_mode) ? mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0")
                                : mount("/dev/null", path, NULL, MS_BIND, NULL);
    if (r < 0) return ERR("mask %s: %s", masked_proc_paths[i], strerror(errno));
  }
  for (int i = 0; readonly_proc_paths[i]; i++) {
    join(path, sizeof path, root, readonly_proc_paths[i]);
    if (access(path, F_OK) < 0) continue;
    if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0 ||
        mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
      return ERR("read-only %s: %s", readonly_proc_paths[i], strerror(errno));
  }
  return 0;
}

/* A host device passed through (docker's --device): a node made with the
 * host's numbers, owned by the job's user so it can use it without privileges. */
static int make_passed_device(const char *dev, const struct job_spec *spec, const struct mount_op *op, char *err,
                              size_t errlen) {
  char path[4096];
  unsigned major = (unsigned)(op->size >> 20), minor = (unsigned)(op->size & 0xfffff);
  mode_t type = op->source[0] == 'b' ? S_IFBLK : S_IFCHR;
  if (join(path, sizeof path, dev, op->target + 4) < 0 || mknod(path, type | (op->mode & 0777), makedev(major, minor)) < 0 ||
      chown(path, spec->uid, spec->gid) < 0)
    return ERR("device %s (%u:%u): %s", op->target, major, minor, strerror(errno));
  return 0;
}

static int mount_dev(const char *root, const struct job_spec *spec, char *err, size_t errlen) {
  char dev[4096], path[4096];
  join(dev, sizeof dev, root, "/dev");
  if (make_dirs(dev, 0755) < 0 || mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=755") < 0)
    return ERR("mount /dev: %s", strerror(errno));
  for (int i = 0; device_nodes[i].name; i++) {
    join(path, sizeof path, dev, device_nodes[i].name);
    if (mknod(path, S_IFCHR | 0666, makedev(device_nodes[i].major, device_nodes[i].minor)) < 0)
      return ERR("mknod /dev%s: %s", device_nodes[i].name, strerror(errno));
  }
  for (int i = 0; device_links[i][0]; i++) {
    join(path, sizeof path, dev, device_links[i][0]);
    if (symlink(device_links[i][1], path) < 0) return ERR("symlink /dev%s: %s", device_links[i][0], strerror(errno));
  }
  join(path, sizeof path, dev, "/pts");
  if (mkdir(path, 0755) < 0 ||
      mount("devpts", path, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620") < 0)
    return ERR("mount /dev/pts: %s", strerror(errno));
  join(path, sizeof path, dev, "/shm");
  if (mkdir(path, 01777) < 0 ||
      mount("shm", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64m,mode=1777") < 0)
    return ERR("mount /dev/shm: %s", strerror(errno));
  for (int i = 0; i < spec->n_mounts; i++) {
    if (spec->mounts[i].kind != MOUNT_DEVICE) continue;
    int r = make_passed_device(dev, spec, &spec->mounts[i], err, errlen);
    if (r < 0) return r;
  }
  if (mount(NULL, dev, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC, NULL) < 0)
    return ERR("read-only /dev: %s", strerror(errno));
  return 0;
}

/* sysfs read-only: programs read CPU topology there; nothing may be written. */
static int mount_sys(const char *root, char *err, size_t errlen) {
  char path[4096];
  join(path, sizeof path, root, "/sys");
  if (make_dirs(path, 0555) < 0 ||
      mount("sysfs", path, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
    return ERR("mount /sys: %s", strerror(errno));
  join(path, sizeof path, root, "/sys/firmware");
  if (access(path, F_OK) == 0 && mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0") < 0)
    return ERR("mask /sys/firmware: %s", strerror(errno));
  return 0;
}

int rootfs_enter(const struct job_spec *spec, char *err, size_t errlen) {
  const char *root = spec->root_dir;
  /* Nothing mounted below may propagate back to the host. */
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) return ERR("make mounts private: %s", strerror(errno));
  if (mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,nr_inodes=4096,mode=755") < 0)
    return ERR("mount root tmpfs on %s: %s", root, strerror(errno));
  for (int i = 0; i < spec->n_mounts; i++) {
    const struct mount_op *op = &spec->mounts[i];
    int r;
    switch (op->kind) {
      case MOUNT_BIND_RO:
      case MOUNT_BIND_RW: r = mount_bind(root, op, err, errlen); break;
      case MOUNT_TMPFS: r = mount_tmpfs(root, op, spec->uid, spec->gid, err, errlen); break;
      case MOUNT_SYMLINK: r = make_symlink(root, op, err, errlen); break;
      default: r = 0; break; /* devices: made with /dev below */
    }
    if (r < 0) return r;
  }
  int r;
  if (spec->work_seed) {
    char work[4096];
    if (join(work, sizeof work, root, "/work") < 0) return ERR("work path: %s", strerror(errno));
    if ((r = seed_work(spec->work_seed, work, spec->uid, spec->gid, err, errlen)) < 0) return r;
  }
  if ((r = mount_proc(root, err, errlen)) < 0 || (r = mount_dev(root, spec, err, errlen)) < 0 ||
      (r = mount_sys(root, err, errlen)) < 0)
    return r;
  /* pivot_root(".", ".") stacks the old root under the new one; detaching it
   * then leaves only the new root, with no directory needed for the old. */
  if (chdir(root) < 0 || syscall(SYS_pivot_root, ".", ".") < 0) return ERR("pivot_root into %s: %s", root, strerror(errno));
  if (umount2(".", MNT_DETACH) < 0) return ERR("detach the host root: %s", strerror(errno));
  if (chdir("/") < 0) return ERR("chdir /: %s", strerror(errno));
  if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
    return ERR("read-only root: %s", strerror(errno));
  if (chdir(spec->cwd) < 0) return ERR("working directory %s: %s", spec->cwd, strerror(errno));
  return 0;
}
