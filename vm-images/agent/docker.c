/*
 * docker: the guest's `docker` command. The real CLI is TypeScript (engine/cli) and runs in the engine; this applet
 * only relays: it sends the arguments, environment, working directory and terminal facts, then copies the engine's
 * output to stdout/stderr, stdin to the engine once the engine asks for it, window sizes and signals, and exits with
 * the code the engine sends. Framing: PROTOCOL.md, "The docker relay".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "applets.h"

#define CLI_SOCKET "/run/drydock/cli.sock"
#define EXIT_RELAY_FAILED 125

enum relay_frame {
	R_STDIN = 0x00,
	R_STDOUT = 0x01,
	R_STDERR = 0x02,
	R_EXIT = 0x03,
	R_START = 0x10,
	R_RESIZE = 0x11,
	R_RAW = 0x12,
	R_STDIN_WANTED = 0x13,
	R_SIGNAL = 0x14,
};

extern char **environ;

/* ---- the terminal: raw on the engine's request, restored on every way out ------------------------------------- */

static struct termios saved_termios;
static volatile sig_atomic_t terminal_raw;

static void restore_terminal(void) {
	if (terminal_raw) {
		tcsetattr(0, TCSADRAIN, &saved_termios);
		terminal_raw = 0;
	}
}

static void set_raw(int raw) {
	if (!raw) return restore_terminal();
	if (terminal_raw || tcgetattr(0, &saved_termios) < 0) return; /* not a terminal: nothing to do */
	struct termios t = saved_termios;
	cfmakeraw(&t);
	if (tcsetattr(0, TCSADRAIN, &t) == 0) terminal_raw = 1;
}

/* A signal that would end the applet (not one it relays) restores the terminal first, then does its default. */
static void die_on_signal(int sig) {
	restore_terminal();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* ---- growable byte buffers ------------------------------------------------------------------------------------ */

struct buf {
	uint8_t *data;
	size_t len, cap;
};

static void buf_add(struct buf *b, const void *p, size_t n) {
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n) cap *= 2;
		uint8_t *data = realloc(b->data, cap);
		if (!data) {
			restore_terminal();
			dprintf(2, "docker: out of memory\n");
			_exit(EXIT_RELAY_FAILED);
		}
		b->data = data;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void buf_str(struct buf *b, const char *s) { buf_add(b, s, strlen(s)); }

/* Appends `s` as a JSON string. Bytes from 0x80 up pass through (UTF-8); the engine's decoder replaces invalid
 * sequences rather than failing. */
static void buf_json_string(struct buf *b, const char *s) {
	static const char hex[] = "0123456789abcdef";
	buf_add(b, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': buf_str(b, "\\\""); break;
		case '\\': buf_str(b, "\\\\"); break;
		case '\b': buf_str(b, "\\b"); break;
		case '\f': buf_str(b, "\\f"); break;
		case '\n': buf_str(b, "\\n"); break;
		case '\r': buf_str(b, "\\r"); break;
		case '\t': buf_str(b, "\\t"); break;
		default:
			if (*p < 0x20 || *p == 0x7f) {
				char u[6] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};
				buf_add(b, u, 6);
			} else {
				buf_add(b, p, 1);
			}
		}
	}
	buf_add(b, "\"", 1);
}

/* ---- frames to the engine: queued, written as the socket takes them, so the applet never stops reading ------ */

static int sock = -1;
static struct buf outq;
static size_t outq_sent;

static void put32be(uint8_t *p, uint32_t v) {
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}
static uint32_t get32be(const uint8_t *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }

static void queue_frame(uint8_t type, const void *payload, size_t len) {
	uint8_t header[8] = {type, 0, 0, 0};
	put32be(header + 4, len);
	buf_add(&outq, header, 8);
	if (len) buf_add(&outq, payload, len);
}

/* Writes what the socket accepts now; returns -1 when the engine is gone. */
static int flush_queue(void) {
	while (outq_sent < outq.len) {
		ssize_t n = write(sock, outq.data + outq_sent, outq.len - outq_sent);
		if (n < 0) {
			if (errno == EINTR) continue;
			if (errno == EAGAIN) return 0;
			return -1;
		}
		outq_sent += n;
	}
	outq.len = outq_sent = 0;
	return 0;
}

