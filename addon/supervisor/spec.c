#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "supervisor.h"

/* The spec arrives as "key\0value\0" records: values may hold any byte but NUL
 * (argv, env), and nothing has to be escaped on the TypeScript side. Fields of
 * one value are split by the unit separator 0x1f. Values point into buf, which
 * lives as long as the process. */
static char buf[1 << 20];

static int fail(char *err, size_t errlen, const char *fmt, const char *arg) {
  snprintf(err, errlen, fmt, arg);
  return -1;
}

/* Split value in place at the next 0x1f; returns the rest (or "" at the end). */
static char *next_field(char **cursor) {
  char *start = *cursor;
  char *sep = strchr(start, 0x1f);
  if (sep) {
    *sep = '\0';
    *cursor = sep + 1;
  } else {
    *cursor = start + strlen(start);
  }
  return start;
}

static int parse_mount(char *value, struct mount_op *op) {
  char *cur = value;
  char *kind = next_field(&cur);
  if (strcmp(kind, "ro") == 0) op->kind = MOUNT_BIND_RO;
  else if (strcmp(kind, "rw") == 0) op->kind = MOUNT_BIND_RW;
  else if (strcmp(kind, "tmpfs") == 0) op->kind = MOUNT_TMPFS;
  else if (strcmp(kind, "symlink") == 0) op->kind = MOUNT_SYMLINK;
  else if (strcmp(kind, "device") == 0) op->kind = MOUNT_DEVICE;
  else return -1;
  op->source = next_field(&cur);
  op->target = next_field(&cur);
  op->size = strtoull(next_field(&cur), NULL, 10);
  op->mode = (unsigned)strtoul(next_field(&cur), NULL, 8);
  op->owned_by_job = atoi(next_field(&cur));
  return op->target[0] == '/' ? 0 : -1;
}

static int parse_usage(char *value, struct usage_file *u) {
  char *cur = value;
  u->name = next_field(&cur);
  u->path = next_field(&cur);
  return u->name[0] && u->path[0] ? 0 : -1;
}

int spec_read(int fd, struct job_spec *spec, char *err, size_t errlen) {
  size_t len = 0;
  for (;;) {
    if (len == sizeof buf) return fail(err, errlen, "job spec is larger than %s", "1 MiB");
    ssize_t n = read(fd, buf + len, sizeof buf - len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(err, errlen, "cannot read the job spec: %s", strerror(errno));
    }
    if (n == 0) break;
    len += (size_t)n;
  }
  memset(spec, 0, sizeof *spec);
  int n_arg = 0, n_env = 0;
  size_t pos = 0;
  while (pos < len) {
    char *key = buf + pos;
    char *key_end = memchr(key, '\0', len - pos);
    if (!key_end || key_end + 1 >= buf + len) return fail(err, errlen, "truncated job spec record '%s'", key);
    char *value = key_end + 1;
    char *value_end = memchr(value, '\0', (size_t)(buf + len - value));
    if (!value_end) return fail(err, errlen, "truncated job spec value for '%s'", key);
    pos = (size_t)(value_end + 1 - buf);

    if (!strcmp(key, "id")) spec->id = value;
    else if (!strcmp(key, "hostname")) spec->hostname = value;
    else if (!strcmp(key, "uid")) spec->uid = (uid_t)strtoul(value, NULL, 10);
    else if (!strcmp(key, "gid")) spec->gid = (gid_t)strtoul(value, NULL, 10);
    else if (!strcmp(key, "cwd")) spec->cwd = value;
    else if (!strcmp(key, "exec")) spec->exec_path = value;
    else if (!strcmp(key, "arg")) {
      if (n_arg >= MAX_ITEMS) return fail(err, errlen, "too many arguments (at most %s)", "256");
      spec->argv[n_arg++] = value;
    } else if (!strcmp(key, "env")) {
      if (n_env >= MAX_ITEMS) return fail(err, errlen, "too many environment variables (at most %s)", "256");
      spec->envp[n_env++] = value;
    } else if (!strcmp(key, "root")) spec->root_dir = value;
    else if (!strcmp(key, "mount")) {
      if (spec->n_mounts >= MAX_ITEMS) return fail(err, errlen, "too many mounts (at most %s)", "256");
      if (parse_mount(value, &spec->mounts[spec->n_mounts++]) < 0) return fail(err, errlen, "bad mount record '%s'", value);
    } else if (!strcmp(key, "cgroup.born")) spec->cgroup_born_into = value;
    else if (!strcmp(key, "cgroup.place")) {
      if (spec->n_cgroup_place >= 16) return fail(err, errlen, "too many cgroup hierarchies (%s)", value);
      spec->cgroup_place[spec->n_cgroup_place++] = value;
    } else if (!strcmp(key, "cgroup.leave")) {
      if (spec->n_cgroup_leave >= 16) return fail(err, errlen, "too many cgroup hierarchies (%s)", value);
      spec->cgroup_leave[spec->n_cgroup_leave++] = value;
    }
    else if (!strcmp(key, "cgroup.remove")) {
      if (spec->n_cgroup_remove >= 16) return fail(err, errlen, "too many cgroup directories (%s)", value);
      spec->cgroup_remove[spec->n_cgroup_remove++] = value;
    } else if (!strcmp(key, "usage")) {
      if (spec->n_usage >= 32) return fail(err, errlen, "too many usage files (%s)", value);
      if (parse_usage(value, &spec->usage[spec->n_usage++]) < 0) return fail(err, errlen, "bad usage record '%s'", value);
    } else if (!strcmp(key, "log.stdout")) spec->log_stdout = value;
    else if (!strcmp(key, "log.stderr")) spec->log_stderr = value;
    else if (!strcmp(key, "log.max")) spec->log_max = strtoull(value, NULL, 10);
    else if (!strcmp(key, "state")) spec->state_dir = value;
    else if (!strcmp(key, "seed")) spec->work_seed = value;
    else if (!strcmp(key, "netns")) spec->netns_inherited = !strcmp(value, "inherited");
    else if (!strcmp(key, "net.eth0")) {
      char *cur = value;
      spec->eth0_address = next_field(&cur);
      spec->eth0_prefix = atoi(next_field(&cur));
      spec->eth0_gateway = next_field(&cur);
    }
    else return fail(err, errlen, "unknown job spec key '%s'", key);
  }
  if (!spec->id || !spec->exec_path || !n_arg || !spec->root_dir || !spec->state_dir || !spec->log_stdout ||
      !spec->log_stderr || !spec->cwd)
    return fail(err, errlen, "job spec lacks one of %s", "id, exec, arg, root, state, log.stdout, log.stderr, cwd");
  if (!spec->hostname) spec->hostname = spec->id;
  /* eth0 was made inside the namespace the daemon passes; a cloned one has none. */
  if (spec->eth0_address && !spec->netns_inherited) return fail(err, errlen, "job spec has %s without an inherited network namespace", "net.eth0");
  return 0;
}
