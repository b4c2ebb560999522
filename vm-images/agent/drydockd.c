/*
 * drydockd: the Drydock guest agent. It speaks the protocol of PROTOCOL.md over /dev/vport<N>p1 (virtio-console
 * port 1, a plain port: no tty between drydockd and the engine) and performs what the
 * engine asks: spawn processes (in namespaces, a cgroup, a new root, on a pty or pipes), relay their stdio with
 * credit-based flow control, deliver signals and window sizes, report exits, run filesystem requests, and forward
 * unix-socket connections. It decides nothing: the engine composes these primitives.
 *
 * One thread, one poll loop. Built static against musl by vm-images/build.sh.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <linux/random.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pty.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "applets.h"
#include "protocol.h"

#define MAX_PARK_KEY 256
#define MAX_STREAMS 256
#define MAX_LISTENERS 8
#define MAX_ARGS 256
#define MAX_MOUNTS 64
#define MAX_DEVICES 64
#define MAX_PATHS 32

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

/* The highest capability the kernel knows (/proc/sys/kernel/cap_last_cap), read at start. */
static int cap_last = 40;
/* drydockd's own pid namespace, to come back to after a spawn that entered a container's (ENTER). */
static int own_pid_ns = -1;

extern char **environ;

/* ---- the link ------------------------------------------------------------------------------------------------ */

static int link_fd = -1;
static uint8_t rbuf[HEADER_SIZE + MAX_PAYLOAD * 2];
static size_t rlen;
static uint32_t skip_bytes; /* payload bytes of an oversized frame still to discard */


static void write_all(int fd, const uint8_t *p, size_t n) {
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR || errno == EAGAIN) continue;
			dprintf(2, "drydockd: writing failed: %s\n", strerror(errno));
			_exit(1);
		}
		p += w;
		n -= w;
	}
}

void send_frame(uint16_t type, uint32_t stream, const void *payload, size_t len) {
	static uint8_t out[HEADER_SIZE + MAX_PAYLOAD];
	put32(out, len);
	put16(out + 4, type);
	put16(out + 6, 0);
	put32(out + 8, stream);
	if (len) memcpy(out + HEADER_SIZE, payload, len);
	write_all(link_fd, out, HEADER_SIZE + len);
}

/* ---- fields -------------------------------------------------------------------------------------------------- */

struct fields {
	uint8_t data[MAX_PAYLOAD];
	size_t len;
};

static int add_field(struct fields *f, uint8_t tag, const void *value, size_t size) {
	if (size > 0xffff || f->len + 3 + size > sizeof f->data) return -1;
	f->data[f->len] = tag;
	put16(f->data + f->len + 1, size);
	memcpy(f->data + f->len + 3, value, size);
	f->len += 3 + size;
	return 0;
}
static void add_u32(struct fields *f, uint8_t tag, uint32_t v) { uint8_t b[4]; put32(b, v); add_field(f, tag, b, 4); }
static void add_u64(struct fields *f, uint8_t tag, uint64_t v) { uint8_t b[8]; put64(b, v); add_field(f, tag, b, 8); }
static void add_str(struct fields *f, uint8_t tag, const char *s) { add_field(f, tag, s, strlen(s)); }

/* Iterates over fields: returns 1 and fills tag/value/size while there are more. */
int next_field(const uint8_t *p, size_t len, size_t *pos, uint8_t *tag, const uint8_t **value, uint16_t *size) {
	if (*pos + 3 > len) return 0;
	*tag = p[*pos];
	*size = get16(p + *pos + 1);
	if (*pos + 3 + *size > len) return 0;
	*value = p + *pos + 3;
	*pos += 3 + *size;
	return 1;
}

/* Copies a field into a NUL-terminated string in a request-scoped arena. */
static char arena[MAX_PAYLOAD * 2];
static size_t arena_used;
void arena_reset(void) { arena_used = 0; }
char *arena_str(const uint8_t *value, uint16_t size) {
	if (arena_used + size + 1 > sizeof arena) return NULL;
	char *s = arena + arena_used;
	memcpy(s, value, size);
	s[size] = 0;
	arena_used += size + 1;
	return s;
}

void send_error(uint32_t stream, int err, const char *fmt, ...) {
	struct fields f = {.len = 0};
	char message[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message, sizeof message, fmt, ap);
	va_end(ap);
	add_u32(&f, F_ERRNO, err);
	add_str(&f, F_MESSAGE, message);
	send_frame(MSG_ERROR, stream, f.data, f.len);
}

void send_ok(uint32_t stream) { send_frame(MSG_OK, stream, NULL, 0); }

/* ---- streams: processes and forwarded connections ------------------------------------------------------------ */

enum stream_kind { S_FREE, S_PROC, S_CONN };

struct stream {
	enum stream_kind kind;
	uint32_t id;
	pid_t pid;
	int in_fd, out_fd, err_fd; /* -1 when closed */
	int pty;
	uint32_t out_credit, err_credit;
	uint8_t *in_buf;
	size_t in_len;
	int in_close_pending;
	int exited, status;
	int connecting; /* a TCP_CONNECT whose connect(2) has not finished */
	char *park_key;      /* parked (PARK): nothing is read from it and no message names it until ADOPT */
	uint32_t park_reply; /* the SPAWN's stream, told OK when the parked process first has output; 0 once told */
};

static struct stream streams[MAX_STREAMS];
static struct {
	int fd;
	char path[108];
} listeners[MAX_LISTENERS];
static int listener_count;
static uint32_t next_conn_id = 1;

static struct stream *find_stream(uint32_t id) {
	for (int i = 0; i < MAX_STREAMS; i++)
		if (streams[i].kind != S_FREE && !streams[i].park_key && streams[i].id == id) return &streams[i];
	return NULL;
}

static struct stream *new_stream(enum stream_kind kind, uint32_t id) {
	for (int i = 0; i < MAX_STREAMS; i++) {
		if (streams[i].kind == S_FREE) {
			struct stream *s = &streams[i];
			memset(s, 0, sizeof *s);
			s->kind = kind;
			s->id = id;
			s->in_fd = s->out_fd = s->err_fd = -1;
			s->out_credit = s->err_credit = STREAM_WINDOW;
			s->in_buf = malloc(STREAM_WINDOW);
			if (!s->in_buf) return NULL;
			return s;
		}
	}
	return NULL;
}

static void close_fd(int *fd) {
	if (*fd >= 0) close(*fd);
	*fd = -1;
}

static void free_stream(struct stream *s) {
	if (s->in_fd != s->out_fd) close_fd(&s->in_fd);
	s->in_fd = -1;
	close_fd(&s->out_fd);
	close_fd(&s->err_fd);
	free(s->in_buf);
	free(s->park_key);
	s->park_key = NULL;
	s->kind = S_FREE;
}

/* A process is finished once it has exited and both its output streams have ended. */
static void maybe_finish(struct stream *s) {
	if (s->kind != S_PROC || s->park_key || !s->exited || s->out_fd >= 0 || s->err_fd >= 0) return;
	uint8_t b[5];
	if (WIFSIGNALED(s->status)) {
		b[0] = 1;
		put32(b + 1, WTERMSIG(s->status));
	} else {
		b[0] = 0;
		put32(b + 1, WEXITSTATUS(s->status));
	}
	send_frame(MSG_EXIT, s->id, b, 5);
	free_stream(s);
}

/* Reads what the credit allows from one output fd; returns 0 at end of stream. */
static int pump_output(struct stream *s, int *fd, uint32_t *credit, uint16_t type) {
	static uint8_t buf[MAX_PAYLOAD];
	size_t want = *credit < sizeof buf ? *credit : sizeof buf;
	ssize_t n = read(*fd, buf, want);
	if (n > 0) {
		*credit -= n;
		send_frame(type, s->id, buf, n);
		return 1;
	}
	/* A pty whose process has exited ends when it has nothing more to read, even if a background process still
	 * holds the terminal open. */
	if (n < 0 && (errno == EAGAIN || errno == EINTR) && !(s->pty && s->exited)) return 1;
	/* 0, or EIO from a pty master whose slave side is closed: the stream ended. */
	if (s->pty && fd == &s->out_fd) s->in_fd = -1; /* shared with out_fd */
	close_fd(fd);
	send_frame(type, s->id, NULL, 0);
	return 0;
}

/* A forwarded connection is over when both directions have ended. */
static void maybe_close_conn(struct stream *s) {
	if (s->kind != S_CONN || s->out_fd >= 0 || s->in_fd >= 0) return;
	send_frame(MSG_CLOSE, s->id, NULL, 0);
	free_stream(s);
}

/* Reads what an exited pty process left behind, as far as the credit allows, up to the end of the stream. */
static void drain_exited_pty(struct stream *s) {
	if (s->pty && s->exited)
		while (s->out_fd >= 0 && s->out_credit > 0 && pump_output(s, &s->out_fd, &s->out_credit, MSG_STDOUT)) {
		}
}

