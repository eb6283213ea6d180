/* Access rules of a room and the per-worker flow cache (acl.h). */
#include "acl.h"

#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "inner6.h"

#define PROTO_ICMP 1
#define PROTO_TCP  6
#define PROTO_UDP  17

/* One cache per worker, each on its own lines; slot 0 word = empty. */
struct flow_cache {
	alignas(64) _Atomic uint64_t slot[RV_ACL_FLOWS];
};
static struct flow_cache flows[RV_ACL_WORKERS];

static uint64_t mix(uint64_t x);

static int fail(char *err, size_t errlen, const char *what, unsigned room, unsigned i)
{
	if (err)
		snprintf(err, errlen, "room %u: rule %u: %s", room, i + 1, what);
	return -1;
}

static uint32_t mask_of(unsigned plen)
{
	return plen == 0 ? 0 : plen >= 32 ? ~0u : ~0u << (32 - plen);
}

static int check_one(const struct rv_st_room *room, unsigned i, char *err, size_t errlen)
{
	const struct rv_st_rule *r = &room->rules[i];
	if (r->src_plen > 32 || r->dst_plen > 32)
		return fail(err, errlen, "prefix length out of range 0..32", room->room_id, i);
	if ((r->src & ~mask_of(r->src_plen)) || (r->dst & ~mask_of(r->dst_plen)))
		return fail(err, errlen, "address has host bits set", room->room_id, i);
	if (r->port_lo > r->port_hi)
		return fail(err, errlen, "port range is empty (low > high)", room->room_id, i);
	bool ports = r->port_lo != 0 || r->port_hi != 65535;
	if (ports && r->proto != 0 && r->proto != PROTO_TCP && r->proto != PROTO_UDP)
		return fail(err, errlen, "ports with a protocol other than TCP or UDP",
			    room->room_id, i);
	return 0;
}

int rv_dp_acl_build(const struct rv_st_room *room, struct rv_dp_acl **out, char *err, size_t errlen)
{
	*out = NULL;
	if (room->n_rules > RV_ST_RULES_MAX) {
		if (err)
			snprintf(err, errlen, "room %u: %u rules, at most %u", room->room_id,
				 room->n_rules, RV_ST_RULES_MAX);
		return -1;
	}
	for (unsigned i = 0; i < room->n_rules; i++)
		if (check_one(room, i, err, errlen) < 0)
			return -1;
	if (!room->n_rules)
		return 0;
	struct rv_dp_acl *a = calloc(1, sizeof(*a) + room->n_rules * sizeof(a->r[0]));
	if (!a) {
		if (err)
			snprintf(err, errlen, "room %u: out of memory (%u rules)", room->room_id,
				 room->n_rules);
		return -1;
	}
	for (unsigned i = 0; i < room->n_rules; i++) {
		const struct rv_st_rule *in = &room->rules[i];
		a->r[i] = (struct rv_dp_acl_rule){
		    .src = in->src,
		    .smask = mask_of(in->src_plen),
		    .dst = in->dst,
		    .dmask = mask_of(in->dst_plen),
		    .lo = in->port_lo,
		    .hi = in->port_hi,
		    .proto = in->proto,
		    .ports = in->port_lo != 0 || in->port_hi != 65535,
		    .deny = in->deny,
		};
	}
	a->n = room->n_rules;
	uint64_t g = 0x9e3779b97f4a7c15ull;
	for (unsigned i = 0; i < a->n; i++) {
		const struct rv_dp_acl_rule *r = &a->r[i];
		g = mix(g ^ ((uint64_t)r->src << 32 | r->smask));
		g = mix(g ^ ((uint64_t)r->dst << 32 | r->dmask));
		g = mix(g ^ ((uint64_t)r->lo << 48 | (uint64_t)r->hi << 32 |
			     (uint64_t)r->proto << 16 | (uint64_t)r->ports << 8 | r->deny));
	}
	a->gen = (uint32_t)(g ^ g >> 32);
	*out = a;
	return 0;
}

