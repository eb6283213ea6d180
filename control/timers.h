/* Tunnel timers: one deadline-ordered heap (a binary min-heap under the
 * registry lock) swept by one thread. A tunnel's deadline is the earliest of
 * stream_deadline (bootstrapped, no keepalive stream yet), heartbeat_timeout
 * (since its last heartbeat) and rekey_interval (its key's age, while a
 * stream can be asked). Heartbeats only write their tunnel's timestamp: the
 * heap holds a deadline that can only be early, and the sweeper re-computes
 * it when it comes up (lazy re-arm), so a heartbeat costs O(1).
 *
 * Above the registry (it arms through rv_tunnels_set_timer_ops), below what
 * an expiry means: that comes through struct rv_timers_ops (events.c). */
#ifndef RV_TIMERS_H
#define RV_TIMERS_H

#include <stdint.h>

struct rv_control;
struct rv_tunnel;

/* (Re)compute @t's deadline and place it in the heap (lock held); events
 * that can make a deadline earlier call it (bind, re-key). */
void rv_timers_arm(struct rv_tunnel *t);
/* Take @t out of the heap (lock held). */
void rv_timers_cancel(struct rv_tunnel *t);

/* Expire what is due at @now (lock held): tunnels past stream_deadline or
 * heartbeat_timeout end, streams whose key is too old are asked to re-key.
 * The sweeper thread calls it; exported for tests. */
void rv_timers_sweep(struct rv_control *ctl, uint64_t now);

/* What expiries do (called with the registry lock held): @expire ends
 * tunnel @t for @reason and removes it; @rekey asks its client to re-key. */
struct rv_timers_ops {
	void (*expire)(struct rv_control *ctl, struct rv_tunnel *t, const char *reason);
	void (*rekey)(struct rv_tunnel *t, const char *reason);
};

/* Installs the registry's timer calls and starts the sweeper thread. */
void rv_timers_start(struct rv_control *ctl, const struct rv_timers_ops *ops);
void rv_timers_stop(void);

#endif
