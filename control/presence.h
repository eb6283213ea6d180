/* Presence pushes, coalesced per room: a change (a member joined, left,
 * came online or went offline) is noted in O(1) by whoever saw it; one
 * thread sends each room's changes of the last cfg.presence_interval as one
 * PresenceBatch, packed once and shared by every member's stream, outside
 * the registry lock. A room of N members coming up thus costs N messages
 * per interval, not N per member (N²).
 *
 * The fan-out is bounded: at most cfg.presence_budget messages a second
 * over all rooms (a token bucket holding one second's worth). Past it,
 * rooms wait, oldest first, and their changes gather into fewer, larger
 * batches: with 100,000 members coming up, presence comes later, not at
 * the cost of heartbeats and Bootstraps (docs/control.md). */
#ifndef RV_PRESENCE_H
#define RV_PRESENCE_H

#include <stdint.h>

#include "control.h"
#include "roomvpn/v1/session.pb-c.h"

/* At most this many changes go in one room's batch, the newest; the older
 * ones of the same flush are counted in its `omitted` (the members list
 * the room instead): a batch, and what waits per room, stays small however
 * many members change at once. */
#define RV_PRESENCE_BATCH_MAX 64

void rv_presence_start(struct rv_control *ctl);
void rv_presence_stop(void);

/* Device @device of room @room changed to @state (any thread, any lock). */
void rv_presence_note(uint64_t room, uint64_t device, const char *username,
		      Roomvpn__V1__Presence__State state);

/* Send what is pending now (tests; the thread does it every interval). */
void rv_presence_flush(void);

struct rv_presence_counters {
	uint64_t dropped;  /* changes not sent for want of memory */
	uint64_t omitted;  /* changes left out of full batches (PresenceBatch.omitted) */
	uint64_t deferred; /* room batches held past a flush by the budget (a room
			      counts once per flush it waited) */
};

void rv_presence_counters(struct rv_presence_counters *out);

#endif