/* A terminal's answer to "where is the cursor?" (ESC [ row ; col R), arriving at a pty nobody reads raw: the
 * program that asked (busybox's line editor asks after each prompt) has already gone back to line mode, often
 * because a command was typed before the answer came. The kernel would echo it as `^[[20;12R` and hand it to the
 * next command as input, so it is dropped instead. */
static int stray_cursor_report(const struct stream *s, const uint8_t *p, size_t len) {
	if (!s->pty || s->in_fd < 0 || len < 6 || p[0] != 0x1b || p[1] != '[' || p[len - 1] != 'R') return 0;
	int semicolons = 0;
	for (size_t i = 2; i < len - 1; i++) {
		if (p[i] == ';') semicolons++;
		else if (p[i] < '0' || p[i] > '9') return 0;
	}
	struct termios t;
	return semicolons == 1 && tcgetattr(s->in_fd, &t) == 0 && (t.c_lflag & ICANON);
}

static void pump_input(struct stream *s) {
	if (s->in_fd >= 0 && s->in_len > 0) {
		ssize_t n = write(s->in_fd, s->in_buf, s->in_len);
		if (n > 0) {
			memmove(s->in_buf, s->in_buf + n, s->in_len - n);
			s->in_len -= n;
			uint8_t b[5] = {CH_INPUT};
			put32(b + 1, n);
			send_frame(MSG_CREDIT, s->id, b, 5);
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			s->in_len = 0; /* the reader is gone (EPIPE): drop what it will never read */
			/* A connection's client that left will read nothing more: that direction is over (maybe_close_conn then
			 * tells the engine), or the engine's writes would wait forever for credit. */
			if (s->kind == S_CONN) close_fd(&s->in_fd);
		}
	}
	if (s->in_len == 0 && s->in_close_pending) {
		s->in_close_pending = 0;
		if (s->kind == S_CONN) shutdown(s->in_fd, SHUT_WR);
		if (!s->pty) close_fd(&s->in_fd);
	}
}

/* ---- spawn --------------------------------------------------------------------------------------------------- */

struct spawn_req {
	char *argv[MAX_ARGS + 1];
	char *envp[MAX_ARGS + 1];
	int argc, envc;
	char *cwd, *cgroup, *root, *hostname, *netns;
	uid_t uid;
	gid_t gid;
	int has_uid, has_gid, pty, loopback;
	struct winsize ws;
	uint32_t clone_flags;
	struct {
		uint32_t flags;
		char *source, *target, *fstype, *data;
	} mounts[MAX_MOUNTS];
	int mount_count;
	/* Confinement (CAPS, NO_NEW_PRIVS, GROUPS, DEVICE, MASK, READONLY, SYMLINK) and ENTER. */
	int has_caps, no_new_privs, group_count, device_count, mask_count, readonly_count, symlink_count;
	uint64_t caps[5]; /* bounding, effective, permitted, inheritable, ambient */
	int has_seccomp;
	uint64_t seccomp_caps; /* SECCOMP: the capabilities Docker's default profile is computed for */
	gid_t groups[64];
	struct {
		char type;
		uint32_t major, minor, mode, uid, gid;
		char *path;
	} devices[MAX_DEVICES];
	char *masks[MAX_PATHS], *readonly[MAX_PATHS];
	struct {
		char *target, *path;
	} symlinks[16];
	pid_t enter;
};

/* In the child: report the failed step to the agent through the error pipe and exit. */
static void child_fail(int errfd, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
static void child_fail(int errfd, const char *fmt, ...) {
	char buf[400];
	int err = errno;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf + 4, sizeof buf - 4, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof buf - 5) n = sizeof buf - 5;
	put32((uint8_t *)buf, err);
	if (write(errfd, buf, 4 + n) < 0) _exit(126);
	_exit(127);
}

static void join_cgroup(const char *cgroup, int errfd) {
	char path[300];
	snprintf(path, sizeof path, "%s/cgroup.procs", cgroup);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "0", 1) != 1) child_fail(errfd, "join cgroup %s", cgroup);
	close(fd);
}

/* SECCOMP: Docker's default profile (seccomp.c). */
static void install_seccomp(struct spawn_req *r, int errfd) {
	if (r->has_seccomp && seccomp_install(r->seccomp_caps) < 0) child_fail(errfd, "install the seccomp filter");
}

/* The last steps before exec, in runc's order: shrink the bounding set, change groups and user keeping the
 * capabilities across setuid, set the effective, permitted and inheritable sets, raise the ambient ones, then
 * no_new_privs. Without CAPS the process keeps what it has (root's full set): the engine's own helpers. The seccomp
 * filter comes last, just before exec, when no_new_privs is set; without it installing a filter needs
 * CAP_SYS_ADMIN, so it comes first, before the capabilities are dropped (the profile allows every later step). */
