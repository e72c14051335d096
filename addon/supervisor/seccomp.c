/*
 * The job's seccomp filter: a deny list on top of "allow everything else".
 *
 * A job already runs without capabilities, so most calls below would fail
 * anyway. The filter is the second wall: it keeps working if a capability
 * leaks back (a kernel bug, a misconfigured uid), and it shuts kernel code
 * that needs no privilege at all (io_uring, bpf, userfaultfd, keyrings) away
 * from untrusted programs.
 *
 * The classic-BPF program is generated at start-up from the rule table, so
 * jump offsets are computed by the emitter rather than counted by hand:
 *
 *   load arch;  arch != native          -> KILL_PROCESS
 *   load nr;    x86_64: nr & X32 bit    -> ERRNO(EPERM)
 *   per rule:   nr != rule.nr           -> skip over this rule's body
 *               body (ends in a return: the rule decides for its syscall)
 *   ALLOW
 *
 * Only the native ABI is allowed: on x86_64 an int 0x80 call arrives as
 * AUDIT_ARCH_I386 with different numbers, and an x32 call sets bit 30 of the
 * number; both would otherwise slip past rules written for x86_64 numbers.
 * Syscalls whose verdict depends only on the number stay in the kernel's
 * per-syscall allow cache, so the linear rule list costs nothing for them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>

#include "supervisor.h"

#if defined(__x86_64__)
#define NATIVE_AUDIT_ARCH AUDIT_ARCH_X86_64
#ifndef __X32_SYSCALL_BIT
#define __X32_SYSCALL_BIT 0x40000000
#endif
#elif defined(__aarch64__)
#define NATIVE_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
/* Refuse to build rather than run jobs behind a filter written for another ABI. */
#error "seccomp.c: no job filter for this architecture"
#endif

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef UNAME26
#define UNAME26 0x0020000
#endif

/* seccomp_data.args[] are 64-bit; every argument checked here is an int-sized
 * value in the kernel (flags, mode, ioctl request, persona), so the low word
 * is what the kernel acts on. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ARG_LOW_WORD(i) ((uint32_t)(offsetof(struct seccomp_data, args) + 8 * (i)))
#else
#define ARG_LOW_WORD(i) ((uint32_t)(offsetof(struct seccomp_data, args) + 8 * (i) + 4))
#endif

#define RET_ERRNO(e) (SECCOMP_RET_ERRNO | ((uint32_t)(e) & SECCOMP_RET_DATA))

enum rule_kind {
  RULE_DENY,            /* always refused */
  RULE_DENY_IF_ANY_BIT, /* refused when (arg & mask) != 0 */
  RULE_DENY_IF_IN,      /* refused when (arg & mask) is one of values */
  RULE_DENY_UNLESS_IN,  /* allowed only when (arg & mask) is one of values */
};

