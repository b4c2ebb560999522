/*
 * curl: a small curl for the guest, enough for the REST lesson (`curl --unix-socket /var/run/docker.sock
 * http://localhost/containers/json`): one HTTP/1.1 request over a unix socket or TCP to an IPv4 address, chunked
 * answers decoded, the body written as it arrives (so an endless `/events` streams). Its options, output and exit
 * codes follow curl's for what it knows; anything else is refused with the list of what it knows.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "applets.h"

enum {
	E_OK = 0,
	E_UNSUPPORTED_PROTOCOL = 1,
	E_BAD_OPTION = 2,
	E_URL_MALFORMAT = 3,
	E_COULDNT_RESOLVE_HOST = 6,
	E_COULDNT_CONNECT = 7,
	E_WEIRD_SERVER_REPLY = 8,
	E_PARTIAL_FILE = 18,
	E_HTTP_RETURNED_ERROR = 22,
	E_WRITE_ERROR = 23,
	E_READ_ERROR = 26,
	E_OUT_OF_MEMORY = 27,
	E_GOT_NOTHING = 52,
	E_SEND_ERROR = 55,
	E_RECV_ERROR = 56,
};

#define MAX_HEADERS 64
#define MAX_HEADER_BYTES 65536

static struct {
	const char *url, *unix_socket, *method, *output, *write_out;
	char *data;
	size_t data_len;
	int has_data;
	const char *headers[MAX_HEADERS];
	int header_count;
	int silent, show_error, include, verbose, fail, head;
} opt;

/* curl prints its errors unless -s, and with -s only when -S. */
static int fail_with(int code, const char *fmt, ...) {
	if (opt.silent && !opt.show_error) return code;
	char message[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message, sizeof message, fmt, ap);
	va_end(ap);
	dprintf(2, "curl: (%d) %s\n", code, message);
	return code;
}

static int write_all(int fd, const void *data, size_t n) {
	const char *p = data;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR) continue;
			return -1;
		}
		p += w;
		n -= w;
	}
	return 0;
}

/* ---- options -------------------------------------------------------------------------------------------------- */

static const char known_options[] =
	"--unix-socket PATH, -X/--request METHOD, -d/--data DATA, --data-binary DATA, --data-raw DATA, "
	"-H/--header 'NAME: VALUE', -s/--silent, -S/--show-error, -i/--include, -I/--head, -v/--verbose, "
	"-N/--no-buffer, -f/--fail, -o/--output FILE, -w/--write-out FORMAT, -h/--help";

static void usage(int fd) {
	dprintf(fd,
		"Usage: curl [options...] <url>\n"
		"This is Drydock's small curl: HTTP/1.1 over a unix socket or TCP (IPv4), for the REST lesson.\n"
		"     --unix-socket <path>   Connect through this unix domain socket\n"
		" -X, --request <method>     Specify the request method to use\n"
		" -d, --data <data>          HTTP POST data (@file or @- reads it, without newlines)\n"
		"     --data-binary <data>   HTTP POST data, @file or @- read as they are\n"
		"     --data-raw <data>      HTTP POST data, '@' not special\n"
		" -H, --header <header>      Pass a custom header to the server ('Name:' removes one)\n"
		" -i, --include              Include the response headers in the output\n"
		" -I, --head                 Show the response headers only (a HEAD request)\n"
		" -v, --verbose              Show the request (> ) and response (< ) headers on stderr\n"
		" -s, --silent               Silent mode: no error messages\n"
		" -S, --show-error           Show error messages even when -s is used\n"
		" -f, --fail                 Fail fast with no output on HTTP errors (exit 22)\n"
		" -N, --no-buffer            Accepted: the output is never buffered here\n"
		" -o, --output <file>        Write the body to <file> instead of stdout\n"
		" -w, --write-out <format>   Print after the transfer: %%{http_code}, %%{size_download}, "
		"%%{content_type}\n"
		" -h, --help                 This help\n");
}

static int unknown_option(const char *name) {
	dprintf(2, "curl: option %s: is unknown\n", name);
	dprintf(2, "curl: this is Drydock's small curl; it knows %s\n", known_options);
	return E_BAD_OPTION;
}

