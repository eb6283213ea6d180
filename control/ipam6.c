/* Room IPv6 prefixes out of the server's prefix, and member addresses
 * (ipam6.h). Arithmetic on 128-bit integers (big-endian bytes <-> u128). */
#include "ipam6.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

__extension__ typedef unsigned __int128 u128;

static u128 load(const uint8_t a[16])
{
	u128 v = 0;
	for (int i = 0; i < 16; i++)
		v = v << 8 | a[i];
	return v;
}

static void store(u128 v, uint8_t a[16])
{
	for (int i = 15; i >= 0; i--, v >>= 8)
		a[i] = (uint8_t)v;
}

static u128 mask_of(unsigned prefix)
{
	return prefix == 0 ? 0 : ~(u128)0 << (128 - prefix);
}

/* Addresses in a /@prefix, saturated at 2^127 (never compared beyond). */
static u128 size_of(unsigned prefix)
{
	return prefix == 0 ? (u128)1 << 127 : (u128)1 << (128 - prefix);
}

int rv_ipam6_parse_addr(const char *s, uint8_t out[16])
{
	struct in6_addr in;
	if (inet_pton(AF_INET6, s, &in) != 1)
		return -1;
	memcpy(out, &in, 16);
	return 0;
}

int rv_ipam6_parse_cidr(const char *s, struct rv_cidr6 *out, char *err, size_t errlen)
{
	char buf[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	if (!slash || (size_t)(slash - s) >= sizeof(buf)) {
		snprintf(err, errlen, "'%s' is not an IPv6 prefix in addr/length form", s);
		return -1;
	}
	memcpy(buf, s, (size_t)(slash - s));
	buf[slash - s] = '\0';
	if (rv_ipam6_parse_addr(buf, out->addr) < 0) {
		snprintf(err, errlen, "'%s': '%s' is not an IPv6 address", s, buf);
		return -1;
	}
	char *end;
	long p = strtol(slash + 1, &end, 10);
	if (end == slash + 1 || *end != '\0' || p < 0 || p > 128) {
		snprintf(err, errlen, "'%s': prefix length must be 0..128", s);
		return -1;
	}
	if (load(out->addr) & ~mask_of((unsigned)p)) {
		snprintf(err, errlen, "'%s' has host bits set (the network address is needed)", s);
		return -1;
	}
	out->prefix = (uint8_t)p;
	return 0;
}

void rv_ipam6_format_addr(const uint8_t a[16], char *buf, size_t len)
{
	char s[INET6_ADDRSTRLEN];
	inet_ntop(AF_INET6, a, s, sizeof(s));
	snprintf(buf, len, "%s", s);
}

void rv_ipam6_format_cidr(const struct rv_cidr6 *c, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];
	rv_ipam6_format_addr(c->addr, a, sizeof(a));
	snprintf(buf, len, "%s/%u", a, c->prefix);
}

bool rv_ipam6_contains(const struct rv_cidr6 *c, const uint8_t a[16])
{
	return (load(a) & mask_of(c->prefix)) == load(c->addr);
}

bool rv_ipam6_overlaps(const struct rv_cidr6 *a, const struct rv_cidr6 *b)
{
	/* Aligned blocks overlap iff one contains the other's network. */
	return rv_ipam6_contains(a, b->addr) || rv_ipam6_contains(b, a->addr);
}

int rv_ipam6_check_room_prefix(const struct rv_cidr6 *c, const struct rv_cidr *subnet, char *err,
			       size_t errlen)
{
	char s[64];
	rv_ipam6_format_cidr(c, s, sizeof(s));
	if (c->prefix < RV_IPAM6_MIN_PREFIX || c->prefix > RV_IPAM6_MAX_PREFIX) {
		snprintf(err, errlen, "subnet6 %s: prefix length must be %d..%d", s,
			 RV_IPAM6_MIN_PREFIX, RV_IPAM6_MAX_PREFIX);
		return -1;
	}
	if (subnet && 128 - c->prefix < 32 - subnet->prefix) {
		snprintf(err, errlen,
			 "subnet6 %s holds fewer addresses than the room's IPv4 subnet /%u "
			 "(members' IPv6 addresses mirror their IPv4 ones): use /%u or shorter",
			 s, subnet->prefix, 96 + subnet->prefix);
		return -1;
	}
	return 0;
}