static void drop_privileges(struct spawn_req *r, int errfd) {
	if (!r->no_new_privs) install_seccomp(r, errfd);
	if (r->has_caps) {
		for (int cap = 0; cap <= cap_last; cap++)
			if (!(r->caps[0] >> cap & 1) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
				child_fail(errfd, "drop capability %d from the bounding set", cap);
		if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) child_fail(errfd, "keep capabilities across setuid");
	}
	if (r->has_gid && (setgroups(r->group_count, r->groups) < 0 || setgid(r->gid) < 0))
		child_fail(errfd, "setgid %u", r->gid);
	if (r->has_uid && setuid(r->uid) < 0) child_fail(errfd, "setuid %u", r->uid);
	if (r->has_caps) {
		prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
		struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
		struct __user_cap_data_struct data[2];
		for (int i = 0; i < 2; i++) {
			data[i].effective = r->caps[1] >> (32 * i);
			data[i].permitted = r->caps[2] >> (32 * i);
			data[i].inheritable = r->caps[3] >> (32 * i);
		}
		if (syscall(SYS_capset, &header, data) < 0) child_fail(errfd, "set the capabilities");
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
			child_fail(errfd, "clear the ambient capabilities");
		for (int cap = 0; cap <= cap_last; cap++)
			if ((r->caps[4] >> cap & 1) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
				child_fail(errfd, "raise ambient capability %d", cap);
	}
	if (r->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) child_fail(errfd, "set no_new_privs");
	if (r->no_new_privs) install_seccomp(r, errfd);
}

/* exec in a running container (ENTER): drydockd already cloned this process into the container's pid namespace;
 * here it joins the container's cgroup and its other namespaces, and takes its root (as `nsenter -t PID -a -r`). */
static void enter_container(struct spawn_req *r, int errfd) {
	static const struct {
		const char *name;
		int type;
	} kinds[] = {{"cgroup", CLONE_NEWCGROUP}, {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS}, {"net", CLONE_NEWNET},
		     {"mnt", CLONE_NEWNS}};
	int fds[5], root;
	char path[64];
	for (int i = 0; i < 5; i++) {
		snprintf(path, sizeof path, "/proc/%d/ns/%s", r->enter, kinds[i].name);
		if ((fds[i] = open(path, O_RDONLY | O_CLOEXEC)) < 0) child_fail(errfd, "open %s", path);
	}
	snprintf(path, sizeof path, "/proc/%d/root", r->enter);
	if ((root = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) child_fail(errfd, "open %s", path);
	if (r->cgroup) join_cgroup(r->cgroup, errfd);
	for (int i = 0; i < 5; i++) {
		if (setns(fds[i], kinds[i].type) < 0) child_fail(errfd, "enter the %s namespace of %d", kinds[i].name, r->enter);
		close(fds[i]);
	}
	if (fchdir(root) < 0 || chroot(".") < 0) child_fail(errfd, "enter the root of %d", r->enter);
	close(root);
	if (chdir(r->cwd ? r->cwd : "/") < 0) child_fail(errfd, "chdir %s", r->cwd ? r->cwd : "/");
}

/* A path of the container, as a path in the guest: looked up inside the root with the root's symlinks followed
 * there (securejoin.c), so an image's links cannot send a mount, a mask, a device node or a directory made for one
 * outside the container. Without a root, the path as given. */
static void in_root(struct spawn_req *r, const char *path, char *out, size_t size, int errfd) {
	if (!r->root) {
		snprintf(out, size, "%s", path);
		return;
	}
	if (secure_join(r->root, path, out, size) < 0)
		child_fail(errfd, "look up %s inside the container's root", path);
}

/* The same for a name about to be made (a device node, a symlink): its directory is looked up inside the root, the
 * name itself is not followed. */
static void name_in_root(struct spawn_req *r, const char *path, char *out, size_t size, int errfd) {
	const char *slash = strrchr(path, '/');
	if (!r->root || !slash) return in_root(r, path, out, size, errfd);
	char dir[512];
	snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
	in_root(r, dir[0] ? dir : "/", out, size, errfd);
	size_t len = strlen(out);
	if (len > 0 && out[len - 1] == '/') len--;
	if (len + strlen(slash) + 1 > size) child_fail(errfd, "the path %s is too long", path);
	strcpy(out + len, slash);
}

static void child_setup(struct spawn_req *r, int errfd, int slave, int in[2], int out[2], int err[2]) {
	sigset_t all;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
	setsid();
	if (r->pty) {
		if (ioctl(slave, TIOCSCTTY, 0) < 0) child_fail(errfd, "make the pty the controlling terminal");
		dup2(slave, 0);
		dup2(slave, 1);
		dup2(slave, 2);
	} else {
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
	}
	if (r->enter) {
		enter_container(r, errfd);
		drop_privileges(r, errfd);
		environ = r->envp;
		execvp(r->argv[0], r->argv);
		child_fail(errfd, "exec %s", r->argv[0]);
	}
	if (r->cgroup) join_cgroup(r->cgroup, errfd);
	/* A cgroup namespace is made after joining the cgroup, so the container sees its own cgroup as its root. */
	if ((r->clone_flags & CLONE_NEWCGROUP) && unshare(CLONE_NEWCGROUP) < 0) child_fail(errfd, "unshare the cgroup namespace");
	if ((r->clone_flags & CLONE_NEWNS) && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		child_fail(errfd, "make mounts private");
	if (r->netns) {
		/* `ip netns exec`: the sandbox's namespace, opened by its path in the guest (before pivot_root). */
		int ns = open(r->netns, O_RDONLY | O_CLOEXEC);
		if (ns < 0 || setns(ns, CLONE_NEWNET) < 0) child_fail(errfd, "join the network namespace %s", r->netns);
		close(ns);
	}
	if (r->hostname && sethostname(r->hostname, strlen(r->hostname)) < 0)
		child_fail(errfd, "set hostname %s", r->hostname);
	if (r->loopback) {
		/* `ip link set lo up`, before the process runs, so it never sees its loopback down. */
		struct ifreq ifr = {0};
		strcpy(ifr.ifr_name, "lo");
		int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (sock < 0 || ioctl(sock, SIOCGIFFLAGS, &ifr) < 0) child_fail(errfd, "read the flags of lo");
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0) child_fail(errfd, "bring lo up");
		close(sock);
	}
	char target[512];
	for (int i = 0; i < r->mount_count; i++) {
		in_root(r, r->mounts[i].target, target, sizeof target, errfd);
		/* A bind of a file needs a file to cover (runc makes one too); everything else a directory. Missing parents
		 * are made, as Docker makes them. */
		struct stat st;
		if ((r->mounts[i].flags & MS_BIND) && r->mounts[i].source && stat(r->mounts[i].source, &st) == 0 &&
		    !S_ISDIR(st.st_mode)) {
			char *slash = strrchr(target, '/');
			if (slash && slash != target) {
				*slash = 0;
				mkdir_parents(target, 0755);
				*slash = '/';
			}
			/* O_EXCL: an existing file is left as it is (opening it for writing would copy it up on overlayfs). */
			int fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
			if (fd >= 0) close(fd);
		} else {
			mkdir_parents(target, 0755);
		}
		if (mount(r->mounts[i].source, target, r->mounts[i].fstype, r->mounts[i].flags, r->mounts[i].data) < 0)
			child_fail(errfd, "mount %s on %s", r->mounts[i].source, target);
	}
	/* The container's device nodes, made in its fresh /dev (the device program decides who may open them). */
	for (int i = 0; i < r->device_count; i++) {
		name_in_root(r, r->devices[i].path, target, sizeof target, errfd);
		mode_t type = r->devices[i].type == 'b' ? S_IFBLK : r->devices[i].type == 'p' ? S_IFIFO : S_IFCHR;
		unlink(target);
		if (mknod(target, type | (r->devices[i].mode & 07777), makedev(r->devices[i].major, r->devices[i].minor)) < 0)
			child_fail(errfd, "mknod %s", target);
		if (chmod(target, r->devices[i].mode & 07777) < 0 || chown(target, r->devices[i].uid, r->devices[i].gid) < 0)
			child_fail(errfd, "set the owner and mode of %s", target);
	}
	for (int i = 0; i < r->symlink_count; i++) {
		name_in_root(r, r->symlinks[i].path, target, sizeof target, errfd);
		if (symlink(r->symlinks[i].target, target) < 0 && errno != EEXIST) child_fail(errfd, "symlink %s", target);
	}
	/* Masked paths: a directory is covered by an empty read-only tmpfs, a file by /dev/null; missing ones are
	 * skipped (runc does the same). */
	for (int i = 0; i < r->mask_count; i++) {
		in_root(r, r->masks[i], target, sizeof target, errfd);
		struct stat st;
		if (stat(target, &st) < 0) {
			if (errno == ENOENT) continue;
			child_fail(errfd, "mask %s", target);
		}
		if (S_ISDIR(st.st_mode) ? mount("tmpfs", target, "tmpfs", MS_RDONLY, NULL) < 0
					: mount("/dev/null", target, NULL, MS_BIND, NULL) < 0)
			child_fail(errfd, "mask %s", target);
	}
	/* Read-only paths: bound onto themselves, then remounted read-only with their other flags kept. "/" is the root
	 * itself, already a mount of its own. */
	for (int i = 0; i < r->readonly_count; i++) {
		int whole = !strcmp(r->readonly[i], "/");
		in_root(r, whole ? "/" : r->readonly[i], target, sizeof target, errfd);
		struct statvfs sv;
		if (statvfs(target, &sv) < 0) {
			if (errno == ENOENT) continue;
			child_fail(errfd, "make %s read-only", target);
		}
		unsigned long keep = (sv.f_flag & ST_NOSUID ? MS_NOSUID : 0) | (sv.f_flag & ST_NODEV ? MS_NODEV : 0) |
				     (sv.f_flag & ST_NOEXEC ? MS_NOEXEC : 0);
		if (!whole && mount(target, target, NULL, MS_BIND | MS_REC, NULL) < 0)
			child_fail(errfd, "bind %s", target);
		if (mount(target, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | keep, NULL) < 0)
			child_fail(errfd, "make %s read-only", target);
	}
	if (r->root) {
		if (chdir(r->root) < 0) child_fail(errfd, "chdir %s", r->root);
		if (syscall(SYS_pivot_root, ".", ".") < 0) child_fail(errfd, "pivot_root %s", r->root);
		if (umount2(".", MNT_DETACH) < 0) child_fail(errfd, "detach the old root");
		if (chdir("/") < 0) child_fail(errfd, "chdir /");
	}
	if (r->cwd && chdir(r->cwd) < 0) child_fail(errfd, "chdir %s", r->cwd);
	drop_privileges(r, errfd);
	environ = r->envp;
	execvp(r->argv[0], r->argv);
	child_fail(errfd, "exec %s", r->argv[0]);
}

static void set_nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

static void do_spawn(uint32_t id, const uint8_t *p, size_t len) {
	static struct spawn_req r;
	memset(&r, 0, sizeof r);
	arena_used = 0;
	size_t pos = 0;
	uint8_t tag;
	const uint8_t *v;
	uint16_t size;
	if (find_stream(id)) return send_error(id, EEXIST, "stream %u is already in use", id);
	while (next_field(p, len, &pos, &tag, &v, &size)) {
		switch (tag) {
		case F_ARG: if (r.argc < MAX_ARGS) r.argv[r.argc++] = arena_str(v, size); break;
		case F_ENV: if (r.envc < MAX_ARGS) r.envp[r.envc++] = arena_str(v, size); break;
		case F_CWD: r.cwd = arena_str(v, size); break;
		case F_CGROUP: r.cgroup = arena_str(v, size); break;
		case F_ROOT: r.root = arena_str(v, size); break;
		case F_HOSTNAME: r.hostname = arena_str(v, size); break;
		case F_NETNS: r.netns = arena_str(v, size); break;
		case F_UID: if (size == 4) { r.uid = get32(v); r.has_uid = 1; } break;
		case F_GID: if (size == 4) { r.gid = get32(v); r.has_gid = 1; } break;
		case F_CLONE: if (size == 4) r.clone_flags = get32(v); break;
		case F_LOOPBACK: r.loopback = size == 1 && v[0]; break;
		case F_PTY:
			if (size == 4) {
				r.pty = 1;
				r.ws.ws_row = get16(v);
				r.ws.ws_col = get16(v + 2);
			}
			break;
		case F_CAPS:
			if (size == 40) {
				r.has_caps = 1;
				for (int i = 0; i < 5; i++) r.caps[i] = get64(v + 8 * i);
			}
			break;
		case F_NO_NEW_PRIVS: r.no_new_privs = size == 1 && v[0]; break;
		case F_SECCOMP:
			if (size == 8) {
				r.has_seccomp = 1;
				r.seccomp_caps = get64(v);
			}
			break;
		case F_GROUPS:
			for (int i = 0; i + 4 <= size && r.group_count < 64; i += 4) r.groups[r.group_count++] = get32(v + i);
			break;
		case F_DEVICE:
			if (size > 21 && r.device_count < MAX_DEVICES) {
				r.devices[r.device_count].type = v[0];
				r.devices[r.device_count].major = get32(v + 1);
				r.devices[r.device_count].minor = get32(v + 5);
				r.devices[r.device_count].mode = get32(v + 9);
				r.devices[r.device_count].uid = get32(v + 13);
				r.devices[r.device_count].gid = get32(v + 17);
				if ((r.devices[r.device_count].path = arena_str(v + 21, size - 21))) r.device_count++;
			}
			break;
		case F_MASK: if (r.mask_count < MAX_PATHS && (r.masks[r.mask_count] = arena_str(v, size))) r.mask_count++; break;
		case F_READONLY:
			if (r.readonly_count < MAX_PATHS && (r.readonly[r.readonly_count] = arena_str(v, size))) r.readonly_count++;
			break;
		case F_SYMLINK: {
			char *s = arena_str(v, size);
			char *nul = s ? memchr(s, 0, size) : NULL;
			if (nul && r.symlink_count < 16) {
				r.symlinks[r.symlink_count].target = s;
				r.symlinks[r.symlink_count++].path = nul + 1;
			}
			break;
		}
		case F_ENTER: if (size == 4) r.enter = get32(v); break;
		case F_MOUNT: {
			if (size < 4 || r.mount_count >= MAX_MOUNTS) break;
			char *s = arena_str(v + 4, size - 4);
			if (!s) break;
			char *parts[4] = {NULL, NULL, NULL, NULL};
			char *end = s + size - 4;
			for (int i = 0; i < 4 && s <= end; i++) {
				parts[i] = s;
				s += strlen(s) + 1;
			}
			if (!parts[1]) break;
			r.mounts[r.mount_count].flags = get32(v);
			r.mounts[r.mount_count].source = parts[0];
			r.mounts[r.mount_count].target = parts[1];
			r.mounts[r.mount_count].fstype = parts[2] && *parts[2] ? parts[2] : NULL;
			r.mounts[r.mount_count].data = parts[3] && *parts[3] ? parts[3] : NULL;
			r.mount_count++;
			break;
		}
		}
	}
	if (r.argc == 0 || !r.argv[0]) return send_error(id, EINVAL, "spawn needs at least one ARG");
	struct stream *s = new_stream(S_PROC, id);
	if (!s) return send_error(id, EAGAIN, "too many streams (%d)", MAX_STREAMS);

	int errpipe[2] = {-1, -1}, in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, master = -1, slave = -1;
	if (pipe2(errpipe, O_CLOEXEC) < 0) goto fail_setup;
	if (r.pty) {
		if (openpty(&master, &slave, NULL, NULL, &r.ws) < 0) goto fail_setup;
		fcntl(master, F_SETFD, FD_CLOEXEC);
		fcntl(slave, F_SETFD, FD_CLOEXEC);
	} else if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
		goto fail_setup;
	}
	/* ENTER: the child is born in the container's pid namespace (setns of a pid namespace applies to children),
	 * then drydockd returns to its own. A new cgroup namespace is made by the child, after it joined its cgroup. */
	if (r.enter) {
		char path[64];
		snprintf(path, sizeof path, "/proc/%d/ns/pid", (int)r.enter);
		int ns = open(path, O_RDONLY | O_CLOEXEC);
		if (ns < 0 || setns(ns, CLONE_NEWPID) < 0) {
			int e = errno;
			if (ns >= 0) close(ns);
			errno = e;
			goto fail_setup;
		}
		close(ns);
	}
	uint32_t clone_flags = r.enter ? 0 : r.clone_flags & ~0xffu & ~(uint32_t)CLONE_NEWCGROUP;
	/* NETNS: the child joins a namespace held at a path (a network sandbox) instead of making a new one. */
	if (r.netns) clone_flags &= ~(uint32_t)CLONE_NEWNET;
	pid_t pid = syscall(SYS_clone, SIGCHLD | clone_flags, 0, 0, 0, 0);
	if (pid == 0) child_setup(&r, errpipe[1], slave, in, out, err);
	if (r.enter && setns(own_pid_ns, CLONE_NEWPID) < 0) {
		dprintf(2, "drydockd: cannot return to its own pid namespace: %s\n", strerror(errno));
		_exit(1);
	}
	if (pid < 0) goto fail_setup;

	close(errpipe[1]);
	if (r.pty) {
		close(slave);
		s->pty = 1;
		s->out_fd = s->in_fd = master;
		set_nonblock(master);
	} else {
		close(in[0]);
		close(out[1]);
		close(err[1]);
		s->in_fd = in[1];
		s->out_fd = out[0];
		s->err_fd = err[0];
		set_nonblock(in[1]);
		set_nonblock(out[0]);
		set_nonblock(err[0]);
	}
	/* The error pipe closes on a successful exec, or carries errno and the failed step. */
	uint8_t report[400];
	ssize_t n;
	do n = read(errpipe[0], report, sizeof report - 1);
	while (n < 0 && errno == EINTR);
	close(errpipe[0]);
	if (n >= 4) {
		report[n] = 0;
		waitpid(pid, NULL, 0);
		free_stream(s);
		int e = get32(report);
		return send_error(id, e, "%s: %s", (char *)report + 4, strerror(e));
	}
	s->pid = pid;
	uint8_t b[4];
	put32(b, pid);
	struct fields f = {.len = 0};
	add_field(&f, F_PID, b, 4);
	send_frame(MSG_SPAWNED, id, f.data, f.len);
	return;

fail_setup : {
	int e = errno;
	int *fds[] = {&in[0], &in[1], &out[0], &out[1], &err[0], &err[1], &errpipe[0], &errpipe[1], &master};
	for (size_t i = 0; i < sizeof fds / sizeof *fds; i++) close_fd(fds[i]);
	close_fd(&slave);
	free_stream(s);
	send_error(id, e, "prepare the process: %s", strerror(e));
}
}

static void reap_children(void) {
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (int i = 0; i < MAX_STREAMS; i++) {
			struct stream *s = &streams[i];
			if (s->kind != S_PROC || s->pid != pid) continue;
			s->exited = 1;
			s->status = status;
			drain_exited_pty(s);
			maybe_finish(s);
		}
	}
}

