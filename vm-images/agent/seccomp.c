/*
 * Docker's default seccomp profile, for the i386 guest: an allowlist of system calls, everything else fails with
 * EPERM. Some calls depend on their arguments (clone without namespace flags, personality with the usual values,
 * socket but not AF_VSOCK) and some are granted only when the container's bounding set holds a capability
 * (CAP_SYS_ADMIN unlocks mount, unshare, setns and clone with namespace flags; CAP_SYS_PTRACE kcmp; CAP_SYS_MODULE
 * the module calls; ...), as moby's profile decides them. The tables below follow that profile; names it lists that
 * i386 does not have (accept, recv, send, semop, newfstatat, ...) are left out, as libseccomp skips them.
 *
 * seccomp_filter_build turns the tables into a classic BPF program: check the architecture, then a binary search
 * over the ranges of syscall numbers that share an action, then the argument checks. PROTOCOL.md, SECCOMP.
 */
#define _GNU_SOURCE
#include <asm/unistd_32.h>
#include <errno.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/prctl.h>

#include "agent.h"

#define N(name) __NR_##name
#define COUNT(a) (sizeof a / sizeof *a)

/* Allowed to every container. */
static const short allowed[] = {
	N(accept4), N(access), N(adjtimex), N(alarm), N(bind), N(brk), N(capget), N(capset), N(chdir), N(chmod),
	N(chown), N(chown32), N(clock_adjtime), N(clock_adjtime64), N(clock_getres), N(clock_getres_time64),
	N(clock_gettime), N(clock_gettime64), N(clock_nanosleep), N(clock_nanosleep_time64), N(close), N(close_range),
	N(connect), N(copy_file_range), N(creat), N(dup), N(dup2), N(dup3), N(epoll_create), N(epoll_create1),
	N(epoll_ctl), N(epoll_pwait), N(epoll_pwait2), N(epoll_wait), N(eventfd), N(eventfd2), N(execve), N(execveat),
	N(exit), N(exit_group), N(faccessat), N(faccessat2), N(fadvise64), N(fadvise64_64), N(fallocate),
	N(fanotify_mark), N(fchdir), N(fchmod), N(fchmodat), N(fchown), N(fchown32), N(fchownat), N(fcntl), N(fcntl64),
	N(fdatasync), N(fgetxattr), N(flistxattr), N(flock), N(fork), N(fremovexattr), N(fsetxattr), N(fstat),
	N(fstat64), N(fstatat64), N(fstatfs), N(fstatfs64), N(fsync), N(ftruncate), N(ftruncate64), N(futex),
	N(futex_time64), N(futex_waitv), N(futimesat), N(getcpu), N(getcwd), N(getdents), N(getdents64), N(getegid),
	N(getegid32), N(geteuid), N(geteuid32), N(getgid), N(getgid32), N(getgroups), N(getgroups32), N(getitimer),
	N(getpeername), N(getpgid), N(getpgrp), N(getpid), N(getppid), N(getpriority), N(getrandom), N(getresgid),
	N(getresgid32), N(getresuid), N(getresuid32), N(getrlimit), N(get_robust_list), N(getrusage), N(getsid),
	N(getsockname), N(getsockopt), N(get_thread_area), N(gettid), N(gettimeofday), N(getuid), N(getuid32),
	N(getxattr), N(inotify_add_watch), N(inotify_init), N(inotify_init1), N(inotify_rm_watch), N(io_cancel),
	N(ioctl), N(io_destroy), N(io_getevents), N(io_pgetevents), N(io_pgetevents_time64), N(ioprio_get),
	N(ioprio_set), N(io_setup), N(io_submit), N(ipc), N(kill), N(landlock_add_rule), N(landlock_create_ruleset),
	N(landlock_restrict_self), N(lchown), N(lchown32), N(lgetxattr), N(link), N(linkat), N(listen), N(listxattr),
	N(llistxattr), N(_llseek), N(lremovexattr), N(lseek), N(lsetxattr), N(lstat), N(lstat64), N(madvise),
	N(membarrier), N(memfd_create), N(memfd_secret), N(mincore), N(mkdir), N(mkdirat), N(mknod), N(mknodat),
	N(mlock), N(mlock2), N(mlockall), N(mmap), N(mmap2), N(mprotect), N(mq_getsetattr), N(mq_notify), N(mq_open),
	N(mq_timedreceive), N(mq_timedreceive_time64), N(mq_timedsend), N(mq_timedsend_time64), N(mq_unlink),
	N(mremap), N(msgctl), N(msgget), N(msgrcv), N(msgsnd), N(msync), N(munlock), N(munlockall), N(munmap),
	N(name_to_handle_at), N(nanosleep), N(_newselect), N(open), N(openat), N(openat2), N(pause), N(pidfd_open),
	N(pidfd_send_signal), N(pipe), N(pipe2), N(pkey_alloc), N(pkey_free), N(pkey_mprotect), N(poll), N(ppoll),
	N(ppoll_time64), N(prctl), N(pread64), N(preadv), N(preadv2), N(prlimit64), N(process_mrelease), N(pselect6),
	N(pselect6_time64), N(pwrite64), N(pwritev), N(pwritev2), N(read), N(readahead), N(readlink), N(readlinkat),
	N(readv), N(recvfrom), N(recvmmsg), N(recvmmsg_time64), N(recvmsg), N(remap_file_pages), N(removexattr),
	N(rename), N(renameat), N(renameat2), N(restart_syscall), N(rmdir), N(rseq), N(rt_sigaction),
	N(rt_sigpending), N(rt_sigprocmask), N(rt_sigqueueinfo), N(rt_sigreturn), N(rt_sigsuspend),
	N(rt_sigtimedwait), N(rt_sigtimedwait_time64), N(rt_tgsigqueueinfo), N(sched_getaffinity), N(sched_getattr),
	N(sched_getparam), N(sched_get_priority_max), N(sched_get_priority_min), N(sched_getscheduler),
	N(sched_rr_get_interval), N(sched_rr_get_interval_time64), N(sched_setaffinity), N(sched_setattr),
	N(sched_setparam), N(sched_setscheduler), N(sched_yield), N(seccomp), N(select), N(semctl), N(semget),
	N(semtimedop_time64), N(sendfile), N(sendfile64), N(sendmmsg), N(sendmsg), N(sendto), N(setfsgid),
	N(setfsgid32), N(setfsuid), N(setfsuid32), N(setgid), N(setgid32), N(setgroups), N(setgroups32), N(setitimer),
	N(setpgid), N(setpriority), N(setregid), N(setregid32), N(setresgid), N(setresgid32), N(setresuid),
	N(setresuid32), N(setreuid), N(setreuid32), N(setrlimit), N(set_robust_list), N(setsid), N(setsockopt),
	N(set_thread_area), N(set_tid_address), N(setuid), N(setuid32), N(setxattr), N(shmat), N(shmctl), N(shmdt),
	N(shmget), N(shutdown), N(sigaltstack), N(signalfd), N(signalfd4), N(sigprocmask), N(sigreturn),
	N(socketcall), N(socketpair), N(splice), N(stat), N(stat64), N(statfs), N(statfs64), N(statx), N(symlink),
	N(symlinkat), N(sync), N(sync_file_range), N(syncfs), N(sysinfo), N(tee), N(tgkill), N(time), N(timer_create),
	N(timer_delete), N(timer_getoverrun), N(timer_gettime), N(timer_gettime64), N(timer_settime),
	N(timer_settime64), N(timerfd_create), N(timerfd_gettime), N(timerfd_gettime64), N(timerfd_settime),
	N(timerfd_settime64), N(times), N(tkill), N(truncate), N(truncate64), N(ugetrlimit), N(umask), N(uname),
	N(unlink), N(unlinkat), N(utime), N(utimensat), N(utimensat_time64), N(utimes), N(vfork), N(vmsplice),
	N(wait4), N(waitid), N(waitpid), N(write), N(writev),
	/* On kernels since 4.8 (ptrace can no longer skip the filter), for everyone. */
	N(process_vm_readv), N(process_vm_writev), N(ptrace),
	/* For x86 only. */
	N(modify_ldt),
};