void rv_dp_acl_free(struct rv_dp_acl *a)
{
	free(a);
}

static void free_cb(struct rcu_head *h)
{
	free(caa_container_of(h, struct rv_dp_acl, rcu));
}

void rv_dp_acl_free_rcu(struct rv_dp_acl *a)
{
	if (a)
		call_rcu(&a->rcu, free_cb);
}

static bool rule_matches(const struct rv_dp_acl_rule *r, const struct rv_acl_pkt *p)
{
	if (p->v6 && (r->smask | r->dmask)) /* an IPv4 prefix: IPv4 only */
		return false;
	if ((p->src & r->smask) != r->src || (p->dst & r->dmask) != r->dst)
		return false;
	if (r->proto && r->proto != p->proto)
		return false;
	if (!r->ports)
		return true;
	return p->has_ports && (p->proto == PROTO_TCP || p->proto == PROTO_UDP) &&
	       p->dport >= r->lo && p->dport <= r->hi;
}

bool rv_dp_acl_allows(const struct rv_dp_acl *a, const struct rv_acl_pkt *p)
{
	for (unsigned i = 0; a && i < a->n; i++)
		if (rule_matches(&a->r[i], p))
			return !a->r[i].deny;
	return true;
}

static uint16_t be16(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

static uint32_t be32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

void rv_dp_acl_parse(const uint8_t *ip, uint32_t len, struct rv_acl_pkt *p)
{
	unsigned ihl = (ip[0] & 0x0F) * 4u;
	bool first = (be16(ip + 6) & 0x1FFF) == 0; /* fragment offset 0 */
	const uint8_t *l4 = ip + ihl;
	*p = (struct rv_acl_pkt){.src = be32(ip + 12), .dst = be32(ip + 16), .proto = ip[9]};
	if (!first || ihl < 20 || len < ihl + 4)
		return;
	if (p->proto == PROTO_TCP || p->proto == PROTO_UDP) {
		p->sport = be16(l4);
		p->dport = be16(l4 + 2);
		p->has_ports = true;
	} else if (p->proto == PROTO_ICMP && (l4[0] == 8 || l4[0] == 0) && len >= ihl + 8) {
		p->sport = p->dport = be16(l4 + 4); /* echo request / reply: its id */
	}
}

/* A 32-bit digest of an IPv6 address for the flow hash. */
static uint32_t digest6(const uint8_t *a)
{
	uint64_t h = mix((uint64_t)be32(a) << 32 | be32(a + 4)) ^
		     ((uint64_t)be32(a + 8) << 32 | be32(a + 12));
	h = mix(h);
	return (uint32_t)(h ^ h >> 32);
}

void rv_dp_acl_parse6(const uint8_t *ip, uint32_t len, const struct rv_inner6 *in,
		      struct rv_acl_pkt *p)
{
	*p = (struct rv_acl_pkt){
	    .src = digest6(in->src), .dst = digest6(in->dst), .proto = in->proto, .v6 = true};
	const uint8_t *l4 = ip + in->l4_off;
	bool icmp = in->proto == RV_IPPROTO_ICMPV6;
	if (icmp)
		p->proto = PROTO_ICMP; /* rules say ICMP for either family */
	if (!in->l4_off || len < in->l4_off + 4)
		return;
	if (p->proto == PROTO_TCP || p->proto == PROTO_UDP) {
		p->sport = be16(l4);
		p->dport = be16(l4 + 2);
		p->has_ports = true;
	} else if (icmp && (l4[0] == 128 || l4[0] == 129) && len >= in->l4_off + 8) {
		p->sport = p->dport = be16(l4 + 4); /* echo request / reply: its id */
	}
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

/* Hash of the flow @p in room @room; low 16 bits: slot index, high 48: tag. */
static uint64_t flow_hash(uint32_t room, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
			  uint8_t proto, bool v6)
{
	uint64_t a = (uint64_t)src << 32 | dst;
	uint64_t b = (uint64_t)room << 32 | (uint32_t)sport << 16 | dport;
	return mix(a ^
		   mix(b ^ ((uint64_t)proto << 56 | (uint64_t)v6 << 48 | 0x9e3779b97f4a7c15ull)));
}

static bool tracked(const struct rv_acl_pkt *p)
{
	return p->proto == PROTO_TCP || p->proto == PROTO_UDP || p->proto == PROTO_ICMP;
}

static uint64_t coarse(uint64_t now_ns)
{
	return (now_ns >> 32) & 0xFFFF; /* ~4.3 s units */
}

#define IDLE_UNITS ((RV_ACL_IDLE_S * 1000000000ull >> 32) + 1)
#define TAG_MASK   (~0xFFFFull)

void rv_dp_acl_flow_open(unsigned w, uint32_t room_id, const struct rv_acl_pkt *p, uint64_t now_ns)
{
	if (!tracked(p) || w >= RV_ACL_WORKERS)
		return;
	/* the reply's tuple, as it will be looked up */
	uint64_t h = flow_hash(room_id, p->dst, p->src, p->dport, p->sport, p->proto, p->v6);
	_Atomic uint64_t *slot = &flows[w].slot[h & (RV_ACL_FLOWS - 1)];
	uint64_t word = (h & TAG_MASK) | coarse(now_ns);
	/* read first: a live flow rewrites its line only every ~4 s */
	if (atomic_load_explicit(slot, memory_order_relaxed) != word)
		atomic_store_explicit(slot, word, memory_order_relaxed);
}

bool rv_dp_acl_flow_is_reply(unsigned w, uint32_t room_id, const struct rv_acl_pkt *p,
			     uint64_t now_ns)
{
	if (!tracked(p) || w >= RV_ACL_WORKERS)
		return false;
	uint64_t h = flow_hash(room_id, p->src, p->dst, p->sport, p->dport, p->proto, p->v6);
	uint64_t word =
	    atomic_load_explicit(&flows[w].slot[h & (RV_ACL_FLOWS - 1)], memory_order_relaxed);
	if (!word || (word & TAG_MASK) != (h & TAG_MASK))
		return false;
	return ((coarse(now_ns) - (word & 0xFFFF)) & 0xFFFF) <= IDLE_UNITS;
}

static enum rv_drop verdict(const struct rv_dp_acl *a, const struct rv_acl_pkt *p, uint32_t room_id,
			    unsigned self, unsigned dst_owner, uint64_t now_ns)
{
	uint32_t scope = room_id ^ a->gen; /* flows of this room under these rules */
	if (rv_dp_acl_allows(a, p)) {
		rv_dp_acl_flow_open(dst_owner, scope, p, now_ns);
		return RV_OK;
	}
	return rv_dp_acl_flow_is_reply(self, scope, p, now_ns) ? RV_OK : RV_DROP_ACL;
}

enum rv_drop rv_dp_acl_check(const struct rv_dp_acl *a, const uint8_t *ip, uint32_t len,
			     uint32_t room_id, unsigned self, unsigned dst_owner, uint64_t now_ns)
{
	struct rv_acl_pkt p;
	if (!a)
		return RV_OK; /* no rules: allow all */
	rv_dp_acl_parse(ip, len, &p);
	return verdict(a, &p, room_id, self, dst_owner, now_ns);
}

enum rv_drop rv_dp_acl_check6(const struct rv_dp_acl *a, const uint8_t *ip, uint32_t len,
			      const struct rv_inner6 *in, uint32_t room_id, unsigned self,
			      unsigned dst_owner, uint64_t now_ns)
{
	struct rv_acl_pkt p;
	if (!a)
		return RV_OK;
	rv_dp_acl_parse6(ip, len, in, &p);
	return verdict(a, &p, room_id, self, dst_owner, now_ns);
}