/* Reads a whole file (or stdin for "-") into memory. */
static char *read_file(const char *path, size_t *len) {
	int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : 0;
	if (fd < 0) return NULL;
	size_t cap = 4096, n = 0;
	char *data = malloc(cap);
	for (;;) {
		if (!data) return NULL;
		if (n == cap) data = realloc(data, cap *= 2);
		if (!data) return NULL;
		ssize_t r = read(fd, data + n, cap - n);
		if (r < 0 && errno == EINTR) continue;
		if (r < 0) {
			free(data);
			data = NULL;
			break;
		}
		if (r == 0) break;
		n += r;
	}
	if (fd != 0) close(fd);
	*len = n;
	return data;
}

enum data_kind { DATA_ASCII, DATA_BINARY, DATA_RAW };

/* Several -d join with '&', as curl does; -d @file drops carriage returns and newlines, --data-binary keeps them. */
static int add_data(const char *value, enum data_kind kind) {
	size_t len = strlen(value);
	char *owned = NULL;
	if (kind != DATA_RAW && value[0] == '@') {
		owned = read_file(value + 1, &len);
		if (!owned) return fail_with(E_READ_ERROR, "Failed to open/read local data from file/application");
		if (kind == DATA_ASCII) {
			size_t kept = 0;
			for (size_t i = 0; i < len; i++)
				if (owned[i] != '\r' && owned[i] != '\n') owned[kept++] = owned[i];
			len = kept;
		}
		value = owned;
	}
	char *data = realloc(opt.data, opt.data_len + 1 + len);
	if (!data) return fail_with(E_OUT_OF_MEMORY, "out of memory");
	opt.data = data;
	if (opt.has_data) opt.data[opt.data_len++] = '&';
	memcpy(opt.data + opt.data_len, value, len);
	opt.data_len += len;
	opt.has_data = 1;
	free(owned);
	return 0;
}

struct option_spec {
	const char *name;
	char letter;
	int takes_value;
};

static const struct option_spec options[] = {
	{"unix-socket", 0, 1}, {"request", 'X', 1}, {"data", 'd', 1},      {"data-ascii", 0, 1},
	{"data-binary", 0, 1}, {"data-raw", 0, 1},  {"header", 'H', 1},    {"silent", 's', 0},
	{"show-error", 'S', 0}, {"include", 'i', 0}, {"head", 'I', 0},      {"verbose", 'v', 0},
	{"no-buffer", 'N', 0}, {"fail", 'f', 0},    {"output", 'o', 1},    {"write-out", 'w', 1},
	{"help", 'h', 0},
};

/* Applies one option; returns 0 or an exit code. -1 means "print the help and stop". */
static int apply_option(const struct option_spec *o, const char *value) {
	const char *n = o->name;
	if (!strcmp(n, "unix-socket")) opt.unix_socket = value;
	else if (!strcmp(n, "request")) opt.method = value;
	else if (!strcmp(n, "data") || !strcmp(n, "data-ascii")) return add_data(value, DATA_ASCII);
	else if (!strcmp(n, "data-binary")) return add_data(value, DATA_BINARY);
	else if (!strcmp(n, "data-raw")) return add_data(value, DATA_RAW);
	else if (!strcmp(n, "header")) {
		if (opt.header_count == MAX_HEADERS) return fail_with(E_BAD_OPTION, "too many headers (%d)", MAX_HEADERS);
		opt.headers[opt.header_count++] = value;
	} else if (!strcmp(n, "silent")) opt.silent = 1;
	else if (!strcmp(n, "show-error")) opt.show_error = 1;
	else if (!strcmp(n, "include")) opt.include = 1;
	else if (!strcmp(n, "head")) opt.head = 1;
	else if (!strcmp(n, "verbose")) opt.verbose = 1;
	else if (!strcmp(n, "fail")) opt.fail = 1;
	else if (!strcmp(n, "output")) opt.output = value;
	else if (!strcmp(n, "write-out")) opt.write_out = value;
	else if (!strcmp(n, "help")) return -1;
	return 0; /* --no-buffer: nothing is buffered anyway */
}

