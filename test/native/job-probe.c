/*
 * Runs inside a job under test and reports what the kernel answered.
 *   job-probe syscalls     one "name errno" line per call the job must not make
 *   job-probe alloc MB     allocate and touch MB MiB, then print "allocated"
 *   job-probe spin MS      burn CPU for MS ms of wall-clock time
 *   job-probe forkbomb     every process forks forever (contained only by pids.max)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

static void report(const char *name, long rc) { printf("%s %d\n", name, rc < 0 ? errno : 0); }

static int syscalls(void) {
  report("unshare", unshare(CLONE_NEWNS));
  report("unshare_user", unshare(CLONE_NEWUSER));
  report("mount", mount("none", "/tmp", "tmpfs", 0, NULL));
  report("mknod", mknod("/tmp/probe-null", S_IFCHR | 0666, makedev(1, 3)));
  report("ptrace", ptrace(PTRACE_ATTACH, 1, NULL, NULL));
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  report("bpf", syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr));
  report("keyctl", syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, "probe"));
  report("init_module", syscall(SYS_init_module, NULL, 0, ""));
  report("setns", setns(0, CLONE_NEWNET));
  report("chroot", chroot("/tmp"));
  return 0;
}

static int alloc(long mib) {
  for (long i = 0; i < mib; i++) {
    char *p = malloc(1 << 20);
    if (!p) return 2;
    memset(p, 1, 1 << 20);
  }
  printf("allocated\n");
  return 0;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int spin(long ms) {
  double end = now() + ms / 1000.0;
  volatile unsigned long n = 0;
  while (now() < end) n++;
  return 0;
}

static int forkbomb(void) {
  for (;;) fork();
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  if (argc >= 2 && !strcmp(argv[1], "syscalls")) return syscalls();
  if (argc >= 3 && !strcmp(argv[1], "alloc")) return alloc(atol(argv[2]));
  if (argc >= 3 && !strcmp(argv[1], "spin")) return spin(atol(argv[2]));
  if (argc >= 2 && !strcmp(argv[1], "forkbomb")) return forkbomb();
  fprintf(stderr, "usage: job-probe syscalls | alloc MB | spin MS | forkbomb\n");
  return 64;
}
