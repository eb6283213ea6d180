/* IPv6 address management for dual-stack rooms (issue 17, docs/rooms.md
 * "IPv6"): room prefixes cut out of the server's IPv6 prefix (a random ULA
 * /48, RFC 4193, or the operator's), and members' addresses inside a room's
 * prefix. Pure bookkeeping like ipam.h: rooms.c and members.c load, ask and
 * persist.
 *
 * A member's IPv6 address mirrors its IPv4 one: the host part of its vip6
 * is the offset of its vip in the room's IPv4 subnet (10.88.3.7 in
 * 10.88.3.0/24 -> <prefix6>::7). So vip6 is stable across rejoins exactly
 * as vip is, two members never share one, the prefix's ::0 is never handed
 * out (offset 0 is the IPv4 network address) and ::1 is the server's, as
 * the IPv4 first host. A room prefix must therefore hold at least as many
 * addresses as the room's IPv4 subnet (rv_ipam6_check_room_prefix); a room
 * runs out of IPv6 addresses exactly when it runs out of IPv4 ones. */
#ifndef RV_IPAM6_H
#define RV_IPAM6_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipam.h"

#define RV_IPAM6_MIN_PREFIX 48	/* largest room prefix */
#define RV_IPAM6_MAX_PREFIX 120 /* smallest */

struct rv_cidr6 {
	uint8_t addr[16]; /* network address (no host bits set) */
	uint8_t prefix;
};

/* The server's prefix rooms get theirs from when they don't ask for one. */
struct rv_ipam6 {
	struct rv_cidr6 pool;
	uint8_t room_prefix;
};

/* "addr/len" (len 0..128, no host bits): 0, or -1 with a message. */
int rv_ipam6_parse_cidr(const char *s, struct rv_cidr6 *out, char *err, size_t errlen);
/* An IPv6 literal: 0, or -1. */
int rv_ipam6_parse_addr(const char *s, uint8_t out[16]);
void rv_ipam6_format_cidr(const struct rv_cidr6 *c, char *buf, size_t len);
void rv_ipam6_format_addr(const uint8_t a[16], char *buf, size_t len);

bool rv_ipam6_contains(const struct rv_cidr6 *c, const uint8_t a[16]);
bool rv_ipam6_overlaps(const struct rv_cidr6 *a, const struct rv_cidr6 *b);

/* A room's prefix: length 48..120, and at least as many addresses as
 * @subnet (the room's IPv4 subnet). 0, or -1 with a message. */
int rv_ipam6_check_room_prefix(const struct rv_cidr6 *c, const struct rv_cidr *subnet, char *err,
			       size_t errlen);

/* A random ULA /48 (RFC 4193: fd00::/8 + 40 random bits). 0, or -1 when
 * the random generator fails. */
int rv_ipam6_ula(struct rv_cidr6 *out);

/* The server prefix @pool cut into /@room_prefix (pool length 8..room
 * prefix, room prefix 48..120). 0, or -1 with a message. */
int rv_ipam6_init(struct rv_ipam6 *ip, const struct rv_cidr6 *pool, unsigned room_prefix, char *err,
		  size_t errlen);
/* The lowest /room_prefix of the pool overlapping none of @used (any
 * order). 0, or -1 when the pool is exhausted (or out of memory). */
int rv_ipam6_pool_pick(const struct rv_ipam6 *ip, const struct rv_cidr6 *used, size_t n_used,
		       struct rv_cidr6 *out);

/* The member address of IPv4 @vip of @subnet in @prefix6 (see above). 0,
 * or -1 if @vip is outside @subnet or its offset does not fit @prefix6. */
int rv_ipam6_host(const struct rv_cidr6 *prefix6, const struct rv_cidr *subnet, uint32_t vip,
		  uint8_t out[16]);
/* The server's address in @prefix6: its ::1. */
void rv_ipam6_server_addr(const struct rv_cidr6 *prefix6, uint8_t out[16]);

#endif
