/* Access rules of a room: an ordered list {source net, destination net,
 * protocol, destination port range, allow|deny}, first match decides, no
 * match allows (no rules at all: today's allow-all). The relay asks after
 * the route stage, for unicast inner IPv4 between two members (or a member
 * and a LAN behind one); room broadcasts and multicast are not filtered,
 * nor packets to the room's server address.
 *
 * Stateful return traffic: a packet the rules allow opens a flow; a packet
 * the rules deny still passes if it is the reverse of a flow opened within
 * the last RV_ACL_IDLE_S seconds (TCP and UDP by ports, ICMP echo by its id).
 * Flows live in a small direct-mapped cache per worker: the entry goes into
 * the cache of the worker that owns the destination's session, which is the
 * one that will see the reply. Each slot is one 64-bit word (48-bit hash of
 * the reversed 5-tuple and room, 16-bit coarse time) written and read with
 * relaxed atomics: no lock, no tearing; a collision only forgets a flow (its
 * next packet opens it again), a false reply needs a 48-bit hash collision.
 *
 * A room's compiled rule set is immutable: the writer (agent thread) builds
 * a new one and publishes it with rcu_assign_pointer() on the room, the old
 * one is freed after a grace period, like room_routes.h. No DPDK in here:
 * the relay passes the inner IPv4 header's bytes.
 *
 * IPv6: the rules hold IPv4 prefixes, so a rule applies to inner IPv6
 * only when both its prefixes are 0 (any address, either family); a rule
 * with an IPv4 prefix never matches IPv6. Protocol ICMP (1) matches ICMPv6
 * in IPv6 packets; ports and the flow cache work the same (an IPv6 flow's
 * addresses enter the hash as 32-bit digests, with the family). */
#ifndef RV_DP_ACL_H
#define RV_DP_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <urcu-qsbr.h>

#include "drop.h"
#include "session_table.h"

#define RV_ACL_FLOWS   4096 /* slots per worker (power of two) */
#define RV_ACL_WORKERS 16   /* == RV_DP_MAX_WORKERS (asserted in relay.c) */
#define RV_ACL_IDLE_S  300  /* a flow's reverse passes this long after its last packet */

struct rv_dp_acl_rule {
	uint32_t src, smask, dst, dmask;
	uint16_t lo, hi;
	uint8_t proto;
	bool ports; /* a port range narrower than 0..65535: TCP/UDP only */
	bool deny;
};

struct rv_dp_acl {
	unsigned n;
	/* a digest of the rules: flows are cached per rule set, so a change of
	 * the rules also ends the flows they had let through (an established
	 * connection the new rules deny stops), while the same rules pushed
	 * again (every room upsert) keep them */
	uint32_t gen;
	struct rcu_head rcu;
	struct rv_dp_acl_rule r[];
};

/* A packet as the rules see it. has_ports: TCP/UDP with its ports readable
 * (not a later fragment); ICMP echo carries its id in both ports. */
struct rv_acl_pkt {
	uint32_t src, dst;
	uint16_t sport, dport;
	uint8_t proto;
	bool has_ports;
	bool v6; /* src/dst are digests of the IPv6 addresses (acl.c) */
};

struct rv_inner6;

/* Writer: check @room's rules (prefix 0..32 without host bits, port_lo <=
 * port_hi, ports only with TCP, UDP or any protocol, at most
 * RV_ST_RULES_MAX) and compile them: 0 and *out (NULL when there are
 * none), or -1 with a message. */
int rv_dp_acl_build(const struct rv_st_room *room, struct rv_dp_acl **out, char *err,
		    size_t errlen);
/* Writer: free now (nobody can see @a) or after a grace period. NULL ok. */
void rv_dp_acl_free(struct rv_dp_acl *a);
void rv_dp_acl_free_rcu(struct rv_dp_acl *a);

/* First-match verdict of @a for @p: true = allow. NULL @a allows. */
bool rv_dp_acl_allows(const struct rv_dp_acl *a, const struct rv_acl_pkt *p);

/* Reads the inner IPv4 header at @ip (@len bytes, at least 20) into @p. */
void rv_dp_acl_parse(const uint8_t *ip, uint32_t len, struct rv_acl_pkt *p);

/* Reads the inner IPv6 packet at @ip, as rv_inner6_parse() found it, into @p. */
void rv_dp_acl_parse6(const uint8_t *ip, uint32_t len, const struct rv_inner6 *in,
		      struct rv_acl_pkt *p);

/* Readers (the relay, inside a worker loop pass): RV_OK or RV_DROP_ACL for
 * the inner IPv4 packet at @ip from a member of room @room_id, checked by
 * worker @self; @dst_owner is the worker owning the destination's session
 * (where an allowed packet opens its flow). @now_ns: the pass's clock. */
enum rv_drop rv_dp_acl_check(const struct rv_dp_acl *a, const uint8_t *ip, uint32_t len,
			     uint32_t room_id, unsigned self, unsigned dst_owner, uint64_t now_ns);

/* The same for an inner IPv6 packet (rv_inner6_parse() accepted it). */
enum rv_drop rv_dp_acl_check6(const struct rv_dp_acl *a, const uint8_t *ip, uint32_t len,
			      const struct rv_inner6 *in, uint32_t room_id, unsigned self,
			      unsigned dst_owner, uint64_t now_ns);

/* The flow cache alone (for tests): open @p's flow in worker @w's cache;
 * is @p the reverse of a live flow in @w's cache? */
void rv_dp_acl_flow_open(unsigned w, uint32_t room_id, const struct rv_acl_pkt *p, uint64_t now_ns);
bool rv_dp_acl_flow_is_reply(unsigned w, uint32_t room_id, const struct rv_acl_pkt *p,
			     uint64_t now_ns);

#endif
