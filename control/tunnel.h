/* TunnelService.Bootstrap (tunnel.c): X25519 + HKDF (shared/kdf.h), the
 * session pushed to the data plane agent (dpclient.c), answered after the
 * agent acknowledged it. */
#ifndef RV_TUNNEL_H
#define RV_TUNNEL_H

#include "control.h"
#include "roomvpn/v1/tunnel.pb-c.h"

extern const struct rv_stream_ops rv_tunnel_bootstrap_ops;

#endif