static void write_all(int fd, const uint8_t *p, size_t n) {
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR) continue;
			if (errno == EAGAIN) {
				struct pollfd pfd = {.fd = fd, .events = POLLOUT};
				poll(&pfd, 1, -1);
				continue;
			}
			/* The reader went away (`docker logs -f | head`): end as SIGPIPE would end any program, so the pipeline
			 * finishes and the engine sees the connection close. */
			if (errno == EPIPE) exit(128 + SIGPIPE);
			return;
		}
		p += w;
		n -= w;
	}
}

static int window_size(uint16_t *rows, uint16_t *cols) {
	struct winsize ws;
	if (ioctl(1, TIOCGWINSZ, &ws) < 0 && ioctl(0, TIOCGWINSZ, &ws) < 0) return -1;
	*rows = ws.ws_row;
	*cols = ws.ws_col;
	return 0;
}

static void queue_start(int argc, char **argv) {
	struct buf json = {0};
	char cwd[4096], num[128];
	uint16_t rows = 0, cols = 0;
	window_size(&rows, &cols);
	buf_str(&json, "{\"argv\":[");
	for (int i = 1; i < argc; i++) {
		if (i > 1) buf_str(&json, ",");
		buf_json_string(&json, argv[i]);
	}
	buf_str(&json, "],\"env\":[");
	for (char **e = environ; e && *e; e++) {
		if (e != environ) buf_str(&json, ",");
		buf_json_string(&json, *e);
	}
	buf_str(&json, "],\"cwd\":");
	buf_json_string(&json, getcwd(cwd, sizeof cwd) ? cwd : "/");
	snprintf(num, sizeof num, ",\"tty\":{\"stdin\":%s,\"stdout\":%s},\"rows\":%u,\"cols\":%u}",
		 isatty(0) ? "true" : "false", isatty(1) ? "true" : "false", rows, cols);
	buf_str(&json, num);
	queue_frame(R_START, json.data, json.len);
	free(json.data);
}

/* ---- signals: turned into bytes on a pipe, so the poll loop handles them ------------------------------------- */

static int signal_pipe[2] = {-1, -1};

static void on_signal(int sig) {
	int saved = errno;
	uint8_t b = sig;
	if (write(signal_pipe[1], &b, 1) < 0) {
		/* the pipe is full of earlier signals: this one is dropped */
	}
	errno = saved;
}

static void install_signals(void) {
	struct sigaction relay = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
	sigemptyset(&relay.sa_mask);
	int relayed[] = {SIGWINCH, SIGINT, SIGTERM, SIGHUP, SIGQUIT};
	for (size_t i = 0; i < sizeof relayed / sizeof *relayed; i++) sigaction(relayed[i], &relay, NULL);
	int fatal[] = {SIGALRM, SIGUSR1, SIGUSR2, SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGVTALRM, SIGPROF};
	for (size_t i = 0; i < sizeof fatal / sizeof *fatal; i++) signal(fatal[i], die_on_signal);
	signal(SIGPIPE, SIG_IGN);
}

static void handle_signal(int sig) {
	if (sig == SIGWINCH) {
		uint16_t rows, cols;
		if (window_size(&rows, &cols) < 0) return;
		uint8_t b[4] = {rows >> 8, rows, cols >> 8, cols};
		return queue_frame(R_RESIZE, b, 4);
	}
	/* In raw mode the keyboard sends ^C and ^\ as bytes, to the container; a SIGINT or SIGQUIT from elsewhere is
	 * not relayed then (docker's CLI does not proxy signals for a tty either). Termination requests always are. */
	if (terminal_raw && (sig == SIGINT || sig == SIGQUIT)) return;
	/* An engine that does not answer must not trap the user: the third interrupt ends the applet, as docker's CLI
	 * does ("got 3 SIGTERM/SIGINTs, forcefully exiting"). */
	static int interrupts;
	if ((sig == SIGINT || sig == SIGTERM) && ++interrupts >= 3) {
		restore_terminal();
		dprintf(2, "\ndocker: got 3 SIGTERM/SIGINTs, forcefully exiting\n");
		exit(128 + sig);
	}
	uint8_t b[4];
	put32be(b, sig);
	queue_frame(R_SIGNAL, b, 4);
}

