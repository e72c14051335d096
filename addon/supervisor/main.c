#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroups.h"
#include "logs.h"
#include "supervisor.h"
#include "util.h"

/*
 * fd 3: the job spec ("key\0value\0" records, until EOF)
 * fd 4: the channel back to the daemon: one line, "ok INIT_PID INIT_START", once
 *       the job's main process runs (or "error MESSAGE"); when the job has ended
 *       and its cgroup is gone, the exit record, then EOF.
 * fd 5: a fresh network namespace to put the job in, when the spec says "netns";
 *       otherwise the job's init is cloned into a new one.
 * State records in the spec's state dir: run.state once started, exit.state at the end.
 * The daemon hears of each event before its record is on disk: the records are
 * for a daemon that restarts, and writing them is off the job's critical path.
 */
#define SPEC_FD 3
#define READY_FD 4
#define NETNS_FD 5

#define NAMESPACES (CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC)

static struct job_spec spec;

static void state_path(char *out, size_t len, const char *name) { snprintf(out, len, "%s/%s", spec.state_dir, name); }

/* The daemon may be gone (kill -9): EPIPE is expected and harmless. */
static void tell_daemon(const char *text, size_t len) { write_all(READY_FD, text, len); }

/* The job never started: record why, undo the cgroup, tell the daemon. */
static void __attribute__((noreturn)) fail_start(const char *message) {
  char record[512], path[4096], line[400], ignored[256];
  /* v1: we may be standing in the job's cgroups; step out before removing them. */
  cgroup_enter(spec.cgroup_leave, spec.n_cgroup_leave, ignored, sizeof ignored);
  cgroup_remove_all(&spec);
  int n = snprintf(record, sizeof record, "error=%s\nfinished_at_ms=%llu\n", message, (unsigned long long)now_ms());
  state_path(path, sizeof path, "exit.state");
  write_file_atomic(path, record, (size_t)n);
  snprintf(line, sizeof line, "error %s\n", message);
  tell_daemon(line, strlen(line));
  exit(1);
}

static pid_t clone_init(int cgroup_fd, int *pidfd) {
  struct clone_args args;
  memset(&args, 0, sizeof args);
  args.flags = NAMESPACES | CLONE_PIDFD | (cgroup_fd >= 0 ? CLONE_INTO_CGROUP : 0) | (spec.netns_fd < 0 ? CLONE_NEWNET : 0);
  args.pidfd = (unsigned long long)(uintptr_t)pidfd;
  args.exit_signal = SIGCHLD;
  args.cgroup = cgroup_fd >= 0 ? (unsigned long long)cgroup_fd : 0;
  return (pid_t)syscall(SYS_clone3, &args, sizeof args);
}

static void write_run_state(pid_t init_pid, unsigned long long init_start) {
  char record[512], path[4096];
  int n = snprintf(record, sizeof record,
                   "supervisor_pid=%d\nsupervisor_start=%llu\ninit_pid=%d\ninit_start=%llu\nstarted_at_ms=%llu\n",
                   (int)getpid(), process_start_time(getpid()), (int)init_pid, init_start,
                   (unsigned long long)now_ms());
  state_path(path, sizeof path, "run.state");
  write_file_atomic(path, record, (size_t)n);
}

/* The exit record, "key=value" lines: how the main process ended, log counts, usage. */
static size_t exit_record(char *record, size_t len, int main_status, int have_main_status, int init_status,
                          const struct log_stream *out, const struct log_stream *err) {
  size_t n = 0;
  /* The main process's own status, as init saw it; init's status only when
   * init itself died first (killed by stop() or the OOM killer). */
  int status = have_main_status ? main_status : init_status;
  if (WIFEXITED(status)) n += (size_t)snprintf(record + n, len - n, "exit_code=%d\n", WEXITSTATUS(status));
  else n += (size_t)snprintf(record + n, len - n, "signal=%d\n", WTERMSIG(status));
  n += (size_t)snprintf(record + n, len - n,
                        "finished_at_ms=%llu\nstdout_bytes=%llu\nstdout_dropped=%llu\nstderr_bytes=%llu\n"
                        "stderr_dropped=%llu\n",
                        (unsigned long long)now_ms(), (unsigned long long)out->written,
                        (unsigned long long)out->dropped, (unsigned long long)err->written,
                        (unsigned long long)err->dropped);
  return n + cgroup_snapshot(&spec, record + n, len - n);
}

/* Kill the half-started init and give up. */
static void __attribute__((noreturn)) abort_start(pid_t init_pid, const char *message) {
  kill(init_pid, SIGKILL);
  waitpid(init_pid, NULL, 0);
  fail_start(message);
}

