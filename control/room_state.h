/* Per-room state kept in memory beside the store: which devices have a
 * membership change in flight, the room's address bitmap and its member
 * count (both read from the store on first use). The room's mutex guards
 * this memory only and is never held across store I/O, except while a full
 * room reclaims an address (rv_room_state_lock). A change of (room, device)
 * runs between rv_room_state_claim and rv_room_state_release: changes of
 * different devices run at once, changes of one device one after another. */
#ifndef RV_ROOM_STATE_H
#define RV_ROOM_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "ipam.h"
#include "store.h"

struct rv_room_state;

/* Claims (@room, @dev), waiting while another change of it is in flight.
 * 0 and *out, 1 if the room was deleted, -1 out of memory. */
int rv_room_state_claim(uint64_t room, uint64_t dev, struct rv_room_state **out);
void rv_room_state_release(struct rv_room_state *rs, uint64_t dev);

/* Reserves the lowest address of @net that no ip/ key holds (the bitmap is
 * read from ip/<room>/ on first use); on a shared store (replicas) the next
 * free one from a random place instead, so that replicas seldom collide
 * (their batches expect the address absent and retry). 0 and *addr, 1 if none is free, -1
 * on a store error. A reservation whose batch fails is given back with
 * rv_room_state_addr_put. */
int rv_room_state_addr_get(struct rv_room_state *rs, struct rv_store *s, uint64_t room,
			   const struct rv_cidr *net, uint32_t *addr);
void rv_room_state_addr_put(struct rv_room_state *rs, uint32_t addr);
/* Another replica took an address this one's bitmap thought free: every
 * address of ip/<room>/ is marked taken again (one scan) and the search
 * moves to a new random place. 0 or -1 on a store error. */
int rv_room_state_addr_refresh(struct rv_room_state *rs, struct rv_store *s, uint64_t room,
			       const struct rv_cidr *net);

/* Holds the room's mutex (a full room's reclaim: no claim can start). */
void rv_room_state_lock(struct rv_room_state *rs);
void rv_room_state_unlock(struct rv_room_state *rs);
/* Whether @dev has a change in flight (room mutex held). */
bool rv_room_state_claimed_locked(struct rv_room_state *rs, uint64_t dev);

/* Members of @room into *n: counted from m/<room>/ on first use, then kept
 * by rv_room_state_members_add. 0 or -1. */
int rv_room_state_members(struct rv_store *s, uint64_t room, uint32_t *n);
void rv_room_state_members_add(struct rv_room_state *rs, int delta);
/* Forgets @room's count (changed by a path that does not count). */
void rv_room_state_members_forget(uint64_t room);

/* The room is being deleted: refuses new claims, waits for those in
 * flight and drops its memory. Its id is never used again. */
void rv_room_state_retire(uint64_t room);

/* Undoes rv_room_state_retire when the room could not be deleted. */
void rv_room_state_revive(uint64_t room);

/* Drops every room's state (a store opened or closed: rooms.c init/fini). */
void rv_room_state_reset(void);

#endif
