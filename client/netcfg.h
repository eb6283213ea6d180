/* A room's network settings on this host while its tunnel is up: the
 * managed routes on the TUN device (netlink) and the DNS servers in
 * /etc/resolv.conf (rewritten in place, the previous content kept in a
 * backup file and written back on the way down or, after a crash, by the
 * next `roomvpn up`). IPv4 addresses in host byte order; IPv6 ones (DNS
 * servers and routes of rooms with an IPv6 prefix, issue 17) 16 bytes. */
#ifndef RV_CLIENT_NETCFG_H
#define RV_CLIENT_NETCFG_H

#include <stddef.h>
#include <stdint.h>

#include "roomvpn/v1/rooms.pb-c.h"

#define RV_NETCFG_DNS_MAX    4
#define RV_NETCFG_ROUTES_MAX 16
#define RV_NETCFG_SEARCH_MAX 254

struct rv_netcfg_route {
	uint32_t dst, via;
	uint8_t plen;
};

struct rv_netcfg_route6 {
	uint8_t dst[16], via[16];
	uint8_t plen;
};

struct rv_netcfg {
	unsigned n_dns, n_dns6; /* at most RV_NETCFG_DNS_MAX together */
	uint32_t dns[RV_NETCFG_DNS_MAX];
	uint8_t dns6[RV_NETCFG_DNS_MAX][16];
	char search[RV_NETCFG_SEARCH_MAX];
	unsigned n_routes, n_routes6;
	struct rv_netcfg_route routes[RV_NETCFG_ROUTES_MAX];
	struct rv_netcfg_route6 routes6[RV_NETCFG_ROUTES_MAX];
};

/* From the server's strings (JoinRoomResponse / ConfigUpdate), either
 * family each. 0, or -1 with a message (malformed or too many). */
int rv_netcfg_parse(struct rv_netcfg *out, char *const *dns, size_t n_dns, const char *search,
		    Roomvpn__V1__Route *const *routes, size_t n_routes, char *err, size_t errlen);

/* Make the managed routes (IPv4 and IPv6) on device @ifindex those of
 * @want, except the ones via @self or @self6 (NULL: none; this device
 * routes them on itself): removes what @have
 * holds and @want lacks, adds the rest; @have then says what is installed.
 * Managed routes get metric RV_NETCFG_ROUTE_METRIC and never replace a
 * route of the host: a route to the same prefix with a lower metric (e.g.
 * the host's own LAN) keeps winning, one with the same metric is left
 * alone (logged, not an error). 0, or -1 with a message naming every route
 * that failed (the others are in place). */
#define RV_NETCFG_ROUTE_METRIC 100
int rv_netcfg_routes_sync(unsigned ifindex, uint32_t self, const uint8_t *self6,
			  const struct rv_netcfg *want, struct rv_netcfg *have, char *err,
			  size_t errlen);

/* Write @c's DNS servers (IPv4 ones first) into @resolv (e.g. "/etc/resolv.conf") for room
 * @room. The first time (no @backup yet) the current content goes to
 * @backup. No servers in @c: the same as rv_netcfg_dns_restore. Refuses
 * (-1 with a message) when not running as root, or when @resolv is a
 * symbolic link (another program manages it). */
int rv_netcfg_dns_apply(const char *resolv, const char *backup, const char *room,
			const struct rv_netcfg *c, char *err, size_t errlen);

/* Write @backup back into @resolv and remove it: 0 restored, 1 no backup,
 * -1 with a message. If @resolv no longer holds what roomvpn wrote (another
 * program replaced it meanwhile), it is left alone and the backup removed
 * (returns 2). */
int rv_netcfg_dns_restore(const char *resolv, const char *backup, char *err, size_t errlen);

#endif