static int parse_args(int argc, char **argv) {
	int only_urls = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const struct option_spec *o = NULL;
		const char *value = NULL;
		if (!only_urls && !strcmp(a, "--")) {
			only_urls = 1;
			continue;
		}
		if (!only_urls && a[0] == '-' && a[1] == '-') {
			for (size_t k = 0; k < sizeof options / sizeof *options && !o; k++)
				if (!strcmp(a + 2, options[k].name)) o = &options[k];
			if (!o) return unknown_option(a);
			if (o->takes_value) {
				if (++i == argc) {
					dprintf(2, "curl: option %s: requires parameter\n", a);
					return E_BAD_OPTION;
				}
				value = argv[i];
			}
			int r = apply_option(o, value);
			if (r) return r;
			continue;
		}
		if (!only_urls && a[0] == '-' && a[1]) {
			/* Short options combine (-sSf); one that takes a value ends the group (-XPOST, or the next word). */
			for (const char *c = a + 1; *c; c++) {
				o = NULL;
				for (size_t k = 0; k < sizeof options / sizeof *options && !o; k++)
					if (options[k].letter == *c) o = &options[k];
				if (!o) {
					char name[3] = {'-', *c, 0};
					return unknown_option(name);
				}
				value = NULL;
				if (o->takes_value) {
					if (c[1]) value = c + 1;
					else if (++i < argc) value = argv[i];
					else {
						dprintf(2, "curl: option -%c: requires parameter\n", *c);
						return E_BAD_OPTION;
					}
				}
				int r = apply_option(o, value);
				if (r) return r;
				if (value) break;
			}
			continue;
		}
		if (opt.url) {
			dprintf(2, "curl: Drydock's small curl takes one URL (got %s and %s)\n", opt.url, a);
			return E_BAD_OPTION;
		}
		opt.url = a;
	}
	if (!opt.url) {
		dprintf(2, "curl: no URL specified\ncurl: try 'curl --help' for more information\n");
		return E_BAD_OPTION;
	}
	return 0;
}

/* ---- the URL -------------------------------------------------------------------------------------------------- */

static struct {
	char host[256];
	int port, port_given;
	char *path;
} url;

static int parse_url(const char *text) {
	const char *rest = text;
	const char *sep = strstr(text, "://");
	if (sep) {
		if ((size_t)(sep - text) != 4 || strncasecmp(text, "http", 4)) {
			return fail_with(E_UNSUPPORTED_PROTOCOL, "Protocol \"%.*s\" not supported (Drydock's small curl speaks http)",
					 (int)(sep - text), text);
		}
		rest = sep + 3;
	}
	size_t authority = strcspn(rest, "/?#");
	const char *at = memchr(rest, '@', authority);
	if (at) { /* user:password@ is not sent anywhere: no authentication here */
		authority -= at + 1 - rest;
		rest = at + 1;
	}
	const char *colon = memchr(rest, ':', authority);
	size_t host_len = colon ? (size_t)(colon - rest) : authority;
	if (host_len == 0) return fail_with(E_URL_MALFORMAT, "URL rejected: No host part in the URL");
	if (host_len >= sizeof url.host) return fail_with(E_URL_MALFORMAT, "URL rejected: Malformed input to a URL function");
	memcpy(url.host, rest, host_len);
	url.host[host_len] = 0;
	url.port = 80;
	if (colon && colon + 1 < rest + authority) {
		char *end;
		long port = strtol(colon + 1, &end, 10);
		if (end != rest + authority || port < 1 || port > 65535)
			return fail_with(E_URL_MALFORMAT, "URL rejected: Port number was not a decimal number between 0 and 65535");
		url.port = port;
		url.port_given = port != 80;
	}
	const char *path = rest + authority;
	size_t path_len = strcspn(path, "#");
	url.path = malloc(path_len + 2);
	if (!url.path) return fail_with(E_OUT_OF_MEMORY, "out of memory");
	snprintf(url.path, path_len + 2, "%s%.*s", path[0] == '/' ? "" : "/", (int)path_len, path);
	return 0;
}

/* ---- connecting ----------------------------------------------------------------------------------------------- */

