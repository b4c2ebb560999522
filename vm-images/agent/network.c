/*
 * Container networking in drydockd, as `dockerd --iptables=false --userland-proxy=true` has it (PROTOCOL.md,
 * "Networking"): bridges, network namespaces held at a path, veth pairs, policy-routing rules (all through
 * rtnetlink, so the guest needs no `ip` binary), VXLAN devices and their flood entries for a swarm's overlay
 * networks, the userland port proxy (what docker-proxy does: listen in the guest,
 * splice each connection or datagram to the container) and the sockets of the embedded DNS server, whose queries the
 * engine answers. The engine decides every name and address; this file only performs.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fib_rules.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "protocol.h"

#define MAX_PROXIES 64
#define MAX_SPLICES 96
#define MAX_FLOWS 64
#define MAX_DNS 64
#define DNS_PENDING 32
#define SPLICE_BUF 16384
/* Rules from one user network to another sit above the main table's lookup (32766), below local (0). */
#define RULE_PRIORITY 1000

/* drydockd's own network namespace, to come back to after working inside a container's. */
static int own_net = -1;

void net_init(void) { own_net = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC); }

/* ---- rtnetlink ----------------------------------------------------------------------------------------------- */

struct nlbuf {
	union {
		struct nlmsghdr h;
		uint8_t bytes[2048];
	};
};

static void *nl_tail(struct nlmsghdr *h) { return (uint8_t *)h + NLMSG_ALIGN(h->nlmsg_len); }

static void *nl_init(struct nlbuf *b, int type, int flags, size_t header) {
	memset(b, 0, sizeof *b);
	b->h.nlmsg_len = NLMSG_LENGTH(header);
	b->h.nlmsg_type = type;
	b->h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	return NLMSG_DATA(&b->h);
}

static struct rtattr *nl_attr(struct nlmsghdr *h, int type, const void *data, size_t len) {
	struct rtattr *a = nl_tail(h);
	a->rta_type = type;
	a->rta_len = RTA_LENGTH(len);
	if (len) memcpy(RTA_DATA(a), data, len);
	h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + RTA_ALIGN(a->rta_len);
	return a;
}

static void nl_attr_str(struct nlmsghdr *h, int type, const char *s) { nl_attr(h, type, s, strlen(s) + 1); }
static void nl_attr_u32(struct nlmsghdr *h, int type, uint32_t v) { nl_attr(h, type, &v, 4); }
static void nl_attr_u8(struct nlmsghdr *h, int type, uint8_t v) { nl_attr(h, type, &v, 1); }
static void nl_end(struct nlmsghdr *h, struct rtattr *nest) { nest->rta_len = (uint8_t *)nl_tail(h) - (uint8_t *)nest; }

/* Sends one request on a fresh socket (a netlink socket works in the namespace it was made in) and returns the
 * kernel's answer: 0 or -errno. */