/* ---- filesystem ---------------------------------------------------------------------------------------------- */

int mkdir_parents(char *path, mode_t mode) {
	for (char *p = path + 1; *p; p++) {
		if (*p != '/') continue;
		*p = 0;
		int r = mkdir(path, mode);
		*p = '/';
		if (r < 0 && errno != EEXIST) return -1;
	}
	return mkdir(path, mode) < 0 && errno != EEXIST ? -1 : 0;
}

static int remove_tree(const char *path) {
	struct stat st;
	if (lstat(path, &st) < 0) return -1;
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(path);
		if (!d) return -1;
		struct dirent *e;
		char child[4096];
		while ((e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
			snprintf(child, sizeof child, "%s/%s", path, e->d_name);
			if (remove_tree(child) < 0) {
				closedir(d);
				return -1;
			}
		}
		closedir(d);
		return rmdir(path);
	}
	return unlink(path);
}

/* One entry's extended attributes as XATTR fields (`name\0value`), appended to f. Returns 0, or -1 with errno set
 * (E2BIG when they do not fit in what is left of f). */
static int xattr_fields(const char *path, struct fields *f) {
	static char names[65536]; /* XATTR_LIST_MAX */
	static uint8_t field[0xffff];
	ssize_t n = llistxattr(path, names, sizeof names);
	if (n < 0) return errno == ENOTSUP ? 0 : -1;
	for (ssize_t at = 0; at < n; at += strlen(names + at) + 1) {
		const char *name = names + at;
		size_t name_len = strlen(name);
		if (name_len + 1 >= sizeof field) return errno = E2BIG, -1;
		memcpy(field, name, name_len + 1);
		ssize_t value = lgetxattr(path, name, field + name_len + 1, sizeof field - name_len - 1);
		if (value < 0) {
			if (errno == ENODATA) continue; /* removed meanwhile */
			return -1;
		}
		if (add_field(f, F_XATTR, field, name_len + 1 + value) < 0) return errno = E2BIG, -1;
	}
	return 0;
}

/* The XATTRS walk: every entry under a directory, parents before children, symlinks not followed. Entries before
 * `skip` are only counted; an entry whose fields do not fit any more ends the walk with `*more` set and `*index` at
 * it, so the next request starts there. */
