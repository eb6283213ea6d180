/* Room table: a room's subnet, IPv6 prefix, routes and access rules, and
 * its members' list; one writer (the agent), QSBR readers (workers). See
 * session_table.h for the threading contract; sessions: session_table.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dp_tables.h"
#include "acl.h"
#include "ip6.h"
#include "room_routes.h"
#include "session_keys.h"

static int room_fill(const struct rv_st_room *in, struct rv_dp_room *r, char *err, size_t errlen)
{
	if (in->prefix_len < 8 || in->prefix_len > 30)
		return rv_dp_fail(err, errlen, "room %u: prefix length %u out of range (8..30)",
				  in->room_id, in->prefix_len);
	r->cfg = *in;
	r->cfg.rules = NULL; /* the caller's; the compiled set is r->acl */
	r->mask = ~0u << (32 - in->prefix_len);
	if (in->subnet & ~r->mask)
		return rv_dp_fail(err, errlen, "room %u: subnet has host bits set", in->room_id);
	if (!r->cfg.broadcast)
		r->cfg.broadcast = in->subnet | ~r->mask;
	return rv_dp_prefix6_check(in, err, errlen);
}

/* A new route set and rule set for a published room: readers switch with
 * one pointer each (the cfg copy is for the writer's listings only). */
static void room_set_routes(struct rv_dp_room *r, const struct rv_st_room *in,
			    struct rv_dp_routes *routes, struct rv_dp_routes6 *routes6,
			    struct rv_dp_acl *acl)
{
	struct rv_dp_routes *old = r->routes;
	struct rv_dp_routes6 *old6 = r->routes6;
	struct rv_dp_acl *old_acl = r->acl;
	r->cfg.n_routes = in->n_routes;
	memcpy(r->cfg.routes, in->routes, sizeof(r->cfg.routes));
	r->cfg.n_rules = in->n_rules;
	/* prefix6 is the writer's only (readers look members up by vip6, and
	 * take the server address from their vip6 and prefix6_len) */
	memcpy(r->cfg.prefix6, in->prefix6, sizeof(r->cfg.prefix6));
	CMM_STORE_SHARED(r->cfg.prefix6_len, in->prefix6_len); /* read by server_ip6.c */
	r->cfg.n_routes6 = in->n_routes6;
	memcpy(r->cfg.routes6, in->routes6, sizeof(r->cfg.routes6));
	rcu_assign_pointer(r->routes, routes);
	rcu_assign_pointer(r->routes6, routes6);
	rcu_assign_pointer(r->acl, acl);
	rv_dp_routes_free_rcu(old);
	rv_dp_routes6_free_rcu(old6);
	rv_dp_acl_free_rcu(old_acl);
}

/* Every member's vip6 must stay a host of @in's prefix6. */
static int members_fit_prefix6(struct rv_dp_room *r, const struct rv_st_room *in, char *err,
			       size_t errlen)
{
	struct rv_dp_session *s;
	cds_list_for_each_entry(s, &r->members, room_link)
	{
		if (!rv_ip6_is_zero(s->vip6) && rv_dp_check_vip6(in, s->vip6, NULL, 0) < 0)
			return rv_dp_fail(
			    err, errlen,
			    "room %u: member %u's IPv6 virtual IP is outside the new prefix6",
			    in->room_id, s->peer_id);
	}
	return 0;
}

