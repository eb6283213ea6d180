/* The data planes' per-session stats as the sync thread last read them
 * (dp_poll.c, once a second), one sorted copy per fleet slot (fleet.h):
 * Health, the metrics and Hello's adoption check read them instead of the
 * sockets. Peer-ids are unique across the fleet, so the look-ups without a
 * slot search every data plane. Lock order: the registry lock (tunnels.h)
 * first, then this cache's. The lowest of the tunnel modules: it knows no
 * tunnel (tunnels_status.c joins the two). */
#ifndef RV_DP_CACHE_H
#define RV_DP_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "dataplane.pb-c.h"

#define RV_DP_CACHE_SLOTS 16 /* = RV_FLEET_MAX */

/* Replace slot @slot's copy by @r (taken over; NULL: the last read failed).
 * Only the sync thread calls it, so @r stays valid in that thread. */
void rv_dp_cache_set(int slot, Roomvpn__Dataplane__V1__Response *r);
/* Sort @r's sessions by peer-id as the cache keeps them (NULL: nothing; one
 * pass when they are sorted already): a reader thread may do it ahead. */
void rv_dp_cache_sort(Roomvpn__Dataplane__V1__Response *r);
/* Forget every slot (shutdown). */
void rv_dp_cache_clear(void);

void rv_dp_cache_lock(void);
void rv_dp_cache_unlock(void);
/* The stats of @peer_id on any data plane / on @slot's, or NULL (cache
 * lock held). */
const Roomvpn__Dataplane__V1__SessionStats *rv_dp_cache_find(uint32_t peer_id);
const Roomvpn__Dataplane__V1__SessionStats *rv_dp_cache_find_in(int slot, uint32_t peer_id);
/* The whole last read of the first data plane that answered / of @slot
 * (lcores, drops, ports, TCP fallback), or NULL (cache lock held). */
const Roomvpn__Dataplane__V1__Stats *rv_dp_cache_stats(void);
const Roomvpn__Dataplane__V1__Stats *rv_dp_cache_stats_of(int slot);
/* Some data plane answered its last read (cache lock held). */
bool rv_dp_cache_ok(void);

/* Does a data plane run @peer_id (at all / in @room for @vip)? Take the
 * cache lock themselves (after the registry lock, if that is held). */
bool rv_dp_cache_has(uint32_t peer_id);
bool rv_dp_cache_runs(uint32_t peer_id, uint64_t room, uint32_t vip);

#endif
