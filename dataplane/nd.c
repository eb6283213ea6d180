/* IPv6 neighbour discovery (RFC 4861), the IPv6 twin of arp.c: answer
 * neighbour solicitations for our address, resolve next hops (members on
 * the link, else gateway6) into a cache with timeouts, learn from the
 * advertisements that answer our solicitations.
 *
 * One writer: the control thread (rv_arp_poll hands it ICMPv6 frames and
 * calls rv_nd_poll_requests). Readers are the workers; an entry is guarded
 * by a sequence counter (odd while written) as in arp.c. Workers ask for
 * resolution through a multi-producer ring of 16-byte addresses.
 *
 * Not done: router discovery (gateway6 is configured), redirects, duplicate
 * address detection (the operator owns the address), ICMPv6 echo (IPv4
 * echo to the outer address is not answered either). Such messages are
 * dropped as nd_not_for_us. */
#include <stdio.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_errno.h>
#include <rte_ip.h>

#include "dp.h"
#include "nd_wire.h"

#define ND_SLOTS    1024 /* power of two */
#define ND_PROBE    8
#define ND_RETRY_NS 1000000000ull

struct nd_entry {
	_Atomic uint32_t seq;
	_Atomic uint64_t ip[2]; /* both zero: empty slot */
	_Atomic uint64_t mac;	/* low 48 bits */
	_Atomic uint64_t expires_ns;
	uint64_t last_req_ns; /* writer only */
};

static struct nd_entry cache[ND_SLOTS];

static void split(const uint8_t ip[16], uint64_t v[2])
{
	memcpy(&v[0], ip, 8);
	memcpy(&v[1], ip + 8, 8);
}

static unsigned slot_of(const uint64_t v[2])
{
	uint64_t h = (v[0] ^ (v[1] * 0x9E3779B97F4A7C15ull)) * 0xff51afd7ed558ccdull;
	return (unsigned)(h >> 40) & (ND_SLOTS - 1);
}

/* Stale for one more timeout after expiry, then gone (static: never). */
static bool gone(uint64_t expires, uint64_t now)
{
	uint64_t grace = (uint64_t)rv_dp.cfg.arp_timeout_s * 1000000000ull;
	return expires != UINT64_MAX && expires + grace <= now;
}

static bool is_zero(const uint8_t ip[16])
{
	static const uint8_t zero[16];
	return memcmp(ip, zero, 16) == 0;
}

