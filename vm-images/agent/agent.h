/* What the parts of drydockd share: the link (drydockd.c) and container networking (network.c). */
#ifndef DRYDOCK_AGENT_H
#define DRYDOCK_AGENT_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

static inline void put16(uint8_t *p, uint16_t v) { p[0] = v; p[1] = v >> 8; }
static inline void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = v >> (8 * i); }
static inline void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = v >> (8 * i); }
static inline uint16_t get16(const uint8_t *p) { return p[0] | (p[1] << 8); }
static inline uint32_t get32(const uint8_t *p) { return p[0] | (p[1] << 8) | (p[2] << 16) | ((uint32_t)p[3] << 24); }
static inline uint64_t get64(const uint8_t *p) { return get32(p) | ((uint64_t)get32(p + 4) << 32); }

/* drydockd.c: frames on the link, the fields of a request, and a request-scoped arena for its strings. */
void send_frame(uint16_t type, uint32_t stream, const void *payload, size_t len);
void send_error(uint32_t stream, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void send_ok(uint32_t stream);
int next_field(const uint8_t *p, size_t len, size_t *pos, uint8_t *tag, const uint8_t **value, uint16_t *size);
void arena_reset(void);
char *arena_str(const uint8_t *value, uint16_t size);
int mkdir_parents(char *path, mode_t mode);

/* securejoin.c: `unsafe` looked up inside `root` as the container will see it (its symlinks followed there, `..`
 * stopped at the root); missing components are kept as named. Returns 0, or -1 with errno. */
int secure_join(const char *root, const char *unsafe, char *out, size_t size);

/* network.c: bridges, namespaces, veth pairs, routing rules, the port proxy and DNS sockets (PROTOCOL.md). */
#define NET_MAX_POLL 512
void net_init(void);
/* Handles NET, PUBLISH, UNPUBLISH, DNS_SERVE and DNS_ANSWER; returns 0 for any other type. */
int net_dispatch(uint16_t type, uint32_t id, const uint8_t *p, size_t len);
/* The engine closed a stream: a DNS server's. Returns 1 if it was one. */
int net_close_stream(uint32_t id);
/* Adds the descriptors network.c waits on; returns how many (at most max). */
int net_poll_fill(struct pollfd *fds, int max);
/* Handles the poll results of the descriptors net_poll_fill added. */
void net_poll_handle(const struct pollfd *fds, int count);

/* seccomp.c: Docker's default seccomp profile as a classic BPF program (PROTOCOL.md, SECCOMP). */
struct sock_filter;
/* Writes the filter for a container whose bounding set is `capabilities`; returns its length, or -1 if max is short. */
int seccomp_filter_build(uint64_t capabilities, struct sock_filter *insns, int max);
/* Installs that filter on the calling thread (no_new_privs or CAP_SYS_ADMIN needed); -1 and errno on failure. */
int seccomp_install(uint64_t capabilities);

#endif
