#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "supervisor.h"
#include "util.h"

/*
 * The job's PID 1. It finishes the isolation from inside the new namespaces
 * (network interfaces, cgroup namespace, hostname, root), drops every
 * privilege, starts the main process and then only reaps zombies and forwards
 * signals to it.
 * When the main process ends, init reports its wait status and exits, and the
 * kernel kills whatever else is left in the PID namespace.
 */

static void report(int fd, int type, int value, const char *text) {
  struct init_msg msg;
  memset(&msg, 0, sizeof msg);
  msg.type = type;
  msg.value = value;
  if (text) snprintf(msg.text, sizeof msg.text, "%s", text);
  write_all(fd, &msg, sizeof msg);
}

static void __attribute__((noreturn)) setup_failed(int fd, int err, const char *what) {
  report(fd, INIT_SETUP_FAILED, err, what);
  _exit(125);
}

/* What the main process needs between clone and exec, shared with it (CLONE_VM). */
struct main_start {
  const struct job_spec *spec;
  const struct init_fds *fds;
  int exec_errno;   /* set by the child only when exec failed */
};

/*
 * The main process, started the way posix_spawn does it: CLONE_VM|CLONE_VFORK
 * on a stack of its own, so the init is suspended until exec and nothing is
 * copied. Only syscalls happen here, no allocation; a failed exec leaves its
 * errno in the shared struct.
 */
static int exec_main(void *arg) {
  struct main_start *start = arg;
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  /* Its own session: a job's shell job control never reaches the init. */
  setsid();
  int in = open("/dev/null", O_RDONLY);
  if (in < 0 || dup2(in, 0) < 0 || dup2(start->fds->out_w, 1) < 0 || dup2(start->fds->err_w, 2) < 0) {
    start->exec_errno = errno;
    _exit(127);
  }
  /* Only 0, 1 and 2 may reach the job. */
  close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
  execve(start->spec->exec_path, (char *const *)start->spec->argv, (char *const *)start->spec->envp);
  start->exec_errno = errno;
  _exit(127);
}

void jobinit_main(const struct job_spec *spec, const struct init_fds *fds) {
  char err[200];
  /* Signals are taken with sigwaitinfo: a PID 1 gets only signals it handles
   * or blocks, and a blocked one is queued for us rather than ignored. */
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, NULL);
  /* Dispositions the main process would inherit across exec: the supervisor
   * ignores these, the job must get the defaults. (Blocked here, they still
   * queue for sigwaitinfo.) */
  signal(SIGPIPE, SIG_DFL);
  signal(SIGHUP, SIG_DFL);
  signal(SIGINT, SIG_DFL);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  prctl(PR_SET_NAME, "joblet-init");
  umask(0);

  if (spec->netns_fd >= 0) {
    /* A fresh namespace made ahead of time by the daemon, never used by another job; its lo is already up. */
    if (setns(spec->netns_fd, CLONE_NEWNET) < 0) setup_failed(fds->status_w, errno, "join the job's network namespace");
    close(spec->netns_fd);
  }
  /* Before privileges go: configuring eth0 takes CAP_NET_ADMIN in the job's namespace. */
  int r;
  if (spec->eth0_address && (r = eth0_configure(spec, err, sizeof err)) < 0) setup_failed(fds->status_w, -r, err);
  /* Root the cgroup namespace at the job's own cgroup, now that we are in it. */
  if (unshare(CLONE_NEWCGROUP) < 0) setup_failed(fds->status_w, errno, "cgroup namespace");
  if (sethostname(spec->hostname, strlen(spec->hostname)) < 0) setup_failed(fds->status_w, errno, "set hostname");
  r = rootfs_enter(spec, err, sizeof err);
  if (r < 0) setup_failed(fds->status_w, -r, err);
  if (spec->netns_fd < 0 && (r = loopback_up()) < 0) setup_failed(fds->status_w, -r, "bring up lo");
  umask(022);

  if ((r = privileges_drop(spec->uid, spec->gid)) < 0) setup_failed(fds->status_w, -r, "drop privileges");
  /* Changing credentials clears the parent-death signal: set it again. */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if ((r = seccomp_install_job_filter()) < 0) setup_failed(fds->status_w, -r, "install seccomp filter");

  static char main_stack[64 * 1024] __attribute__((aligned(16)));
  struct main_start start = {spec, fds, 0};
  pid_t main_pid = clone(exec_main, main_stack + sizeof main_stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &start);
  if (main_pid < 0) setup_failed(fds->status_w, errno, "start the main process");
  close(fds->out_w);
  close(fds->err_w);
  if (start.exec_errno) {
    snprintf(err, sizeof err, "exec %s: %s", spec->exec_path, strerror(start.exec_errno));
    setup_failed(fds->status_w, start.exec_errno, err);
  }
  report(fds->status_w, INIT_STARTED, 0, NULL);

  for (;;) {
    siginfo_t info;
    int sig = sigwaitinfo(&all, &info);
    if (sig < 0) continue;
    if (sig != SIGCHLD) {
      kill(main_pid, sig);
      continue;
    }
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
      if (pid != main_pid) continue; /* an orphan re-parented to us: reaped, nothing more */
      report(fds->status_w, INIT_MAIN_EXITED, status, NULL);
      _exit(0);
    }
  }
}
