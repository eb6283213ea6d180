/* Test tool for client/tun.c + client/netlink.c (+ client/netcfg.c for
 * IPv6 routes): creates a TUN device, configures it through rtnetlink,
 * prints "ready IFNAME MODE" (MODE: vnet with the offloads, plain without),
 * then prints one line "ipv4 SRC DST PROTO" or "ipv6 SRC DST NEXT-HEADER"
 * per packet the kernel routes into the device, until stdin closes. The
 * calling script checks the result with ip(8).
 * Usage: rv_tun_config NAME ADDR/PLEN MTU [ROUTE/PLEN ...]
 * An IPv6 argument: the first is the device's IPv6 address (ADDR6/PLEN, as
 * `roomvpn up` gives it the vip6), the others IPv6 managed routes installed
 * with rv_netcfg_routes_sync (as a room's routes6). */
#include <arpa/inet.h>
#include <linux/virtio_net.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inet.h"
#include "netcfg.h"
#include "tun.h"

static struct rv_netcfg routes6;

/* "addr/len" (IPv6) into @a/@plen: 0 or -1. */
static int parse6(const char *s, uint8_t a[16], uint8_t *plen)
{
	char buf[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	if (!slash || (size_t)(slash - s) >= sizeof(buf))
		return -1;
	snprintf(buf, sizeof(buf), "%.*s", (int)(slash - s), s);
	*plen = (uint8_t)atoi(slash + 1);
	return inet_pton(AF_INET6, buf, a) == 1 ? 0 : -1;
}

static int parse_config(struct rv_tun_config *c, int argc, char **argv)
{
	c->name = argv[1];
	c->mtu = (uint32_t)atoi(argv[3]);
	if (rv_parse_cidr(argv[2], &c->addr, &c->plen) < 0)
		return fprintf(stderr, "bad address %s\n", argv[2]), -1;
	for (int i = 4; i < argc && c->n_routes < RV_TUN_MAX_ROUTES; i++) {
		if (strchr(argv[i], ':')) {
			struct rv_netcfg_route6 *r = &routes6.routes6[routes6.n_routes6];
			int rc = c->plen6 ? parse6(argv[i], r->dst, &r->plen)
					  : parse6(argv[i], c->addr6, &c->plen6);
			if (rc < 0)
				return fprintf(stderr, "bad IPv6 argument %s\n", argv[i]), -1;
			if (c->plen6 && r->plen) { /* via: the device's own prefix, ::2 */
				memcpy(r->via, c->addr6, 16);
				r->via[15] ^= 0x7;
				routes6.n_routes6++;
			}
			continue;
		}
		if (rv_parse_cidr(argv[i], &c->route_dst[c->n_routes],
				  &c->route_plen[c->n_routes]) < 0)
			return fprintf(stderr, "bad route %s\n", argv[i]), -1;
		c->n_routes++;
	}
	return 0;
}

static void dump_packets(int fd, size_t hdr)
{
	struct pollfd pfd[2] = {{.fd = 0, .events = POLLIN}, {.fd = fd, .events = POLLIN}};
	uint8_t buf[70000], *pkt = buf + hdr;
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];

	while (poll(pfd, 2, -1) > 0) {
		if (pfd[0].revents) {
			if (read(0, buf, sizeof(buf)) <= 0)
				return;
		}
		if (pfd[1].revents & POLLIN) {
			ssize_t n = read(fd, buf, sizeof(buf)) - (ssize_t)hdr;
			if (n >= 40 && pkt[0] >> 4 == 6) {
				inet_ntop(AF_INET6, pkt + 8, s, sizeof(s));
				inet_ntop(AF_INET6, pkt + 24, d, sizeof(d));
				printf("ipv6 %s %s %u\n", s, d, pkt[6]);
				fflush(stdout);
				continue;
			}
			if (n < 20 || pkt[0] >> 4 != 4)
				continue;
			inet_ntop(AF_INET, pkt + 12, s, sizeof(s));
			inet_ntop(AF_INET, pkt + 16, d, sizeof(d));
			printf("ipv4 %s %s %u\n", s, d, pkt[9]);
			fflush(stdout);
		}
	}
}

int main(int argc, char **argv)
{
	struct rv_tun_config c = {0};
	char ifname[IFNAMSIZ], err[256];
	bool vnet;
	int fd;

	if (argc < 4) {
		fprintf(stderr, "usage: %s NAME ADDR/PLEN MTU [ROUTE/PLEN ...]\n", argv[0]);
		return 2;
	}
	if (parse_config(&c, argc, argv) < 0)
		return 2;
	fd = rv_tun_setup(&c, ifname, err, sizeof(err));
	if (fd < 0)
		return fprintf(stderr, "%s\n", err), 1;
	if (!c.plen6 && strchr(argv[argc - 1], ':'))
		printf("no-ipv6\n"); /* the host has none: IPv4 only */
	if (routes6.n_routes6 && c.plen6) {
		struct rv_netcfg have = {0};
		if (rv_netcfg_routes_sync(if_nametoindex(ifname), c.addr, NULL, &routes6, &have,
					  err, sizeof(err)) < 0)
			return fprintf(stderr, "IPv6 routes: %s\n", err), 1;
	}
	vnet = rv_tun_vnet_hdr(fd);
	printf("ready %s %s\n", ifname, vnet ? "vnet" : "plain");
	fflush(stdout);
	dump_packets(fd, vnet ? sizeof(struct virtio_net_hdr) : 0);
	close(fd);
	return 0;
}
