/* An inner IPv6 packet as the relay reads it (no DPDK): the fixed header,
 * the extension header chain walked to the upper-layer protocol, and the
 * relay's decisions that follow from the header alone: neighbour discovery
 * (never relayed: the members' TUN devices are point-to-point) and which
 * multicast scopes reach the rest of the room.
 *
 * Fragments are relayed like IPv4 fragments: the first one is read through
 * its fragment header; a later one has no upper-layer header, so the access
 * rules see it without ports (acl.h). */
#ifndef RV_DP_INNER6_H
#define RV_DP_INNER6_H

#include <stdbool.h>
#include <stdint.h>

#include "drop.h"

#define RV_INNER6_HDR_LEN 40
#define RV_INNER6_MAX_EXT 8 /* extension headers walked; more: v6_malformed */
#define RV_IPPROTO_ICMPV6 58

struct rv_inner6 {
	const uint8_t *src, *dst; /* into the packet */
	uint8_t proto;		  /* upper-layer protocol (ICMPv6 58, TCP 6, UDP 17, ...) */
	uint32_t l4_off;	  /* its header's offset; 0 = not in this packet */
	bool later_fragment;	  /* a fragment with offset > 0 */
};

/* Reads the packet at @p (@len bytes): RV_OK and *@out, or
 * RV_DROP_V6_MALFORMED (shorter than its header or payload length, jumbo
 * payload length 0, a chain running past the end or longer than
 * RV_INNER6_MAX_EXT) or RV_DROP_V6_ND (router solicitation/advertisement,
 * neighbour solicitation/advertisement, redirect, multicast listener
 * query/report/done: ICMPv6 130..137 and 143). */
enum rv_drop rv_inner6_parse(const uint8_t *p, uint32_t len, struct rv_inner6 *out);

/* Multicast destination (ff00::/8)? */
static inline bool rv_inner6_is_mcast(const uint8_t *dst)
{
	return dst[0] == 0xff;
}

/* May a multicast packet to @dst reach the other members of the room? Its
 * scope (low nibble of byte 1, whatever its flags): link-local (2),
 * realm (3), admin (4), site (5), organisation (8) and global (e) scopes:
 * yes, the room is the whole multicast domain; interface-local (1) must
 * not leave the sender, and reserved scopes 0 and f are invalid: no
 * (RV_DROP_V6_MCAST_SCOPE). */
static inline bool rv_inner6_mcast_relayed(const uint8_t *dst)
{
	unsigned scope = dst[1] & 0x0F;
	return scope >= 2 && scope <= 0x0E;
}

#endif
