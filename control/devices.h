/* Self-service on the caller's own account (AuthService ChangePassword,
 * ListDevices, RenameDevice, RevokeDevice). A revoked device's tokens stop
 * resolving (auth.h) and its memberships end, so its tunnels end with a
 * Kick (members.h) at once. */
#ifndef RV_DEVICES_H
#define RV_DEVICES_H

#include "control.h"

grpc_status_code rv_devices_passwd_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				       ProtobufCMessage **resp, char *msg, size_t msglen);
grpc_status_code rv_devices_list_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				     ProtobufCMessage **resp, char *msg, size_t msglen);
grpc_status_code rv_devices_rename_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				       ProtobufCMessage **resp, char *msg, size_t msglen);
grpc_status_code rv_devices_revoke_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				       ProtobufCMessage **resp, char *msg, size_t msglen);

#endif
