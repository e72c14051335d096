/*
 * Proves privileges_drop() and seccomp_install_job_filter() against the real
 * kernel. Run as root with a scratch directory (writable by uid 65534):
 *
 *   check WORKDIR          runs every phase below, one forked child each
 *   check --after-exec P   (internal) prints the status lines after execve
 *
 * Phases, each starting with a "phase NAME" line:
 *   full         privileges_drop(65534, 65534) + filter, then every probe,
 *                then execs itself ("phase full.after-exec").
 *   root         privileges_drop(0, 0) + filter, then execs itself: uid 0
 *                must gain nothing from exec ("phase root.after-exec").
 *   filter-only  no_new_privs + filter but still root with every capability,
 *                then every probe: an EPERM here can only come from the
 *                filter, so every probe uses arguments that are harmless (or
 *                fail differently) should the filter let the call through.
 *   control      as filter-only without the filter: shows what each probe
 *                does when the call reaches the kernel.
 *
 * Lines: /proc/self/status lines copied verbatim ("CapEff:\t0000..."),
 * "securebits N", "<probe> <errno>" (0 = the call succeeded),
 * "error <what> <errno>", and finally "exit PHASE <wait status>".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/sched.h>

#include "supervisor.h"

#define NOWHERE "/nonexistent-joblet-check"

static const char *workdir;

static long result(long r) { return r < 0 ? errno : 0; }

static void print_status(void) {
  static const char *const keys[] = {"Uid:",    "Gid:",    "Groups:", "CapInh:",     "CapPrm:",
                                     "CapEff:", "CapBnd:", "CapAmb:", "NoNewPrivs:", "Seccomp:"};
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) {
    printf("error status %d\n", errno);
    return;
  }
  char line[512];
  while (fgets(line, sizeof line, f)) {
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
      if (strncmp(line, keys[i], strlen(keys[i])) == 0)
        fputs(line, stdout);
  }
  fclose(f);
  printf("securebits %d\n", prctl(PR_GET_SECUREBITS, 0, 0, 0, 0));
}

/* A child that must not exist: if the call went through, leave at once. */
static long reap_if_child(long pid) {
  if (pid == 0)
    _exit(0);
  if (pid < 0)
    return errno;
  waitpid((pid_t)pid, NULL, 0);
  return 0;
}

static long make_node(const char *name, mode_t mode, dev_t dev, int use_at) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", workdir, name);
  long r = use_at ? mknodat(AT_FDCWD, path, mode, dev) : syscall(SYS_mknod, path, mode, dev);
  long err = result(r);
  if (r == 0)
    unlink(path);
  return err;
}

static void *thread_body(void *arg) { return arg; }

static long probe_pthread(void) {
  pthread_t t;
  int err = pthread_create(&t, NULL, thread_body, NULL);
  if (err == 0)
    pthread_join(t, NULL);
  return err;
}

static long probe_fork(void) {
  fflush(stdout);
  return reap_if_child(fork());
}

static long probe_clone(unsigned long flags) {
  fflush(stdout);
  return reap_if_child(syscall(SYS_clone, flags, 0, 0, 0, 0));
}

static long probe_clone3(void) {
  struct clone_args args;
  memset(&args, 0, sizeof args);
  args.exit_signal = SIGCHLD;
  fflush(stdout);
  return reap_if_child(syscall(SYS_clone3, &args, sizeof args));
}

static long probe_ioctl(unsigned long request) {
  int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return -1;
  char c = 0;
  long err = result(syscall(SYS_ioctl, fd, request, &c));
  close(fd);
  return err;
}

#ifdef __x86_64__
/* A 32-bit int 0x80 getpid: the i386 ABI, with other syscall numbers. */
static void i386_getpid(void) {
  long ret;
  __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory", "r8", "r9", "r10", "r11");
  _exit(ret > 0 ? 0 : 1);
}

/* 0 when the call ran, else the signal that ended the child (SIGSYS = killed by the filter). */
static long probe_i386_abi(void) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0)
    i386_getpid();
  if (pid < 0)
    return -1;
  int status;
  waitpid(pid, &status, 0);
  if (WIFSIGNALED(status))
    return WTERMSIG(status);
  return WEXITSTATUS(status) == 0 ? 0 : 128;
}
#endif

