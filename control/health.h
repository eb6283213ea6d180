/* HealthService (authenticated) and grpc.health.v1.Health (public). */
#ifndef RV_HEALTH_H
#define RV_HEALTH_H

#include "rpc.h"

grpc_status_code rv_health_get_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				   ProtobufCMessage **resp, char *msg, size_t msglen);
grpc_status_code rv_health_check_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				     ProtobufCMessage **resp, char *msg, size_t msglen);
/* grpc.health.v1.Health/Watch: server-streaming; sends the status, then
 * keeps the stream open until the client or a shutdown ends it. */
extern const struct rv_stream_ops rv_health_watch_ops;

#endif