/* Granted when the container's bounding set holds the capability. */
static const struct {
	int cap;
	short nr;
} by_capability[] = {
	{CAP_DAC_READ_SEARCH, N(open_by_handle_at)},
	{CAP_SYS_ADMIN, N(bpf)}, {CAP_SYS_ADMIN, N(clone)}, {CAP_SYS_ADMIN, N(clone3)},
	{CAP_SYS_ADMIN, N(fanotify_init)}, {CAP_SYS_ADMIN, N(fsconfig)}, {CAP_SYS_ADMIN, N(fsmount)},
	{CAP_SYS_ADMIN, N(fsopen)}, {CAP_SYS_ADMIN, N(fspick)}, {CAP_SYS_ADMIN, N(lookup_dcookie)},
	{CAP_SYS_ADMIN, N(mount)}, {CAP_SYS_ADMIN, N(mount_setattr)}, {CAP_SYS_ADMIN, N(move_mount)},
	{CAP_SYS_ADMIN, N(open_tree)}, {CAP_SYS_ADMIN, N(perf_event_open)}, {CAP_SYS_ADMIN, N(quotactl)},
	{CAP_SYS_ADMIN, N(quotactl_fd)}, {CAP_SYS_ADMIN, N(setdomainname)}, {CAP_SYS_ADMIN, N(sethostname)},
	{CAP_SYS_ADMIN, N(setns)}, {CAP_SYS_ADMIN, N(syslog)}, {CAP_SYS_ADMIN, N(umount)}, {CAP_SYS_ADMIN, N(umount2)},
	{CAP_SYS_ADMIN, N(unshare)},
	{CAP_SYS_BOOT, N(reboot)},
	{CAP_SYS_CHROOT, N(chroot)},
	{CAP_SYS_MODULE, N(delete_module)}, {CAP_SYS_MODULE, N(init_module)}, {CAP_SYS_MODULE, N(finit_module)},
	{CAP_SYS_PACCT, N(acct)},
	{CAP_SYS_PTRACE, N(kcmp)}, {CAP_SYS_PTRACE, N(pidfd_getfd)}, {CAP_SYS_PTRACE, N(process_madvise)},
	{CAP_SYS_RAWIO, N(iopl)}, {CAP_SYS_RAWIO, N(ioperm)},
	{CAP_SYS_TIME, N(settimeofday)}, {CAP_SYS_TIME, N(stime)}, {CAP_SYS_TIME, N(clock_settime)},
	{CAP_SYS_TIME, N(clock_settime64)},
	{CAP_SYS_TTY_CONFIG, N(vhangup)},
	{CAP_SYS_NICE, N(get_mempolicy)}, {CAP_SYS_NICE, N(mbind)}, {CAP_SYS_NICE, N(set_mempolicy)},
	{CAP_SYS_NICE, N(set_mempolicy_home_node)},
	{CAP_SYSLOG, N(syslog)},
	{CAP_BPF, N(bpf)},
	{CAP_PERFMON, N(perf_event_open)},
};