static void run_probes(int drop_privileges) {
  /* As uid 65534, ptrace of the root parent fails anyway; while still root
   * (filter-only), aim at a pid that cannot exist so nothing gets stopped. */
  pid_t ptrace_target = drop_privileges ? getppid() : 0x7fffffff;

  printf("mount %ld\n", result(syscall(SYS_mount, NULL, NOWHERE, "joblet-nofs", 0, NULL)));
  printf("umount2 %ld\n", result(syscall(SYS_umount2, NOWHERE, 0)));
  printf("unshare_newns %ld\n", result(syscall(SYS_unshare, CLONE_NEWNS)));
  printf("unshare_newuser %ld\n", result(syscall(SYS_unshare, CLONE_NEWUSER)));
  printf("setns %ld\n", result(syscall(SYS_setns, -1, 0)));
  printf("mknod_chr %ld\n", make_node("chr", S_IFCHR | 0600, makedev(1, 3), 0));
  printf("mknodat_blk %ld\n", make_node("blk", S_IFBLK | 0600, makedev(7, 0), 1));
  printf("mknod_fifo %ld\n", make_node("fifo", S_IFIFO | 0600, 0, 0));
  printf("mknod_regular %ld\n", make_node("regular", S_IFREG | 0600, 0, 0));
  printf("ptrace %ld\n", result(syscall(SYS_ptrace, PTRACE_ATTACH, ptrace_target, 0, 0)));
  printf("bpf %ld\n", result(syscall(SYS_bpf, 0x7fff, NULL, 0)));
  printf("keyctl %ld\n", result(syscall(SYS_keyctl, 0x7fff, 0, 0, 0, 0)));
  printf("init_module %ld\n", result(syscall(SYS_init_module, NULL, 0, "")));
  printf("io_uring_setup %ld\n", result(syscall(SYS_io_uring_setup, 1, NULL)));
  printf("perf_event_open %ld\n", result(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0)));
  printf("clone_newnet %ld\n", probe_clone(CLONE_NEWNET | SIGCHLD));
  /* The kernel ignores the upper half of clone's flags; so must the filter. */
  printf("clone_newnet_high_bits %ld\n", probe_clone((1UL << 32) | CLONE_NEWNET | SIGCHLD));
  printf("clone3 %ld\n", probe_clone3());
  printf("clone_plain %ld\n", probe_clone(SIGCHLD));
  printf("fork %ld\n", probe_fork());
  printf("pthread_create %ld\n", probe_pthread());
  printf("ioctl_tiocsti %ld\n", probe_ioctl(TIOCSTI));
  printf("ioctl_tiocsti_high_bits %ld\n", probe_ioctl((1UL << 32) | TIOCSTI));
  printf("ioctl_tcgets %ld\n", probe_ioctl(TCGETS));
  printf("personality_query %ld\n", result(syscall(SYS_personality, 0xffffffffUL)));
#ifdef __x86_64__
  printf("x32_getpid %ld\n", result(syscall(0x40000000L | SYS_getpid)));
  printf("i386_abi %ld\n", probe_i386_abi());
#endif
  /* Last: if it went through it would change this child's persona. */
  printf("personality_bsd %ld\n", result(syscall(SYS_personality, (unsigned long)PER_BSD)));
  fflush(stdout);
}

static void exec_self(const char *self, const char *phase) {
  fflush(stdout);
  char *const argv[] = {(char *)self, (char *)"--after-exec", (char *)phase, NULL};
  char *const envp[] = {NULL};
  execve(self, argv, envp);
  printf("error execve %d\n", errno);
}

static void fail(const char *what, int err) {
  printf("error %s %d\n", what, err);
  fflush(stdout);
  _exit(2);
}

static void phase_child(const char *self, const char *phase) {
  int dropped = strcmp(phase, "full") == 0 || strcmp(phase, "root") == 0;
  int filtered = strcmp(phase, "control") != 0;
  int err;
  printf("phase %s\n", phase);
  if (dropped) {
    if ((err = -privileges_drop(strcmp(phase, "root") == 0 ? 0 : 65534,
                                strcmp(phase, "root") == 0 ? 0 : 65534)) != 0)
      fail("privileges_drop", err);
  } else if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    fail("no_new_privs", errno);
  }
  if (filtered && (err = -seccomp_install_job_filter()) != 0)
    fail("seccomp_install_job_filter", err);
  print_status();
  if (strcmp(phase, "root") != 0)
    run_probes(dropped);
  if (dropped) {
    char after[64];
    snprintf(after, sizeof after, "%s.after-exec", phase);
    exec_self(self, after);
  }
  fflush(stdout);
  _exit(0);
}

static void run_phase(const char *self, const char *phase) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0)
    phase_child(self, phase);
  int status = -1;
  if (pid > 0)
    waitpid(pid, &status, 0);
  printf("exit %s %d\n", phase, status);
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--after-exec") == 0) {
    printf("phase %s\n", argv[2]);
    print_status();
    return 0;
  }
  if (argc != 2 || argv[0][0] != '/') {
    fprintf(stderr, "usage: /abs/path/check WORKDIR\n");
    return 64;
  }
  workdir = argv[1];
  setvbuf(stdout, NULL, _IOFBF, 1 << 16);
#ifdef __x86_64__
  /* Whether this kernel runs i386 calls at all decides what i386_abi must say. */
  printf("i386_abi_unfiltered %ld\n", probe_i386_abi());
#endif
  run_phase(argv[0], "full");
  run_phase(argv[0], "root");
  run_phase(argv[0], "filter-only");
  run_phase(argv[0], "control");
  fflush(stdout);
  return 0;
}
