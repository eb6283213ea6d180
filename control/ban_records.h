/* Ban records (ban/<room>/u<user>, ban/<room>/d<device>; docs/store.md):
 * the check Join makes and a room Delete's removal. Written by bans.c
 * (RoomService Ban/Unban); below members.c, which reads them. */
#ifndef RV_BAN_RECORDS_H
#define RV_BAN_RECORDS_H

#include <stdint.h>

#include "store.h"

/* 1 if @user or @dev is banned from @room, 0 if not, -1 on a store error. */
int rv_ban_records_check(struct rv_store *s, uint64_t room, uint64_t user, uint64_t dev);
/* Every ban of @room into @b (a room Delete). 0 or -1. */
int rv_ban_records_delete_room(struct rv_store *s, uint64_t room, struct rv_store_batch *b);

#endif
