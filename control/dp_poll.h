/* The sync thread's once-a-second pass over the fleet (dp_sync.c runs it):
 * every data plane's stats are read and tell the fleet it was heard
 * (fleet.h: health, DOWN); the per-session stats go into the cache
 * (dp_cache.h) at most every max(1 s, sessions / 20,000 s) — 5 s at
 * 100,000 — or at once when a data plane lost every session. The first read
 * of a data plane adopts the sessions it runs from before a control-plane
 * restart (dp_adopt.h); a data plane without any session while tunnels of
 * its rooms have key material (restarted) gets one Resync of them, one
 * lacking some gets those upserted; one back after it was DOWN gets a
 * Resync of exactly what it should hold now (nothing of the rooms moved
 * away meanwhile). Every re-pushed tunnel's stream is asked to re-key. */
#ifndef RV_DP_POLL_H
#define RV_DP_POLL_H

#include <stdint.h>

#include "control.h"

/* A DOWN data plane is only probed, by a thread of its own (fleet.h):
 * a hung one costs the sync thread one link timeout, when it goes DOWN. */
void rv_dp_poll_start(void);
void rv_dp_poll_stop(void);

/* One pass (sync thread only). */
void rv_dp_poll_all(struct rv_control *ctl);
/* A new data-plane owner's first pass (dp_owner.h): every data plane is
 * read and gets a Resync of exactly what the registry holds for it (sync
 * thread only). */
void rv_dp_poll_resync_all(struct rv_control *ctl);
/* Re-pushes/resyncs done and failed so far. */
void rv_dp_poll_counters(uint64_t *resyncs, uint64_t *failed);
/* Forget the cache and the adoption state (the sync thread stopped). */
void rv_dp_poll_reset(void);
/* For tests: one pass now with full reads, on the caller's thread (no
 * sync thread running). */
void rv_dp_sync_poll_now(struct rv_control *ctl);

#endif