/* ---- frames from the engine: parsed as they stream in, output payloads copied through without buffering ----- */

static struct {
	uint8_t header[8];
	size_t header_len;
	uint32_t remaining;
	uint8_t control[8];
	size_t control_len;
} in;
static int stdin_wanted, stdin_open = 1;

static void handle_control(uint8_t type, const uint8_t *p, size_t len) {
	switch (type) {
	case R_RAW:
		if (len >= 1) set_raw(p[0]);
		break;
	case R_STDIN_WANTED: stdin_wanted = 1; break;
	case R_EXIT:
		restore_terminal();
		exit(len >= 4 ? (int)(get32be(p) & 0xff) : EXIT_RELAY_FAILED);
	}
}

static void receive(const uint8_t *p, size_t n) {
	while (n > 0) {
		if (in.header_len < 8) {
			size_t take = 8 - in.header_len < n ? 8 - in.header_len : n;
			memcpy(in.header + in.header_len, p, take);
			in.header_len += take;
			p += take;
			n -= take;
			if (in.header_len < 8) return;
			in.remaining = get32be(in.header + 4);
			in.control_len = 0;
		}
		uint8_t type = in.header[0];
		size_t take = in.remaining < n ? in.remaining : n;
		if (type == R_STDOUT || type == R_STDERR) {
			write_all(type == R_STDOUT ? 1 : 2, p, take);
		} else {
			size_t keep = sizeof in.control - in.control_len < take ? sizeof in.control - in.control_len : take;
			memcpy(in.control + in.control_len, p, keep);
			in.control_len += keep;
		}
		p += take;
		n -= take;
		in.remaining -= take;
		if (in.remaining == 0) {
			in.header_len = 0;
			if (type != R_STDOUT && type != R_STDERR) handle_control(type, in.control, in.control_len);
		}
	}
}

/* ---- main ----------------------------------------------------------------------------------------------------- */

int docker_main(int argc, char **argv) {
	struct sockaddr_un addr = {.sun_family = AF_UNIX, .sun_path = CLI_SOCKET};
	sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sock < 0 || connect(sock, (struct sockaddr *)&addr, sizeof addr) < 0) {
		dprintf(2, "docker: cannot reach the Drydock engine at %s: %s (is the page's engine running?)\n", CLI_SOCKET,
			strerror(errno));
		return EXIT_RELAY_FAILED;
	}
	/* Only the applet's own socket is non-blocking: stdin and stdout are shared with the shell. */
	fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK);
	if (pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		dprintf(2, "docker: pipe: %s\n", strerror(errno));
		return EXIT_RELAY_FAILED;
	}
	atexit(restore_terminal);
	install_signals();
	queue_start(argc, argv);

	static uint8_t chunk[16384];
	for (;;) {
		/* stdin is read only once the engine wants it (so `docker ps` in a shell never eats typed-ahead keys) and
		 * only when the previous piece has gone out (the engine's pace limits ours). */
		int reading_stdin = stdin_wanted && stdin_open && outq.len == 0;
		struct pollfd fds[3] = {
			{.fd = sock, .events = POLLIN | (outq.len ? POLLOUT : 0)},
			{.fd = signal_pipe[0], .events = POLLIN},
			{.fd = 0, .events = POLLIN},
		};
		if (poll(fds, reading_stdin ? 3 : 2, -1) < 0) {
			if (errno == EINTR) continue;
			break;
		}
		if (fds[1].revents & POLLIN) {
			uint8_t sigs[16];
			ssize_t n = read(signal_pipe[0], sigs, sizeof sigs);
			for (ssize_t i = 0; i < n; i++) handle_signal(sigs[i]);
		}
		if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = read(sock, chunk, sizeof chunk);
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) break;
			if (n > 0) receive(chunk, n);
		}
		if (reading_stdin && (fds[2].revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t n = read(0, chunk, sizeof chunk);
			if (n > 0) {
				queue_frame(R_STDIN, chunk, n);
			} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
				stdin_open = 0; /* end of input, or a terminal that went away */
				queue_frame(R_STDIN, NULL, 0);
			}
		}
		if (outq.len && flush_queue() < 0) break;
	}
	restore_terminal();
	dprintf(2, "docker: lost the connection to the Drydock engine\n");
	return EXIT_RELAY_FAILED;
}
