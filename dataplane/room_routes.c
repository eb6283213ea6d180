/* Managed routes of a room (room_routes.h). */
#include "room_routes.h"

#include <stdio.h>
#include <stdlib.h>

#include "dp_tables.h"

static int fail(char *err, size_t errlen, const char *fmt, unsigned room, unsigned i)
{
	if (err)
		snprintf(err, errlen, fmt, room, i);
	return -1;
}

static uint32_t mask_of(unsigned plen)
{
	return plen == 0 ? 0 : plen >= 32 ? ~0u : ~0u << (32 - plen);
}

/* Route @i of @room against its subnet and the routes before it. */
static int check_one(const struct rv_st_room *room, unsigned i, char *err, size_t errlen)
{
	const struct rv_st_route *r = &room->routes[i];
	uint32_t m = mask_of(r->prefix_len), rm = mask_of(room->prefix_len);
	uint32_t host = r->via & ~rm;
	if (r->prefix_len < 1 || r->prefix_len > 32)
		return fail(err, errlen, "room %u: route %u: prefix length out of range 1..32",
			    room->room_id, i);
	if (r->target & ~m)
		return fail(err, errlen, "room %u: route %u: target has host bits set",
			    room->room_id, i);
	/* two prefixes overlap iff they agree on the shorter one's bits */
	uint32_t shorter = r->prefix_len < room->prefix_len ? m : rm;
	if ((r->target & shorter) == (room->subnet & shorter))
		return fail(err, errlen, "room %u: route %u: target overlaps the room's subnet",
			    room->room_id, i);
	if ((r->via & rm) != room->subnet || host == 0 || host == ~rm)
		return fail(err, errlen,
			    "room %u: route %u: via is not a host of the room's subnet",
			    room->room_id, i);
	for (unsigned j = 0; j < i; j++)
		if (room->routes[j].target == r->target &&
		    room->routes[j].prefix_len == r->prefix_len)
			return fail(err, errlen, "room %u: route %u: the same target twice",
				    room->room_id, i);
	return 0;
}

int rv_dp_routes_build(const struct rv_st_room *room, struct rv_dp_routes **out, char *err,
		       size_t errlen)
{
	*out = NULL;
	if (room->n_routes > RV_ST_ROUTES_MAX)
		return fail(err, errlen, "room %u: %u routes, at most 16", room->room_id,
			    room->n_routes);
	for (unsigned i = 0; i < room->n_routes; i++)
		if (check_one(room, i, err, errlen) < 0)
			return -1;
	if (!room->n_routes)
		return 0;
	struct rv_dp_routes *rt = calloc(1, sizeof(*rt));
	if (!rt)
		return fail(err, errlen, "room %u: out of memory (%u routes)", room->room_id,
			    room->n_routes);
	/* insertion sort, longest prefix first: the first match is the LPM */
	for (unsigned i = 0; i < room->n_routes; i++) {
		const struct rv_st_route *in = &room->routes[i];
		struct rv_dp_route nr = {in->target, mask_of(in->prefix_len), in->via};
		unsigned j = rt->n++;
		while (j > 0 && rt->r[j - 1].mask < nr.mask) {
			rt->r[j] = rt->r[j - 1];
			j--;
		}
		rt->r[j] = nr;
	}
	*out = rt;
	return 0;
}

void rv_dp_routes_free(struct rv_dp_routes *rt)
{
	free(rt);
}

static void free_cb(struct rcu_head *h)
{
	free(caa_container_of(h, struct rv_dp_routes, rcu));
}

void rv_dp_routes_free_rcu(struct rv_dp_routes *rt)
{
	if (rt)
		call_rcu(&rt->rcu, free_cb);
}

uint32_t rv_dp_routes_via(const struct rv_dp_routes *rt, uint32_t addr)
{
	for (unsigned i = 0; rt && i < rt->n; i++)
		if ((addr & rt->r[i].mask) == rt->r[i].net)
			return rt->r[i].via;
	return 0;
}

struct rv_dp_session *rv_dp_route_next_hop(struct rv_dp_tables *t, struct rv_dp_room *room,
					   uint32_t dst)
{
	uint32_t via = rv_dp_routes_via(rcu_dereference(room->routes), dst);
	return via ? rv_dp_find_vip(t, room->cfg.room_id, via) : NULL;
}

bool rv_dp_route_src_ok(struct rv_dp_room *room, uint32_t src, uint32_t vip)
{
	uint32_t via = rv_dp_routes_via(rcu_dereference(room->routes), src);
	return via && via == vip;
}
