/*
 * joblet-supervisor: the per-job process that owns one isolated job.
 *
 * Started by the daemon (posix_spawn, own session), it reads the job's spec on
 * fd 3, clones the job's init into fresh namespaces and its cgroup, pumps the
 * job's stdout/stderr into capped log files, records the exit, snapshots the
 * cgroup's usage and removes the cgroup. It does not depend on the daemon: a
 * daemon killed with -9 loses nothing, and a new one attaches through the
 * state records in the run directory.
 */
#ifndef JOBLET_SUPERVISOR_H
#define JOBLET_SUPERVISOR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MAX_ITEMS 256

struct bind_mount { const char *source; const char *target; int writable; };
struct tmpfs_mount { const char *target; uint64_t size; unsigned mode; int owned_by_job; };
struct usage_file { const char *name; const char *path; };

struct job_spec {
  const char *id;
  const char *hostname;
  uid_t uid;
  gid_t gid;
  const char *cwd;
  const char *exec_path;            /* resolved absolute path inside the root */
  const char *argv[MAX_ITEMS + 1];  /* NULL-terminated */
  const char *envp[MAX_ITEMS + 1];
  const char *root_dir;             /* host dir the job's tmpfs root is mounted on */
  struct bind_mount binds[MAX_ITEMS];
  int n_binds;
  struct tmpfs_mount tmpfs[MAX_ITEMS];
  int n_tmpfs;
  const char *cgroup_born_into;     /* v2: CLONE_INTO_CGROUP target */
  const char *cgroup_place[16];     /* v1: dirs whose cgroup.procs get the init pid */
  int n_cgroup_place;
  const char *supervisor_cgroup;    /* v2: where the supervisor moves itself */
  struct usage_file usage[32];
  int n_usage;
  const char *cgroup_remove[16];
  int n_cgroup_remove;
  const char *log_stdout;
  const char *log_stderr;
  uint64_t log_max;
  const char *state_dir;
};

/* spec.c: parse "key\0value\0" records read from fd. 0 on success, else -1 with msg. */
int spec_read(int fd, struct job_spec *spec, char *err, size_t errlen);

/* seccomp.c: install the job's syscall filter (needs no_new_privs set first). 0 or -errno. */
int seccomp_install_job_filter(void);

/* privileges.c: drop to uid/gid with no capabilities at all, no_new_privs. 0 or -errno. */
int privileges_drop(uid_t uid, gid_t gid);

#endif
