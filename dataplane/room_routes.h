/* Managed routes of a room: an inner destination that is no member's
 * virtual IP goes to the member whose vip is the longest matching route's
 * `via`; an inner source that is not the sender's vip is accepted only if
 * the longest route matching it has the sender as `via` (return traffic
 * from the LAN behind that member).
 *
 * A room's route set is immutable once built: the writer (agent thread)
 * builds a new one and publishes it with rcu_assign_pointer() on the room;
 * the old one is freed after a grace period (call_rcu). Readers (workers)
 * rcu_dereference() it within one loop pass. At most RV_ST_ROUTES_MAX
 * entries, kept longest prefix first: a linear scan is the LPM. */
#ifndef RV_DP_ROOM_ROUTES_H
#define RV_DP_ROOM_ROUTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <urcu-qsbr.h>

#include "ip6.h"
#include "session_table.h"

struct rv_dp_tables;
struct rv_dp_room;
struct rv_dp_session;

struct rv_dp_route {
	uint32_t net, mask, via;
};

struct rv_dp_routes {
	unsigned n;
	struct rcu_head rcu;
	struct rv_dp_route r[RV_ST_ROUTES_MAX]; /* longest prefix first */
};

/* Writer: check @room's routes against its subnet (prefix 1..32, no host
 * bits, outside the subnet, via a host of the subnet, targets distinct, at
 * most RV_ST_ROUTES_MAX) and build the set: 0 and *out (NULL when there
 * are none), or -1 with a message. */
int rv_dp_routes_build(const struct rv_st_room *room, struct rv_dp_routes **out, char *err,
		       size_t errlen);
/* Writer: free now (nobody can see @rt) or after a grace period. NULL ok. */
void rv_dp_routes_free(struct rv_dp_routes *rt);
void rv_dp_routes_free_rcu(struct rv_dp_routes *rt);

/* The via of the longest route matching @addr, 0 if none. */
uint32_t rv_dp_routes_via(const struct rv_dp_routes *rt, uint32_t addr);

/* Readers (inside a worker loop pass), for the relay: */
/* The member a packet for @dst (no member's vip) goes to, or NULL. */
struct rv_dp_session *rv_dp_route_next_hop(struct rv_dp_tables *t, struct rv_dp_room *room,
					   uint32_t dst);
/* May a packet from the member with @vip carry inner source @src? (it is
 * not @vip: only if @src is behind that member by the room's routes) */
bool rv_dp_route_src_ok(struct rv_dp_room *room, uint32_t src, uint32_t vip);

/* ---- IPv6 (room_routes6.c): the same two questions for inner IPv6 ----
 * Routes6 sit within the room's prefix6 (session_table.h): target outside
 * it, via a host of it. Addresses are network-order bytes. */

struct rv_dp_route6 {
	struct rv_ip6 net, mask;
	uint8_t via[16];
};

struct rv_dp_routes6 {
	unsigned n;
	struct rcu_head rcu;
	struct rv_dp_route6 r[RV_ST_ROUTES_MAX]; /* longest prefix first */
};

/* Writer: @room's prefix6 (0, or 48..120 without host bits): 0 or -1 with
 * a message. */
int rv_dp_prefix6_check(const struct rv_st_room *room, char *err, size_t errlen);
/* Writer: check @room's routes6 (prefix 1..128, no host bits, outside
 * prefix6, via a host of prefix6, targets distinct, at most
 * RV_ST_ROUTES_MAX; any route needs a prefix6) and build the set: 0 and
 * *out (NULL when there are none), or -1 with a message. */
int rv_dp_routes6_build(const struct rv_st_room *room, struct rv_dp_routes6 **out, char *err,
			size_t errlen);
void rv_dp_routes6_free(struct rv_dp_routes6 *rt);
void rv_dp_routes6_free_rcu(struct rv_dp_routes6 *rt);
/* The via of the longest route matching @addr, NULL if none. */
const uint8_t *rv_dp_routes6_via(const struct rv_dp_routes6 *rt, const uint8_t addr[16]);
/* Readers: the member a packet for @dst (no member's vip6) goes to, or NULL;
 * may the member with @vip6 send from @src (not its vip6)? */
struct rv_dp_session *rv_dp_route6_next_hop(struct rv_dp_tables *t, struct rv_dp_room *room,
					    const uint8_t dst[16]);
bool rv_dp_route6_src_ok(struct rv_dp_room *room, const uint8_t src[16], const uint8_t vip6[16]);

#endif