bool rv_nd_lookup_exp(const uint8_t ip[16], uint64_t now_ns, struct rte_ether_addr *mac,
		      uint64_t *expires)
{
	uint64_t v[2];
	split(ip, v);
	unsigned i = slot_of(v);
	for (unsigned p = 0; p < ND_PROBE; p++, i = (i + 1) & (ND_SLOTS - 1)) {
		struct nd_entry *e = &cache[i];
		uint32_t seq = atomic_load_explicit(&e->seq, memory_order_acquire);
		uint64_t a = atomic_load_explicit(&e->ip[0], memory_order_relaxed);
		uint64_t b = atomic_load_explicit(&e->ip[1], memory_order_relaxed);
		if (a == 0 && b == 0)
			return false;
		if (a != v[0] || b != v[1])
			continue;
		uint64_t m = atomic_load_explicit(&e->mac, memory_order_relaxed);
		uint64_t exp = atomic_load_explicit(&e->expires_ns, memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
		if ((seq & 1) || atomic_load_explicit(&e->seq, memory_order_relaxed) != seq)
			return false;
		if (exp == 0 || gone(exp, now_ns)) /* 0: asked, never answered */
			return false;
		memcpy(mac->addr_bytes, &m, RTE_ETHER_ADDR_LEN);
		*expires = exp;
		return true;
	}
	return false;
}

/* Writer: entry for @ip, created if @create (slot reuse: expired entries). */
static struct nd_entry *entry_for(const uint8_t ip[16], bool create, uint64_t now)
{
	uint64_t v[2];
	split(ip, v);
	unsigned i = slot_of(v);
	struct nd_entry *free_slot = NULL;
	for (unsigned p = 0; p < ND_PROBE; p++, i = (i + 1) & (ND_SLOTS - 1)) {
		struct nd_entry *e = &cache[i];
		bool empty = e->ip[0] == 0 && e->ip[1] == 0;
		if (e->ip[0] == v[0] && e->ip[1] == v[1])
			return e;
		if (!free_slot && (empty || (gone(e->expires_ns, now) &&
					     e->last_req_ns + 10 * ND_RETRY_NS <= now)))
			free_slot = e;
		if (empty)
			break;
	}
	if (!create || !free_slot)
		return NULL;
	atomic_fetch_add(&free_slot->seq, 1);
	free_slot->ip[0] = v[0];
	free_slot->ip[1] = v[1];
	free_slot->mac = 0;
	free_slot->expires_ns = 0;
	free_slot->last_req_ns = 0;
	atomic_fetch_add(&free_slot->seq, 1);
	return free_slot;
}

static void set_mac(struct nd_entry *e, const struct rte_ether_addr *mac, uint64_t expires)
{
	uint64_t v = 0;
	memcpy(&v, mac->addr_bytes, RTE_ETHER_ADDR_LEN);
	atomic_fetch_add(&e->seq, 1);
	e->mac = v;
	e->expires_ns = expires;
	atomic_fetch_add(&e->seq, 1);
}

void rv_nd_add_static(const uint8_t ip[16], const struct rte_ether_addr *mac)
{
	struct nd_entry *e = entry_for(ip, true, 0);
	if (e)
		set_mac(e, mac, UINT64_MAX);
}

static uint64_t lifetime_ns(void)
{
	return (uint64_t)rv_dp.cfg.arp_timeout_s * 1000000000ull;
}

bool rv_nd_next_hop(const uint8_t dst[16], uint8_t hop[16])
{
	if (!rv_dp_has_ip6())
		return false;
	unsigned bits = rv_dp.cfg.prefix6_len, full = bits / 8, rest = bits % 8;
	bool on_link = memcmp(dst, rv_dp.cfg.ip6, full) == 0 &&
		       (!rest || ((dst[full] ^ rv_dp.cfg.ip6[full]) & (0xff00u >> rest)) == 0);
	/* link-local destinations are on the link whatever the prefix */
	on_link = on_link || (dst[0] == 0xfe && (dst[1] & 0xc0) == 0x80);
	if (on_link) {
		memcpy(hop, dst, 16);
		return true;
	}
	if (is_zero(rv_dp.cfg.gateway6))
		return false;
	memcpy(hop, rv_dp.cfg.gateway6, 16);
	return true;
}

void rv_nd_resolve(const uint8_t ip[16])
{
	if (rv_dp.nd_req)
		rte_ring_mp_enqueue_elem(rv_dp.nd_req, (void *)(uintptr_t)ip, 16);
}

/* Fill @m with Ethernet/IPv6/ICMPv6 @type (NS or NA) about @target, with
 * our link-layer address as the option (source LL in an NS, target LL in an
 * NA), from our address to @dst. */
static void fill_nd(struct rte_mbuf *m, uint8_t type, uint32_t flags, const uint8_t target[16],
		    const uint8_t dst[16], const struct rte_ether_addr *eth_dst)
{
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv6_hdr *ip = (struct rte_ipv6_hdr *)(eh + 1);
	struct rv_nd_msg *nd = (struct rv_nd_msg *)(ip + 1);
	struct rv_nd_opt_ll *o = (struct rv_nd_opt_ll *)(nd + 1);
	uint8_t tmp_target[16], tmp_dst[16];
	memcpy(tmp_target, target, 16); /* may point into @m */
	memcpy(tmp_dst, dst, 16);
	eh->dst_addr = *eth_dst;
	eh->src_addr = rv_dp.mac;
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6);
	ip->vtc_flow = rte_cpu_to_be_32(0x60000000u);
	ip->payload_len = rte_cpu_to_be_16(sizeof(*nd) + sizeof(*o));
	ip->proto = IPPROTO_ICMPV6;
	ip->hop_limits = 255;
	memcpy(ip->src_addr, rv_dp.cfg.ip6, 16);
	memcpy(ip->dst_addr, tmp_dst, 16);
	nd->type = type;
	nd->code = 0;
	nd->flags = rte_cpu_to_be_32(flags);
	memcpy(nd->target, tmp_target, 16);
	o->type = type == RV_ND_NS ? RV_ND_OPT_SRC_LL : RV_ND_OPT_TGT_LL;
	o->len = 1;
	memcpy(o->mac, rv_dp.mac.addr_bytes, RTE_ETHER_ADDR_LEN);
	nd->cksum = 0;
	nd->cksum = rte_ipv6_udptcp_cksum(ip, nd);
	m->data_len = m->pkt_len = sizeof(*eh) + sizeof(*ip) + sizeof(*nd) + sizeof(*o);
}