static int nl_talk(struct nlmsghdr *h) {
	static uint32_t seq;
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0) return -errno;
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	h->nlmsg_seq = ++seq;
	if (sendto(fd, h, h->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	static uint8_t answer[8192];
	for (;;) {
		ssize_t n = recv(fd, answer, sizeof answer, 0);
		if (n < 0) {
			if (errno == EINTR) continue;
			int e = errno;
			close(fd);
			return -e;
		}
		int len = n;
		for (struct nlmsghdr *r = (struct nlmsghdr *)answer; NLMSG_OK(r, len); r = NLMSG_NEXT(r, len)) {
			if (r->nlmsg_seq != seq) continue;
			if (r->nlmsg_type == NLMSG_ERROR) {
				int e = ((struct nlmsgerr *)NLMSG_DATA(r))->error;
				close(fd);
				return e;
			}
		}
	}
}

/* `ip link set INDEX up [master MASTER]` */
static int link_up(int index, int master) {
	struct nlbuf b;
	struct ifinfomsg *ifi = nl_init(&b, RTM_NEWLINK, 0, sizeof *ifi);
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = index;
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	if (master) nl_attr_u32(&b.h, IFLA_MASTER, master);
	return nl_talk(&b.h);
}

/* `ip link del INDEX` */
static int link_delete(int index) {
	struct nlbuf b;
	struct ifinfomsg *ifi = nl_init(&b, RTM_DELLINK, 0, sizeof *ifi);
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = index;
	return nl_talk(&b.h);
}

/* `ip addr add ADDRESS/PREFIX dev INDEX` (EEXIST when it is there already) */
static int addr_add(int index, struct in_addr address, int prefix) {
	struct nlbuf b;
	struct ifaddrmsg *ifa = nl_init(&b, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, sizeof *ifa);
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = prefix;
	ifa->ifa_index = index;
	nl_attr(&b.h, IFA_LOCAL, &address, 4);
	nl_attr(&b.h, IFA_ADDRESS, &address, 4);
	if (prefix < 31) {
		struct in_addr broadcast = {.s_addr = address.s_addr | htonl(prefix ? 0xffffffffu >> prefix : 0xffffffffu)};
		nl_attr(&b.h, IFA_BROADCAST, &broadcast, 4);
	}
	return nl_talk(&b.h);
}

/* `ip route add default via GATEWAY dev INDEX` */
static int route_default(int index, struct in_addr gateway) {
	struct nlbuf b;
	struct rtmsg *rt = nl_init(&b, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, sizeof *rt);
	rt->rtm_family = AF_INET;
	rt->rtm_table = RT_TABLE_MAIN;
	rt->rtm_protocol = RTPROT_BOOT;
	rt->rtm_scope = RT_SCOPE_UNIVERSE;
	rt->rtm_type = RTN_UNICAST;
	nl_attr(&b.h, RTA_GATEWAY, &gateway, 4);
	nl_attr_u32(&b.h, RTA_OIF, index);
	return nl_talk(&b.h);
}

/* `ip rule add|del from FROM to TO prohibit` */
static int rule(int add, struct in_addr from, int from_len, struct in_addr to, int to_len) {
	struct nlbuf b;
	struct fib_rule_hdr *fr =
		nl_init(&b, add ? RTM_NEWRULE : RTM_DELRULE, add ? NLM_F_CREATE | NLM_F_EXCL : 0, sizeof *fr);
	fr->family = AF_INET;
	fr->src_len = from_len;
	fr->dst_len = to_len;
	fr->action = FR_ACT_PROHIBIT;
	nl_attr(&b.h, FRA_SRC, &from, 4);
	nl_attr(&b.h, FRA_DST, &to, 4);
	nl_attr_u32(&b.h, FRA_PRIORITY, RULE_PRIORITY);
	return nl_talk(&b.h);
}

/* "a.b.c.d/len" or "a.b.c.d" (a /32); the address is masked when `network` is set (a subnet). */
static int parse_cidr(const char *text, struct in_addr *address, int *prefix, int network) {
	if (!text) return -1;
	char copy[64];
	snprintf(copy, sizeof copy, "%s", text);
	char *slash = strchr(copy, '/');
	*prefix = 32;
	if (slash) {
		*slash = 0;
		char *end;
		long n = strtol(slash + 1, &end, 10);
		if (*end || end == slash + 1 || n < 0 || n > 32) return -1;
		*prefix = n;
	}
	if (inet_pton(AF_INET, copy, address) != 1) return -1;
	if (network && *prefix < 32) address->s_addr &= htonl(*prefix ? 0xffffffffu << (32 - *prefix) : 0);
	return 0;
}

/* Enters the network namespace at `path` (none: stay); leave_netns comes back. */
static int enter_netns(const char *path) {
	if (!path) return 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) return -errno;
	int r = setns(fd, CLONE_NEWNET);
	int e = errno;
	close(fd);
	return r < 0 ? -e : 0;
}

static void leave_netns(const char *path) {
	if (path && setns(own_net, CLONE_NEWNET) < 0) {
		dprintf(2, "drydockd: cannot return to its own network namespace: %s\n", strerror(errno));
		_exit(1);
	}
}

/* ---- DNS sockets --------------------------------------------------------------------------------------------- */

static struct dns_server {
	int used;
	uint32_t id;
	int fd;
	char netns[128];
	uint32_t next_query;
	struct {
		uint32_t query;
		struct sockaddr_in from;
	} pending[DNS_PENDING];
} dns[MAX_DNS];

static void dns_close(struct dns_server *d, int tell) {
	close(d->fd);
	d->used = 0;
	if (tell) send_frame(MSG_CLOSE, d->id, NULL, 0);
}

/* ---- NET ----------------------------------------------------------------------------------------------------- */