static int connect_server(int *fd_out) {
	int fd;
	if (opt.unix_socket) {
		struct sockaddr_un addr = {.sun_family = AF_UNIX};
		if (strlen(opt.unix_socket) >= sizeof addr.sun_path)
			return fail_with(E_COULDNT_CONNECT, "the unix socket path is too long: %s", opt.unix_socket);
		strcpy(addr.sun_path, opt.unix_socket);
		if (opt.verbose) dprintf(2, "*   Trying %s:0...\n", opt.unix_socket);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0)
			return fail_with(E_COULDNT_CONNECT, "Failed to connect to %s port %d via %s: %s", url.host, url.port,
					 opt.unix_socket, strerror(errno));
		if (opt.verbose) dprintf(2, "* Connected to %s (%s) port %d\n", url.host, opt.unix_socket, url.port);
	} else {
		/* The guest has loopback only, and no resolver: an IPv4 address, or localhost. */
		struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(url.port)};
		if (!strcasecmp(url.host, "localhost")) addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		else if (!inet_aton(url.host, &addr.sin_addr))
			return fail_with(E_COULDNT_RESOLVE_HOST, "Could not resolve host: %s", url.host);
		char ip[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &addr.sin_addr, ip, sizeof ip);
		if (opt.verbose) dprintf(2, "*   Trying %s:%d...\n", ip, url.port);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0)
			return fail_with(E_COULDNT_CONNECT, "Failed to connect to %s port %d: %s", url.host, url.port,
					 strerror(errno));
		if (opt.verbose) dprintf(2, "* Connected to %s (%s) port %d\n", url.host, ip, url.port);
	}
	*fd_out = fd;
	return 0;
}

/* ---- the request ---------------------------------------------------------------------------------------------- */

struct text {
	char *data;
	size_t len, cap;
};

static int text_add(struct text *t, const char *p, size_t n) {
	if (t->len + n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 1024;
		while (cap < t->len + n + 1) cap *= 2;
		char *data = realloc(t->data, cap);
		if (!data) return -1;
		t->data = data;
		t->cap = cap;
	}
	memcpy(t->data + t->len, p, n);
	t->len += n;
	t->data[t->len] = 0;
	return 0;
}

/* Adds one header line (and shows it with -v), unless the user's -H replaced or removed it. */
static int user_overrides(const char *name) {
	size_t n = strlen(name);
	for (int i = 0; i < opt.header_count; i++)
		if (!strncasecmp(opt.headers[i], name, n) && (opt.headers[i][n] == ':' || opt.headers[i][n] == ';')) return 1;
	return 0;
}

static void add_header(struct text *req, const char *name, const char *value) {
	if (user_overrides(name)) return;
	text_add(req, name, strlen(name));
	text_add(req, ": ", 2);
	text_add(req, value, strlen(value));
	text_add(req, "\r\n", 2);
}

static int send_request(int fd) {
	struct text req = {0};
	char line[512];
	const char *method = opt.method ? opt.method : opt.head ? "HEAD" : opt.has_data ? "POST" : "GET";
	text_add(&req, method, strlen(method));
	text_add(&req, " ", 1);
	text_add(&req, url.path, strlen(url.path));
	text_add(&req, " HTTP/1.1\r\n", 11);
	if (url.port_given) snprintf(line, sizeof line, "%s:%d", url.host, url.port);
	else snprintf(line, sizeof line, "%s", url.host);
	add_header(&req, "Host", line);
	add_header(&req, "User-Agent", "curl/8.0 (drydock)");
	add_header(&req, "Accept", "*/*");
	for (int i = 0; i < opt.header_count; i++) {
		const char *h = opt.headers[i];
		size_t name_len = strcspn(h, ":;");
		if (!h[name_len] || name_len == 0) continue; /* not a header: curl ignores it too */
		const char *value = h + name_len + 1;
		while (*value == ' ' || *value == '\t') value++;
		if (h[name_len] == ':' && !*value) continue; /* "Name:" removes the header */
		text_add(&req, h, name_len);
		text_add(&req, ": ", 2);
		text_add(&req, value, strlen(value));
		text_add(&req, "\r\n", 2);
	}
	if (opt.has_data) {
		snprintf(line, sizeof line, "%zu", opt.data_len);
		add_header(&req, "Content-Length", line);
		add_header(&req, "Content-Type", "application/x-www-form-urlencoded");
	}
	if (text_add(&req, "\r\n", 2) < 0) return fail_with(E_OUT_OF_MEMORY, "out of memory");
	if (opt.verbose) {
		for (char *p = req.data; p < req.data + req.len;) {
			char *end = strstr(p, "\r\n");
			dprintf(2, "> %.*s\r\n", (int)(end - p), p);
			p = end + 2;
		}
	}
	if (write_all(fd, req.data, req.len) < 0 || (opt.has_data && write_all(fd, opt.data, opt.data_len) < 0))
		return fail_with(E_SEND_ERROR, "Failed sending data to the peer: %s", strerror(errno));
	free(req.data);
	return 0;
}