/* What the filter does with one syscall number. */
enum action { DENY, ALLOW, CLONE_WITHOUT_NAMESPACES, PERSONALITY, SOCKET_NOT_VSOCK, NOT_IMPLEMENTED, ACTIONS };

/* clone's namespace flags (CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET): only CAP_SYS_ADMIN. */
#define CLONE_NAMESPACE_FLAGS 0x7E020000u
/* personality: PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and 0xffffffff (a query). */
static const uint32_t personalities[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};
#define AF_VSOCK_FAMILY 40

#define NR_LIMIT (__NR_set_mempolicy_home_node + 1)
#define ARG0 (offsetof(struct seccomp_data, args[0])) /* its low 32 bits: little-endian */
#define RET_EPERM (SECCOMP_RET_ERRNO | EPERM)

struct program {
	struct sock_filter *insns;
	int len, max;
};

static int emit(struct program *p, uint16_t code, uint32_t k, uint8_t jt, uint8_t jf) {
	if (p->len >= p->max) return -1;
	p->insns[p->len] = (struct sock_filter){code, jt, jf, k};
	return p->len++;
}

struct run {
	uint32_t start; /* the first number of the range; it ends where the next run starts */
	enum action action;
};

/* A binary search over runs[lo..hi): a leaf returns its action or jumps to the block that checks arguments. */
static int emit_search(struct program *p, const struct run *runs, int lo, int hi, int *jumps, int *jump_count) {
	if (hi - lo == 1) {
		switch (runs[lo].action) {
		case DENY: return emit(p, BPF_RET | BPF_K, RET_EPERM, 0, 0) < 0 ? -1 : 0;
		case ALLOW: return emit(p, BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0) < 0 ? -1 : 0;
		case NOT_IMPLEMENTED: return emit(p, BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS, 0, 0) < 0 ? -1 : 0;
		default: {
			/* Patched once the argument blocks are placed; the action is kept in k until then. */
			int at = emit(p, BPF_JMP | BPF_JA, runs[lo].action, 0, 0);
			if (at < 0) return -1;
			jumps[(*jump_count)++] = at;
			return 0;
		}
		}
	}
	int mid = (lo + hi) / 2;
	int test = emit(p, BPF_JMP | BPF_JGE | BPF_K, runs[mid].start, 0, 0);
	if (test < 0 || emit_search(p, runs, lo, mid, jumps, jump_count) < 0) return -1;
	int skip = p->len - test - 1;
	if (skip > 255) return -1;
	p->insns[test].jt = skip;
	return emit_search(p, runs, mid, hi, jumps, jump_count);
}