int supervisor_main(void) {
  char err[256];
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  signal(SIGINT, SIG_IGN);
  if (spec_read(SPEC_FD, &spec, err, sizeof err) < 0) {
    char line[300];
    snprintf(line, sizeof line, "error %s\n", err);
    tell_daemon(line, strlen(line));
    return 1;
  }
  close(SPEC_FD);
  spec.netns_fd = spec.netns_inherited ? NETNS_FD : -1;

  int out_pipe[2], err_pipe[2], status_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) < 0 || pipe2(err_pipe, O_CLOEXEC) < 0 || pipe2(status_pipe, O_CLOEXEC) < 0)
    fail_start("cannot create pipes");
  int cgroup_fd = -1;
  if (spec.cgroup_born_into && (cgroup_fd = open(spec.cgroup_born_into, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
    snprintf(err, sizeof err, "open cgroup %s: %s", spec.cgroup_born_into, strerror(errno));
    fail_start(err);
  }

  /* v1: the init is born where its parent is, so be in the job's cgroups for the clone. */
  if (cgroup_enter(spec.cgroup_place, spec.n_cgroup_place, err, sizeof err) < 0) fail_start(err);
  int init_pidfd = -1;
  pid_t init_pid = clone_init(cgroup_fd, &init_pidfd);
  if (init_pid < 0) {
    snprintf(err, sizeof err, "clone the job's init into new namespaces: %s", strerror(errno));
    fail_start(err);
  }
  if (init_pid == 0) {
    close(READY_FD);
    close(status_pipe[0]);
    close(out_pipe[0]);
    close(err_pipe[0]);
    struct init_fds fds = {status_pipe[1], out_pipe[1], err_pipe[1]};
    jobinit_main(&spec, &fds);
  }
  if (cgroup_fd >= 0) close(cgroup_fd);
  if (spec.netns_fd >= 0) close(spec.netns_fd);
  close(status_pipe[1]);
  close(out_pipe[1]);
  close(err_pipe[1]);

  /* v1: back out of the job's limits, while the init assembles the job's root. */
  if (cgroup_enter(spec.cgroup_leave, spec.n_cgroup_leave, err, sizeof err) < 0) abort_start(init_pid, err);
  struct log_stream out, errs;
  if (log_open(&out, "stdout", spec.log_stdout, out_pipe[0], spec.log_max) < 0 ||
      log_open(&errs, "stderr", spec.log_stderr, err_pipe[0], spec.log_max) < 0) {
    snprintf(err, sizeof err, "open log files %s, %s: %s", spec.log_stdout, spec.log_stderr, strerror(errno));
    abort_start(init_pid, err);
  }
  unsigned long long init_start = process_start_time(init_pid);

  struct init_msg msg;
  ssize_t got;
  do got = read(status_pipe[0], &msg, sizeof msg);
  while (got < 0 && errno == EINTR);
  if (got != (ssize_t)sizeof msg || msg.type != INIT_STARTED) {
    if (got == (ssize_t)sizeof msg && msg.type == INIT_SETUP_FAILED)
      snprintf(err, sizeof err, "%s: %s", msg.text, strerror(msg.value));
    else
      snprintf(err, sizeof err, "the job's init died while setting up");
    abort_start(init_pid, err);
  }
  char line[96];
  int len = snprintf(line, sizeof line, "ok %d %llu\n", (int)init_pid, init_start);
  tell_daemon(line, (size_t)len);
  write_run_state(init_pid, init_start);
  /* Hold the job's mount namespace: when the init exits, unmounting the job's
   * root (and the RCU grace period that takes) then happens here, after the
   * daemon has heard the exit, instead of delaying the init's exit. */
  char ns_path[64];
  snprintf(ns_path, sizeof ns_path, "/proc/%d/ns/mnt", (int)init_pid);
  int job_mnt_ns = open(ns_path, O_RDONLY | O_CLOEXEC);

  fcntl(out.pipe_fd, F_SETFL, O_NONBLOCK);
  fcntl(errs.pipe_fd, F_SETFL, O_NONBLOCK);
  int main_status = 0, have_main_status = 0, init_status = 0, init_alive = 1;
  while (out.pipe_fd >= 0 || errs.pipe_fd >= 0 || init_alive) {
    struct pollfd pfds[4] = {
        {out.pipe_fd, POLLIN, 0}, {errs.pipe_fd, POLLIN, 0}, {status_pipe[0], POLLIN, 0}, {init_alive ? init_pidfd : -1, POLLIN, 0},
    };
    if (poll(pfds, 4, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (pfds[0].revents) log_pump(&out);
    if (pfds[1].revents) log_pump(&errs);
    if (pfds[2].revents) {
      if (read(status_pipe[0], &msg, sizeof msg) == (ssize_t)sizeof msg && msg.type == INIT_MAIN_EXITED) {
        main_status = msg.value;
        have_main_status = 1;
      }
      if (!(pfds[2].revents & POLLIN)) {
        close(status_pipe[0]);
        status_pipe[0] = -1;
      }
    }
    if (pfds[3].revents) {
      siginfo_t info;
      memset(&info, 0, sizeof info);
      if (waitid(P_PIDFD, (id_t)init_pidfd, &info, WEXITED) == 0) {
        init_status = info.si_code == CLD_EXITED ? W_EXITCODE(info.si_status, 0) : info.si_status;
        init_alive = 0;
      }
    }
  }
  if (status_pipe[0] >= 0 && !have_main_status &&
      read(status_pipe[0], &msg, sizeof msg) == (ssize_t)sizeof msg && msg.type == INIT_MAIN_EXITED) {
    main_status = msg.value;
    have_main_status = 1;
  }
  /* Every process of the job is gone (its PID namespace died with init);
   * only now are the cgroup's counters final. Snapshot, then remove the
   * cgroup, then tell the daemon: what it hears is the finished state. */
  static char record[65536];
  size_t n = exit_record(record, sizeof record, main_status, have_main_status, init_status, &out, &errs);
  cgroup_remove_all(&spec);
  tell_daemon(record, n);
  close(READY_FD);
  if (job_mnt_ns >= 0) close(job_mnt_ns);
  char path[4096];
  state_path(path, sizeof path, "exit.state");
  write_file_atomic(path, record, n);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "--fork-server")) return fork_server_main(argc, argv);
  return supervisor_main();
}
