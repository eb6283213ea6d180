/* Shared by members.c and members_join.c only (the module's own helpers;
 * callers elsewhere use members.h). */
#ifndef RV_MEMBERS_INTERNAL_H
#define RV_MEMBERS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <grpc/status.h>

#include "roomvpn/v1/room_store.pb-c.h"

/* The answer to a claim of room @r that failed with @rc (-1: out of
 * memory, else the room is gone): the status, the message in @msg. */
grpc_status_code rv_members_room_gone(const Roomvpn__V1__RoomRecord *r, int rc, char *msg,
				      size_t msglen);
/* Whether @r has access rules to resolve again (the record as the RPC read
 * it: a Join needs no extra store read in a room without rules). */
bool rv_members_has_rules(const Roomvpn__V1__RoomRecord *r);

#endif
