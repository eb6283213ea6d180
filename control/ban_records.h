/* Ban records (ban/<room>/u<user>, ban/<room>/d<device>; docs/store.md):
 * a room Delete's removal. Written by bans.c (RoomService Ban/Unban); Join
 * (members.c) reads a caller's two keys in its one read round trip. */
#ifndef RV_BAN_RECORDS_H
#define RV_BAN_RECORDS_H

#include <stdint.h>

#include "store.h"

/* Every ban of @room into @b (a room Delete). 0 or -1. */
int rv_ban_records_delete_room(struct rv_store *s, uint64_t room, struct rv_store_batch *b);

#endif