struct rule {
  int nr;
  enum rule_kind kind;
  unsigned arg;
  uint32_t mask;
  const uint32_t *values;
  unsigned n_values;
  int err;
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define DENY(name) {__NR_##name, RULE_DENY, 0, 0, NULL, 0, EPERM}
#define DENY_WITH(name, e) {__NR_##name, RULE_DENY, 0, 0, NULL, 0, e}
#define DENY_IF_ANY_BIT(name, a, m) {__NR_##name, RULE_DENY_IF_ANY_BIT, a, m, NULL, 0, EPERM}
#define DENY_IF_IN(name, a, m, vals) \
  {__NR_##name, RULE_DENY_IF_IN, a, m, vals, COUNT(vals), EPERM}
#define DENY_UNLESS_IN(name, a, m, vals) \
  {__NR_##name, RULE_DENY_UNLESS_IN, a, m, vals, COUNT(vals), EPERM}

#define NAMESPACE_FLAGS                                                          \
  (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |     \
   CLONE_NEWNET | CLONE_NEWCGROUP | CLONE_NEWTIME)

/* mknod(2) of a device node would reach hardware the job's /dev does not expose. */
static const uint32_t device_file_types[] = {S_IFCHR, S_IFBLK};

/* TIOCSTI pushes input into a terminal shared with the host (a shell's tty);
 * TIOCLINUX can do the same on a virtual console. */
static const uint32_t terminal_injection_requests[] = {TIOCSTI, TIOCLINUX};

/* Personas real programs use (setarch, 32-bit emulation, old uname), plus the
 * 0xffffffff query. Others (e.g. READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE) weaken
 * memory protections and help exploits. */
static const uint32_t allowed_personas[] = {
    PER_LINUX, PER_LINUX32, UNAME26, PER_LINUX32 | UNAME26, 0xffffffffu,
};

static const struct rule job_rules[] = {
    /* Escape vectors: changing the filesystem view or entering/creating
     * namespaces undoes the isolation the supervisor assembled. */
#ifdef __NR_mount
    DENY(mount),
#endif
#ifdef __NR_umount
    DENY(umount),
#endif
#ifdef __NR_umount2
    DENY(umount2),
#endif
#ifdef __NR_pivot_root
    DENY(pivot_root),
#endif
#ifdef __NR_chroot
    DENY(chroot),
#endif
#ifdef __NR_unshare
    DENY(unshare),
#endif
#ifdef __NR_setns
    DENY(setns),
#endif
#ifdef __NR_fsopen
    DENY(fsopen),
#endif
#ifdef __NR_fsconfig
    DENY(fsconfig),
#endif
#ifdef __NR_fsmount
    DENY(fsmount),
#endif
#ifdef __NR_fspick
    DENY(fspick),
#endif
#ifdef __NR_move_mount
    DENY(move_mount),
#endif
#ifdef __NR_open_tree
    DENY(open_tree),
#endif
#ifdef __NR_open_tree_attr
    DENY(open_tree_attr),
#endif
#ifdef __NR_mount_setattr
    DENY(mount_setattr),
#endif
    /* File handles name inodes outside the job's root (the "shocker" escape). */
#ifdef __NR_open_by_handle_at
    DENY(open_by_handle_at),
#endif
#ifdef __NR_name_to_handle_at
    DENY(name_to_handle_at),
#endif
#ifdef __NR_clone
    DENY_IF_ANY_BIT(clone, 0, NAMESPACE_FLAGS),
#endif
    /* clone3 passes its flags in memory a filter cannot read. ENOSYS makes
     * glibc (fork, pthread_create) fall back to clone, which is checked above. */
#ifdef __NR_clone3
    DENY_WITH(clone3, ENOSYS),
#endif
#ifdef __NR_mknod
    DENY_IF_IN(mknod, 1, S_IFMT, device_file_types),
#endif
#ifdef __NR_mknodat
    DENY_IF_IN(mknodat, 2, S_IFMT, device_file_types),
#endif

    /* Other processes: reading or steering memory and descriptors of anything
     * the job can see, including a supervisor reachable through a shared pid. */
#ifdef __NR_ptrace
    DENY(ptrace),
#endif
#ifdef __NR_process_vm_readv
    DENY(process_vm_readv),
#endif
#ifdef __NR_process_vm_writev
    DENY(process_vm_writev),
#endif
#ifdef __NR_pidfd_getfd
    DENY(pidfd_getfd),
#endif
#ifdef __NR_kcmp
    DENY(kcmp),
#endif

    /* Kernel attack surface: code reachable without privilege that has been a
     * steady source of local root exploits, or that loads code into the kernel. */
#ifdef __NR_init_module
    DENY(init_module),
#endif
#ifdef __NR_finit_module
    DENY(finit_module),
#endif
#ifdef __NR_delete_module
    DENY(delete_module),
#endif
#ifdef __NR_create_module
    DENY(create_module),
#endif
#ifdef __NR_get_kernel_syms
    DENY(get_kernel_syms),
#endif
#ifdef __NR_query_module
    DENY(query_module),
#endif
#ifdef __NR_kexec_load
    DENY(kexec_load),
#endif
#ifdef __NR_kexec_file_load
    DENY(kexec_file_load),
#endif
#ifdef __NR_bpf
    DENY(bpf),
#endif
#ifdef __NR_perf_event_open
    DENY(perf_event_open),
#endif
#ifdef __NR_userfaultfd
    DENY(userfaultfd),
#endif
#ifdef __NR_io_uring_setup
    DENY(io_uring_setup),
#endif
#ifdef __NR_io_uring_enter
    DENY(io_uring_enter),
#endif
#ifdef __NR_io_uring_register
    DENY(io_uring_register),
#endif
#ifdef __NR_lookup_dcookie
    DENY(lookup_dcookie),
#endif
#ifdef __NR_nfsservctl
    DENY(nfsservctl),
#endif
#ifdef __NR_uselib
    DENY(uselib),
#endif
#ifdef __NR__sysctl
    DENY(_sysctl),
#endif
#ifdef __NR_personality
    DENY_UNLESS_IN(personality, 0, 0xffffffffu, allowed_personas),
#endif
    /* Keyrings are not namespaced: keys of the host's users live there. */
#ifdef __NR_keyctl
    DENY(keyctl),
#endif
#ifdef __NR_add_key
    DENY(add_key),
#endif
#ifdef __NR_request_key
    DENY(request_key),
#endif

    /* Host state: the machine, its clock, its devices, its logs, its LSM. */
#ifdef __NR_reboot
    DENY(reboot),
#endif
#ifdef __NR_swapon
    DENY(swapon),
#endif
#ifdef __NR_swapoff
    DENY(swapoff),
#endif
#ifdef __NR_acct
    DENY(acct),
#endif
#ifdef __NR_settimeofday
    DENY(settimeofday),
#endif
#ifdef __NR_clock_settime
    DENY(clock_settime),
#endif
#ifdef __NR_clock_adjtime
    DENY(clock_adjtime),
#endif
#ifdef __NR_adjtimex
    DENY(adjtimex),
#endif
#ifdef __NR_syslog
    DENY(syslog),
#endif
#ifdef __NR_iopl
    DENY(iopl),
#endif
#ifdef __NR_ioperm
    DENY(ioperm),
#endif
#ifdef __NR_quotactl
    DENY(quotactl),
#endif
#ifdef __NR_quotactl_fd
    DENY(quotactl_fd),
#endif
#ifdef __NR_vhangup
    DENY(vhangup),
#endif
#ifdef __NR_lsm_set_self_attr
    DENY(lsm_set_self_attr),
#endif
#ifdef __NR_ioctl
    DENY_IF_IN(ioctl, 1, 0xffffffffu, terminal_injection_requests),
#endif
};

/* Large enough for the table above with room to grow; checked, not assumed. */
#define FILTER_CAPACITY 512

struct program {
  struct sock_filter insn[FILTER_CAPACITY];
  unsigned len;
  int overflow;
};

static unsigned emit(struct program *p, struct sock_filter f) {
  if (p->len >= FILTER_CAPACITY) {
    p->overflow = 1;
    return p->len;
  }
  p->insn[p->len] = f;
  return p->len++;
}

static void emit_return(struct program *p, uint32_t action) {
  emit(p, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, action));
}

static void emit_load(struct program *p, uint32_t offset) {
  emit(p, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offset));
}

/* Conditional jumps are 8-bit forward offsets; longer ones mark the program bad. */
static uint8_t jump_offset(struct program *p, unsigned from, unsigned to) {
  unsigned distance = to - from - 1;
  if (to <= from || distance > 255) {
    p->overflow = 1;
    return 0;
  }
  return (uint8_t)distance;
}

static void emit_arch_check(struct program *p) {
  emit_load(p, offsetof(struct seccomp_data, arch));
  emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_AUDIT_ARCH, 1, 0));
  emit_return(p, SECCOMP_RET_KILL_PROCESS);
}

