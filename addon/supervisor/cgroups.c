#define _GNU_SOURCE
#include "cgroups.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

int cgroup_enter(const char *const *dirs, int n, char *err, size_t errlen) {
  char path[4096];
  for (int i = 0; i < n; i++) {
    snprintf(path, sizeof path, "%s/cgroup.procs", dirs[i]);
    int r = write_file(path, "0");
    if (r < 0) {
      snprintf(err, errlen, "enter cgroup %s: %s", dirs[i], strerror(-r));
      return r;
    }
  }
  return 0;
}

size_t cgroup_snapshot(const struct job_spec *spec, char *out, size_t len) {
  size_t used = 0;
  char content[4096];
  for (int i = 0; i < spec->n_usage; i++) {
    if (read_file(spec->usage[i].path, content, sizeof content) < 0) continue;
    for (char *p = content; *p; p++)
      if (*p == '\n') *p = ';';
    int n = snprintf(out + used, len - used, "usage.%s=%s\n", spec->usage[i].name, content);
    if (n < 0 || (size_t)n >= len - used) break;
    used += (size_t)n;
  }
  return used;
}

/* SIGKILL whatever still runs in dir: cgroup.kill where the kernel has it (v2),
 * else each pid listed in cgroup.procs. */
static void kill_members(const char *dir) {
  char path[4096], pids[8192];
  snprintf(path, sizeof path, "%s/cgroup.kill", dir);
  if (write_file(path, "1") == 0) return;
  snprintf(path, sizeof path, "%s/cgroup.procs", dir);
  if (read_file(path, pids, sizeof pids) <= 0) return;
  for (char *p = pids; *p;) {
    long pid = strtol(p, &p, 10);
    if (pid > 0) kill((pid_t)pid, SIGKILL);
    while (*p == '\n') p++;
  }
}

int cgroup_remove_all(const struct job_spec *spec) {
  int result = 0;
  for (int i = 0; i < spec->n_cgroup_remove; i++) {
    const char *dir = spec->cgroup_remove[i];
    /* The PID namespace is gone by now, but exiting tasks leave a cgroup
     * populated for a moment: retry for up to 5 s. */
    for (int attempt = 0;; attempt++) {
      if (rmdir(dir) == 0 || errno == ENOENT) break;
      if (errno != EBUSY || attempt >= 5000) {
        result = -errno;
        break;
      }
      kill_members(dir);
      struct timespec pause = {0, 1000000};
      nanosleep(&pause, NULL);
    }
  }
  return result;
}
