/* ARP: answer requests for our address, resolve next hops (members on the
 * link, else the default gateway) into a cache with timeouts. The control
 * ring also carries ICMPv6, handed to nd.c (its IPv6 twin).
 *
 * One writer: the control thread (main lcore, rv_arp_poll). Readers are the
 * workers; an entry is guarded by a sequence counter (odd while written), a
 * reader that sees it change treats the entry as a miss. Workers ask for
 * resolution through a multi-producer ring of IPs. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_ethdev.h>

#include "dp.h"

#define ARP_SLOTS    1024 /* power of two */
#define ARP_PROBE    8
#define ARP_RETRY_NS 1000000000ull

struct arp_entry {
	_Atomic uint32_t seq;
	_Atomic uint32_t ip;
	_Atomic uint64_t mac; /* low 48 bits */
	_Atomic uint64_t expires_ns;
	uint64_t last_req_ns; /* writer only */
};

static struct arp_entry cache[ARP_SLOTS];

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Stale for one more timeout after expiry, then gone (static: never). */
static bool gone(uint64_t expires, uint64_t now)
{
	uint64_t grace = (uint64_t)rv_dp.cfg.arp_timeout_s * 1000000000ull;
	return expires != UINT64_MAX && expires + grace <= now;
}

static unsigned slot_of(uint32_t ip)
{
	return (unsigned)((ip * 2654435761u) >> 22) & (ARP_SLOTS - 1);
}

static uint64_t mac_pack(const struct rte_ether_addr *a)
{
	uint64_t v = 0;
	memcpy(&v, a->addr_bytes, RTE_ETHER_ADDR_LEN);
	return v;
}

bool rv_arp_lookup(uint32_t ip, uint64_t now_ns, struct rte_ether_addr *mac)
{
	uint64_t exp;
	return rv_arp_lookup_exp(ip, now_ns, mac, &exp);
}