/* ---- the answer ----------------------------------------------------------------------------------------------- */

static int sock = -1;
static char rbuf[MAX_HEADER_BYTES];
static size_t rpos, rlen;
static int out_fd = -1;
static long long downloaded;
static int http_code;
static char content_type[256];

/* Reads more of the answer into rbuf; returns the bytes read, 0 at its end, -1 on an error. */
static ssize_t fill(void) {
	if (rpos > 0) {
		memmove(rbuf, rbuf + rpos, rlen - rpos);
		rlen -= rpos;
		rpos = 0;
	}
	if (rlen == sizeof rbuf) return -1;
	for (;;) {
		ssize_t n = read(sock, rbuf + rlen, sizeof rbuf - rlen);
		if (n < 0 && errno == EINTR) continue;
		if (n > 0) rlen += n;
		return n;
	}
}

/* The next line of the head, without its CRLF (a bare LF is accepted); NULL at the end of the stream. */
static char *read_line(int *too_long) {
	*too_long = 0;
	for (;;) {
		char *nl = memchr(rbuf + rpos, '\n', rlen - rpos);
		if (nl) {
			char *line = rbuf + rpos;
			rpos = nl + 1 - rbuf;
			*nl = 0;
			if (nl > line && nl[-1] == '\r') nl[-1] = 0;
			return line;
		}
		if (rpos == 0 && rlen == sizeof rbuf) {
			*too_long = 1;
			return NULL;
		}
		if (fill() <= 0) return NULL;
	}
}

/* The body goes to stdout or the -o file, opened at its first byte as curl does. */
static int output(const char *p, size_t n) {
	if (out_fd < 0) {
		out_fd = opt.output ? open(opt.output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666) : 1;
		if (out_fd < 0) return fail_with(E_WRITE_ERROR, "Failed to open the file %s: %s", opt.output, strerror(errno));
	}
	if (n && write_all(out_fd, p, n) < 0) return fail_with(E_WRITE_ERROR, "Failure writing output to destination");
	return 0;
}

/* Copies `want` body bytes (or up to the end of the stream when want < 0) to the output as they arrive. */
static int copy_body(long long want, int *ended_early) {
	*ended_early = 0;
	while (want != 0) {
		if (rpos == rlen) {
			rpos = rlen = 0;
			ssize_t n = fill();
			if (n < 0) return fail_with(E_RECV_ERROR, "Failure when receiving data from the peer: %s", strerror(errno));
			if (n == 0) {
				*ended_early = want > 0;
				return 0;
			}
		}
		size_t take = rlen - rpos;
		if (want > 0 && (long long)take > want) take = want;
		downloaded += take;
		int r = output(rbuf + rpos, take);
		if (r) return r;
		rpos += take;
		if (want > 0) want -= take;
	}
	return 0;
}

static int read_chunked(void) {
	int too_long, ended_early;
	for (;;) {
		char *line = read_line(&too_long);
		if (!line) return fail_with(E_PARTIAL_FILE, "transfer closed with outstanding read data remaining");
		char *end;
		long long size = strtoll(line, &end, 16);
		if (end == line || size < 0) return fail_with(E_RECV_ERROR, "invalid chunk size '%s'", line);
		if (size == 0) {
			/* Trailers, up to the empty line; a server that closes right after the last chunk is tolerated. */
			while ((line = read_line(&too_long)) && *line) {
			}
			return 0;
		}
		int r = copy_body(size, &ended_early);
		if (r) return r;
		if (ended_early) return fail_with(E_PARTIAL_FILE, "transfer closed with outstanding read data remaining");
		line = read_line(&too_long);
		if (!line) return fail_with(E_PARTIAL_FILE, "transfer closed with outstanding read data remaining");
	}
}

