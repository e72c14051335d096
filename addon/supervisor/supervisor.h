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

/* One step of assembling the job's root, performed in the order given. */
enum mount_kind { MOUNT_BIND_RO, MOUNT_BIND_RW, MOUNT_TMPFS, MOUNT_SYMLINK, MOUNT_DEVICE };
struct mount_op {
  enum mount_kind kind;
  const char *source;   /* bind: host path; symlink: link target; device: "b" or "c" */
  const char *target;   /* path inside the root */
  uint64_t size;        /* tmpfs: bytes; device: major << 20 | minor */
  unsigned mode;        /* tmpfs, device: permission bits */
  int owned_by_job;     /* tmpfs, device: owned by the job's uid/gid */
};
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
  struct mount_op mounts[MAX_ITEMS];
  int n_mounts;
  const char *cgroup_born_into;     /* v2: CLONE_INTO_CGROUP target */
  const char *cgroup_place[16];     /* v1: dirs the supervisor enters so the init is born in them */
  int n_cgroup_place;
  const char *cgroup_leave[16];     /* v1: where the supervisor goes back once the init exists */
  int n_cgroup_leave;
  struct usage_file usage[32];
  int n_usage;
  const char *cgroup_remove[16];
  int n_cgroup_remove;
  const char *log_stdout;
  const char *log_stderr;
  uint64_t log_max;
  const char *state_dir;
  const char *work_seed;            /* host dir copied into /work before the job starts, or NULL */
  int netns_inherited;              /* the daemon passed a fresh network namespace on fd 5 */
  int netns_fd;                     /* that fd, or -1: clone a new one */
  const char *eth0_address;         /* the job's eth0 (made by the daemon in that namespace), or NULL */
  int eth0_prefix;
  const char *eth0_gateway;         /* its default route */
};

/* main.c: supervise one job whose spec is on fd 3, channel on fd 4, netns on fd 5. */
int supervisor_main(void);

/* forkserver.c: serve spawn requests on fd 3, forking one supervisor per request. */
int fork_server_main(int argc, char **argv);

/* spec.c: parse "key\0value\0" records read from fd. 0 on success, else -1 with msg. */
int spec_read(int fd, struct job_spec *spec, char *err, size_t errlen);

/* rootfs.c: in the job's fresh mount namespace, assemble the root and pivot into it.
 * On failure returns -errno with a description of the step in err. */
int rootfs_enter(const struct job_spec *spec, char *err, size_t errlen);

/* seed.c: copy the tree at seed into work (a dir of the job's root), owned by uid/gid. */
int seed_work(const char *seed, const char *work, uid_t uid, gid_t gid, char *err, size_t errlen);

/* jobinit.c: the body of the job's PID 1; never returns. */
struct init_fds { int status_w; int out_w; int err_w; };
void jobinit_main(const struct job_spec *spec, const struct init_fds *fds) __attribute__((noreturn));

/* Messages from the job's init to its supervisor, fixed size so one read gets one. */
enum init_msg_type { INIT_STARTED = 1, INIT_SETUP_FAILED = 2, INIT_MAIN_EXITED = 3 };
struct init_msg { int type; int value; char text[248]; };

/* seccomp.c: install the job's syscall filter (needs no_new_privs set first). 0 or -errno. */
int seccomp_install_job_filter(void);

/* netif.c: bring up lo; give eth0 the spec's address, bring it up, route through
 * the gateway. 0 or -errno; eth0_configure describes the failed step in err. */
int loopback_up(void);
int eth0_configure(const struct job_spec *spec, char *err, size_t errlen);

/* privileges.c: drop to uid/gid with no capabilities at all, no_new_privs. 0 or -errno. */
int privileges_drop(uid_t uid, gid_t gid);

#endif
