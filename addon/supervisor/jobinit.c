#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "supervisor.h"
#include "util.h"

/*
 * The job's PID 1. It finishes the isolation from inside the new namespaces
 * (cgroup namespace, hostname, root, loopback), drops every privilege, starts
 * the main process and then only reaps zombies and forwards signals to it.
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

/* A fresh network namespace has lo down; jobs expect to reach themselves. */
static int loopback_up(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -errno;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "lo");
  int r = ioctl(s, SIOCGIFFLAGS, &ifr);
  if (r == 0) {
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    r = ioctl(s, SIOCSIFFLAGS, &ifr);
  }
  int err = r < 0 ? -errno : 0;
  close(s);
  return err;
}

static void __attribute__((noreturn)) exec_main(const struct job_spec *spec, const struct init_fds *fds, int exec_err_w) {
  sigset_t none;
  sigemptyset(&none);
  for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
  sigprocmask(SIG_SETMASK, &none, NULL);
  /* Its own session: a job's shell job control never reaches the init. */
  setsid();
  int in = open("/dev/null", O_RDONLY);
  if (in < 0 || dup2(in, 0) < 0 || dup2(fds->out_w, 1) < 0 || dup2(fds->err_w, 2) < 0) {
    int e = errno;
    write_all(exec_err_w, &e, sizeof e);
    _exit(127);
  }
  /* Only 0, 1, 2 (and the close-on-exec error pipe) may reach the job. */
  close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
  execve(spec->exec_path, (char *const *)spec->argv, (char *const *)spec->envp);
  int e = errno;
  write_all(exec_err_w, &e, sizeof e);
  _exit(127);
}

void jobinit_main(const struct job_spec *spec, const struct init_fds *fds) {
  char err[200];
  /* Signals are taken with sigwaitinfo: a PID 1 gets only signals it handles
   * or blocks, and a blocked one is queued for us rather than ignored. */
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, NULL);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  prctl(PR_SET_NAME, "joblet-init");
  umask(0);

  if (fds->sync_r >= 0) {
    /* v1: wait until the supervisor has placed us in every hierarchy. */
    char go;
    if (read(fds->sync_r, &go, 1) != 1) _exit(125);
    close(fds->sync_r);
  }
  if (spec->netns_fd >= 0) {
    /* A fresh namespace made ahead of time by the daemon, never used by another job; its lo is already up. */
    if (setns(spec->netns_fd, CLONE_NEWNET) < 0) setup_failed(fds->status_w, errno, "join the job's network namespace");
    close(spec->netns_fd);
  }
  /* Root the cgroup namespace at the job's own cgroup, now that we are in it. */
  if (unshare(CLONE_NEWCGROUP) < 0) setup_failed(fds->status_w, errno, "cgroup namespace");
  if (sethostname(spec->hostname, strlen(spec->hostname)) < 0) setup_failed(fds->status_w, errno, "set hostname");
  int r = rootfs_enter(spec, err, sizeof err);
  if (r < 0) setup_failed(fds->status_w, -r, err);
  if (spec->netns_fd < 0 && (r = loopback_up()) < 0) setup_failed(fds->status_w, -r, "bring up lo");
  umask(022);

  if ((r = privileges_drop(spec->uid, spec->gid)) < 0) setup_failed(fds->status_w, -r, "drop privileges");
  /* Changing credentials clears the parent-death signal: set it again. */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if ((r = seccomp_install_job_filter()) < 0) setup_failed(fds->status_w, -r, "install seccomp filter");

  int exec_err[2];
  if (pipe2(exec_err, O_CLOEXEC) < 0) setup_failed(fds->status_w, errno, "exec status pipe");
  pid_t main_pid = fork();
  if (main_pid < 0) setup_failed(fds->status_w, errno, "fork main process");
  if (main_pid == 0) {
    close(exec_err[0]);
    exec_main(spec, fds, exec_err[1]);
  }
  close(exec_err[1]);
  close(fds->out_w);
  close(fds->err_w);
  int exec_errno = 0;
  ssize_t n;
  do n = read(exec_err[0], &exec_errno, sizeof exec_errno);
  while (n < 0 && errno == EINTR);
  close(exec_err[0]);
  if (n > 0) {
    snprintf(err, sizeof err, "exec %s: %s", spec->exec_path, strerror(exec_errno));
    setup_failed(fds->status_w, exec_errno, err);
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