struct xattr_walk {
	char path[PATH_MAX];
	size_t root_len;
	uint64_t index, skip;
	int more;
	struct fields *reply;
};

static int xattr_walk(struct xattr_walk *w) {
	if (w->more) return 0;
	if (w->index++ >= w->skip) {
		static struct fields entry;
		entry.len = 0;
		const char *relative = w->path[w->root_len] ? w->path + w->root_len + 1 : ".";
		add_str(&entry, F_PATH, relative);
		size_t bare = entry.len;
		if (xattr_fields(w->path, &entry) < 0) return -1;
		if (entry.len > bare) {
			if (w->reply->len + entry.len + 32 > sizeof w->reply->data) {
				if (w->reply->len == 0) return errno = E2BIG, -1;
				w->more = 1;
				w->index--;
				return 0;
			}
			memcpy(w->reply->data + w->reply->len, entry.data, entry.len);
			w->reply->len += entry.len;
		}
	}
	struct stat st;
	if (lstat(w->path, &st) < 0) return -1;
	if (!S_ISDIR(st.st_mode)) return 0;
	DIR *d = opendir(w->path);
	if (!d) return -1;
	size_t len = strlen(w->path);
	struct dirent *e;
	int result = 0;
	while (!w->more && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
		if (len + 1 + strlen(e->d_name) + 1 > sizeof w->path) {
			errno = ENAMETOOLONG;
			result = -1;
			break;
		}
		w->path[len] = '/';
		strcpy(w->path + len + 1, e->d_name);
		result = xattr_walk(w);
		w->path[len] = 0;
		if (result < 0) break;
	}
	int e2 = errno;
	closedir(d);
	errno = e2;
	return result;
}

static void do_fs(uint32_t id, const uint8_t *p, size_t len) {
	arena_used = 0;
	size_t pos = 0;
	uint8_t tag, op = 0;
	const uint8_t *v, *data = NULL;
	uint16_t size, data_len = 0;
	char *path = NULL, *target = NULL, *fstype = NULL, *root = NULL;
	uint64_t offset = 0;
	uint32_t length = 0, mode = 0644, flags = 0;
	enum { MAX_XATTRS = 64 };
	struct { const uint8_t *value; uint16_t size; } xattrs[MAX_XATTRS];
	size_t xattr_count = 0;
	while (next_field(p, len, &pos, &tag, &v, &size)) {
		switch (tag) {
		case F_OP: if (size == 1) op = v[0]; break;
		case F_PATH: path = arena_str(v, size); break;
		case F_TARGET: target = arena_str(v, size); break;
		case F_FSTYPE: fstype = arena_str(v, size); break;
		case F_ROOT: root = arena_str(v, size); break;
		case F_DATA: data = v; data_len = size; break;
		case F_OFFSET: if (size == 8) offset = get64(v); break;
		case F_LENGTH: if (size == 4) length = get32(v); break;
		case F_MODE: if (size == 4) mode = get32(v); break;
		case F_FLAGS: if (size == 4) flags = get32(v); break;
		case F_XATTR:
			if (xattr_count < MAX_XATTRS) {
				xattrs[xattr_count].value = v;
				xattrs[xattr_count++].size = size;
			}
			break;
		}
	}
	static struct fields f;
	f.len = 0;
	if (op != FS_UMOUNT && !path) return send_error(id, EINVAL, "filesystem request without PATH");
	switch (op) {
	case FS_STAT: {
		struct stat st;
		if (lstat(path, &st) < 0) return send_error(id, errno, "stat %s: %s", path, strerror(errno));
		add_u32(&f, F_MODE, st.st_mode);
		add_u64(&f, F_SIZE, st.st_size);
		add_u64(&f, F_MTIME, st.st_mtime);
		add_u32(&f, F_UID, st.st_uid);
		add_u32(&f, F_GID, st.st_gid);
		if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
			uint8_t rdev[8];
			put32(rdev, major(st.st_rdev));
			put32(rdev + 4, minor(st.st_rdev));
			add_field(&f, F_RDEV, rdev, 8);
		}
		return send_frame(MSG_FS_REPLY, id, f.data, f.len);
	}
	case FS_READ: {
		static uint8_t buf[32000];
		if (length > sizeof buf) length = sizeof buf;
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) return send_error(id, errno, "open %s: %s", path, strerror(errno));
		ssize_t n = pread(fd, buf, length, offset);
		int e = errno;
		close(fd);
		if (n < 0) return send_error(id, e, "read %s: %s", path, strerror(e));
		add_field(&f, F_DATA, buf, n);
		return send_frame(MSG_FS_REPLY, id, f.data, f.len);
	}
	case FS_WRITE: {
		int oflags = O_WRONLY | O_CLOEXEC | (flags & 1 ? O_CREAT : 0) | (flags & 2 ? O_TRUNC : 0) |
			     (flags & 4 ? O_APPEND : 0);
		int fd = open(path, oflags, mode & 07777);
		if (fd < 0) return send_error(id, errno, "open %s: %s", path, strerror(errno));
		ssize_t n = flags & 4 ? write(fd, data, data_len) : pwrite(fd, data, data_len, offset);
		int e = errno;
		close(fd);
		if (n != data_len) return send_error(id, n < 0 ? e : EIO, "write %s: %s", path, strerror(n < 0 ? e : EIO));
		return send_ok(id);
	}
	case FS_MKDIR:
		if ((flags & 1 ? mkdir_parents(path, mode & 07777) : mkdir(path, mode & 07777)) < 0)
			return send_error(id, errno, "mkdir %s: %s", path, strerror(errno));
		return send_ok(id);
	case FS_READDIR: {
		DIR *d = opendir(path);
		if (!d) return send_error(id, errno, "opendir %s: %s", path, strerror(errno));
		struct dirent *e;
		uint64_t index = 0;
		int more = 0;
		while ((e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
			if (index++ < offset) continue;
			struct stat st;
			uint8_t entry[4 + 256];
			size_t name_len = strlen(e->d_name);
			put32(entry, fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 ? st.st_mode : 0);
			memcpy(entry + 4, e->d_name, name_len);
			if (f.len + 3 + 4 + name_len + 8 > sizeof f.data - 16 || add_field(&f, F_DIRENT, entry, 4 + name_len) < 0) {
				more = 1;
				break;
			}
		}
		closedir(d);
		if (more) {
			uint8_t one = 1;
			add_field(&f, F_MORE, &one, 1);
		}
		return send_frame(MSG_FS_REPLY, id, f.data, f.len);
	}
	case FS_REMOVE:
		if ((flags & 1 ? remove_tree(path) : remove(path)) < 0)
			return send_error(id, errno, "remove %s: %s", path, strerror(errno));
		return send_ok(id);
	case FS_RESOLVE: {
		/* Where a container's path is in the guest, looked up inside ROOT as the container will see it. */
		static char joined[PATH_MAX];
		if (!root) return send_error(id, EINVAL, "resolve without ROOT");
		if (secure_join(root, path, joined, sizeof joined) < 0)
			return send_error(id, errno, "look up %s inside %s: %s", path, root, strerror(errno));
		add_field(&f, F_PATH, joined, strlen(joined));
		return send_frame(MSG_FS_REPLY, id, f.data, f.len);
	}
	case FS_MOUNT: {
		char *options = data ? arena_str(data, data_len) : NULL;
		static char joined[PATH_MAX];
		if (!target) return send_error(id, EINVAL, "mount without TARGET");
		/* With ROOT, TARGET is a container's path: its root's symlinks cannot send the mount outside it. */
		if (root) {
			if (secure_join(root, target, joined, sizeof joined) < 0)
				return send_error(id, errno, "look up %s inside %s: %s", target, root, strerror(errno));
			target = joined;
		}
		if (mount(path, target, fstype, flags, options) < 0)
			return send_error(id, errno, "mount %s on %s: %s", path, target, strerror(errno));
		return send_ok(id);
	}
	case FS_UMOUNT:
		if (!target) return send_error(id, EINVAL, "umount without TARGET");
		if (umount2(target, flags) < 0) return send_error(id, errno, "umount %s: %s", target, strerror(errno));
		return send_ok(id);
	case FS_XATTRS: {
		if (!(flags & 1)) {
			if (xattr_fields(path, &f) < 0) return send_error(id, errno, "read the xattrs of %s: %s", path, strerror(errno));
			return send_frame(MSG_FS_REPLY, id, f.data, f.len);
		}
		static struct xattr_walk w;
		if (strlen(path) >= sizeof w.path) return send_error(id, ENAMETOOLONG, "xattrs of %s: too long", path);
		strcpy(w.path, path);
		while (w.path[1] && w.path[strlen(w.path) - 1] == '/') w.path[strlen(w.path) - 1] = 0;
		w.root_len = strlen(w.path);
		w.index = 0;
		w.skip = offset;
		w.more = 0;
		w.reply = &f;
		if (xattr_walk(&w) < 0)
			return send_error(id, errno, "read the xattrs under %s (at %s): %s", path, w.path, strerror(errno));
		if (w.more) {
			uint8_t one = 1;
			add_field(&f, F_MORE, &one, 1);
			add_u64(&f, F_OFFSET, w.index);
		}
		return send_frame(MSG_FS_REPLY, id, f.data, f.len);
	}
	case FS_SETXATTR:
		for (size_t i = 0; i < xattr_count; i++) {
			const uint8_t *nul = memchr(xattrs[i].value, 0, xattrs[i].size);
			if (!nul) return send_error(id, EINVAL, "an XATTR of %s without its name's NUL", path);
			const char *name = (const char *)xattrs[i].value;
			size_t value_len = xattrs[i].size - (size_t)(nul - xattrs[i].value) - 1;
			if (lsetxattr(path, name, nul + 1, value_len, 0) < 0)
				return send_error(id, errno, "set the xattr %s of %s: %s", name, path, strerror(errno));
		}
		return send_ok(id);
	default:
		return send_error(id, EINVAL, "unknown filesystem operation %u", op);
	}
}

