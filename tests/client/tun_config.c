/* Test tool for client/tun.c + client/netlink.c: creates a TUN device,
 * configures it through rtnetlink, prints "ready IFNAME", then prints one
 * line "ipv4 SRC DST PROTO" per packet the kernel routes into the device,
 * until stdin closes. The calling script checks the result with ip(8).
 * Usage: rv_tun_config NAME ADDR/PLEN MTU [ROUTE/PLEN ...] */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netlink.h"
#include "tun.h"

static int parse_cidr(const char *s, uint32_t *addr, uint8_t *plen)
{
	char buf[32];
	char *slash;
	struct in_addr a;

	snprintf(buf, sizeof(buf), "%s", s);
	slash = strchr(buf, '/');
	if (!slash)
		return -1;
	*slash = '\0';
	if (inet_pton(AF_INET, buf, &a) != 1)
		return -1;
	*addr = ntohl(a.s_addr);
	*plen = (uint8_t)atoi(slash + 1);
	return *plen <= 32 ? 0 : -1;
}

static int configure(struct rv_nl *nl, unsigned idx, int argc, char **argv)
{
	uint32_t addr;
	uint8_t plen;
	int rc;

	if (parse_cidr(argv[2], &addr, &plen) < 0)
		return fprintf(stderr, "bad address %s\n", argv[2]), -1;
	rc = rv_nl_link_set(nl, idx, (uint32_t)atoi(argv[3]), true);
	if (rc == 0)
		rc = rv_nl_addr_add(nl, idx, addr, plen);
	for (int i = 4; rc == 0 && i < argc; i++) {
		if (parse_cidr(argv[i], &addr, &plen) < 0)
			return fprintf(stderr, "bad route %s\n", argv[i]), -1;
		rc = rv_nl_route_add(nl, idx, addr, plen, 0);
	}
	if (rc)
		fprintf(stderr, "netlink: %s\n", rv_nl_strerror(rc));
	return rc ? -1 : 0;
}

static void dump_packets(int fd)
{
	struct pollfd pfd[2] = {{.fd = 0, .events = POLLIN}, {.fd = fd, .events = POLLIN}};
	uint8_t pkt[2048];
	char s[INET_ADDRSTRLEN], d[INET_ADDRSTRLEN];

	while (poll(pfd, 2, -1) > 0) {
		if (pfd[0].revents) {
			if (read(0, pkt, sizeof(pkt)) <= 0)
				return;
		}
		if (pfd[1].revents & POLLIN) {
			ssize_t n = read(fd, pkt, sizeof(pkt));
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
	char ifname[IFNAMSIZ], err[256];
	struct rv_nl nl;
	int fd, rc;

	if (argc < 4) {
		fprintf(stderr, "usage: %s NAME ADDR/PLEN MTU [ROUTE/PLEN ...]\n", argv[0]);
		return 2;
	}
	fd = rv_tun_open(argv[1], ifname, err, sizeof(err));
	if (fd < 0)
		return fprintf(stderr, "%s\n", err), 1;
	rc = rv_nl_open(&nl);
	if (rc)
		return fprintf(stderr, "netlink: %s\n", rv_nl_strerror(rc)), 1;
	if (configure(&nl, if_nametoindex(ifname), argc, argv) < 0)
		return 1;
	printf("ready %s\n", ifname);
	fflush(stdout);
	dump_packets(fd);
	rv_nl_close(&nl);
	close(fd);
	return 0;
}
