/*
 * The escape suite's attempts, run as a container's root (test/integration/escape.test.ts compiles this static for
 * i386 with the toolchain vm-images/build.sh uses, and copies it into a container). Each attempt prints one line,
 * `NAME ok` or `NAME ERRNO` (EPERM, EROFS…); the test decides what each must be, by default and with --privileged.
 * Usage: escape OUTSIDE_PID [wait]   (OUTSIDE_PID: a guest pid that is not in the container; with `wait` it prints
 * `done` and sleeps, so the test can look at it from outside).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *name_of(int e) {
	switch (e) {
	case EPERM: return "EPERM";
	case EACCES: return "EACCES";
	case EROFS: return "EROFS";
	case ENOENT: return "ENOENT";
	case ESRCH: return "ESRCH";
	case ENOSYS: return "ENOSYS";
	case EINVAL: return "EINVAL";
	case ENXIO: return "ENXIO";
	case ENODEV: return "ENODEV";
	case EEXIST: return "EEXIST";
	case EBUSY: return "EBUSY";
	case EIO: return "EIO";
	default: return strerror(e);
	}
}

static void report(const char *name, int result) {
	printf("%s %s\n", name, result < 0 ? name_of(errno) : "ok");
	fflush(stdout);
}

/* Prints the first line of a file that starts with `key` (or the whole first line when key is empty). */
static void show(const char *label, const char *path, const char *key) {
	char line[512];
	FILE *f = fopen(path, "r");
	if (!f) {
		printf("%s %s\n", label, name_of(errno));
		return;
	}
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, key, strlen(key))) continue;
		line[strcspn(line, "\n")] = 0;
		printf("%s %s\n", label, line + strlen(key));
		break;
	}
	fclose(f);
	fflush(stdout);
}

/* Runs an attempt that would change the process (a new user namespace...) in a child, which reports it. */
static void in_child(const char *name, int (*attempt)(void)) {
	pid_t pid = fork();
	if (pid == 0) {
		report(name, attempt());
		_exit(0);
	}
	if (pid < 0) report(name, -1);
	else waitpid(pid, NULL, 0);
}

static int unshare_user(void) { return unshare(CLONE_NEWUSER); }

/* clone(2) itself with a namespace flag: the filter looks at its flags argument. */
static int clone_user(void) {
	long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
	if (pid == 0) _exit(0);
	if (pid > 0) waitpid(pid, NULL, 0);
	return pid < 0 ? -1 : 0;
}

/* What `setarch -R` does: address-space randomization off. */
static int personality_norandom(void) { return personality(ADDR_NO_RANDOMIZE) < 0 ? -1 : 0; }

/* A session keyring of its own (keyctl KEYCTL_JOIN_SESSION_KEYRING): the kernel's keys are not namespaced. */
static int keyring(void) { return syscall(SYS_keyctl, 1, "escape") < 0 ? -1 : 0; }

static int write_file(const char *path, const char *text) {
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) return -1;
	ssize_t n = write(fd, text, strlen(text));
	int e = errno;
	close(fd);
	errno = e;
	return n < 0 ? -1 : 0;
}

static int open_device(const char *path) {
	int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) return -1;
	close(fd);
	return 0;
}

/* drydockd's own channel, port 1 of the virtio console: its numbers as the container can read them, from its sysfs
 * (/sys/class/virtio-ports/vport<N>p1/dev), or else the major /proc/devices gives virtio-portsdev and minor 1. */
