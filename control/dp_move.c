/* Moving rooms between data planes (see dp_move.h). */
#include "dp_move.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dp_cache.h"
#include "dp_link.h"
#include "dp_msgs.h"
#include "fleet.h"
#include "placement.h"
#include "log.h"
#include "room_records.h"
#include "tunnels.h"

#define GRACE_BATCH    64
#define MOVES_PER_PASS 256 /* rooms per data plane per pass */

/* The sessions of room @room, copied (lock held inside). */
struct room_copy {
	size_t n;
	struct rv_dp_msgs *m;
	rv_dp_request **rqp;
	bool room_sent;
};

static int copy_room(uint64_t room, struct room_copy *c)
{
	rv_tunnels_lock();
	struct rv_tunnel_room *e = rv_tunnels_room(room);
	size_t cap = e ? e->n : 0;
	c->n = 0;
	c->m = calloc(cap + 1, sizeof(*c->m));
	c->rqp = calloc(2 * cap + 1, sizeof(*c->rqp));
	if (!c->m || !c->rqp) {
		rv_tunnels_unlock();
		return -1;
	}
	size_t nr = 0;
	for (struct rv_tunnel *t = e ? e->head : NULL; t; t = t->room_next) {
		if (!t->keyed || !t->peer_id)
			continue; /* no key material: its client bootstraps anew anyway */
		struct rv_dp_msgs *m = &c->m[c->n++];
		rv_dp_msgs_session(m, t);
		rv_dp_msgs_upsert(m);
		c->rqp[nr++] = &m->rq[0];
		c->rqp[nr++] = &m->rq[1];
	}
	rv_tunnels_unlock();
	return 0;
}

static void free_copy(struct room_copy *c)
{
	for (size_t i = 0; c->m && i < c->n; i++)
		rv_dp_msgs_done(&c->m[i]);
	free(c->m), free(c->rqp);
}

static void audit(struct rv_control *ctl, const char *action, const char *target,
		  const char *detail)
{
	struct rv_audit_event ev = {.time_ns = rv_control_now_real(),
				    .actor = "",
				    .source = "",
				    .action = action,
				    .target = target,
				    .status = 0,
				    .detail = detail};
	if (ctl->audit_record)
		ctl->audit_record(ctl, &ev);
}

/* Room @room off data plane @from: 0 moved (or gone), -1 not now. */
static int move_room(struct rv_control *ctl, uint64_t room, int from, bool down)
{
	Roomvpn__V1__RoomRecord *r = NULL;
	char to[RV_DP_NAME_MAX], src[RV_DP_NAME_MAX], why[256], err[256];
	const char *reason = down ? "failover" : "drain";
	struct room_copy c = {0};

	rv_fleet_name_of(from, src, sizeof(src));
	int rc = rv_rooms_load_id(ctl->store, room, &r);
	if (rc == 1) { /* deleted meanwhile */
		rv_fleet_room_note(room, "", -1);
		return 0;
	}
	if (rc < 0)
		return -1;
	int slot = rv_fleet_pick(r->placement, from, to, sizeof(to), why, sizeof(why));
	if (slot < 0) {
		rv_log(RV_LOG_DEBUG, "room %s stays on data plane %s (%s): %s", r->name, src,
		       reason, why);
		goto out_fail;
	}
	/* 1. the sessions on the target first */
	struct rv_dp_link *l = rv_fleet_link(slot);
	rc = l && copy_room(room, &c) == 0 ? 0 : -1;
	if (rc == 0 && c.n)
		rc = rv_dp_link_exchange(l, c.rqp, 2 * c.n, err, sizeof(err));
	else if (rc < 0)
		snprintf(err, sizeof(err), "no link or out of memory");
	rv_dp_link_unref(l);
	if (rc < 0) {
		rv_log(RV_LOG_WARN, "room %s: installing %zu sessions on data plane %s: %s",
		       r->name, c.n, to, err);
		goto out_fail;
	}
	/* 2. its record, 3. its members */
	if (rv_placement_store(ctl->store, room, to) < 0) {
		rv_log(RV_LOG_WARN, "room %s: store error recording its move to %s", r->name, to);
		goto out_fail;
	}
	rv_fleet_room_note(room, to, down ? -1 : from);
	void (*moved)(struct rv_control *, uint64_t, const char *, const char *) =
	    ctl->on_room_moved; /* read once: cleared at shutdown */
	if (moved)		/* events.c: a Move on each member's stream */
		moved(ctl, room, to, reason);
	char target[160], detail[200];
	snprintf(target, sizeof(target), "room %s", r->name);
	snprintf(detail, sizeof(detail), "%s -> %s: %zu sessions installed first, members told",
		 src, to, c.n);
	rv_log(RV_LOG_NOTICE, "room %s moved (%s): %s", r->name, reason, detail);
	audit(ctl, down ? "fleet.failover" : "fleet.move", target, detail);
	free_copy(&c);
	roomvpn__v1__room_record__free_unpacked(r, NULL);
	return 0;
out_fail:
	free_copy(&c);
	roomvpn__v1__room_record__free_unpacked(r, NULL);
	return -1;
}

/* The grace of moved rooms ended: their sessions left on the source go. */
static void sweep_graces(void)
{
	uint64_t rooms[GRACE_BATCH];
	int from[GRACE_BATCH];
	size_t n = rv_fleet_grace_due(rv_control_now_mono(), rooms, from, GRACE_BATCH);

	for (size_t i = 0; i < n; i++) {
		struct rv_dp_msgs *m = NULL;
		rv_dp_request **rqp = NULL;
		size_t k = 0;
		rv_dp_cache_lock();
		const Roomvpn__Dataplane__V1__Stats *st = rv_dp_cache_stats_of(from[i]);
		size_t cap = st ? st->n_session : 0;
		m = calloc(cap + 1, sizeof(*m));
		rqp = calloc(cap + 1, sizeof(*rqp));
		for (size_t j = 0; m && rqp && j < cap; j++)
			if (st->session[j]->room_id == rooms[i]) {
				rv_dp_msgs_delete(&m[k], st->session[j]->peer_id);
				rqp[k] = &m[k].rq[0];
				k++;
			}
		rv_dp_cache_unlock();
		struct rv_dp_link *l = k ? rv_fleet_link(from[i]) : NULL;
		char err[256], name[RV_DP_NAME_MAX];
		bool *ok = calloc(k + 1, sizeof(*ok));
		if (l && ok && rv_dp_link_exchange_each(l, rqp, k, ok, err, sizeof(err)) == 0)
			rv_log(RV_LOG_INFO,
			       "data plane %s: %zu sessions of moved room %" PRIu64
			       " removed (grace over)",
			       rv_fleet_name_of(from[i], name, sizeof(name)), k, rooms[i]);
		rv_dp_link_unref(l);
		free(ok), free(m), free(rqp);
	}
}

void rv_dp_move_step(struct rv_control *ctl)
{
	int n = rv_fleet_slots();

	sweep_graces();
	for (int s = 0; s < n; s++) {
		enum rv_fleet_state st = rv_fleet_state_of(s);
		if (st != RV_FLEET_DRAINING && st != RV_FLEET_DOWN)
			continue;
		uint64_t room;
		for (int i = 0; i < MOVES_PER_PASS && (room = rv_fleet_room_of_slot(s)); i++)
			if (move_room(ctl, room, s, st == RV_FLEET_DOWN) < 0)
				break;
	}
}
