/* Room bans (ban/; docs/store.md): RoomService Ban, Unban, ListBans. A ban
 * names a user (all their devices) or one device; Ban removes the matching
 * members at once (their tunnels end with a Kick, members.h) and Join and
 * JoinInvite refuse them until Unban. */
#ifndef RV_BANS_H
#define RV_BANS_H

#include <stdint.h>

#include "control.h"
#include "store.h"

/* 1 if @user or @dev is banned from @room, 0 if not, -1 on a store error. */
int rv_bans_check(struct rv_store *s, uint64_t room, uint64_t user, uint64_t dev);
/* Every ban of @room into @b (a room Delete). 0 or -1. */
int rv_bans_delete_room(struct rv_store *s, uint64_t room, struct rv_store_batch *b);

grpc_status_code rv_bans_ban_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				 ProtobufCMessage **resp, char *msg, size_t msglen);
grpc_status_code rv_bans_unban_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				   ProtobufCMessage **resp, char *msg, size_t msglen);
grpc_status_code rv_bans_list_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				  ProtobufCMessage **resp, char *msg, size_t msglen);

#endif