static void do_net(uint32_t id, const uint8_t *p, size_t len) {
	arena_reset();
	size_t pos = 0;
	uint8_t tag, op = 0;
	const uint8_t *v, *mac = NULL;
	uint16_t size;
	char *ifname = NULL, *peer = NULL, *address = NULL, *gateway = NULL, *netns = NULL, *master = NULL, *from = NULL,
	     *to = NULL;
	/* BRIDGE_ADD takes several ADDRESS fields (the first is the primary one); the other ops read the last. */
	char *addresses[4];
	int n_addresses = 0;
	uint32_t vni = 0, mtu = 0;
	int has_vni = 0;
	while (next_field(p, len, &pos, &tag, &v, &size)) {
		switch (tag) {
		case F_OP: if (size == 1) op = v[0]; break;
		case F_IFNAME: ifname = arena_str(v, size); break;
		case F_PEER: peer = arena_str(v, size); break;
		case F_ADDRESS:
			address = arena_str(v, size);
			if (n_addresses < 4) addresses[n_addresses++] = address;
			break;
		case F_VNI: if (size == 4) vni = get32(v), has_vni = 1; break;
		case F_MTU: if (size == 4) mtu = get32(v); break;
		case F_MAC: if (size == 6) mac = v; break;
		case F_GATEWAY: gateway = arena_str(v, size); break;
		case F_NETNS: netns = arena_str(v, size); break;
		case F_MASTER: master = arena_str(v, size); break;
		case F_FROM: from = arena_str(v, size); break;
		case F_TO: to = arena_str(v, size); break;
		}
	}
	struct in_addr a, b;
	int a_len, b_len, r, index;
	switch (op) {
	case NET_BRIDGE_ADD: {
		if (!ifname || strlen(ifname) >= IFNAMSIZ || parse_cidr(address, &a, &a_len, 0) < 0)
			return send_error(id, EINVAL, "a bridge needs IFNAME and ADDRESS (a.b.c.d/len)");
		struct nlbuf m;
		struct ifinfomsg *ifi = nl_init(&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, sizeof *ifi);
		ifi->ifi_family = AF_UNSPEC;
		nl_attr_str(&m.h, IFLA_IFNAME, ifname);
		/* A MAC of its own, as dockerd gives its bridges: without one the bridge takes its lowest port's and changes
		 * it when that port goes, and every container's ARP entry for the gateway goes stale with it. */
		uint8_t bridge_mac[6];
		if (getrandom(bridge_mac, sizeof bridge_mac, 0) == sizeof bridge_mac) {
			bridge_mac[0] = (bridge_mac[0] & 0xfe) | 0x02; /* unicast, locally administered */
			nl_attr(&m.h, IFLA_ADDRESS, bridge_mac, sizeof bridge_mac);
		}
		struct rtattr *info = nl_attr(&m.h, IFLA_LINKINFO, NULL, 0);
		nl_attr(&m.h, IFLA_INFO_KIND, "bridge", 6);
		nl_end(&m.h, info);
		if ((r = nl_talk(&m.h)) < 0 && r != -EEXIST)
			return send_error(id, -r, "ip link add %s type bridge: %s", ifname, strerror(-r));
		if (!(index = if_nametoindex(ifname))) return send_error(id, errno, "%s: %s", ifname, strerror(errno));
		for (int i = 0; i < n_addresses; i++) {
			if (parse_cidr(addresses[i], &a, &a_len, 0) < 0)
				return send_error(id, EINVAL, "a bridge's ADDRESS %s is not a.b.c.d/len", addresses[i]);
			if ((r = addr_add(index, a, a_len)) < 0 && r != -EEXIST)
				return send_error(id, -r, "ip addr add %s dev %s: %s", addresses[i], ifname, strerror(-r));
		}
		if ((r = link_up(index, 0)) < 0) return send_error(id, -r, "ip link set %s up: %s", ifname, strerror(-r));
		return send_ok(id);
	}
	case NET_VXLAN_ADD: {
		if (!ifname || strlen(ifname) >= IFNAMSIZ || !has_vni || vni == 0 || vni > 0xffffff || !master ||
		    !address || inet_pton(AF_INET, address, &a) != 1)
			return send_error(id, EINVAL, "a vxlan device needs IFNAME, VNI (1-16777215), ADDRESS (a.b.c.d) and MASTER");
		int bridge = if_nametoindex(master);
		if (!bridge) return send_error(id, ENODEV, "bridge %s: %s", master, strerror(ENODEV));
		struct nlbuf m;
		struct ifinfomsg *ifi = nl_init(&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, sizeof *ifi);
		ifi->ifi_family = AF_UNSPEC;
		nl_attr_str(&m.h, IFLA_IFNAME, ifname);
		if (mtu) nl_attr_u32(&m.h, IFLA_MTU, mtu);
		struct rtattr *info = nl_attr(&m.h, IFLA_LINKINFO, NULL, 0);
		nl_attr(&m.h, IFLA_INFO_KIND, "vxlan", 5);
		struct rtattr *data = nl_attr(&m.h, IFLA_INFO_DATA, NULL, 0);
		nl_attr_u32(&m.h, IFLA_VXLAN_ID, vni);
		nl_attr(&m.h, IFLA_VXLAN_LOCAL, &a, 4);
		uint16_t port = htons(4789);
		nl_attr(&m.h, IFLA_VXLAN_PORT, &port, 2);
		nl_attr_u8(&m.h, IFLA_VXLAN_LEARNING, 1);
		nl_end(&m.h, data);
		nl_end(&m.h, info);
		if ((r = nl_talk(&m.h)) < 0 && r != -EEXIST)
			return send_error(id, -r, "ip link add %s type vxlan id %u local %s dstport 4789: %s", ifname, vni, address,
					  strerror(-r));
		if (!(index = if_nametoindex(ifname))) return send_error(id, errno, "%s: %s", ifname, strerror(errno));
		if ((r = link_up(index, bridge)) < 0)
			return send_error(id, -r, "ip link set %s master %s up: %s", ifname, master, strerror(-r));
		return send_ok(id);
	}
	case NET_FDB_ADD:
	case NET_FDB_DEL: {
		if (!ifname || !address || inet_pton(AF_INET, address, &a) != 1)
			return send_error(id, EINVAL, "a flood entry needs IFNAME (a vxlan device) and ADDRESS (a.b.c.d)");
		if (!(index = if_nametoindex(ifname))) return send_error(id, ENODEV, "%s: %s", ifname, strerror(ENODEV));
		/* The all-zero MAC: broadcast, multicast and unknown unicast go to every such destination (head-end
		 * replication); known unicast goes where the device learned the MAC from. */
		struct nlbuf m;
		int add = op == NET_FDB_ADD;
		struct ndmsg *nd = nl_init(&m, add ? RTM_NEWNEIGH : RTM_DELNEIGH, add ? NLM_F_CREATE | NLM_F_APPEND : 0,
					   sizeof *nd);
		nd->ndm_family = AF_BRIDGE;
		nd->ndm_ifindex = index;
		nd->ndm_state = NUD_PERMANENT | NUD_NOARP;
		nd->ndm_flags = NTF_SELF;
		static const uint8_t zero[6];
		nl_attr(&m.h, NDA_LLADDR, zero, 6);
		nl_attr(&m.h, NDA_DST, &a, 4);
		r = nl_talk(&m.h);
		if (r < 0 && !(add && r == -EEXIST))
			return send_error(id, -r, "bridge fdb %s 00:00:00:00:00:00 dev %s dst %s: %s", add ? "append" : "del",
					  ifname, address, strerror(-r));
		return send_ok(id);
	}
	case NET_LINK_DEL: {
		if (!ifname) return send_error(id, EINVAL, "deleting a link needs IFNAME");
		if ((r = enter_netns(netns)) < 0) return send_error(id, -r, "enter %s: %s", netns, strerror(-r));
		index = if_nametoindex(ifname);
		r = index ? link_delete(index) : -ENODEV;
		leave_netns(netns);
		if (r < 0) return send_error(id, -r, "ip link del %s: %s", ifname, strerror(-r));
		return send_ok(id);
	}
	case NET_NETNS_ADD: {
		if (!netns || netns[0] != '/') return send_error(id, EINVAL, "a network namespace needs NETNS (a path)");
		char *slash = strrchr(netns, '/');
		if (slash != netns) {
			*slash = 0;
			int made = mkdir_parents(netns, 0755);
			*slash = '/';
			if (made < 0) return send_error(id, errno, "mkdir -p %.*s: %s", (int)(slash - netns), netns, strerror(errno));
		}
		int fd = open(netns, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
		if (fd < 0) return send_error(id, errno, "ip netns add %s: %s", netns, strerror(errno));
		close(fd);
		if (unshare(CLONE_NEWNET) < 0) {
			int e = errno;
			unlink(netns);
			return send_error(id, e, "ip netns add %s: unshare: %s", netns, strerror(e));
		}
		/* A new namespace has `lo` (index 1), down. */
		r = link_up(1, 0);
		int mounted = mount("/proc/self/ns/net", netns, NULL, MS_BIND, NULL);
		int e = errno;
		leave_netns(netns);
		if (mounted < 0 || r < 0) {
			if (!mounted) umount2(netns, MNT_DETACH);
			unlink(netns);
			if (mounted < 0) return send_error(id, e, "ip netns add %s: bind the namespace: %s", netns, strerror(e));
			return send_error(id, -r, "ip netns exec %s ip link set lo up: %s", netns, strerror(-r));
		}
		return send_ok(id);
	}
	case NET_NETNS_DEL: {
		if (!netns) return send_error(id, EINVAL, "deleting a network namespace needs NETNS");
		/* Its DNS sockets would keep the namespace (and its interfaces) alive. */
		for (int i = 0; i < MAX_DNS; i++)
			if (dns[i].used && !strcmp(dns[i].netns, netns)) dns_close(&dns[i], 1);
		if (umount2(netns, MNT_DETACH) < 0) return send_error(id, errno, "ip netns del %s: %s", netns, strerror(errno));
		unlink(netns);
		return send_ok(id);
	}
	case NET_VETH_ADD: {
		if (!ifname || !peer || !netns || !master || !mac || strlen(ifname) >= IFNAMSIZ || strlen(peer) >= IFNAMSIZ ||
		    parse_cidr(address, &a, &a_len, 0) < 0 || (gateway && inet_pton(AF_INET, gateway, &b) != 1))
			return send_error(id, EINVAL, "a veth pair needs IFNAME, PEER, NETNS, MASTER, MAC and ADDRESS");
		int bridge = if_nametoindex(master);
		if (!bridge) return send_error(id, ENODEV, "bridge %s: %s", master, strerror(ENODEV));
		int ns = open(netns, O_RDONLY | O_CLOEXEC);
		if (ns < 0) return send_error(id, errno, "%s: %s", netns, strerror(errno));
		/* The peer is born in the namespace under its final name (eth0 there cannot clash with the guest's). */
		struct nlbuf m;
		struct ifinfomsg *ifi = nl_init(&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, sizeof *ifi);
		ifi->ifi_family = AF_UNSPEC;
		nl_attr_str(&m.h, IFLA_IFNAME, ifname);
		if (mtu) nl_attr_u32(&m.h, IFLA_MTU, mtu);
		struct rtattr *info = nl_attr(&m.h, IFLA_LINKINFO, NULL, 0);
		nl_attr(&m.h, IFLA_INFO_KIND, "veth", 4);
		struct rtattr *data = nl_attr(&m.h, IFLA_INFO_DATA, NULL, 0);
		struct rtattr *peer_info = nl_attr(&m.h, VETH_INFO_PEER, NULL, 0);
		struct ifinfomsg *peer_ifi = nl_tail(&m.h);
		memset(peer_ifi, 0, sizeof *peer_ifi);
		m.h.nlmsg_len = NLMSG_ALIGN(m.h.nlmsg_len) + NLMSG_ALIGN(sizeof *peer_ifi);
		nl_attr_str(&m.h, IFLA_IFNAME, peer);
		nl_attr_u32(&m.h, IFLA_NET_NS_FD, ns);
		nl_attr(&m.h, IFLA_ADDRESS, mac, 6);
		if (mtu) nl_attr_u32(&m.h, IFLA_MTU, mtu);
		nl_end(&m.h, peer_info);
		nl_end(&m.h, data);
		nl_end(&m.h, info);
		r = nl_talk(&m.h);
		close(ns);
		if (r < 0)
			return send_error(id, -r, "ip link add %s type veth peer name %s netns %s: %s", ifname, peer, netns,
					  strerror(-r));
		index = if_nametoindex(ifname);
		char what[200] = "";
		if ((r = link_up(index, bridge)) < 0) {
			snprintf(what, sizeof what, "ip link set %s master %s up", ifname, master);
		} else if ((r = enter_netns(netns)) < 0) {
			snprintf(what, sizeof what, "enter %s", netns);
		} else {
			int inside = if_nametoindex(peer);
			if (!inside) r = -ENODEV, snprintf(what, sizeof what, "ip netns exec %s ip link show %s", netns, peer);
			else if ((r = addr_add(inside, a, a_len)) < 0)
				snprintf(what, sizeof what, "ip netns exec %s ip addr add %s dev %s", netns, address, peer);
			else if ((r = link_up(inside, 0)) < 0)
				snprintf(what, sizeof what, "ip netns exec %s ip link set %s up", netns, peer);
			else if (gateway && (r = route_default(inside, b)) < 0)
				snprintf(what, sizeof what, "ip netns exec %s ip route add default via %s dev %s", netns, gateway, peer);
			leave_netns(netns);
		}
		if (r < 0) {
			link_delete(index); /* takes the peer with it */
			return send_error(id, -r, "%s: %s", what, strerror(-r));
		}
		return send_ok(id);
	}
	case NET_RULE_ADD:
	case NET_RULE_DEL:
		if (parse_cidr(from, &a, &a_len, 1) < 0 || parse_cidr(to, &b, &b_len, 1) < 0)
			return send_error(id, EINVAL, "a rule needs FROM and TO (a.b.c.d/len)");
		r = rule(op == NET_RULE_ADD, a, a_len, b, b_len);
		if (r < 0 && !(op == NET_RULE_ADD && r == -EEXIST))
			return send_error(id, -r, "ip rule %s from %s to %s prohibit: %s", op == NET_RULE_ADD ? "add" : "del", from,
					  to, strerror(-r));
		return send_ok(id);
	default:
		return send_error(id, EINVAL, "unknown network operation %u", op);
	}
}

/* ---- the userland proxy -------------------------------------------------------------------------------------- */

static struct proxy {
	int used;
	uint8_t proto; /* IPPROTO_TCP or IPPROTO_UDP */
	int fd;
	struct sockaddr_in local, target;
} proxies[MAX_PROXIES];

/* One forwarded TCP connection: `a` the client's, `b` ours to the target. */
static struct splice {
	int used, proxy;
	int a, b, connecting;
	uint8_t *ab, *ba;
	size_t ab_len, ba_len;
	int a_eof, b_eof, a_shut, b_shut;
} splices[MAX_SPLICES];

/* One UDP client of a published port: datagrams go to the target from a socket of its own, answers come back. */
static struct flow {
	int used, proxy;
	int fd;
	struct sockaddr_in client;
	time_t last;
} flows[MAX_FLOWS];

static void splice_free(struct splice *s) {
	close(s->a);
	close(s->b);
	free(s->ab);
	free(s->ba);
	s->used = 0;
}

static void flow_free(struct flow *f) {
	close(f->fd);
	f->used = 0;
}

static int parse_endpoint(const char *ip, int have_port, uint16_t port, struct sockaddr_in *out) {
	memset(out, 0, sizeof *out);
	out->sin_family = AF_INET;
	out->sin_port = htons(port);
	return ip && have_port && inet_pton(AF_INET, ip, &out->sin_addr) == 1 ? 0 : -1;
}

static void do_publish(uint32_t id, const uint8_t *p, size_t len, int publish) {
	arena_reset();
	size_t pos = 0;
	uint8_t tag, proto = 0;
	const uint8_t *v;
	uint16_t size, port = 0, remote_port = 0;
	int have_port = 0, have_remote_port = 0;
	char *address = NULL, *remote = NULL;
	while (next_field(p, len, &pos, &tag, &v, &size)) {
		switch (tag) {
		case F_PROTO: if (size == 1) proto = v[0]; break;
		case F_ADDRESS: address = arena_str(v, size); break;
		case F_PORT: if (size == 2) port = get16(v), have_port = 1; break;
		case F_REMOTE: remote = arena_str(v, size); break;
		case F_REMOTE_PORT: if (size == 2) remote_port = get16(v), have_remote_port = 1; break;
		}
	}
	struct sockaddr_in local, target;
	const char *name = proto == IPPROTO_TCP ? "tcp" : "udp";
	if ((proto != IPPROTO_TCP && proto != IPPROTO_UDP) || parse_endpoint(address, have_port, port, &local) < 0 ||
	    (publish && parse_endpoint(remote, have_remote_port, remote_port, &target) < 0))
		return send_error(id, EINVAL, "a published port needs PROTO (6 or 17), ADDRESS and PORT%s",
				  publish ? ", REMOTE and REMOTE_PORT" : "");
	if (!publish) {
		for (int i = 0; i < MAX_PROXIES; i++) {
			struct proxy *x = &proxies[i];
			if (!x->used || x->proto != proto || x->local.sin_port != local.sin_port ||
			    x->local.sin_addr.s_addr != local.sin_addr.s_addr)
				continue;
			close(x->fd);
			x->used = 0;
			for (int j = 0; j < MAX_SPLICES; j++)
				if (splices[j].used && splices[j].proxy == i) splice_free(&splices[j]);
			for (int j = 0; j < MAX_FLOWS; j++)
				if (flows[j].used && flows[j].proxy == i) flow_free(&flows[j]);
			return send_ok(id);
		}
		return send_error(id, ENOENT, "nothing listens on %s %s:%u for a published port", name, address, port);
	}
	int slot = -1;
	for (int i = 0; i < MAX_PROXIES && slot < 0; i++)
		if (!proxies[i].used) slot = i;
	if (slot < 0) return send_error(id, EAGAIN, "too many published ports (%d)", MAX_PROXIES);
	int fd = socket(AF_INET, (proto == IPPROTO_TCP ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1;
	if (fd >= 0 && proto == IPPROTO_TCP) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (fd < 0 || bind(fd, (struct sockaddr *)&local, sizeof local) < 0 ||
	    (proto == IPPROTO_TCP && listen(fd, 64) < 0)) {
		int e = errno;
		if (fd >= 0) close(fd);
		return send_error(id, e, "listen on %s %s:%u: %s", name, address, port, strerror(e));
	}
	proxies[slot] = (struct proxy){.used = 1, .proto = proto, .fd = fd, .local = local, .target = target};
	send_ok(id);
}

static void proxy_accept(int index) {
	struct proxy *x = &proxies[index];
	int a = accept4(x->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (a < 0) return;
	struct splice *s = NULL;
	for (int i = 0; i < MAX_SPLICES && !s; i++)
		if (!splices[i].used) s = &splices[i];
	int b = s ? socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0) : -1;
	if (b < 0) {
		close(a);
		return;
	}
	int r = connect(b, (struct sockaddr *)&x->target, sizeof x->target);
	if (r < 0 && errno != EINPROGRESS) {
		close(a);
		close(b);
		return;
	}
	*s = (struct splice){.used = 1, .proxy = index, .a = a, .b = b, .connecting = r < 0};
	s->ab = malloc(SPLICE_BUF);
	s->ba = malloc(SPLICE_BUF);
	if (!s->ab || !s->ba) splice_free(s);
}

/* Moves what one side has into the other's buffer and on; returns -1 when the connection must end. */
static int splice_move(int from, int to, uint8_t *buf, size_t *buf_len, int *from_eof, int *to_shut) {
	if (!*from_eof && *buf_len < SPLICE_BUF) {
		ssize_t n = read(from, buf + *buf_len, SPLICE_BUF - *buf_len);
		if (n > 0) *buf_len += n;
		else if (n == 0) *from_eof = 1;
		else if (errno != EAGAIN && errno != EINTR) return -1;
	}
	if (*buf_len) {
		ssize_t n = write(to, buf, *buf_len);
		if (n > 0) {
			memmove(buf, buf + n, *buf_len - n);
			*buf_len -= n;
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			return -1;
		}
	}
	if (*from_eof && !*buf_len && !*to_shut) {
		shutdown(to, SHUT_WR);
		*to_shut = 1;
	}
	return 0;
}

static void splice_pump(struct splice *s) {
	if (s->connecting) {
		int err = 0;
		socklen_t l = sizeof err;
		getsockopt(s->b, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err) return splice_free(s);
		s->connecting = 0;
	}
	if (splice_move(s->a, s->b, s->ab, &s->ab_len, &s->a_eof, &s->b_shut) < 0 ||
	    splice_move(s->b, s->a, s->ba, &s->ba_len, &s->b_eof, &s->a_shut) < 0 ||
	    (s->a_eof && s->b_eof && !s->ab_len && !s->ba_len))
		splice_free(s);
}

static void proxy_datagram(int index) {
	struct proxy *x = &proxies[index];
	static uint8_t buf[65536];
	struct sockaddr_in client;
	socklen_t client_len = sizeof client;
	ssize_t n = recvfrom(x->fd, buf, sizeof buf, 0, (struct sockaddr *)&client, &client_len);
	if (n < 0) return;
	struct flow *f = NULL, *oldest = NULL;
	for (int i = 0; i < MAX_FLOWS; i++) {
		struct flow *g = &flows[i];
		if (g->used && g->proxy == index && g->client.sin_port == client.sin_port &&
		    g->client.sin_addr.s_addr == client.sin_addr.s_addr)
			f = g;
		if (!oldest || !g->used || (oldest->used && g->last < oldest->last)) oldest = g;
	}
	if (!f) {
		/* A new client: the least recently used flow makes room, as docker-proxy's UDP table does after a timeout. */
		if (oldest->used) flow_free(oldest);
		int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0) return;
		if (connect(fd, (struct sockaddr *)&x->target, sizeof x->target) < 0) {
			close(fd);
			return;
		}
		f = oldest;
		*f = (struct flow){.used = 1, .proxy = index, .fd = fd, .client = client};
	}
	f->last = time(NULL);
	send(f->fd, buf, n, 0);
}

static void flow_answer(struct flow *f) {
	static uint8_t buf[65536];
	ssize_t n = recv(f->fd, buf, sizeof buf, 0);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR) flow_free(f); /* ECONNREFUSED: nothing listens in the container */
		return;
	}
	f->last = time(NULL);
	sendto(proxies[f->proxy].fd, buf, n, 0, (struct sockaddr *)&f->client, sizeof f->client);
}