int seccomp_filter_build(uint64_t capabilities, struct sock_filter *insns, int max) {
	uint8_t action[NR_LIMIT] = {DENY};
	for (size_t i = 0; i < COUNT(allowed); i++) action[allowed[i]] = ALLOW;
	action[N(socket)] = SOCKET_NOT_VSOCK;
	action[N(personality)] = PERSONALITY;
	if (!(capabilities >> CAP_SYS_ADMIN & 1)) {
		action[N(clone)] = CLONE_WITHOUT_NAMESPACES;
		action[N(clone3)] = NOT_IMPLEMENTED; /* so a libc falls back to clone, which the filter can inspect */
	}
	for (size_t i = 0; i < COUNT(by_capability); i++)
		if (capabilities >> by_capability[i].cap & 1) action[by_capability[i].nr] = ALLOW;

	static struct run runs[NR_LIMIT + 1];
	int run_count = 0;
	for (uint32_t nr = 0; nr < NR_LIMIT; nr++)
		if (run_count == 0 || runs[run_count - 1].action != action[nr]) runs[run_count++] = (struct run){nr, action[nr]};
	if (runs[run_count - 1].action != DENY) runs[run_count++] = (struct run){NR_LIMIT, DENY};

	struct program p = {insns, 0, max};
	/* Any architecture but i386 (the only one this kernel runs) kills the process. */
	emit(&p, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch), 0, 0);
	emit(&p, BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_I386, 1, 0);
	emit(&p, BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS, 0, 0);
	emit(&p, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr), 0, 0);
	int jumps[8], jump_count = 0;
	if (emit_search(&p, runs, 0, run_count, jumps, &jump_count) < 0) return -1;

	int block[ACTIONS] = {0};
	block[CLONE_WITHOUT_NAMESPACES] = p.len;
	emit(&p, BPF_LD | BPF_W | BPF_ABS, ARG0, 0, 0);
	emit(&p, BPF_JMP | BPF_JSET | BPF_K, CLONE_NAMESPACE_FLAGS, 1, 0);
	emit(&p, BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);
	emit(&p, BPF_RET | BPF_K, RET_EPERM, 0, 0);

	block[PERSONALITY] = p.len;
	emit(&p, BPF_LD | BPF_W | BPF_ABS, ARG0, 0, 0);
	int count = COUNT(personalities);
	for (int i = 0; i < count; i++) emit(&p, BPF_JMP | BPF_JEQ | BPF_K, personalities[i], count - i, 0);
	emit(&p, BPF_RET | BPF_K, RET_EPERM, 0, 0);
	emit(&p, BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);

	block[SOCKET_NOT_VSOCK] = p.len;
	emit(&p, BPF_LD | BPF_W | BPF_ABS, ARG0, 0, 0);
	emit(&p, BPF_JMP | BPF_JEQ | BPF_K, AF_VSOCK_FAMILY, 1, 0);
	emit(&p, BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);
	if (emit(&p, BPF_RET | BPF_K, RET_EPERM, 0, 0) < 0) return -1;

	for (int i = 0; i < jump_count; i++) {
		struct sock_filter *jump = &p.insns[jumps[i]];
		jump->k = block[jump->k] - jumps[i] - 1;
	}
	return p.len;
}

int seccomp_install(uint64_t capabilities) {
	struct sock_filter insns[512];
	int len = seccomp_filter_build(capabilities, insns, COUNT(insns));
	if (len < 0) {
		errno = E2BIG;
		return -1;
	}
	struct sock_fprog program = {.len = len, .filter = insns};
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program, 0, 0);
}
