#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cgroups.h"
#include "supervisor.h"
#include "util.h"

/*
 * The fork server: one resident copy of this program per daemon, which forks a
 * supervisor for each job the daemon asks for. A fork of this small process
 * costs a fraction of starting the program afresh (exec, static libc start-up,
 * page faults), and the daemon's thread never blocks in posix_spawn.
 *
 * Usage: joblet-supervisor --fork-server [CGROUP_DIR ...] TITLE_ROOM
 * It first moves into the CGROUP_DIRs (where supervisors live, outside the
 * daemon's own group), so every supervisor is born there. TITLE_ROOM is a
 * blank argument that only reserves room for supervisors' titles.
 *
 * Request (SOCK_SEQPACKET on fd 3): the supervisor's title as data, and as
 * SCM_RIGHTS the spec pipe, the channel to the daemon and, optionally, a fresh
 * network namespace. Reply: the supervisor's pid as data and a pidfd for it.
 * Supervisors are reaped by the kernel (SIGCHLD ignored here); the daemon
 * watches them through their pidfds. When the daemon goes away (EOF), the fork
 * server exits and running supervisors carry on, re-parented.
 */

#define SOCKET_FD 3
#define MAX_FDS 3

/* Overwrite our command line (argv's contiguous area) so ps shows which job a supervisor serves. */
static void set_title(int argc, char **argv, const char *title) {
  char *start = argv[0];
  char *end = argv[argc - 1] + strlen(argv[argc - 1]);
  size_t room = (size_t)(end - start);
  size_t len = strlen(title);
  if (len > room) len = room;
  memcpy(start, title, len);
  memset(start + len, 0, room - len + 1);
  prctl(PR_SET_NAME, "joblet-sup");
}

static void __attribute__((noreturn)) become_supervisor(int argc, char **argv, const char *title, int *fds, int nfds) {
  close(SOCKET_FD);
  /* Place the received fds at 3, 4 (and 5) without clobbering one another:
   * first out of the way, then into place. */
  int high[MAX_FDS];
  for (int i = 0; i < nfds; i++) {
    high[i] = fcntl(fds[i], F_DUPFD, 10);
    close(fds[i]);
  }
  for (int i = 0; i < nfds; i++) {
    dup2(high[i], SOCKET_FD + i);
    close(high[i]);
  }
  signal(SIGCHLD, SIG_DFL);
  setsid();
  set_title(argc, argv, title);
  _exit(supervisor_main());
}

static pid_t fork_with_pidfd(int *pidfd) {
  struct clone_args args;
  memset(&args, 0, sizeof args);
  args.flags = CLONE_PIDFD;
  args.pidfd = (uint64_t)(uintptr_t)pidfd;
  args.exit_signal = SIGCHLD;
  return (pid_t)syscall(SYS_clone3, &args, sizeof args);
}

static void reply(pid_t pid, int pidfd, int err) {
  int32_t data[2] = {pid, err};
  struct iovec iov = {data, sizeof data};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
  if (pidfd >= 0) {
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &pidfd, sizeof(int));
  }
  while (sendmsg(SOCKET_FD, &msg, MSG_NOSIGNAL) < 0 && errno == EINTR) {
  }
}

int fork_server_main(int argc, char **argv) {
  char err[256];
  if (argc < 3 || cgroup_enter((const char *const *)argv + 2, argc - 3, err, sizeof err) < 0) {
    /* The daemon sees us gone and reports our exit status. */
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  signal(SIGINT, SIG_IGN);
  signal(SIGCHLD, SIG_IGN); /* the kernel reaps supervisors; pidfds still see them exit */
  for (;;) {
    char title[256];
    struct iovec iov = {title, sizeof title - 1};
    union {
      char buf[CMSG_SPACE(MAX_FDS * sizeof(int))];
      struct cmsghdr align;
    } control;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf};
    ssize_t n = recvmsg(SOCKET_FD, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0; /* the daemon is gone */
    title[n] = '\0';
    int fds[MAX_FDS], nfds = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
      for (int i = 0; i < count && nfds < MAX_FDS; i++) memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
    }
    if (nfds < 2 || (msg.msg_flags & MSG_CTRUNC)) {
      for (int i = 0; i < nfds; i++) close(fds[i]);
      reply(-1, -1, EINVAL);
      continue;
    }
    int pidfd = -1;
    pid_t pid = fork_with_pidfd(&pidfd);
    if (pid == 0) become_supervisor(argc, argv, title, fds, nfds);
    for (int i = 0; i < nfds; i++) close(fds[i]);
    reply(pid, pidfd, pid < 0 ? errno : 0);
    if (pidfd >= 0) close(pidfd);
  }
}
