/* The room's server address (subnet + 1, BootstrapResponse.server_ip):
 * the data plane answers ICMP echo to it from the room's members, so the
 * address that clients are told about answers ping. One stage, called by
 * the relay for an inner IPv4 packet whose destination is that address.
 *
 * The echo request is turned into the reply in its own mbuf (no allocation)
 * and goes back to the sender sealed like any relayed packet. The reply is
 * never larger than the request and only goes to the authenticated sender,
 * and each worker answers at most RV_SERVER_IP_PPS a second (burst
 * RV_SERVER_IP_BURST): no amplification, no CPU sink. */
#ifndef RV_DP_SERVER_IP_H
#define RV_DP_SERVER_IP_H

#include <stdint.h>

#include <rte_mbuf.h>

#include "dp.h"
#include "dp_tables.h"

#define RV_SERVER_IP_PPS   1000u
#define RV_SERVER_IP_BURST 100u

/* The room's server address, host order. */
static inline uint32_t rv_server_ip_of(const struct rv_dp_room *r)
{
	return r->cfg.subnet + 1;
}

/* Worker @w: @m holds an inner IPv4 packet to the room's server address
 * from a member. Returns RV_OK with @m turned into the echo reply (to be
 * sealed to the sender), or the reason to drop it (the caller drops). */
enum rv_drop rv_server_ip_answer(struct rv_dp_worker *w, struct rte_mbuf *m);
/* One echo reply's token from worker @w's bucket (RV_SERVER_IP_PPS, burst
 * RV_SERVER_IP_BURST), shared by the IPv4 and IPv6 server addresses. */
bool rv_server_ip_take_token(struct rv_dp_worker *w);

#endif