static void send_solicitation(const uint8_t target[16], uint64_t now)
{
	struct nd_entry *e = entry_for(target, true, now);
	if (!e || e->last_req_ns + ND_RETRY_NS > now)
		return;
	e->last_req_ns = now;
	struct rte_mbuf *m = rte_pktmbuf_alloc(rv_dp.pool);
	if (!m)
		return;
	/* to the target's solicited-node group ff02::1:ffXX:XXXX */
	uint8_t group[16] = {0xff, 0x02, [11] = 0x01, [12] = 0xff};
	memcpy(group + 13, target + 13, 3);
	struct rte_ether_addr mcast = {{0x33, 0x33, 0xff, target[13], target[14], target[15]}};
	fill_nd(m, RV_ND_NS, 0, target, group, &mcast);
	rv_dp_send_raw(m);
}

/* The first link-layer address option of @type in @opt (@len bytes),
 * copied to @mac. */
static const struct rte_ether_addr *find_ll(const uint8_t *opt, uint32_t len, uint8_t type,
					    struct rte_ether_addr *mac)
{
	while (len >= 8) {
		uint32_t olen = (uint32_t)opt[1] * 8;
		if (olen == 0 || olen > len)
			return NULL; /* malformed options */
		if (opt[0] == type && olen == 8) {
			memcpy(mac->addr_bytes, opt + 2, RTE_ETHER_ADDR_LEN);
			return mac;
		}
		opt += olen;
		len -= olen;
	}
	return NULL;
}

/* An NS for our address: learn the sender, answer it (reusing @m). */
static bool on_solicitation(struct rte_mbuf *m, const struct rte_ipv6_hdr *ip,
			    const struct rv_nd_msg *nd, uint32_t icmp_len, uint64_t now)
{
	if (!rv_dp_has_ip6() || memcmp(nd->target, rv_dp.cfg.ip6, 16) != 0)
		return false;
	struct rte_ether_addr buf;
	const struct rte_ether_addr *sll =
	    find_ll((const uint8_t *)(nd + 1), icmp_len - sizeof(*nd), RV_ND_OPT_SRC_LL, &buf);
	const struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	struct rte_ether_addr to = sll ? *sll : eh->src_addr;
	uint8_t dst[16];
	memcpy(dst, ip->src_addr, 16);
	uint32_t flags = RV_ND_F_SOLICITED | RV_ND_F_OVERRIDE;
	if (is_zero(dst)) { /* duplicate address detection: tell everyone */
		static const uint8_t all_nodes[16] = {0xff, 0x02, [15] = 1};
		memcpy(dst, all_nodes, 16);
		to = (struct rte_ether_addr){{0x33, 0x33, 0, 0, 0, 1}};
		flags = RV_ND_F_OVERRIDE;
	} else if (sll) {
		struct nd_entry *e = entry_for(dst, true, now);
		if (e)
			set_mac(e, sll, now + lifetime_ns());
	}
	fill_nd(m, RV_ND_NA, flags, rv_dp.cfg.ip6, dst, &to);
	rv_stats_lcore(rte_lcore_id())->arp_replies++;
	rv_dp_send_raw(m);
	return true;
}

/* An NA: updates an entry we hold (asked for or known); an advertisement
 * for an address we never asked about is junk. @m stays with the caller. */