/* ---- DNS ----------------------------------------------------------------------------------------------------- */

static void do_dns_serve(uint32_t id, const uint8_t *p, size_t len) {
	arena_reset();
	size_t pos = 0;
	uint8_t tag;
	const uint8_t *v;
	uint16_t size, port = 53;
	char *address = NULL, *netns = NULL;
	while (next_field(p, len, &pos, &tag, &v, &size)) {
		if (tag == F_ADDRESS) address = arena_str(v, size);
		if (tag == F_NETNS) netns = arena_str(v, size);
		if (tag == F_PORT && size == 2) port = get16(v);
	}
	struct sockaddr_in local;
	if (parse_endpoint(address, 1, port, &local) < 0 || (netns && strlen(netns) >= sizeof dns[0].netns))
		return send_error(id, EINVAL, "a DNS server needs ADDRESS");
	struct dns_server *d = NULL;
	for (int i = 0; i < MAX_DNS; i++) {
		if (dns[i].used && dns[i].id == id) return send_error(id, EEXIST, "stream %u is already in use", id);
		if (!dns[i].used && !d) d = &dns[i];
	}
	if (!d) return send_error(id, EAGAIN, "too many DNS servers (%d)", MAX_DNS);
	int r = enter_netns(netns);
	if (r < 0) return send_error(id, -r, "enter %s: %s", netns, strerror(-r));
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int e = 0;
	if (fd < 0 || bind(fd, (struct sockaddr *)&local, sizeof local) < 0) e = errno;
	leave_netns(netns);
	if (e) {
		if (fd >= 0) close(fd);
		return send_error(id, e, "listen on udp %s:%u%s%s: %s", address, port, netns ? " in " : "", netns ? netns : "",
				  strerror(e));
	}
	memset(d, 0, sizeof *d);
	d->used = 1;
	d->id = id;
	d->fd = fd;
	snprintf(d->netns, sizeof d->netns, "%s", netns ? netns : "");
	send_ok(id);
}

