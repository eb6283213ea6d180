/* FleetService (proto/roomvpn/v1/fleet.proto, admin scope; rows in
 * methods.c): List the data planes, Drain one (its rooms move away, it
 * takes no new ones: dp_move.c does the moving on the sync thread) and
 * Undrain it (back into placement). */
#ifndef RV_FLEET_RPC_H
#define RV_FLEET_RPC_H

#include "control.h"

grpc_status_code rv_fleet_list_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				   ProtobufCMessage **resp, char *msg, size_t msglen);
grpc_status_code rv_fleet_drain_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				    ProtobufCMessage **resp, char *msg, size_t msglen);
grpc_status_code rv_fleet_undrain_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				      ProtobufCMessage **resp, char *msg, size_t msglen);

#endif