int rv_ipam6_ula(struct rv_cidr6 *out)
{
	memset(out, 0, sizeof(*out));
	out->addr[0] = 0xfd;
	if (RAND_bytes(out->addr + 1, 5) != 1) /* the 40-bit global ID */
		return -1;
	out->prefix = 48;
	return 0;
}

int rv_ipam6_init(struct rv_ipam6 *ip, const struct rv_cidr6 *pool, unsigned room_prefix, char *err,
		  size_t errlen)
{
	char s[64];
	rv_ipam6_format_cidr(pool, s, sizeof(s));
	if (room_prefix < RV_IPAM6_MIN_PREFIX || room_prefix > RV_IPAM6_MAX_PREFIX ||
	    pool->prefix < 8 || pool->prefix > room_prefix) {
		snprintf(err, errlen,
			 "room prefix /%u must be %d..%d and no shorter than the IPv6 prefix %s",
			 room_prefix, RV_IPAM6_MIN_PREFIX, RV_IPAM6_MAX_PREFIX, s);
		return -1;
	}
	ip->pool = *pool;
	ip->room_prefix = (uint8_t)room_prefix;
	return 0;
}

static int cidr6_cmp(const void *a, const void *b)
{
	return memcmp(((const struct rv_cidr6 *)a)->addr, ((const struct rv_cidr6 *)b)->addr, 16);
}

int rv_ipam6_pool_pick(const struct rv_ipam6 *ip, const struct rv_cidr6 *used, size_t n_used,
		       struct rv_cidr6 *out)
{
	struct rv_cidr6 *sorted = malloc((n_used ? n_used : 1) * sizeof(*sorted));
	if (!sorted)
		return -1;
	if (n_used)
		memcpy(sorted, used, n_used * sizeof(*sorted));
	qsort(sorted, n_used, sizeof(*sorted), cidr6_cmp);

	u128 step = size_of(ip->room_prefix);
	u128 start = load(ip->pool.addr), last = start + (size_of(ip->pool.prefix) - step);
	u128 cand = start;
	size_t i = 0;
	int rc = -1;
	/* Sweep candidates upward; jump past each used block in the way. */
	while (cand >= start && cand <= last) {
		struct rv_cidr6 c = {.prefix = ip->room_prefix};
		store(cand, c.addr);
		while (i < n_used && load(sorted[i].addr) + (size_of(sorted[i].prefix) - 1) < cand)
			i++;
		if (i < n_used && rv_ipam6_overlaps(&c, &sorted[i])) {
			u128 end = load(sorted[i].addr) + (size_of(sorted[i].prefix) - 1);
			cand = (end / step + 1) * step; /* wraps to 0 past ff..ff: loop ends */
			continue;
		}
		*out = c;
		rc = 0;
		break;
	}
	free(sorted);
	return rc;
}

int rv_ipam6_host(const struct rv_cidr6 *prefix6, const struct rv_cidr *subnet, uint32_t vip,
		  uint8_t out[16])
{
	if (!rv_ipam_contains(subnet, vip))
		return -1;
	u128 off = vip - subnet->addr;
	if (prefix6->prefix > 128 - 32 && off >= size_of(prefix6->prefix))
		return -1;
	store(load(prefix6->addr) + off, out);
	return 0;
}

void rv_ipam6_server_addr(const struct rv_cidr6 *prefix6, uint8_t out[16])
{
	store(load(prefix6->addr) + 1, out);
}