bool rv_arp_lookup_exp(uint32_t ip, uint64_t now_ns, struct rte_ether_addr *mac, uint64_t *expires)
{
	unsigned i = slot_of(ip);
	for (unsigned p = 0; p < ARP_PROBE; p++, i = (i + 1) & (ARP_SLOTS - 1)) {
		struct arp_entry *e = &cache[i];
		uint32_t seq = atomic_load_explicit(&e->seq, memory_order_acquire);
		uint32_t eip = atomic_load_explicit(&e->ip, memory_order_relaxed);
		if (eip == 0)
			return false;
		if (eip != ip)
			continue;
		uint64_t m = atomic_load_explicit(&e->mac, memory_order_relaxed);
		uint64_t exp = atomic_load_explicit(&e->expires_ns, memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
		if ((seq & 1) || atomic_load_explicit(&e->seq, memory_order_relaxed) != seq)
			return false;
		/* Past its expiry an entry is stale: still used (and refreshed by
		 * the caller) for one more timeout, like a kernel neighbour in
		 * STALE state; then it is gone. */
		if (gone(exp, now_ns))
			return false;
		memcpy(mac->addr_bytes, &m, RTE_ETHER_ADDR_LEN);
		*expires = exp;
		return true;
	}
	return false;
}

/* Writer: entry for @ip, created if @create (slot reuse: expired entries). */
static struct arp_entry *entry_for(uint32_t ip, bool create, uint64_t now)
{
	unsigned i = slot_of(ip);
	struct arp_entry *free_slot = NULL;
	for (unsigned p = 0; p < ARP_PROBE; p++, i = (i + 1) & (ARP_SLOTS - 1)) {
		struct arp_entry *e = &cache[i];
		if (e->ip == ip)
			return e;
		if (!free_slot && (e->ip == 0 || (gone(e->expires_ns, now) &&
						  e->last_req_ns + 10 * ARP_RETRY_NS <= now)))
			free_slot = e;
		if (e->ip == 0)
			break;
	}
	if (!create || !free_slot)
		return NULL;
	atomic_fetch_add(&free_slot->seq, 1);
	free_slot->ip = ip;
	free_slot->mac = 0;
	free_slot->expires_ns = 0;
	free_slot->last_req_ns = 0;
	atomic_fetch_add(&free_slot->seq, 1);
	return free_slot;
}

static void learn(uint32_t ip, const struct rte_ether_addr *mac, uint64_t now)
{
	struct arp_entry *e = entry_for(ip, true, now);
	if (!e)
		return;
	atomic_fetch_add(&e->seq, 1);
	e->mac = mac_pack(mac);
	e->expires_ns = now + (uint64_t)rv_dp.cfg.arp_timeout_s * 1000000000ull;
	atomic_fetch_add(&e->seq, 1);
}

void rv_arp_add_static(uint32_t ip, const struct rte_ether_addr *mac)
{
	struct arp_entry *e = entry_for(ip, true, 0);
	if (!e)
		return;
	atomic_fetch_add(&e->seq, 1);
	e->mac = mac_pack(mac);
	e->expires_ns = UINT64_MAX;
	atomic_fetch_add(&e->seq, 1);
}

uint32_t rv_arp_next_hop(uint32_t dst)
{
	uint32_t mask = ~0u << (32 - rv_dp.cfg.prefix_len);
	if ((dst & mask) == (rv_dp.cfg.ip & mask))
		return dst;
	return rv_dp.cfg.gateway;
}

void rv_arp_resolve(uint32_t ip)
{
	if (ip)
		rte_ring_mp_enqueue(rv_dp.arp_req, (void *)(uintptr_t)ip);
}

static void fill_arp(struct rte_mbuf *m, uint16_t op, const struct rte_ether_addr *tha,
		     uint32_t tip, const struct rte_ether_addr *eth_dst)
{
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_arp_hdr *ah = (struct rte_arp_hdr *)(eh + 1);
	eh->dst_addr = *eth_dst;
	eh->src_addr = rv_dp.mac;
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
	ah->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	ah->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ah->arp_hlen = RTE_ETHER_ADDR_LEN;
	ah->arp_plen = 4;
	ah->arp_opcode = rte_cpu_to_be_16(op);
	ah->arp_data.arp_sha = rv_dp.mac;
	ah->arp_data.arp_sip = rte_cpu_to_be_32(rv_dp.cfg.ip);
	ah->arp_data.arp_tha = *tha;
	ah->arp_data.arp_tip = rte_cpu_to_be_32(tip);
	m->data_len = m->pkt_len = sizeof(*eh) + sizeof(*ah);
}

/* The control thread has no TX queue: worker 0 transmits for it. */
void rv_dp_send_raw(struct rte_mbuf *m)
{
	rv_job(m)->kind = RV_JOB_TX_RAW;
	rv_job(m)->trace = 0;
	if (rte_ring_mp_enqueue(rv_dp.w[0].jobs, m) < 0) {
		rv_stats_drop(rv_stats_lcore(rte_lcore_id()), RV_DROP_RING_FULL);
		rte_pktmbuf_free(m);
	}
}

static void send_request(uint32_t ip, uint64_t now)
{
	struct arp_entry *e = entry_for(ip, true, now);
	if (!e || e->last_req_ns + ARP_RETRY_NS > now)
		return;
	e->last_req_ns = now;
	struct rte_mbuf *m = rte_pktmbuf_alloc(rv_dp.pool);
	if (!m)
		return;
	struct rte_ether_addr zero = {{0}}, bcast = {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
	fill_arp(m, RTE_ARP_OP_REQUEST, &zero, ip, &bcast);
	rv_dp_send_raw(m);
}

/* Learn the sender; answer requests for our address (reusing the mbuf). */
static void handle_arp(struct rte_mbuf *m, uint64_t now)
{
	struct rv_lcore_stats *st = rv_stats_lcore(rte_lcore_id());
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_arp_hdr *ah = (struct rte_arp_hdr *)(eh + 1);
	if (m->data_len < sizeof(*eh) + sizeof(*ah) ||
	    ah->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
	    ah->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) {
		rv_stats_drop(st, RV_DROP_ARP_NOT_FOR_US);
		rte_pktmbuf_free(m);
		return;
	}
	uint32_t sip = rte_be_to_cpu_32(ah->arp_data.arp_sip);
	uint32_t tip = rte_be_to_cpu_32(ah->arp_data.arp_tip);
	uint16_t op = rte_be_to_cpu_16(ah->arp_opcode);
	if (tip != rv_dp.cfg.ip || sip == 0) {
		rv_stats_drop(st, RV_DROP_ARP_NOT_FOR_US);
		rte_pktmbuf_free(m);
		return;
	}
	struct rte_ether_addr sha = ah->arp_data.arp_sha;
	learn(sip, &sha, now);
	if (op != RTE_ARP_OP_REQUEST) {
		rte_pktmbuf_free(m);
		return;
	}
	fill_arp(m, RTE_ARP_OP_REPLY, &sha, sip, &sha);
	st->arp_replies++;
	rv_dp_send_raw(m);
}

unsigned rv_arp_poll(void)
{
	void *objs[RV_DP_BURST];
	uint64_t now = mono_ns();
	unsigned n = rte_ring_sc_dequeue_burst(rv_dp.ctl, objs, RV_DP_BURST, NULL);
	for (unsigned i = 0; i < n; i++) {
		struct rte_mbuf *m = objs[i];
		const struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
		if (eh->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6))
			rv_nd_handle(m, now); /* ICMPv6: rx.c sends nothing else */
		else
			handle_arp(m, now);
	}
	n += rv_nd_poll_requests(now);
	unsigned r = rte_ring_sc_dequeue_burst(rv_dp.arp_req, objs, RV_DP_BURST, NULL);
	uint64_t tenth = (uint64_t)rv_dp.cfg.arp_timeout_s * 100000000ull;
	for (unsigned i = 0; i < r; i++) {
		struct rte_ether_addr mac;
		uint64_t exp;
		uint32_t ip = (uint32_t)(uintptr_t)objs[i];
		/* missing, or in its last tenth (refresh before it expires) */
		if (!rv_arp_lookup_exp(ip, now, &mac, &exp) ||
		    (int64_t)(exp - now) < (int64_t)tenth)
			send_request(ip, now);
	}
	return n + r;
}

int rv_arp_init(char *err, size_t errlen)
{
	memset(cache, 0, sizeof(cache));
	rv_dp.ctl = rte_ring_create("rv_ctl", RV_DP_CTL_RING, SOCKET_ID_ANY, RING_F_SC_DEQ);
	rv_dp.arp_req = rte_ring_create("rv_arp_req", RV_DP_CTL_RING, SOCKET_ID_ANY, RING_F_SC_DEQ);
	if (!rv_dp.ctl || !rv_dp.arp_req) {
		snprintf(err, errlen, "cannot create ARP rings: %s", rte_strerror(rte_errno));
		return -1;
	}
	return rv_nd_init(err, errlen);
}
