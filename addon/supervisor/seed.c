#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "supervisor.h"
#include "util.h"

/*
 * Copy the daemon's staged files (a Job's `files`) into the job's /work
 * before privileges are dropped, owned by the job's user. Regular files,
 * directories and symlinks are copied; anything else is skipped. The copy
 * lands in the sized /work tmpfs, so it can never exceed the job's quota.
 */

static int copy_file(int src_dir, int dst_dir, const char *name, const struct stat *st, uid_t uid, gid_t gid) {
  int in = openat(src_dir, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (in < 0) return -errno;
  int out = openat(dst_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, st->st_mode & 0777);
  if (out < 0) {
    int err = -errno;
    close(in);
    return err;
  }
  static char buf[65536];
  int err = 0;
  for (;;) {
    ssize_t n = read(in, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) err = -errno;
    if (n <= 0) break;
    if ((err = write_all(out, buf, (size_t)n)) < 0) break;
  }
  if (err == 0 && fchown(out, uid, gid) < 0) err = -errno;
  close(in);
  close(out);
  return err;
}

static int copy_dir(int src, int dst, uid_t uid, gid_t gid, int depth) {
  if (depth > 64) return -ELOOP;
  int fd = dup(src);
  DIR *dir = fd < 0 ? NULL : fdopendir(fd);
  if (!dir) return -errno;
  int err = 0;
  struct dirent *e;
  while (err == 0 && (e = readdir(dir))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    struct stat st;
    if (fstatat(src, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
      err = -errno;
      break;
    }
    if (S_ISREG(st.st_mode)) {
      err = copy_file(src, dst, e->d_name, &st, uid, gid);
    } else if (S_ISLNK(st.st_mode)) {
      char target[4096];
      ssize_t n = readlinkat(src, e->d_name, target, sizeof target - 1);
      if (n < 0) err = -errno;
      else {
        target[n] = '\0';
        if (symlinkat(target, dst, e->d_name) < 0 || fchownat(dst, e->d_name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
          err = -errno;
      }
    } else if (S_ISDIR(st.st_mode)) {
      if (mkdirat(dst, e->d_name, st.st_mode & 0777) < 0 && errno != EEXIST) {
        err = -errno;
        break;
      }
      int s = openat(src, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      int d = openat(dst, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (s < 0 || d < 0) err = -errno;
      else if (fchown(d, uid, gid) < 0) err = -errno;
      else err = copy_dir(s, d, uid, gid, depth + 1);
      if (s >= 0) close(s);
      if (d >= 0) close(d);
    }
  }
  closedir(dir);
  return err;
}

int seed_work(const char *seed, const char *work, uid_t uid, gid_t gid, char *err, size_t errlen) {
  int src = open(seed, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int dst = open(work, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int r = src < 0 || dst < 0 ? -errno : copy_dir(src, dst, uid, gid, 0);
  if (src >= 0) close(src);
  if (dst >= 0) close(dst);
  if (r < 0) snprintf(err, errlen, "copy the job's files from %s into /work: %s", seed, strerror(-r));
  return r;
}