static void dns_receive(struct dns_server *d) {
	static uint8_t buf[4 + 4096];
	struct sockaddr_in from;
	socklen_t from_len = sizeof from;
	ssize_t n = recvfrom(d->fd, buf + 4, sizeof buf - 4, 0, (struct sockaddr *)&from, &from_len);
	if (n <= 0) return;
	uint32_t query = d->next_query++;
	d->pending[query % DNS_PENDING].query = query;
	d->pending[query % DNS_PENDING].from = from;
	put32(buf, query);
	send_frame(MSG_DNS_QUERY, d->id, buf, 4 + n);
}

static void do_dns_answer(uint32_t id, const uint8_t *p, size_t len) {
	if (len < 4) return;
	for (int i = 0; i < MAX_DNS; i++) {
		struct dns_server *d = &dns[i];
		if (!d->used || d->id != id) continue;
		uint32_t query = get32(p);
		/* An answer for a query whose slot was reused (more than DNS_PENDING in flight) is dropped. */
		if (d->pending[query % DNS_PENDING].query != query) return;
		struct sockaddr_in *to = &d->pending[query % DNS_PENDING].from;
		sendto(d->fd, p + 4, len - 4, 0, (struct sockaddr *)to, sizeof *to);
		return;
	}
}

int net_close_stream(uint32_t id) {
	for (int i = 0; i < MAX_DNS; i++) {
		if (dns[i].used && dns[i].id == id) {
			dns_close(&dns[i], 0);
			return 1;
		}
	}
	return 0;
}

