/* Room invitations (inv/, invh/; docs/store.md): RoomService CreateInvite,
 * ListInvites, RevokeInvite (the room's owner or an admin) and JoinInvite
 * (any user). A code is 256 random bits, base64url with prefix "rvi_", shown
 * once; only its SHA-256 is stored. */
#ifndef RV_INVITES_H
#define RV_INVITES_H

#include <stdint.h>

#include "control.h"
#include "store.h"

grpc_status_code rv_invites_create_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				       ProtobufCMessage **resp, char *msg, size_t msglen);
grpc_status_code rv_invites_list_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				     ProtobufCMessage **resp, char *msg, size_t msglen);
grpc_status_code rv_invites_revoke_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				       ProtobufCMessage **resp, char *msg, size_t msglen);
/* AuthService.RegisterWithInvite (public; cfg.self_registration): a new
 * account, logged in, joined through the invite code. */
grpc_status_code rv_invites_register_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
					 ProtobufCMessage **resp, char *msg, size_t msglen);
grpc_status_code rv_invites_join_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				     ProtobufCMessage **resp, char *msg, size_t msglen);

#endif