/* ---- device access: a cgroup's BPF_PROG_TYPE_CGROUP_DEVICE program ------------------------------------------- */

/* Loads the engine's device program (DATA: struct bpf_insn array) and attaches it to the cgroup at PATH, as runc
 * does on cgroup v2. Every open or mknod of a device node by a process of that cgroup asks it. */
static void do_device_filter(uint32_t id, const uint8_t *p, size_t len) {
	arena_used = 0;
	size_t pos = 0;
	uint8_t tag;
	const uint8_t *v, *data = NULL;
	uint16_t size, data_len = 0;
	char *path = NULL;
	while (next_field(p, len, &pos, &tag, &v, &size)) {
		if (tag == F_PATH) path = arena_str(v, size);
		if (tag == F_DATA) {
			data = v;
			data_len = size;
		}
	}
	if (!path || !data || data_len == 0 || data_len % sizeof(struct bpf_insn))
		return send_error(id, EINVAL, "a device filter needs PATH and DATA (whole BPF instructions)");
	static struct bpf_insn insns[MAX_PAYLOAD / sizeof(struct bpf_insn)];
	memcpy(insns, data, data_len);
	static char log[65536];
	static const char license[] = "Apache-2.0";
	union bpf_attr attr;
	int prog = -1, e = 0;
	/* Without a log first (a log that overflows its buffer fails the load with ENOSPC); on failure again with one,
	 * to say what the verifier refused. */
	for (int level = 0; level <= 1 && prog < 0; level++) {
		memset(&attr, 0, sizeof attr);
		attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
		attr.insns = (uint64_t)(uintptr_t)insns;
		attr.insn_cnt = data_len / sizeof(struct bpf_insn);
		attr.license = (uint64_t)(uintptr_t)license;
		if (level) {
			log[0] = 0;
			attr.log_buf = (uint64_t)(uintptr_t)log;
			attr.log_size = sizeof log;
			attr.log_level = 1;
		}
		prog = syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr);
		if (prog < 0 && !level) e = errno;
	}
	if (prog < 0) {
		log[sizeof log - 1] = 0;
		/* The verifier's verdict is at the end of its log. */
		size_t n = strlen(log);
		while (n > 0 && log[n - 1] == '\n') log[--n] = 0;
		char *tail = n > 300 ? log + n - 300 : log;
		for (char *c = tail; *c; c++)
			if (*c == '\n') *c = ' ';
		return send_error(id, e, "load the device program: %s%s%s", strerror(e), *tail ? ": …" : "", tail);
	}
	int cgroup = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgroup < 0) {
		int e = errno;
		close(prog);
		return send_error(id, e, "open %s: %s", path, strerror(e));
	}
	memset(&attr, 0, sizeof attr);
	attr.target_fd = cgroup;
	attr.attach_bpf_fd = prog;
	attr.attach_type = BPF_CGROUP_DEVICE;
	attr.attach_flags = BPF_F_ALLOW_MULTI;
	int attached = syscall(SYS_bpf, BPF_PROG_ATTACH, &attr, sizeof attr);
	e = errno;
	close(cgroup);
	close(prog); /* the attachment holds the program */
	if (attached < 0) return send_error(id, e, "attach the device program to %s: %s", path, strerror(e));
	send_ok(id);
}

/* ---- unix socket forwarding ---------------------------------------------------------------------------------- */

static void do_listen(uint32_t id, const uint8_t *p, size_t len) {
	arena_used = 0;
	size_t pos = 0;
	uint8_t tag;
	const uint8_t *v;
	uint16_t size;
	char *path = NULL;
	while (next_field(p, len, &pos, &tag, &v, &size))
		if (tag == F_PATH) path = arena_str(v, size);
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (!path || strlen(path) >= sizeof addr.sun_path) return send_error(id, EINVAL, "listen needs a PATH");
	if (listener_count >= MAX_LISTENERS) return send_error(id, EAGAIN, "too many listeners");
	strcpy(addr.sun_path, path);
	/* Sockets live in directories nobody else makes (/run/drydock, /var/run on a bare initramfs). */
	char *slash = strrchr(path, '/');
	if (slash && slash != path) {
		*slash = 0;
		int made = mkdir_parents(path, 0755);
		int e = errno;
		*slash = '/';
		if (made < 0) return send_error(id, e, "listen on %s: create its directory: %s", path, strerror(e));
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	unlink(path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 16) < 0) {
		int e = errno;
		if (fd >= 0) close(fd);
		return send_error(id, e, "listen on %s: %s", path, strerror(e));
	}
	chmod(path, 0666);
	listeners[listener_count].fd = fd;
	strcpy(listeners[listener_count].path, path);
	listener_count++;
	send_ok(id);
}

static void accept_connection(int index) {
	int fd = accept4(listeners[index].fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) return;
	uint32_t id = AGENT_STREAM_BIT | next_conn_id++;
	struct stream *s = new_stream(S_CONN, id);
	if (!s) {
		close(fd);
		return;
	}
	/* Separate descriptors for the two directions, so a client's half-close ends only its direction. */
	s->out_fd = fd;
	s->in_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	struct fields f = {.len = 0};
	add_str(&f, F_PATH, listeners[index].path);
	send_frame(MSG_CONNECT, id, f.data, f.len);
}

/* ---- TCP connections opened for the engine ------------------------------------------------------------------ */

/* TCP_CONNECT: a connection from the guest's own namespace to REMOTE:REMOTE_PORT, answered OK once connected (or
 * ERROR), then carried on its stream like a forwarded unix-socket connection. */
static void do_tcp_connect(uint32_t id, const uint8_t *p, size_t len) {
	arena_used = 0;
	size_t pos = 0;
	uint8_t tag;
	const uint8_t *v;
	uint16_t size, port = 0;
	char *remote = NULL;
	while (next_field(p, len, &pos, &tag, &v, &size)) {
		if (tag == F_REMOTE) remote = arena_str(v, size);
		if (tag == F_REMOTE_PORT && size == 2) port = get16(v);
	}
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
	if (!remote || !port || inet_pton(AF_INET, remote, &addr.sin_addr) != 1)
		return send_error(id, EINVAL, "a TCP connection needs REMOTE (an IPv4 address) and REMOTE_PORT");
	if (find_stream(id)) return send_error(id, EEXIST, "stream %u is already in use", id);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) return send_error(id, errno, "socket: %s", strerror(errno));
	int r = connect(fd, (struct sockaddr *)&addr, sizeof addr);
	if (r < 0 && errno != EINPROGRESS) {
		int e = errno;
		close(fd);
		return send_error(id, e, "connect to %s:%u: %s", remote, port, strerror(e));
	}
	struct stream *s = new_stream(S_CONN, id);
	if (!s) {
		close(fd);
		return send_error(id, EAGAIN, "too many streams (%d)", MAX_STREAMS);
	}
	s->out_fd = fd;
	s->in_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	s->connecting = r < 0;
	if (!s->connecting) send_ok(id);
}

