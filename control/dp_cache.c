/* The data planes' session stats as last read by the sync thread (see
 * dp_cache.h). */
#include "dp_cache.h"

#include <pthread.h>
#include <stdlib.h>

static struct {
	pthread_mutex_t mu; /* taken after the registry lock, never before */
	/* sessions sorted by peer-id; NULL: failed or never read */
	Roomvpn__Dataplane__V1__Response *resp[RV_DP_CACHE_SLOTS];
	/* their peer-ids, in the same order: a look-up searches 4 bytes an
	 * entry, contiguous, not a pointer each (the re-push walk asks for
	 * every tunnel: 100,000 look-ups a full read) */
	uint32_t *ids[RV_DP_CACHE_SLOTS];
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

const Roomvpn__Dataplane__V1__SessionStats *rv_dp_cache_find_in(int slot, uint32_t peer_id)
{
	const Roomvpn__Dataplane__V1__Response *r =
	    slot >= 0 && slot < RV_DP_CACHE_SLOTS ? cache.resp[slot] : NULL;

	if (!r || !r->stats->n_session)
		return NULL;
	const uint32_t *ids = cache.ids[slot];
	size_t lo = 0, hi = r->stats->n_session;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ids[mid] < peer_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < r->stats->n_session && ids[lo] == peer_id ? r->stats->session[lo] : NULL;
}

const Roomvpn__Dataplane__V1__SessionStats *rv_dp_cache_find(uint32_t peer_id)
{
	const Roomvpn__Dataplane__V1__SessionStats *ss = NULL;
	for (int i = 0; i < RV_DP_CACHE_SLOTS && !ss; i++)
		ss = rv_dp_cache_find_in(i, peer_id);
	return ss;
}

const Roomvpn__Dataplane__V1__Stats *rv_dp_cache_stats_of(int slot)
{
	return slot >= 0 && slot < RV_DP_CACHE_SLOTS && cache.resp[slot] ? cache.resp[slot]->stats
									 : NULL;
}

const Roomvpn__Dataplane__V1__Stats *rv_dp_cache_stats(void)
{
	for (int i = 0; i < RV_DP_CACHE_SLOTS; i++)
		if (cache.resp[i])
			return cache.resp[i]->stats;
	return NULL;
}

bool rv_dp_cache_ok(void)
{
	return rv_dp_cache_stats() != NULL;
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
	bool runs = false;

	pthread_mutex_lock(&cache.mu);
	for (int i = 0; i < RV_DP_CACHE_SLOTS && !runs; i++) {
		const Roomvpn__Dataplane__V1__SessionStats *ss = rv_dp_cache_find_in(i, peer_id);
		runs = ss && ss->room_id == room && ss->vip == vip;
	}
	pthread_mutex_unlock(&cache.mu);
	return runs;
}

void rv_dp_cache_sort(Roomvpn__Dataplane__V1__Response *r)
{
	size_t n = r && r->stats ? r->stats->n_session : 0, i = 1;

	while (i < n && by_peer(&r->stats->session[i - 1], &r->stats->session[i]) <= 0)
		i++;
	if (i < n) /* not sorted yet */
		qsort(r->stats->session, n, sizeof(*r->stats->session), by_peer);
}

void rv_dp_cache_set(int slot, Roomvpn__Dataplane__V1__Response *r)
{
	if (slot < 0 || slot >= RV_DP_CACHE_SLOTS) {
		if (r)
			roomvpn__dataplane__v1__response__free_unpacked(r, NULL);
		return;
	}
	rv_dp_cache_sort(r);
	size_t n = r && r->stats ? r->stats->n_session : 0;
	uint32_t *ids = n ? malloc(n * sizeof(*ids)) : NULL;
	if (n && !ids) { /* no index: no cache (the next read tries again) */
		roomvpn__dataplane__v1__response__free_unpacked(r, NULL);
		r = NULL;
	}
	for (size_t i = 0; ids && i < n; i++)
		ids[i] = r->stats->session[i]->peer_id;
	pthread_mutex_lock(&cache.mu);
	Roomvpn__Dataplane__V1__Response *old = cache.resp[slot];
	uint32_t *old_ids = cache.ids[slot];
	cache.resp[slot] = r;
	cache.ids[slot] = ids;
	pthread_mutex_unlock(&cache.mu);
	free(old_ids);
	if (old)
		roomvpn__dataplane__v1__response__free_unpacked(old, NULL);
}

void rv_dp_cache_clear(void)
{
	for (int i = 0; i < RV_DP_CACHE_SLOTS; i++)
		rv_dp_cache_set(i, NULL);
}
