/* The data plane's session stats as last read by the sync thread (see
 * dp_cache.h), and the tunnel status built from them. */
#include "dp_cache.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "dp_sync.h"
#include "tunnels.h"

static struct {
	pthread_mutex_t mu; /* taken after the registry lock, never before */
	Roomvpn__Dataplane__V1__Response *resp; /* sessions sorted by peer-id; NULL: failed */
} cache = {.mu = PTHREAD_MUTEX_INITIALIZER};

void rv_dp_cache_lock(void)
{
	pthread_mutex_lock(&cache.mu);
}

void rv_dp_cache_unlock(void)
{
	pthread_mutex_unlock(&cache.mu);
}

static int by_peer(const void *a, const void *b)
{
	uint32_t x = (*(Roomvpn__Dataplane__V1__SessionStats *const *)a)->peer_id;
	uint32_t y = (*(Roomvpn__Dataplane__V1__SessionStats *const *)b)->peer_id;
	return x < y ? -1 : x > y;
}

/* The cached stats of @peer_id, or NULL (cache_mu held). */
const Roomvpn__Dataplane__V1__SessionStats *rv_dp_cache_find(uint32_t peer_id)
{
	Roomvpn__Dataplane__V1__SessionStats key = {.peer_id = peer_id}, *kp = &key, **hit;

	if (!cache.resp || !cache.resp->stats->n_session)
		return NULL;
	hit = bsearch(&kp, cache.resp->stats->session, cache.resp->stats->n_session,
		      sizeof(*cache.resp->stats->session), by_peer);
	return hit ? *hit : NULL;
}

bool rv_dp_sync_has(uint32_t peer_id)
{
	pthread_mutex_lock(&cache.mu);
	bool has = rv_dp_cache_find(peer_id) != NULL;
	pthread_mutex_unlock(&cache.mu);
	return has;
}

bool rv_dp_sync_runs(uint32_t peer_id, uint64_t room, uint32_t vip)
{
	pthread_mutex_lock(&cache.mu);
	const Roomvpn__Dataplane__V1__SessionStats *ss = rv_dp_cache_find(peer_id);
	bool runs = ss && ss->room_id == room && ss->vip == vip;
	pthread_mutex_unlock(&cache.mu);
	return runs;
}

void rv_dp_cache_set(Roomvpn__Dataplane__V1__Response *r)
{
	if (r && r->stats->n_session)
		qsort(r->stats->session, r->stats->n_session, sizeof(*r->stats->session), by_peer);
	pthread_mutex_lock(&cache.mu);
	Roomvpn__Dataplane__V1__Response *old = cache.resp;
	cache.resp = r;
	pthread_mutex_unlock(&cache.mu);
	if (old)
		roomvpn__dataplane__v1__response__free_unpacked(old, NULL);
}

/* ---- Status ------------------------------------------------------------------- */

struct status {
	bool all;
	uint64_t user;
	int n;
	struct rv_tunnel_status *v;
	uint64_t now_ms;
};

static void fill_status(struct rv_tunnel *t, void *arg)
{
	struct status *a = arg;
	const Roomvpn__Dataplane__V1__SessionStats *ss = rv_dp_cache_find(t->peer_id);

	if (!a->all && t->user != a->user)
		return;
	struct rv_tunnel_status *o = &a->v[a->n++];
	*o = (struct rv_tunnel_status){.device_id = t->device, .user_id = t->user,
				       .peer_id = t->peer_id, .vip = t->vip,
				       .transport = "unknown"};
	snprintf(o->room, sizeof(o->room), "%s", t->room->name);
	if (ss && t->peer_id) {
		o->on_dataplane = true;
		o->vip = ss->vip;
		o->transport = ss->transport == ROOMVPN__DATAPLANE__V1__TRANSPORT__TRANSPORT_UDP ? "udp"
			       : ss->transport == ROOMVPN__DATAPLANE__V1__TRANSPORT__TRANSPORT_TCP ? "tcp"
												  : "unknown";
		o->packets_in = ss->packets_in;
		o->bytes_in = ss->bytes_in;
		o->packets_out = ss->packets_out;
		o->bytes_out = ss->bytes_out;
		o->last_seen_unix_ms = ss->last_seen_unix_ms;
		o->rtt_us = ss->last_rtt_us;
	}
	uint64_t quiet_ms = 3000ull * t->room->keepalive_s;
	if (quiet_ms < 30000)
		quiet_ms = 30000;
	o->up = o->on_dataplane && o->last_seen_unix_ms &&
		/* (the data plane's clock may be a little ahead of ours) */
		(o->last_seen_unix_ms >= a->now_ms || a->now_ms - o->last_seen_unix_ms <= quiet_ms);
}

int rv_dp_sync_status(bool all, uint64_t user_id, struct rv_tunnel_status **out, bool *dp_ok)
{
	struct status a = {.all = all, .user = user_id, .now_ms = rv_control_now_real() / 1000000u};

	rv_tunnels_lock();
	pthread_mutex_lock(&cache.mu);
	*dp_ok = cache.resp != NULL;
	size_t n = rv_tunnels_count();
	if (n && !(a.v = calloc(n, sizeof(*a.v))))
		a.n = -1;
	if (a.v)
		rv_tunnels_each(fill_status, &a);
	pthread_mutex_unlock(&cache.mu);
	rv_tunnels_unlock();
	if (a.n <= 0) {
		free(a.v);
		a.v = NULL;
	}
	*out = a.v;
	return a.n;
}
