/* Presence pushes, coalesced per room: a change (a member joined, left,
 * came online or went offline) is noted in O(1) by whoever saw it; one
 * thread sends each room's changes of the last cfg.presence_interval as one
 * PresenceBatch, packed once and shared by every member's stream, outside
 * the registry lock. A room of N members coming up thus costs N messages
 * per interval, not N per member (N²). */
#ifndef RV_PRESENCE_H
#define RV_PRESENCE_H

#include <stdint.h>

#include "control.h"
#include "roomvpn/v1/session.pb-c.h"

/* At most this many changes wait per room; beyond, changes are dropped
 * and counted (rv_presence_dropped). */
#define RV_PRESENCE_PENDING_MAX 8192

void rv_presence_start(struct rv_control *ctl);
void rv_presence_stop(void);

/* Device @device of room @room changed to @state (any thread, any lock). */
void rv_presence_note(uint64_t room, uint64_t device, const char *username,
		      Roomvpn__V1__Presence__State state);

/* Send what is pending now (tests; the thread does it every interval). */
void rv_presence_flush(void);

uint64_t rv_presence_dropped(void);

#endif
