/* IPv6 addresses as the data plane compares them: 16 bytes in network
 * order, read as two host-order 64-bit halves (hi = first 8 bytes). No
 * DPDK here: the tables, routes, access rules and their tests share it. */
#ifndef RV_DP_IP6_H
#define RV_DP_IP6_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <sys/socket.h>

struct rv_ip6 {
	uint64_t hi, lo;
};

static inline uint64_t rv_ip6_be64(const uint8_t *b)
{
	uint64_t v;
	memcpy(&v, b, 8);
	return __builtin_bswap64(v);
}

static inline struct rv_ip6 rv_ip6_load(const uint8_t a[16])
{
	return (struct rv_ip6){rv_ip6_be64(a), rv_ip6_be64(a + 8)};
}

/* The mask of a /@plen prefix (0..128). */
static inline struct rv_ip6 rv_ip6_mask(unsigned plen)
{
	struct rv_ip6 m = {0, 0};
	if (plen >= 64) {
		m.hi = ~0ull;
		m.lo = plen >= 128 ? ~0ull : plen == 64 ? 0 : ~0ull << (128 - plen);
	} else if (plen) {
		m.hi = ~0ull << (64 - plen);
	}
	return m;
}

static inline struct rv_ip6 rv_ip6_and(struct rv_ip6 a, struct rv_ip6 m)
{
	return (struct rv_ip6){a.hi & m.hi, a.lo & m.lo};
}

static inline bool rv_ip6_eq(struct rv_ip6 a, struct rv_ip6 b)
{
	return a.hi == b.hi && a.lo == b.lo;
}

static inline bool rv_ip6_is_zero(const uint8_t a[16])
{
	return rv_ip6_be64(a) == 0 && rv_ip6_be64(a + 8) == 0;
}

/* Is @a inside @net/@plen? */
static inline bool rv_ip6_in(const uint8_t a[16], const uint8_t net[16], unsigned plen)
{
	struct rv_ip6 m = rv_ip6_mask(plen);
	return rv_ip6_eq(rv_ip6_and(rv_ip6_load(a), m), rv_ip6_and(rv_ip6_load(net), m));
}

/* Is @a a host of @net/@plen: inside it and not its all-zero host (the
 * subnet-router anycast address)? */
static inline bool rv_ip6_is_host(const uint8_t a[16], const uint8_t net[16], unsigned plen)
{
	struct rv_ip6 m = rv_ip6_mask(plen), x = rv_ip6_load(a);
	return rv_ip6_in(a, net, plen) && ((x.hi & ~m.hi) | (x.lo & ~m.lo)) != 0;
}

/* Does @a have bits set beyond /@plen? */
static inline bool rv_ip6_host_bits(const uint8_t a[16], unsigned plen)
{
	struct rv_ip6 m = rv_ip6_mask(plen), x = rv_ip6_load(a);
	return ((x.hi & ~m.hi) | (x.lo & ~m.lo)) != 0;
}

/* "2001:db8::1" into @buf (at least INET6_ADDRSTRLEN bytes). */
static inline const char *rv_ip6_str(const uint8_t a[16], char *buf, unsigned len)
{
	return inet_ntop(AF_INET6, a, buf, len) ? buf : "?";
}

#endif
