/* Room bans (ban/; docs/store.md): RoomService Ban, Unban, ListBans. A ban
 * names a user (all their devices) or one device; Ban removes the matching
 * members at once (their tunnels end with a Kick, members.h) and Join and
 * JoinInvite refuse them until Unban (records: ban_records.h). */
#ifndef RV_BANS_H
#define RV_BANS_H

#include <stdint.h>

#include "control.h"
#include "store.h"

grpc_status_code rv_bans_ban_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				 ProtobufCMessage **resp, char *msg, size_t msglen);
grpc_status_code rv_bans_unban_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				   ProtobufCMessage **resp, char *msg, size_t msglen);
grpc_status_code rv_bans_list_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				  ProtobufCMessage **resp, char *msg, size_t msglen);

#endif
