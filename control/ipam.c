/* Room subnets out of a pool, and host addresses inside a room (ipam.h). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipam.h"

static uint32_t mask_of(unsigned prefix)
{
	return prefix == 0 ? 0 : 0xffffffffu << (32 - prefix);
}

int rv_ipam_parse_cidr(const char *s, struct rv_cidr *out, char *err, size_t errlen)
{
	char buf[32];
	const char *slash = strchr(s, '/');
	if (!slash || (size_t)(slash - s) >= sizeof(buf)) {
		snprintf(err, errlen, "'%s' is not a subnet in a.b.c.d/prefix form", s);
		return -1;
	}
	memcpy(buf, s, (size_t)(slash - s));
	buf[slash - s] = '\0';
	struct in_addr in;
	if (inet_pton(AF_INET, buf, &in) != 1) {
		snprintf(err, errlen, "'%s': '%s' is not an IPv4 address", s, buf);
		return -1;
	}
	char *end;
	long p = strtol(slash + 1, &end, 10);
	if (end == slash + 1 || *end != '\0' || p < 0 || p > 32) {
		snprintf(err, errlen, "'%s': prefix length must be 0..32", s);
		return -1;
	}
	uint32_t a = ntohl(in.s_addr);
	if (a & ~mask_of((unsigned)p)) {
		snprintf(err, errlen, "'%s' has host bits set (the network address is needed)", s);
		return -1;
	}
	out->addr = a;
	out->prefix = (uint8_t)p;
	return 0;
}

void rv_ipam_format_addr(uint32_t addr, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 0xff, (addr >> 8) & 0xff,
		 addr & 0xff);
}

void rv_ipam_format_cidr(const struct rv_cidr *c, char *buf, size_t len)
{
	char a[16];
	rv_ipam_format_addr(c->addr, a, sizeof(a));
	snprintf(buf, len, "%s/%u", a, c->prefix);
}

uint64_t rv_ipam_size(const struct rv_cidr *c)
{
	return 1ull << (32 - c->prefix);
}

uint32_t rv_ipam_broadcast(const struct rv_cidr *c)
{
	return c->addr | ~mask_of(c->prefix);
}

uint32_t rv_ipam_server_addr(const struct rv_cidr *c)
{
	return c->addr + 1;
}

bool rv_ipam_contains(const struct rv_cidr *c, uint32_t addr)
{
	return (addr & mask_of(c->prefix)) == c->addr;
}

bool rv_ipam_overlaps(const struct rv_cidr *a, const struct rv_cidr *b)
{
	/* Aligned blocks overlap iff one contains the other's network. */
	return rv_ipam_contains(a, b->addr) || rv_ipam_contains(b, a->addr);
}

bool rv_ipam_is_private(const struct rv_cidr *c)
{
	static const struct rv_cidr priv[] = {
	    {0x0a000000, 8},  /* 10.0.0.0/8 */
	    {0xac100000, 12}, /* 172.16.0.0/12 */
	    {0xc0a80000, 16}, /* 192.168.0.0/16 */
	    {0x64400000, 10}, /* 100.64.0.0/10 (shared address space) */
	};
	for (size_t i = 0; i < sizeof(priv) / sizeof(priv[0]); i++)
		if (c->prefix >= priv[i].prefix && rv_ipam_contains(&priv[i], c->addr))
			return true;
	return false;
}

int rv_ipam_check_room_subnet(const struct rv_cidr *c, char *err, size_t errlen)
{
	char s[24];
	rv_ipam_format_cidr(c, s, sizeof(s));
	if (c->prefix < RV_IPAM_MIN_PREFIX || c->prefix > RV_IPAM_MAX_PREFIX) {
		snprintf(err, errlen, "subnet %s: prefix length must be %d..%d", s,
			 RV_IPAM_MIN_PREFIX, RV_IPAM_MAX_PREFIX);
		return -1;
	}
	if (!rv_ipam_is_private(c)) {
		snprintf(err, errlen,
			 "subnet %s is not private address space (10.0.0.0/8, 172.16.0.0/12, "
			 "192.168.0.0/16, 100.64.0.0/10)",
			 s);
		return -1;
	}
	return 0;
}

int rv_ipam_init(struct rv_ipam *ip, const char *pool, unsigned room_prefix, char *err,
		 size_t errlen)
{
	if (rv_ipam_parse_cidr(pool, &ip->pool, err, errlen) < 0)
		return -1;
	if (room_prefix < RV_IPAM_MIN_PREFIX || room_prefix > RV_IPAM_MAX_PREFIX ||
	    room_prefix < ip->pool.prefix) {
		snprintf(err, errlen, "room prefix /%u must be %d..%d and no larger than pool %s",
			 room_prefix, RV_IPAM_MIN_PREFIX, RV_IPAM_MAX_PREFIX, pool);
		return -1;
	}
	if (!rv_ipam_is_private(&ip->pool)) {
		snprintf(err, errlen, "pool %s is not private address space", pool);
		return -1;
	}
	ip->room_prefix = (uint8_t)room_prefix;
	return 0;
}