static void emit_load_nr(struct program *p) {
  emit_load(p, offsetof(struct seccomp_data, nr));
#ifdef __x86_64__
  emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, __X32_SYSCALL_BIT, 0, 1));
  emit_return(p, RET_ERRNO(EPERM));
#endif
}

static void emit_load_arg(struct program *p, unsigned arg, uint32_t mask) {
  emit_load(p, ARG_LOW_WORD(arg));
  if (mask != 0xffffffffu)
    emit(p, (struct sock_filter)BPF_STMT(BPF_ALU | BPF_AND | BPF_K, mask));
}

/* arg & mask in values ? on_match : otherwise.
 * Layout: jeq v0 .. jeq vN-1 (each to the last return), ret otherwise, ret on_match. */
static void emit_value_set(struct program *p, const struct rule *r, uint32_t on_match,
                           uint32_t otherwise) {
  emit_load_arg(p, r->arg, r->mask);
  unsigned jumps = p->len;
  for (unsigned i = 0; i < r->n_values; i++)
    emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, r->values[i], 0, 0));
  emit_return(p, otherwise);
  unsigned match = emit(p, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, on_match));
  for (unsigned at = jumps; at < jumps + r->n_values && at < FILTER_CAPACITY; at++)
    p->insn[at].jt = jump_offset(p, at, match);
}

/* The body runs only for the rule's syscall and always ends in a return. */
static void emit_rule_body(struct program *p, const struct rule *r) {
  uint32_t deny = RET_ERRNO(r->err);
  switch (r->kind) {
  case RULE_DENY:
    emit_return(p, deny);
    break;
  case RULE_DENY_IF_ANY_BIT:
    emit_load_arg(p, r->arg, 0xffffffffu);
    emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, r->mask, 0, 1));
    emit_return(p, deny);
    emit_return(p, SECCOMP_RET_ALLOW);
    break;
  case RULE_DENY_IF_IN:
    emit_value_set(p, r, deny, SECCOMP_RET_ALLOW);
    break;
  case RULE_DENY_UNLESS_IN:
    emit_value_set(p, r, SECCOMP_RET_ALLOW, deny);
    break;
  }
}

/* Bodies of rules that load an argument clobber A, but they never fall
 * through, so the next rule still compares against the syscall number. */
static void emit_rule(struct program *p, const struct rule *r) {
  unsigned test = emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
                                                       (uint32_t)r->nr, 0, 0));
  emit_rule_body(p, r);
  if (test < FILTER_CAPACITY)
    p->insn[test].jf = jump_offset(p, test, p->len);
}

static void build_job_filter(struct program *p) {
  p->len = 0;
  p->overflow = 0;
  emit_arch_check(p);
  emit_load_nr(p);
  for (size_t i = 0; i < COUNT(job_rules); i++)
    emit_rule(p, &job_rules[i]);
  emit_return(p, SECCOMP_RET_ALLOW);
}

int seccomp_install_job_filter(void) {
  /* Static: 4 KiB is more than a freshly cloned child's small stack should carry. */
  static struct program p;
  build_job_filter(&p);
  if (p.overflow)
    return -E2BIG;

  struct sock_fprog prog = {.len = (unsigned short)p.len, .filter = p.insn};
#ifdef SYS_seccomp
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0)
    return 0;
  if (errno != ENOSYS)
    return -errno;
#endif
  /* Kernels before 3.17 only know the prctl form. */
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) == 0)
    return 0;
  return -errno;
}
