/* TunnelService.Bootstrap (tunnel.c): X25519 + HKDF (shared/kdf.h), the
 * session pushed to the data plane through dp_sync.c, answered after the
 * agent acknowledged it. */
#ifndef RV_TUNNEL_H
#define RV_TUNNEL_H

#include "control.h"
#include "roomvpn/v1/tunnel.pb-c.h"

extern const struct rv_stream_ops rv_tunnel_bootstrap_ops;

/* TunnelService.End: the caller's own tunnel (rv_events_tunnel_end). */
grpc_status_code rv_tunnel_end_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				   ProtobufCMessage **resp, char *msg, size_t msglen);

#endif
