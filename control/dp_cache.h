/* The data plane's per-session stats as the sync thread last read them
 * (dp_sync.c, once a second): a sorted copy that Health, the metrics and
 * Hello's adoption check read instead of the socket. Lock order: the
 * registry lock (tunnels.h) first, then this cache's. The lowest of the
 * tunnel modules: it knows no tunnel (tunnels_status.c joins the two). */
#ifndef RV_DP_CACHE_H
#define RV_DP_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "dataplane.pb-c.h"

/* Replace the cache by @r (taken over; NULL: the last read failed). Only
 * the sync thread calls it, so @r stays valid in that thread. */
void rv_dp_cache_set(Roomvpn__Dataplane__V1__Response *r);

void rv_dp_cache_lock(void);
void rv_dp_cache_unlock(void);
/* The stats of @peer_id, or NULL (cache lock held). */
const Roomvpn__Dataplane__V1__SessionStats *rv_dp_cache_find(uint32_t peer_id);
/* The whole last read (lcores, drops, ports, TCP fallback), or NULL when
 * it failed (cache lock held). */
const Roomvpn__Dataplane__V1__Stats *rv_dp_cache_stats(void);
/* The data plane answered the last read (cache lock held). */
bool rv_dp_cache_ok(void);

/* Does the data plane run @peer_id (at all / in @room for @vip)? Take the
 * cache lock themselves (after the registry lock, if that is held). */
bool rv_dp_cache_has(uint32_t peer_id);
bool rv_dp_cache_runs(uint32_t peer_id, uint64_t room, uint32_t vip);

#endif
