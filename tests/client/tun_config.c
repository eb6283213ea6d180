/* Test tool for client/tun.c + client/netlink.c: creates a TUN device,
 * configures it through rtnetlink, prints "ready IFNAME MODE" (MODE: vnet
 * with the offloads, plain without), then prints one
 * line "ipv4 SRC DST PROTO" per packet the kernel routes into the device,
 * until stdin closes. The calling script checks the result with ip(8).
 * Usage: rv_tun_config NAME ADDR/PLEN MTU [ROUTE/PLEN ...] */
#include <arpa/inet.h>
#include <linux/virtio_net.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inet.h"
#include "tun.h"

static int parse_config(struct rv_tun_config *c, int argc, char **argv)
{
	c->name = argv[1];
	c->mtu = (uint32_t)atoi(argv[3]);
	if (rv_parse_cidr(argv[2], &c->addr, &c->plen) < 0)
		return fprintf(stderr, "bad address %s\n", argv[2]), -1;
	for (int i = 4; i < argc && c->n_routes < RV_TUN_MAX_ROUTES; i++, c->n_routes++) {
		if (rv_parse_cidr(argv[i], &c->route_dst[c->n_routes],
				  &c->route_plen[c->n_routes]) < 0)
			return fprintf(stderr, "bad route %s\n", argv[i]), -1;
	}
	return 0;
}

static void dump_packets(int fd, size_t hdr)
{
	struct pollfd pfd[2] = {{.fd = 0, .events = POLLIN}, {.fd = fd, .events = POLLIN}};
	uint8_t buf[70000], *pkt = buf + hdr;
	char s[INET_ADDRSTRLEN], d[INET_ADDRSTRLEN];

	while (poll(pfd, 2, -1) > 0) {
		if (pfd[0].revents) {
			if (read(0, buf, sizeof(buf)) <= 0)
				return;
		}
		if (pfd[1].revents & POLLIN) {
			ssize_t n = read(fd, buf, sizeof(buf)) - (ssize_t)hdr;
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
	vnet = rv_tun_vnet_hdr(fd);
	printf("ready %s %s\n", ifname, vnet ? "vnet" : "plain");
	fflush(stdout);
	dump_packets(fd, vnet ? sizeof(struct virtio_net_hdr) : 0);
	close(fd);
	return 0;
}
