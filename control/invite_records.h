/* Invite records (inv/, invh/; docs/store.md), written by invites.c: a
 * room Delete's removal, below members.c. */
#ifndef RV_INVITE_RECORDS_H
#define RV_INVITE_RECORDS_H

#include <stdint.h>

#include "store.h"

/* Every invite of @room (records and code index) into @b. 0 or -1. */
int rv_invite_records_delete_room(struct rv_store *s, uint64_t room, struct rv_store_batch *b);

#endif