/* The connect(2) of a TCP_CONNECT finished: OK, or ERROR and the stream is gone. */
static void finish_connect(struct stream *s) {
	int err = 0;
	socklen_t len = sizeof err;
	if (getsockopt(s->out_fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
	if (err) {
		uint32_t id = s->id;
		free_stream(s);
		return send_error(id, err, "connect: %s", strerror(err));
	}
	s->connecting = 0;
	send_ok(s->id);
}

/* ---- parked processes (PARK, ADOPT) ------------------------------------------------------------------------- */

/* A SPAWN with PARK: the process just spawned on this stream (if the spawn succeeded) is parked under the key. Its
 * output stays where it is (in its pty or pipes) and its stream is nobody's until an ADOPT names the key; the SPAWN's
 * stream is told OK once the process has written something (a shell's prompt: it then waits for input). */
static void park_if_asked(uint32_t id, const uint8_t *p, size_t len) {
	size_t pos = 0;
	uint8_t tag;
	const uint8_t *v;
	uint16_t size;
	const uint8_t *key = NULL;
	uint16_t key_size = 0;
	while (next_field(p, len, &pos, &tag, &v, &size))
		if (tag == F_PARK) key = v, key_size = size;
	struct stream *s;
	if (!key || !(s = find_stream(id)) || s->kind != S_PROC) return;
	if (key_size == 0 || key_size > MAX_PARK_KEY || !(s->park_key = malloc(key_size + 1))) {
		kill(s->pid, SIGKILL);
		send_error(id, EINVAL, "a PARK key is 1 to %d bytes", MAX_PARK_KEY);
		s->park_key = NULL;
		return;
	}
	memcpy(s->park_key, key, key_size);
	s->park_key[key_size] = 0;
	s->park_reply = id;
	s->id = 0;
	s->out_credit = s->err_credit = 0;
}

/* The parked process has output waiting: it is ready (a shell shows its prompt and reads). */
static void park_ready(struct stream *s) {
	if (!s->park_reply) return;
	send_ok(s->park_reply);
	s->park_reply = 0;
}

/* ADOPT: the parked process under PARK becomes this stream's, as if SPAWN had just started it (SPAWNED, then its
 * output from the start); with PTY its terminal takes that size. */
static void do_adopt(uint32_t id, const uint8_t *p, size_t len) {
	arena_used = 0;
	size_t pos = 0;
	uint8_t tag;
	const uint8_t *v;
	uint16_t size;
	char *key = NULL;
	struct winsize ws = {0};
	while (next_field(p, len, &pos, &tag, &v, &size)) {
		if (tag == F_PARK) key = arena_str(v, size);
		if (tag == F_PTY && size == 4) ws.ws_row = get16(v), ws.ws_col = get16(v + 2);
	}
	if (!key) return send_error(id, EINVAL, "adopt needs a PARK key");
	if (find_stream(id)) return send_error(id, EEXIST, "stream %u is already in use", id);
	for (int i = 0; i < MAX_STREAMS; i++) {
		struct stream *s = &streams[i];
		if (s->kind != S_PROC || !s->park_key || strcmp(s->park_key, key)) continue;
		if (s->exited) {
			free_stream(s);
			return send_error(id, ESRCH, "the process parked under %s has exited", key);
		}
		free(s->park_key);
		s->park_key = NULL;
		s->park_reply = 0;
		s->id = id;
		s->out_credit = s->err_credit = STREAM_WINDOW;
		if (s->pty && ws.ws_row && ws.ws_col) ioctl(s->out_fd, TIOCSWINSZ, &ws);
		uint8_t b[4];
		put32(b, s->pid);
		struct fields f = {.len = 0};
		add_field(&f, F_PID, b, 4);
		return send_frame(MSG_SPAWNED, id, f.data, f.len);
	}
	send_error(id, ENOENT, "no process is parked under %s", key);
}

/* ---- messages from the engine -------------------------------------------------------------------------------- */

static void send_hello(uint32_t stream) {
	struct fields f = {.len = 0};
	struct utsname u;
	char kernel[400], boot_id[64] = "";
	uname(&u);
	snprintf(kernel, sizeof kernel, "%s %s", u.release, u.version);
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, boot_id, sizeof boot_id - 1);
		boot_id[n > 0 ? n : 0] = 0;
		boot_id[strcspn(boot_id, "\n")] = 0;
		close(fd);
	}
	add_u32(&f, F_VERSION, PROTOCOL_VERSION);
	add_str(&f, F_KERNEL, kernel);
	static const char *features[] = {"pty",    "pipes",        "namespaces", "cgroup2", "pivot_root",
					 "fs",     "listen",       "capabilities", "enter",  "device-filter",
					 "network", "park", "seccomp", "vxlan"};
	for (size_t i = 0; i < sizeof features / sizeof *features; i++) add_str(&f, F_FEATURE, features[i]);
	add_str(&f, F_BOOT_ID, boot_id);
	send_frame(MSG_HELLO, stream, f.data, f.len);
}

static void do_sync(uint32_t id, const uint8_t *p, size_t len) {
	size_t pos = 0;
	uint8_t tag;
	const uint8_t *v;
	uint16_t size;
	uint32_t version = 0;
	while (next_field(p, len, &pos, &tag, &v, &size)) {
		if (tag == F_VERSION && size == 4) version = get32(v);
		if (tag == F_TIME && size == 8) {
			uint64_t ms = get64(v);
			struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
			clock_settime(CLOCK_REALTIME, &ts);
		}
		if (tag == F_ENTROPY && size > 0 && size <= 512) {
			/* Credit the engine's fresh randomness, so no two restored guests share their random state. */
			static struct {
				struct rand_pool_info info;
				uint8_t bytes[512];
			} pool;
			pool.info.entropy_count = size * 8;
			pool.info.buf_size = size;
			memcpy(pool.info.buf, v, size);
			int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
			if (fd >= 0) {
				ioctl(fd, RNDADDENTROPY, &pool.info);
				/* The kernel mixes credited entropy into its generator only at the next periodic reseed (up to a
				 * minute away); until then every guest restored from one state would draw the same numbers. */
				ioctl(fd, RNDRESEEDCRNG);
				close(fd);
			}
		}
	}
	if (version != PROTOCOL_VERSION)
		return send_error(id, EPROTO, "the engine speaks protocol version %u, drydockd speaks version %u", version,
				  PROTOCOL_VERSION);
	send_hello(id);
}

static void dispatch(uint16_t type, uint32_t id, const uint8_t *p, size_t len) {
	struct stream *s;
	switch (type) {
	case MSG_SYNC: return do_sync(id, p, len);
	case MSG_PING: return send_frame(MSG_PONG, id, p, len);
	case MSG_SPAWN:
		if (find_stream(id)) return send_error(id, EEXIST, "stream %u is already in use", id);
		do_spawn(id, p, len);
		return park_if_asked(id, p, len);
	case MSG_ADOPT: return do_adopt(id, p, len);
	case MSG_FS: return do_fs(id, p, len);
	case MSG_LISTEN: return do_listen(id, p, len);
	case MSG_DEVICE_FILTER: return do_device_filter(id, p, len);
	case MSG_TCP_CONNECT: return do_tcp_connect(id, p, len);
	case MSG_INPUT:
		if (!(s = find_stream(id))) return;
		if (s->kind == S_CONN && s->in_fd < 0) return; /* its client left: nothing will read this */
		if (len == 0) s->in_close_pending = 1;
		else if (stray_cursor_report(s, p, len)) {
			uint8_t b[5] = {CH_INPUT};
			put32(b + 1, len);
			send_frame(MSG_CREDIT, s->id, b, 5);
			return;
		} else if (s->in_len + len > STREAM_WINDOW) return send_error(id, ENOBUFS, "input beyond the credit window");
		else {
			memcpy(s->in_buf + s->in_len, p, len);
			s->in_len += len;
		}
		pump_input(s);
		return maybe_close_conn(s);
	case MSG_CREDIT:
		if (len != 5 || !(s = find_stream(id))) return;
		if (p[0] == CH_STDOUT) s->out_credit += get32(p + 1);
		if (p[0] == CH_STDERR) s->err_credit += get32(p + 1);
		drain_exited_pty(s);
		return maybe_finish(s);
	case MSG_RESIZE:
		if (len != 4 || !(s = find_stream(id)) || !s->pty) return;
		{
			struct winsize ws = {.ws_row = get16(p), .ws_col = get16(p + 2)};
			ioctl(s->out_fd, TIOCSWINSZ, &ws);
		}
		return;
	case MSG_SIGNAL:
		if (len != 4 || !(s = find_stream(id)) || s->kind != S_PROC || s->exited) return;
		if (kill(s->pid, get32(p)) < 0) send_error(id, errno, "kill %d: %s", s->pid, strerror(errno));
		return;
	case MSG_CLOSE:
		if ((s = find_stream(id)) && s->kind == S_CONN) free_stream(s);
		else net_close_stream(id);
		return;
	default:
		if (net_dispatch(type, id, p, len)) return;
		return send_error(id, EBADMSG, "unknown message type 0x%x", type);
	}
}

