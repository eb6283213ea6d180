/* The data plane's session stats as last read by the sync thread (see
 * dp_cache.h). */
#include "dp_cache.h"

#include <pthread.h>
#include <stdlib.h>

static struct {
	pthread_mutex_t mu;			/* taken after the registry lock, never before */
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

const Roomvpn__Dataplane__V1__Stats *rv_dp_cache_stats(void)
{
	return cache.resp ? cache.resp->stats : NULL;
}

bool rv_dp_cache_ok(void)
{
	return cache.resp != NULL;
}

bool rv_dp_cache_has(uint32_t peer_id)
{
	pthread_mutex_lock(&cache.mu);
	bool has = rv_dp_cache_find(peer_id) != NULL;
	pthread_mutex_unlock(&cache.mu);
	return has;
}

bool rv_dp_cache_runs(uint32_t peer_id, uint64_t room, uint32_t vip)
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