int rv_dp_room_upsert_in(struct rv_dp_tables *t, const struct rv_st_room *in, char *err,
			 size_t errlen)
{
	struct rv_dp_room tmp = {0}; /* n_members etc. start at 0 (*r = tmp below) */
	struct rv_dp_routes *routes = NULL;
	struct rv_dp_routes6 *routes6 = NULL;
	struct rv_dp_acl *acl = NULL;
	if (room_fill(in, &tmp, err, errlen) < 0 ||
	    rv_dp_routes_build(in, &routes, err, errlen) < 0 ||
	    rv_dp_routes6_build(in, &routes6, err, errlen) < 0 ||
	    rv_dp_acl_build(in, &acl, err, errlen) < 0)
		goto err_built;
	struct rv_dp_room *r = rv_dp_find_room(t, in->room_id);
	if (r &&
	    (r->cfg.prefix6_len != in->prefix6_len ||
	     memcmp(r->cfg.prefix6, in->prefix6, sizeof(in->prefix6)) != 0) &&
	    members_fit_prefix6(r, in, err, errlen) < 0)
		goto err_built;
	bool same_net =
	    r && r->cfg.subnet == tmp.cfg.subnet && r->cfg.prefix_len == tmp.cfg.prefix_len;
	if (same_net) { /* the common re-push beside each session: O(routes + rules) */
		room_set_routes(r, in, routes, routes6, acl);
		return 0;
	}
	if (r) {
		struct rv_dp_session *s;
		cds_list_for_each_entry(s, &r->members, room_link)
		{
			if (rv_dp_check_vip(&tmp, s->vip, NULL, 0) < 0) {
				rv_dp_fail(
				    err, errlen,
				    "room %u: member %u's virtual IP is outside the new subnet",
				    in->room_id, s->peer_id);
				goto err_built;
			}
		}
		if (rv_dp_hosts_rebuild(r, tmp.cfg.subnet, tmp.cfg.prefix_len) < 0) {
			rv_dp_fail(err, errlen, "out of memory");
			goto err_built;
		}
		/* Readers see cfg fields change one by one; each is valid alone. */
		CMM_STORE_SHARED(r->mask, tmp.mask);
		CMM_STORE_SHARED(r->cfg.subnet, tmp.cfg.subnet);
		CMM_STORE_SHARED(r->cfg.broadcast, tmp.cfg.broadcast);
		CMM_STORE_SHARED(r->cfg.prefix_len, tmp.cfg.prefix_len);
		room_set_routes(r, in, routes, routes6, acl);
		return 0;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		rv_dp_fail(err, errlen, "out of memory");
		goto err_built;
	}
	*r = tmp;
	bool too_big;
	r->hosts = rv_dp_hosts_new(r->cfg.subnet, r->cfg.prefix_len, &too_big);
	if (!r->hosts && !too_big) {
		free(r);
		rv_dp_fail(err, errlen, "out of memory");
		goto err_built;
	}
	r->routes = routes;
	r->routes6 = routes6;
	r->acl = acl;
	cds_lfht_node_init(&r->node);
	CDS_INIT_LIST_HEAD(&r->members);
	rv_dp_n_rooms++;
	cds_lfht_add(t->rooms, rv_dp_hash32(in->room_id), &r->node);
	return 0;
err_built:
	rv_dp_acl_free(acl);
	rv_dp_routes6_free(routes6);
	rv_dp_routes_free(routes);
	return -1;
}

int rv_st_room_upsert(const struct rv_st_room *in, char *err, size_t errlen)
{
	rv_dp_writer_enter();
	rcu_read_lock();
	int rc = rv_dp_room_upsert_in(rv_dp_root, in, err, errlen);
	rcu_read_unlock();
	return rc;
}

static void room_free_rcu(struct rcu_head *h)
{
	struct rv_dp_room *r = caa_container_of(h, struct rv_dp_room, rcu);
	free(r->hosts);
	rv_dp_routes_free(r->routes);
	rv_dp_routes6_free(r->routes6);
	rv_dp_acl_free(r->acl);
	free(r);
	rv_dp_n_rooms--;
	rv_dp_pending_frees--;
}

int rv_st_room_delete(uint32_t room_id, char *err, size_t errlen)
{
	rv_dp_writer_enter();
	rcu_read_lock();
	struct rv_dp_tables *t = rv_dp_root;
	struct rv_dp_room *r = rv_dp_find_room(t, room_id);
	if (!r) {
		rcu_read_unlock();
		return rv_dp_fail(err, errlen, "room %u does not exist", room_id);
	}
	struct rv_dp_session *s, *tmp;
	cds_list_for_each_entry_safe(s, tmp, &r->members, room_link)
	{
		rv_dp_session_unlink(t, s);
		rv_dp_session_defer_free(s);
	}
	cds_lfht_del(t->rooms, &r->node);
	rcu_read_unlock();
	rv_dp_pending_frees++;
	call_rcu(&r->rcu, room_free_rcu);
	return 0;
}