static bool on_advertisement(struct rte_mbuf *m, const struct rv_nd_msg *nd, uint32_t icmp_len,
			     uint64_t now)
{
	struct nd_entry *e = entry_for(nd->target, false, now);
	if (!e || e->expires_ns == UINT64_MAX)
		return false;
	struct rte_ether_addr buf;
	const struct rte_ether_addr *tll =
	    find_ll((const uint8_t *)(nd + 1), icmp_len - sizeof(*nd), RV_ND_OPT_TGT_LL, &buf);
	const struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	set_mac(e, tll ? tll : &eh->src_addr, now + lifetime_ns());
	rte_pktmbuf_free(m);
	return true;
}

/* Checks common to NS and NA (RFC 4861 7.1.1/7.1.2): hop limit 255, code
 * 0, long enough, checksum right. Returns the ICMPv6 length, 0 = invalid. */
static uint32_t valid_nd(struct rte_mbuf *m, const struct rte_ipv6_hdr *ip)
{
	const struct rv_nd_msg *nd = (const struct rv_nd_msg *)(ip + 1);
	uint32_t plen = rte_be_to_cpu_16(ip->payload_len);
	uint32_t avail = rte_pktmbuf_data_len(m) - sizeof(struct rte_ether_hdr) - sizeof(*ip);
	if (ip->proto != IPPROTO_ICMPV6 || plen > avail || plen < sizeof(*nd) ||
	    ip->hop_limits != 255 || nd->code != 0)
		return 0;
	/* pseudo-header + message sums to 0xffff when the checksum is right */
	uint32_t sum = (uint32_t)rte_raw_cksum(nd, plen) + rte_ipv6_phdr_cksum(ip, 0);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	if (sum != 0xffff)
		return 0;
	return plen;
}

void rv_nd_handle(struct rte_mbuf *m, uint64_t now_ns)
{
	struct rv_lcore_stats *st = rv_stats_lcore(rte_lcore_id());
	uint32_t min =
	    sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv6_hdr) + sizeof(struct rv_nd_msg);
	if (m->data_len < min) {
		rv_stats_drop(st, RV_DROP_MALFORMED);
		rte_pktmbuf_free(m);
		return;
	}
	struct rte_ipv6_hdr *ip =
	    (struct rte_ipv6_hdr *)(rte_pktmbuf_mtod(m, struct rte_ether_hdr *) + 1);
	const struct rv_nd_msg *nd = (const struct rv_nd_msg *)(ip + 1);
	uint32_t len = valid_nd(m, ip);
	bool taken = false;
	if (len && nd->type == RV_ND_NS)
		taken = on_solicitation(m, ip, nd, len, now_ns);
	else if (len && nd->type == RV_ND_NA)
		taken = on_advertisement(m, nd, len, now_ns);
	if (!taken) {
		rv_stats_drop(st, RV_DROP_ND_NOT_FOR_US);
		rte_pktmbuf_free(m);
	}
}

unsigned rv_nd_poll_requests(uint64_t now_ns)
{
	uint8_t ips[RV_DP_BURST][16];
	unsigned r = rte_ring_sc_dequeue_burst_elem(rv_dp.nd_req, ips, 16, RV_DP_BURST, NULL);
	uint64_t tenth = (uint64_t)rv_dp.cfg.arp_timeout_s * 100000000ull;
	for (unsigned i = 0; i < r; i++) {
		struct rte_ether_addr mac;
		uint64_t exp;
		/* missing, or in its last tenth (refresh before it expires) */
		if (!rv_nd_lookup_exp(ips[i], now_ns, &mac, &exp) ||
		    (int64_t)(exp - now_ns) < (int64_t)tenth)
			send_solicitation(ips[i], now_ns);
	}
	return r;
}

int rv_nd_init(char *err, size_t errlen)
{
	memset(cache, 0, sizeof(cache));
	rv_dp.nd_req =
	    rte_ring_create_elem("rv_nd_req", 16, RV_DP_CTL_RING, SOCKET_ID_ANY, RING_F_SC_DEQ);
	if (!rv_dp.nd_req) {
		snprintf(err, errlen, "cannot create the neighbour ring: %s",
			 rte_strerror(rte_errno));
		return -1;
	}
	return 0;
}