static int cidr_cmp(const void *a, const void *b)
{
	const struct rv_cidr *x = a, *y = b;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

int rv_ipam_pool_pick(const struct rv_ipam *ip, const struct rv_cidr *used, size_t n_used,
		      struct rv_cidr *out)
{
	struct rv_cidr *sorted = malloc((n_used ? n_used : 1) * sizeof(*sorted));
	if (!sorted)
		return -1;
	if (n_used)
		memcpy(sorted, used, n_used * sizeof(*sorted));
	qsort(sorted, n_used, sizeof(*sorted), cidr_cmp);

	uint64_t step = 1ull << (32 - ip->room_prefix);
	uint64_t end = (uint64_t)ip->pool.addr + rv_ipam_size(&ip->pool);
	uint64_t cand = ip->pool.addr;
	size_t i = 0;
	int rc = -1;
	/* Sweep candidates upward; jump past each used block in the way. */
	while (cand < end) {
		struct rv_cidr c = {(uint32_t)cand, ip->room_prefix};
		while (i < n_used && (uint64_t)sorted[i].addr + rv_ipam_size(&sorted[i]) <= cand)
			i++;
		if (i < n_used && rv_ipam_overlaps(&c, &sorted[i])) {
			uint64_t past = (uint64_t)sorted[i].addr + rv_ipam_size(&sorted[i]);
			cand = (past + step - 1) / step * step;
			continue;
		}
		*out = c;
		rc = 0;
		break;
	}
	free(sorted);
	return rc;
}

uint32_t rv_ipam_hosts_capacity(const struct rv_cidr *net)
{
	return (uint32_t)(rv_ipam_size(net) - 3);
}

static void set_bit(struct rv_ipam_hosts *h, uint32_t i)
{
	h->bits[i / 64] |= 1ull << (i % 64);
}

static bool get_bit(const struct rv_ipam_hosts *h, uint32_t i)
{
	return h->bits[i / 64] >> (i % 64) & 1;
}

int rv_ipam_hosts_init(struct rv_ipam_hosts *h, const struct rv_cidr *net)
{
	if (net->prefix < RV_IPAM_MIN_PREFIX || net->prefix > RV_IPAM_MAX_PREFIX)
		return -1;
	h->net = *net;
	h->size = (uint32_t)rv_ipam_size(net);
	h->bits = calloc((h->size + 63) / 64, sizeof(uint64_t));
	if (!h->bits)
		return -1;
	set_bit(h, 0);					  /* network */
	set_bit(h, rv_ipam_server_addr(net) - net->addr); /* server */
	set_bit(h, h->size - 1);			  /* broadcast */
	h->n_free = rv_ipam_hosts_capacity(net);
	return 0;
}

void rv_ipam_hosts_fini(struct rv_ipam_hosts *h)
{
	free(h->bits);
	h->bits = NULL;
}

static bool reserved(const struct rv_ipam_hosts *h, uint32_t i)
{
	return i == 0 || i == 1 || i == h->size - 1;
}

bool rv_ipam_hosts_is_taken(const struct rv_ipam_hosts *h, uint32_t addr)
{
	return !rv_ipam_contains(&h->net, addr) || get_bit(h, addr - h->net.addr);
}

int rv_ipam_hosts_take(struct rv_ipam_hosts *h, uint32_t addr)
{
	if (rv_ipam_hosts_is_taken(h, addr))
		return -1;
	set_bit(h, addr - h->net.addr);
	h->n_free--;
	return 0;
}

int rv_ipam_hosts_alloc(struct rv_ipam_hosts *h, uint32_t *addr)
{
	if (h->n_free == 0)
		return -1;
	for (uint32_t w = 0; w < (h->size + 63) / 64; w++) {
		if (h->bits[w] == ~0ull)
			continue;
		uint32_t i = w * 64 + (uint32_t)__builtin_ctzll(~h->bits[w]);
		set_bit(h, i);
		h->n_free--;
		*addr = h->net.addr + i;
		return 0;
	}
	return -1;
}

int rv_ipam_hosts_alloc_from(struct rv_ipam_hosts *h, uint32_t from, uint32_t *addr)
{
	uint32_t words = (h->size + 63) / 64;
	if (h->n_free == 0)
		return -1;
	for (uint32_t n = 0; n <= words; n++) {
		uint32_t w = (from / 64 + n) % words;
		uint64_t free = ~h->bits[w];
		if (n == 0) /* the first word from @from on; its lower part comes last */
			free &= ~0ull << (from % 64);
		if (!free)
			continue;
		uint32_t i = w * 64 + (uint32_t)__builtin_ctzll(free);
		if (i >= h->size)
			continue;
		set_bit(h, i);
		h->n_free--;
		*addr = h->net.addr + i;
		return 0;
	}
	return -1;
}

void rv_ipam_hosts_release(struct rv_ipam_hosts *h, uint32_t addr)
{
	if (!rv_ipam_contains(&h->net, addr))
		return;
	uint32_t i = addr - h->net.addr;
	if (reserved(h, i) || !get_bit(h, i))
		return;
	h->bits[i / 64] &= ~(1ull << (i % 64));
	h->n_free++;
}
