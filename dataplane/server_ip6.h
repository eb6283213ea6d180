/* The room's IPv6 server address (its prefix6 + ::1, the control plane's
 * `server_ip6`, docs/rooms.md): the data plane answers ICMPv6 echo to it
 * from the room's members, like server_ip.h for IPv4. The request becomes
 * the reply in its own mbuf and goes back to the authenticated sender
 * only, never larger; each worker answers at most RV_SERVER_IP_PPS a
 * second (burst RV_SERVER_IP_BURST) per family. */
#ifndef RV_DP_SERVER_IP6_H
#define RV_DP_SERVER_IP6_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>

#include "dp.h"
#include "dp_tables.h"
#include "inner6.h"

/* Is @dst the server address of the room of @s (a member with a vip6)?
 * The room's prefix is the member's vip6 under the room's prefix6_len. */
bool rv_server_ip6_is(const struct rv_dp_session *s, const uint8_t *dst);

/* Worker @w: @m holds an inner IPv6 packet (@in as rv_inner6_parse read
 * it) to the room's server address from a member. Returns RV_OK with @m
 * turned into the echo reply (to be sealed to the sender), or the reason
 * to drop it: server_ip (not an ICMPv6 echo request right after the fixed
 * header), v6_malformed (bad checksum), rate_limited. */
enum rv_drop rv_server_ip6_answer(struct rv_dp_worker *w, struct rte_mbuf *m,
				  const struct rv_inner6 *in);

#endif
