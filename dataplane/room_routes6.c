/* Managed IPv6 routes of a room and its IPv6 prefix (room_routes.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dp_tables.h"
#include "room_routes.h"

static int fail(char *err, size_t errlen, const char *what, unsigned room, unsigned i)
{
	if (err)
		snprintf(err, errlen, "room %u: route6 %u: %s", room, i, what);
	return -1;
}

int rv_dp_prefix6_check(const struct rv_st_room *room, char *err, size_t errlen)
{
	const char *why = NULL;
	if (!room->prefix6_len) {
		if (!rv_ip6_is_zero(room->prefix6))
			why = "prefix6 given without prefix6_len";
	} else if (room->prefix6_len < 48 || room->prefix6_len > 120) {
		why = "prefix6_len out of range 48..120";
	} else if (rv_ip6_host_bits(room->prefix6, room->prefix6_len)) {
		why = "prefix6 has host bits set";
	}
	if (why && err)
		snprintf(err, errlen, "room %u: %s (prefix6_len %u)", room->room_id, why,
			 room->prefix6_len);
	return why ? -1 : 0;
}

/* Route6 @i of @room against its prefix6 and the routes before it. */
static int check_one(const struct rv_st_room *room, unsigned i, char *err, size_t errlen)
{
	const struct rv_st_route6 *r = &room->routes6[i];
	unsigned id = room->room_id;
	if (!room->prefix6_len)
		return fail(err, errlen, "the room has no prefix6", id, i);
	if (r->prefix_len < 1 || r->prefix_len > 128)
		return fail(err, errlen, "prefix length out of range 1..128", id, i);
	if (rv_ip6_host_bits(r->target, r->prefix_len))
		return fail(err, errlen, "target has host bits set", id, i);
	/* two prefixes overlap iff they agree on the shorter one's bits */
	unsigned shorter = r->prefix_len < room->prefix6_len ? r->prefix_len : room->prefix6_len;
	if (rv_ip6_in(r->target, room->prefix6, shorter))
		return fail(err, errlen, "target overlaps the room's prefix6", id, i);
	if (!rv_ip6_is_host(r->via, room->prefix6, room->prefix6_len))
		return fail(err, errlen, "via is not a host of the room's prefix6", id, i);
	for (unsigned j = 0; j < i; j++)
		if (room->routes6[j].prefix_len == r->prefix_len &&
		    memcmp(room->routes6[j].target, r->target, 16) == 0)
			return fail(err, errlen, "the same target twice", id, i);
	return 0;
}

int rv_dp_routes6_build(const struct rv_st_room *room, struct rv_dp_routes6 **out, char *err,
			size_t errlen)
{
	*out = NULL;
	if (room->n_routes6 > RV_ST_ROUTES_MAX) {
		if (err)
			snprintf(err, errlen, "room %u: %u routes6, at most 16", room->room_id,
				 room->n_routes6);
		return -1;
	}
	for (unsigned i = 0; i < room->n_routes6; i++)
		if (check_one(room, i, err, errlen) < 0)
			return -1;
	if (!room->n_routes6)
		return 0;
	struct rv_dp_routes6 *rt = calloc(1, sizeof(*rt));
	if (!rt) {
		if (err)
			snprintf(err, errlen, "room %u: out of memory (%u routes6)", room->room_id,
				 room->n_routes6);
		return -1;
	}
	/* insertion sort, longest prefix first: the first match is the LPM */
	for (unsigned i = 0; i < room->n_routes6; i++) {
		const struct rv_st_route6 *in = &room->routes6[i];
		struct rv_dp_route6 nr = {.net = rv_ip6_load(in->target),
					  .mask = rv_ip6_mask(in->prefix_len)};
		memcpy(nr.via, in->via, 16);
		unsigned j = rt->n++;
		while (j > 0 &&
		       (rt->r[j - 1].mask.hi < nr.mask.hi || (rt->r[j - 1].mask.hi == nr.mask.hi &&
							      rt->r[j - 1].mask.lo < nr.mask.lo))) {
			rt->r[j] = rt->r[j - 1];
			j--;
		}
		rt->r[j] = nr;
	}
	*out = rt;
	return 0;
}

void rv_dp_routes6_free(struct rv_dp_routes6 *rt)
{
	free(rt);
}

static void free_cb(struct rcu_head *h)
{
	free(caa_container_of(h, struct rv_dp_routes6, rcu));
}

void rv_dp_routes6_free_rcu(struct rv_dp_routes6 *rt)
{
	if (rt)
		call_rcu(&rt->rcu, free_cb);
}

const uint8_t *rv_dp_routes6_via(const struct rv_dp_routes6 *rt, const uint8_t addr[16])
{
	if (!rt)
		return NULL;
	struct rv_ip6 a = rv_ip6_load(addr);
	for (unsigned i = 0; i < rt->n; i++)
		if (rv_ip6_eq(rv_ip6_and(a, rt->r[i].mask), rt->r[i].net))
			return rt->r[i].via;
	return NULL;
}

struct rv_dp_session *rv_dp_route6_next_hop(struct rv_dp_tables *t, struct rv_dp_room *room,
					    const uint8_t dst[16])
{
	const uint8_t *via = rv_dp_routes6_via(rcu_dereference(room->routes6), dst);
	return via ? rv_dp_find_vip6(t, room->cfg.room_id, via) : NULL;
}

bool rv_dp_route6_src_ok(struct rv_dp_room *room, const uint8_t src[16], const uint8_t vip6[16])
{
	const uint8_t *via = rv_dp_routes6_via(rcu_dereference(room->routes6), src);
	return via && memcmp(via, vip6, 16) == 0;
}