static int read_response(void) {
	int too_long;
	char *line;
	long long length = -1;
	int chunked = 0, first = 1;
	for (;;) { /* informational answers (100 Continue) precede the real one */
		line = read_line(&too_long);
		if (!line && first && rlen == 0) return fail_with(E_GOT_NOTHING, "Empty reply from server");
		if (!line || strncmp(line, "HTTP/1.", 7) || strlen(line) < 12)
			return fail_with(E_WEIRD_SERVER_REPLY, "Weird server reply");
		first = 0;
		http_code = atoi(line + 9);
		if (http_code >= 200 || http_code == 101) break;
		if (opt.verbose) dprintf(2, "< %s\r\n", line);
		while ((line = read_line(&too_long)) && *line)
			if (opt.verbose) dprintf(2, "< %s\r\n", line);
	}
	int failing = opt.fail && http_code >= 400;
	for (;; line = read_line(&too_long)) {
		if (!line) {
			if (too_long) return fail_with(E_WEIRD_SERVER_REPLY, "the answer's headers exceed %d bytes", MAX_HEADER_BYTES);
			return fail_with(E_RECV_ERROR, "the server closed the connection in the middle of the headers");
		}
		if (opt.verbose) dprintf(2, "< %s\r\n", line);
		if ((opt.include || opt.head) && !failing) {
			int r = output(line, strlen(line));
			if (!r) r = output("\r\n", 2);
			if (r) return r;
		}
		if (!*line) break;
		char *colon = strchr(line, ':');
		if (!colon) continue;
		*colon = 0;
		char *value = colon + 1;
		while (*value == ' ' || *value == '\t') value++;
		if (!strcasecmp(line, "Content-Length")) length = strtoll(value, NULL, 10);
		else if (!strcasecmp(line, "Transfer-Encoding") && strcasestr(value, "chunked")) chunked = 1;
		else if (!strcasecmp(line, "Content-Type")) snprintf(content_type, sizeof content_type, "%s", value);
	}
	if (failing) return fail_with(E_HTTP_RETURNED_ERROR, "The requested URL returned error: %d", http_code);
	const char *method = opt.method ? opt.method : opt.head ? "HEAD" : "";
	if (!strcmp(method, "HEAD") || http_code == 204 || http_code == 304) return 0;
	if (chunked) return read_chunked();
	int ended_early;
	int r = copy_body(length, &ended_early);
	if (r) return r;
	if (ended_early)
		return fail_with(E_PARTIAL_FILE, "transfer closed with %lld bytes remaining to read", length - downloaded);
	return 0;
}

/* -w: %{http_code} and friends, and the \n, \r, \t escapes curl understands there. */
static void write_out(int exit_code) {
	char out[4096];
	size_t n = 0;
	for (const char *p = opt.write_out; *p && n < sizeof out - 64; p++) {
		if (p[0] == '\\' && p[1]) {
			p++;
			out[n++] = *p == 'n' ? '\n' : *p == 'r' ? '\r' : *p == 't' ? '\t' : *p;
		} else if (p[0] == '%' && p[1] == '%') {
			out[n++] = '%';
			p++;
		} else if (p[0] == '%' && p[1] == '{' && strchr(p, '}')) {
			const char *name = p + 2;
			size_t len = strchr(p, '}') - name;
			if (len == 9 && !strncmp(name, "http_code", 9)) n += snprintf(out + n, 64, "%03d", http_code);
			else if (len == 13 && !strncmp(name, "response_code", 13)) n += snprintf(out + n, 64, "%03d", http_code);
			else if (len == 13 && !strncmp(name, "size_download", 13)) n += snprintf(out + n, 64, "%lld", downloaded);
			else if (len == 8 && !strncmp(name, "exitcode", 8)) n += snprintf(out + n, 64, "%d", exit_code);
			else if (len == 12 && !strncmp(name, "content_type", 12))
				n += snprintf(out + n, 64, "%.60s", content_type);
			else dprintf(2, "curl: unknown --write-out variable: '%.*s'\n", (int)len, name);
			p = name + len;
		} else {
			out[n++] = *p;
		}
	}
	write_all(1, out, n);
}

int curl_main(int argc, char **argv) {
	int r = parse_args(argc, argv);
	if (r == -1) {
		usage(1);
		return 0;
	}
	if (r) return r;
	if ((r = parse_url(opt.url)) || (r = connect_server(&sock)) || (r = send_request(sock))) {
		if (opt.write_out) write_out(r);
		return r;
	}
	r = read_response();
	if (opt.write_out) write_out(r);
	return r;
}