int net_dispatch(uint16_t type, uint32_t id, const uint8_t *p, size_t len) {
	switch (type) {
	case MSG_NET: do_net(id, p, len); return 1;
	case MSG_PUBLISH: do_publish(id, p, len, 1); return 1;
	case MSG_UNPUBLISH: do_publish(id, p, len, 0); return 1;
	case MSG_DNS_SERVE: do_dns_serve(id, p, len); return 1;
	case MSG_DNS_ANSWER: do_dns_answer(id, p, len); return 1;
	default: return 0;
	}
}

/* ---- the poll loop's share ----------------------------------------------------------------------------------- */

enum slot_kind { SLOT_PROXY, SLOT_SPLICE_A, SLOT_SPLICE_B, SLOT_FLOW, SLOT_DNS };
static struct {
	enum slot_kind kind;
	int index;
} slots[NET_MAX_POLL];

int net_poll_fill(struct pollfd *fds, int max) {
	int n = 0;
#define ADD(k, i, f, ev)                                                                                                \
	do {                                                                                                           \
		if (n < max && n < NET_MAX_POLL) {                                                                     \
			slots[n].kind = k;                                                                             \
			slots[n].index = i;                                                                            \
			fds[n++] = (struct pollfd){.fd = f, .events = ev};                                             \
		}                                                                                                      \
	} while (0)
	for (int i = 0; i < MAX_PROXIES; i++)
		if (proxies[i].used) ADD(SLOT_PROXY, i, proxies[i].fd, POLLIN);
	for (int i = 0; i < MAX_SPLICES; i++) {
		struct splice *s = &splices[i];
		if (!s->used) continue;
		if (s->connecting) {
			ADD(SLOT_SPLICE_B, i, s->b, POLLOUT);
			continue;
		}
		ADD(SLOT_SPLICE_A, i, s->a, (!s->a_eof && s->ab_len < SPLICE_BUF ? POLLIN : 0) | (s->ba_len ? POLLOUT : 0));
		ADD(SLOT_SPLICE_B, i, s->b, (!s->b_eof && s->ba_len < SPLICE_BUF ? POLLIN : 0) | (s->ab_len ? POLLOUT : 0));
	}
	for (int i = 0; i < MAX_FLOWS; i++)
		if (flows[i].used) ADD(SLOT_FLOW, i, flows[i].fd, POLLIN);
	for (int i = 0; i < MAX_DNS; i++)
		if (dns[i].used) ADD(SLOT_DNS, i, dns[i].fd, POLLIN);
#undef ADD
	return n;
}

void net_poll_handle(const struct pollfd *fds, int count) {
	for (int i = 0; i < count; i++) {
		if (!fds[i].revents) continue;
		int k = slots[i].index;
		switch (slots[i].kind) {
		case SLOT_PROXY:
			/* Skipped if an UNPUBLISH earlier in this round freed it (or a new one took the slot). */
			if (!proxies[k].used || proxies[k].fd != fds[i].fd) break;
			if (proxies[k].proto == IPPROTO_TCP) proxy_accept(k);
			else proxy_datagram(k);
			break;
		case SLOT_SPLICE_A:
		case SLOT_SPLICE_B:
			if (splices[k].used && (splices[k].a == fds[i].fd || splices[k].b == fds[i].fd)) splice_pump(&splices[k]);
			break;
		case SLOT_FLOW:
			if (flows[k].used && flows[k].fd == fds[i].fd) flow_answer(&flows[k]);
			break;
		case SLOT_DNS:
			if (dns[k].used && dns[k].fd == fds[i].fd) dns_receive(&dns[k]);
			break;
		}
	}
}