static void read_link(void) {
	ssize_t n = read(link_fd, rbuf + rlen, sizeof rbuf - rlen);
	if (n <= 0) return;
	uint8_t ack[4];
	put32(ack, n);
	send_frame(MSG_ACK, 0, ack, 4);
	rlen += n;
	size_t at = 0;
	for (;;) {
		if (skip_bytes) {
			size_t drop = rlen - at < skip_bytes ? rlen - at : skip_bytes;
			at += drop;
			skip_bytes -= drop;
			if (skip_bytes) break;
		}
		if (rlen - at < HEADER_SIZE) break;
		uint32_t len = get32(rbuf + at);
		uint16_t type = get16(rbuf + at + 4);
		uint32_t id = get32(rbuf + at + 8);
		if (len > MAX_PAYLOAD) {
			send_error(id, EMSGSIZE, "a frame of %u bytes exceeds the limit of %u; it was skipped", len, MAX_PAYLOAD);
			at += HEADER_SIZE;
			skip_bytes = len;
			continue;
		}
		if (rlen - at < HEADER_SIZE + len) break;
		dispatch(type, id, rbuf + at + HEADER_SIZE, len);
		at += HEADER_SIZE + len;
	}
	memmove(rbuf, rbuf + at, rlen - at);
	rlen -= at;
}

/* ---- `drydockd connect PATH`: a unix-socket client for the guest's shell ---------------------------------------- */

/* Copies stdin to the socket (half-closing it at end of input) and the socket to stdout, like `nc -U`, which the
 * guest's busybox lacks. It lets a learner (and the tests) talk to a forwarded socket such as the Docker API. */
static int connect_main(const char *path) {
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof addr.sun_path) {
		dprintf(2, "drydockd connect: path too long: %s\n", path);
		return 2;
	}
	strcpy(addr.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
		dprintf(2, "drydockd connect: %s: %s\n", path, strerror(errno));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	static uint8_t buf[16384];
	int input_open = 1;
	for (;;) {
		struct pollfd fds[2] = {{.fd = fd, .events = POLLIN}, {.fd = 0, .events = input_open ? POLLIN : 0}};
		if (poll(fds, input_open ? 2 : 1, -1) < 0) {
			if (errno == EINTR) continue;
			return 1;
		}
		if (fds[0].revents) {
			ssize_t n = read(fd, buf, sizeof buf);
			if (n <= 0) return 0;
			write_all(1, buf, n);
		}
		if (input_open && fds[1].revents) {
			ssize_t n = read(0, buf, sizeof buf);
			if (n <= 0) {
				input_open = 0;
				shutdown(fd, SHUT_WR);
			} else {
				write_all(fd, buf, n);
			}
		}
	}
}

/* ---- main loop ----------------------------------------------------------------------------------------------- */

/* The engine's link: port 1 of the virtio console, /dev/vport<N>p1 where N is the console's index among the virtio
 * devices. Returns 1 and its path once the node exists. */
static int find_link(char *path, size_t size) {
	DIR *dev = opendir("/dev");
	if (!dev) return 0;
	struct dirent *e;
	unsigned index;
	int found = 0;
	while (!found && (e = readdir(dev))) {
		int end = 0; /* set only when the whole pattern matched */
		if (sscanf(e->d_name, "vport%up1%n", &index, &end) == 1 && end && !e->d_name[end])
			found = snprintf(path, size, "/dev/%s", e->d_name) < (int)size;
	}
	closedir(dev);
	return found;
}

int main(int argc, char **argv) {
	/* One binary, several programs (like busybox): /usr/bin/docker and /usr/bin/curl are symlinks to drydockd. */
	const char *name = argv[0] ? strrchr(argv[0], '/') : NULL;
	name = name ? name + 1 : argv[0] ? argv[0] : "";
	if (!strcmp(name, "docker")) return docker_main(argc, argv);
	if (!strcmp(name, "curl")) return curl_main(argc, argv);
	if (argc == 3 && !strcmp(argv[1], "connect")) return connect_main(argv[2]);
	if (argc != 1) {
		dprintf(2, "usage: drydockd             (the guest agent, started by init)\n"
			   "       drydockd connect PATH  (copy stdin to a unix socket and the socket to stdout)\n"
			   "       docker ARGS...         (as /usr/bin/docker: the engine's docker command line)\n"
			   "       curl [OPTIONS] URL     (as /usr/bin/curl: a small HTTP client)\n");
		return 2;
	}
	own_pid_ns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
	int last = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
	if (last >= 0) {
		char text[16] = "";
		if (read(last, text, sizeof text - 1) > 0) cap_last = atoi(text);
		close(last);
	}
	/* The port's device node appears once the virtio console driver has added the port (during boot): wait a little. */
	char link_path[64] = "";
	for (int tries = 0; !find_link(link_path, sizeof link_path) && tries < 500; tries++) usleep(10000);
	if (!*link_path) {
		dprintf(2, "drydockd: no /dev/vport*p1 (port 1 of the virtio console, the engine's link)\n");
		return 1;
	}
	link_fd = open(link_path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (link_fd < 0) {
		dprintf(2, "drydockd: cannot open %s: %s\n", link_path, strerror(errno));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	int sig_fd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	net_init();

	send_hello(0);

	static struct pollfd fds[2 + MAX_LISTENERS + MAX_STREAMS * 3 + NET_MAX_POLL];
	static struct {
		struct stream *s;
		int which; /* 0 input, 1 stdout, 2 stderr */
	} owners[MAX_STREAMS * 3];
	for (;;) {
		int n = 0;
		fds[n++] = (struct pollfd){.fd = link_fd, .events = POLLIN};
		fds[n++] = (struct pollfd){.fd = sig_fd, .events = POLLIN};
		for (int i = 0; i < listener_count; i++) fds[n++] = (struct pollfd){.fd = listeners[i].fd, .events = POLLIN};
		int first_stream = n;
		for (int i = 0; i < MAX_STREAMS; i++) {
			struct stream *s = &streams[i];
			if (s->kind == S_FREE) continue;
			if (s->connecting) {
				owners[n - first_stream].s = s;
				owners[n - first_stream].which = 3;
				fds[n++] = (struct pollfd){.fd = s->out_fd, .events = POLLOUT};
				continue;
			}
			if (s->park_key) {
				/* Parked: watched only until it is ready (its output is left for whoever adopts it). */
				if (s->park_reply && s->out_fd >= 0) {
					owners[n - first_stream].s = s;
					owners[n - first_stream].which = 4;
					fds[n++] = (struct pollfd){.fd = s->out_fd, .events = POLLIN};
				}
				continue;
			}
			if (s->out_fd >= 0 && s->out_credit > 0) {
				owners[n - first_stream].s = s;
				owners[n - first_stream].which = 1;
				fds[n++] = (struct pollfd){.fd = s->out_fd, .events = POLLIN};
			}
			if (s->err_fd >= 0 && s->err_credit > 0) {
				owners[n - first_stream].s = s;
				owners[n - first_stream].which = 2;
				fds[n++] = (struct pollfd){.fd = s->err_fd, .events = POLLIN};
			}
			if (s->in_fd >= 0 && s->in_len > 0) {
				owners[n - first_stream].s = s;
				owners[n - first_stream].which = 0;
				fds[n++] = (struct pollfd){.fd = s->in_fd, .events = POLLOUT};
			}
		}
		int first_net = n;
		int net_count = net_poll_fill(fds + n, NET_MAX_POLL);
		n += net_count;
		if (poll(fds, n, -1) < 0) {
			if (errno == EINTR) continue;
			dprintf(2, "drydockd: poll: %s\n", strerror(errno));
			return 1;
		}
		if (fds[0].revents) read_link();
		if (fds[1].revents) {
			struct signalfd_siginfo info;
			while (read(sig_fd, &info, sizeof info) > 0) {
			}
			reap_children();
		}
		for (int i = 0; i < listener_count; i++)
			if (fds[2 + i].revents) accept_connection(i);
		for (int i = first_stream; i < first_net; i++) {
			if (!fds[i].revents) continue;
			struct stream *s = owners[i - first_stream].s;
			/* A stream freed earlier in this round (by a message or an exit) is skipped. */
			if (s->kind == S_FREE) continue;
			switch (owners[i - first_stream].which) {
			case 0: if (s->in_fd == fds[i].fd) pump_input(s); break;
			case 1: if (s->out_fd == fds[i].fd) pump_output(s, &s->out_fd, &s->out_credit, MSG_STDOUT); break;
			case 2: if (s->err_fd == fds[i].fd) pump_output(s, &s->err_fd, &s->err_credit, MSG_STDERR); break;
			case 3:
				if (s->connecting && s->out_fd == fds[i].fd) finish_connect(s);
				continue;
			case 4:
				if (s->park_key && s->out_fd == fds[i].fd) park_ready(s);
				continue;
			}
			if (s->kind == S_CONN) maybe_close_conn(s);
			else maybe_finish(s);
		}
		net_poll_handle(fds + first_net, net_count);
	}
}
