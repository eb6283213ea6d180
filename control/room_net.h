/* A room's network settings for its members: DNS servers (+ one search
 * domain) and managed routes {target CIDR via a member's virtual IP}.
 * Checks API input (rooms.proto DnsSettings, Route) into the stored form
 * (room_store.proto RoomRecord fields 13-15) and gives back the API, the
 * keepalive-stream and the data-plane forms. Pure: no store, no locks.
 * IPv4 addresses are in host byte order; IPv6 ones (issue 17: DNS servers
 * and routes of either family, "IPv6" in docs/rooms.md) 16 bytes. */
#ifndef RV_ROOM_NET_H
#define RV_ROOM_NET_H

#include <stddef.h>
#include <stdint.h>

#include "dataplane.pb-c.h"
#include "roomvpn/v1/room_store.pb-c.h"
#include "roomvpn/v1/rooms.pb-c.h"

#define RV_ROOM_DNS_MAX	   4
#define RV_ROOM_SEARCH_MAX 253
#define RV_ROOM_ROUTES_MAX 16

/* Replace @r's DNS settings by @servers (IPv4 or IPv6 unicast addresses,
 * at most RV_ROOM_DNS_MAX of both together, no repeats; stored IPv4 first) and @search ("" or a
 * domain name; needs a server). 0; -1 with a message for INVALID_ARGUMENT (@r unchanged); -2 out of
 * memory. */
int rv_room_net_set_dns(Roomvpn__V1__RoomRecord *r, char *const *servers, size_t n,
			const char *search, char *msg, size_t msglen);

/* Replace @r's routes by @routes: at most RV_ROOM_ROUTES_MAX per family.
 * An IPv4 target is a private CIDR (10/8, 172.16/12, 192.168/16,
 * 100.64/10) with prefix 8..32 and no host bits, not overlapping the
 * room's subnet; via a device address of the room's subnet (not its
 * network, broadcast or server address). An IPv6 target has prefix
 * 16..128 and no host bits, is not multicast, link-local or loopback and
 * does not overlap the room's prefix6; via an address of prefix6 (not its
 * ::0 or the server's ::1); the room needs a prefix6. Targets distinct.
 * Return values as rv_room_net_set_dns. */
int rv_room_net_set_routes(Roomvpn__V1__RoomRecord *r, Roomvpn__V1__Route *const *routes, size_t n,
			   char *msg, size_t msglen);

/* Free what the two functions above put into a record that is not freed
 * with roomvpn__v1__room_record__free_unpacked (e.g. one on the stack). */
void rv_room_net_clear(Roomvpn__V1__RoomRecord *r);

/* The API form, malloc'd (every pointer freed by protobuf_c's
 * free_unpacked of the message it is moved into, or rv_room_net_release).
 * Without DNS servers in @r, @fallback_dns (the server's `dns` option, may
 * be "" or NULL) is the one server. */
struct rv_room_net {
	size_t n_dns;
	char **dns;
	char *search;
	size_t n_routes;
	Roomvpn__V1__Route **routes;
};
int rv_room_net_export(const Roomvpn__V1__RoomRecord *r, const char *fallback_dns,
		       struct rv_room_net *out);
void rv_room_net_release(struct rv_room_net *n);
/* Hand @n's pointers to a message's fields (its free_unpacked frees them). */
void rv_room_net_move(struct rv_room_net *n, size_t *n_dns, char ***dns, char **search,
		      size_t *n_routes, Roomvpn__V1__Route ***routes);

/* An IPv6 route as the data plane takes it (Room.routes6). */
struct rv_room_net_route6 {
	uint8_t target[16], via[16];
	uint8_t prefix_len;
};
/* @r's prefix6 (*len 0: none) and IPv6 routes into @rt; returns the count. */
size_t rv_room_net_dp_v6(const Roomvpn__V1__RoomRecord *r, uint8_t prefix6[16], uint8_t *len,
			 struct rv_room_net_route6 rt[RV_ROOM_ROUTES_MAX]);

/* The data-plane form of @r's routes into @rt/@ptrs (pointers into @rt);
 * returns the count. */
size_t rv_room_net_dp_routes(const Roomvpn__V1__RoomRecord *r,
			     Roomvpn__Dataplane__V1__Route rt[RV_ROOM_ROUTES_MAX],
			     Roomvpn__Dataplane__V1__Route *ptrs[RV_ROOM_ROUTES_MAX]);

/* Fingerprints (FNV-1a) to notice a change: of the DNS settings and
 * routes together, and of the routes alone. */
uint64_t rv_room_net_tag(const Roomvpn__V1__RoomRecord *r);
uint64_t rv_room_net_routes_tag(const Roomvpn__V1__RoomRecord *r);

#endif
