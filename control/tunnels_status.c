/* Every tunnel as Health and the metrics report it (see tunnels.h): the
 * registry joined with the data plane's stats cache (dp_cache.c). */
#include "tunnels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dp_cache.h"

struct status {
	bool all;
	uint64_t user;
	int n;
	struct rv_tunnel_status *v;
	uint64_t now_ms;
};

/* @t with its cached figures into @o (both locks held). */
static void fill_one(const struct rv_tunnel *t, uint64_t now_ms, struct rv_tunnel_status *o)
{
	const Roomvpn__Dataplane__V1__SessionStats *ss = rv_dp_cache_find(t->peer_id);

	*o = (struct rv_tunnel_status){.device_id = t->device,
				       .user_id = t->user,
				       .peer_id = t->peer_id,
				       .vip = t->vip,
				       .transport = "unknown"};
	snprintf(o->room, sizeof(o->room), "%s", t->room->name);
	o->has_vip6 = t->has_vip6 && t->room->prefix6_len;
	memcpy(o->vip6, t->vip6, sizeof(o->vip6));
	if (ss && t->peer_id) {
		o->on_dataplane = true;
		o->vip = ss->vip;
		o->transport =
		    ss->transport == ROOMVPN__DATAPLANE__V1__TRANSPORT__TRANSPORT_UDP	? "udp"
		    : ss->transport == ROOMVPN__DATAPLANE__V1__TRANSPORT__TRANSPORT_TCP ? "tcp"
											: "unknown";
		o->packets_in = ss->packets_in;
		o->bytes_in = ss->bytes_in;
		o->packets_out = ss->packets_out;
		o->bytes_out = ss->bytes_out;
		o->last_seen_unix_ms = ss->last_seen_unix_ms;
		if (ss->outer && ss->outer->addr)
			snprintf(o->outer, sizeof(o->outer), "%u.%u.%u.%u:%u",
				 ss->outer->addr >> 24, (ss->outer->addr >> 16) & 255,
				 (ss->outer->addr >> 8) & 255, ss->outer->addr & 255,
				 ss->outer->port);
		/* the data plane's own measure (from keepalive pings) first, else
		 * the client's (its echo probes, sent with every heartbeat) */
		o->rtt_us = ss->last_rtt_us ? ss->last_rtt_us : t->client_rtt_us;
	}
	uint64_t quiet_ms = 3000ull * t->room->keepalive_s;
	if (quiet_ms < 30000)
		quiet_ms = 30000;
	o->up = o->on_dataplane && o->last_seen_unix_ms &&
		/* (the data plane's clock may be a little ahead of ours) */
		(o->last_seen_unix_ms >= now_ms || now_ms - o->last_seen_unix_ms <= quiet_ms);
}

static void fill_status(struct rv_tunnel *t, void *arg)
{
	struct status *a = arg;

	if (a->all || t->user == a->user)
		fill_one(t, a->now_ms, &a->v[a->n++]);
}

int rv_tunnels_status(bool all, uint64_t user_id, struct rv_tunnel_status **out, bool *dp_ok)
{
	struct status a = {.all = all, .user = user_id, .now_ms = rv_control_now_real() / 1000000u};

	rv_tunnels_lock();
	rv_dp_cache_lock();
	*dp_ok = rv_dp_cache_ok();
	size_t n = rv_tunnels_count();
	if (n && !(a.v = calloc(n, sizeof(*a.v))))
		a.n = -1;
	if (a.v)
		rv_tunnels_each(fill_status, &a);
	rv_dp_cache_unlock();
	rv_tunnels_unlock();
	if (a.n <= 0) {
		free(a.v);
		a.v = NULL;
	}
	*out = a.v;
	return a.n;
}

bool rv_tunnels_status_of(uint64_t room, uint64_t device, struct rv_tunnel_status *out)
{
	uint64_t now_ms = rv_control_now_real() / 1000000u;

	rv_tunnels_lock();
	rv_dp_cache_lock();
	const struct rv_tunnel *t = rv_tunnels_find_rd(room, device);
	if (t)
		fill_one(t, now_ms, out);
	rv_dp_cache_unlock();
	rv_tunnels_unlock();
	return t != NULL;
}