static int agent_port(unsigned *major, unsigned *minor) {
	DIR *ports = opendir("/sys/class/virtio-ports");
	struct dirent *e;
	int found = 0;
	while (ports && !found && (e = readdir(ports))) {
		unsigned index;
		int end = 0;
		if (sscanf(e->d_name, "vport%up1%n", &index, &end) != 1 || !end || e->d_name[end]) continue;
		char path[300];
		snprintf(path, sizeof path, "/sys/class/virtio-ports/%s/dev", e->d_name);
		FILE *f = fopen(path, "r");
		if (f) {
			found = fscanf(f, "%u:%u", major, minor) == 2;
			fclose(f);
		}
	}
	if (ports) closedir(ports);
	if (found) return 1;
	char line[128];
	FILE *f = fopen("/proc/devices", "r");
	while (f && !found && fgets(line, sizeof line, f)) {
		char name[64];
		if (sscanf(line, "%u %63s", major, name) == 2 && !strcmp(name, "virtio-portsdev")) found = 1, *minor = 1;
	}
	if (f) fclose(f);
	return found;
}

int main(int argc, char **argv) {
	pid_t outside = argc > 1 ? atoi(argv[1]) : 1;
	show("capeff", "/proc/self/status", "CapEff:\t");
	show("capbnd", "/proc/self/status", "CapBnd:\t");
	show("nonewprivs", "/proc/self/status", "NoNewPrivs:\t");
	show("cgroup", "/proc/self/cgroup", "");

	/* Leave the cgroup: the container's cgroupfs is its own cgroup (a cgroup namespace), mounted read-only. */
	report("cgroup-leave", write_file("/sys/fs/cgroup/cgroup.procs", "0"));
	int made = mkdir("/sys/fs/cgroup/escape", 0755);
	report("cgroup-mkdir", made);
	/* Privileged: a child of its own cgroup. Left behind on purpose: the engine must still remove the container. */
	mkdir("/tmp/cg", 0755);
	int mounted = mount("cgroup2", "/tmp/cg", "cgroup2", 0, NULL);
	report("mount-cgroup2", mounted);
	if (mounted == 0) {
		/* Privileged: a read-write view, but of the container's own cgroup only. */
		report("cgroup2-rw-leave", write_file("/tmp/cg/cgroup.procs", "0"));
		umount2("/tmp/cg", MNT_DETACH);
	}
	mkdir("/tmp/proc", 0755);
	mounted = mount("proc", "/tmp/proc", "proc", 0, NULL);
	report("mount-proc", mounted);
	if (mounted == 0) umount2("/tmp/proc", MNT_DETACH);
	mkdir("/tmp/sys", 0755);
	mounted = mount("sysfs", "/tmp/sys", "sysfs", 0, NULL);
	report("mount-sysfs", mounted);
	if (mounted == 0) umount2("/tmp/sys", MNT_DETACH);
	report("remount-sys-rw", mount(NULL, "/sys", NULL, MS_REMOUNT, NULL));
	report("write-sys", write_file("/sys/class/net/lo/tx_queue_len", "1000"));

	/* Devices: mknod is allowed (CAP_MKNOD, `c *:* m`), opening is not. */
	report("mknod-hvc0", mknod("/tmp/hvc0", S_IFCHR | 0600, makedev(229, 0)));
	report("open-hvc0", open_device("/tmp/hvc0"));
	report("mknod-ttyS0", mknod("/tmp/ttyS0", S_IFCHR | 0600, makedev(4, 64)));
	report("open-ttyS0", open_device("/tmp/ttyS0"));
	report("mknod-console", mknod("/tmp/console", S_IFCHR | 0600, makedev(5, 1)));
	report("open-console", open_device("/tmp/console"));
	report("mknod-disk", mknod("/tmp/sda", S_IFBLK | 0600, makedev(8, 0)));
	report("open-disk", open_device("/tmp/sda"));
	report("open-dev-null", open_device("/dev/null"));
	/* The agent's channel: what the container can learn of its numbers, then a node of them. */
	unsigned port_major = 0, port_minor = 0;
	if (agent_port(&port_major, &port_minor)) {
		printf("vport-dev %u:%u\n", port_major, port_minor);
		report("mknod-vport", mknod("/tmp/vport", S_IFCHR | 0600, makedev(port_major, port_minor)));
		report("open-vport", open_device("/tmp/vport"));
	} else {
		printf("vport-dev unknown\n");
	}

	/* /proc: read-only and masked paths. */
	int sysrq = open("/proc/sysrq-trigger", O_WRONLY | O_CLOEXEC);
	if (sysrq >= 0) {
		/* Privileged: the write reaches the kernel; `h` only prints the help to the guest's console. */
		report("sysrq", write(sysrq, "h", 1) == 1 ? 0 : -1);
		close(sysrq);
	} else {
		report("sysrq", -1);
	}
	report("write-proc-sys", write_file("/proc/sys/kernel/hostname", "escaped"));
	/* A masked file is /dev/null (the guest kernel has no /proc/kcore; /proc/keys is the masked file it has). */
	int keys = open("/proc/keys", O_RDONLY | O_CLOEXEC);
	struct stat st;
	printf("keys %s\n", keys < 0 ? name_of(errno) : fstat(keys, &st) == 0 && S_ISCHR(st.st_mode) ? "masked" : "readable");
	if (keys >= 0) close(keys);

	/* What Docker's seccomp profile blocks even for a root whose capabilities would allow it. */
	in_child("unshare-user", unshare_user);
	in_child("clone-newuser", clone_user);
	in_child("personality", personality_norandom);
	in_child("keyctl", keyring);

	report("module", syscall(SYS_init_module, NULL, 0, ""));
	report("ptrace-outside", ptrace(PTRACE_ATTACH, outside, NULL, NULL));
	report("signal-outside", kill(outside, 0));
	report("hostname", sethostname("escaped", 7));
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	report("clock", clock_settime(CLOCK_REALTIME, &now));
	report("reboot", syscall(SYS_reboot, 0xfee1dead, 672274793, 0 /* LINUX_REBOOT_CMD_CAD_OFF */, NULL));

	/* Attacks on the device program itself. */
	int cgroup = open("/sys/fs/cgroup", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	union bpf_attr attr;
	memset(&attr, 0, sizeof attr);
	attr.target_fd = cgroup;
	attr.attach_type = BPF_CGROUP_DEVICE;
	/* Detaching from a cgroup with several programs allowed needs the program's fd (EINVAL without one)... */
	report("bpf-detach", syscall(SYS_bpf, BPF_PROG_DETACH, &attr, sizeof attr));
	if (cgroup >= 0) close(cgroup);
	/* ...and getting one by its id needs CAP_SYS_ADMIN. */
	int got = -1;
	for (unsigned id = 1; id <= 64 && got < 0; id++) {
		memset(&attr, 0, sizeof attr);
		attr.prog_id = id;
		got = syscall(SYS_bpf, BPF_PROG_GET_FD_BY_ID, &attr, sizeof attr);
		if (got < 0 && errno != ENOENT) break;
	}
	report("bpf-get-program", got);
	if (got >= 0) close(got);

	/* The agent's socket lives in the guest's root, which the container cannot name. */
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	strcpy(addr.sun_path, "/run/drydock/cli.sock");
	int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	report("agent-socket", connect(sock, (struct sockaddr *)&addr, sizeof addr));
	close(sock);

	/* The classic chroot escape: keep a directory fd, chroot deeper, climb from the fd. pivot_root left nothing
	 * above the container's root, so the climb ends there. */
	int up = open("/", O_RDONLY | O_DIRECTORY);
	mkdir("/tmp/jail", 0755);
	report("chroot", chroot("/tmp/jail"));
	if (up >= 0 && fchdir(up) == 0) {
		for (int i = 0; i < 64; i++)
			if (chdir("..") < 0) break;
		chroot(".");
	}
	printf("chroot-escape %s\n", access("/sbin/drydockd", F_OK) == 0 ? "OUTSIDE" : "inside");
	printf("done\n");
	fflush(stdout);
	if (argc > 2 && !strcmp(argv[2], "wait")) pause();
	return 0;
}
