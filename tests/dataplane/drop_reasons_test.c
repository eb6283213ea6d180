/* Every drop reason of the data plane, in process through the real packet
 * path (bench/relay harness: net_ring port, no root): one crafted packet per
 * reason, its counter must rise by exactly one (and no other), and the packet
 * trace must show the drop at the expected stage. Runs the worker's steps on
 * this thread (classify -> open burst -> TX flush) so that each case is one
 * packet, without timing. Reasons that cannot be crafted by one packet are
 * listed in `elsewhere` with the test that covers them; the test fails if a
 * reason is in neither list. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_arp.h>
#include <rte_ethdev.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_udp.h>
#include <urcu-qsbr.h>
#include <arpa/inet.h>

#include "dp_tables.h"
#include "garbage.h"
#include "harness.h"
#include "payload.h"
#include "session_table.h"

#define SERVER_IP 0x0A800001u /* the rooms' server address (subnet + 1) */
#define NO_STAGE  (-1)	      /* counted by a thread that does not trace */

static struct rh h;
static struct rv_dp_worker *w;
static int failures;
static bool tested[RV_DROP__COUNT];
static bool skip_control; /* leave the ARP ring to the case that filled it */

/* Inner IPv6 from session 2 (rooms are dual-stack): a UDP packet, with
 * its payload length, source, destination or ICMPv6 type changed. */
static struct rte_mbuf *v6_from_2(uint16_t plen, uint32_t src_session, const char *dst,
				  uint8_t icmp)
{
	uint8_t p[48] = {0x60}, d[16];
	rh_vip6(&h, src_session, p + 8);
	if (dst)
		inet_pton(AF_INET6, dst, d);
	else
		rh_vip6(&h, 4, d);
	memcpy(p + 24, d, 16);
	p[4] = (uint8_t)(plen >> 8);
	p[5] = (uint8_t)plen;
	p[6] = icmp ? 58 : IPPROTO_UDP;
	p[40] = icmp;
	return rh_packet_bytes(&h, 2, ++h.pid[2], p, sizeof(p), 2);
}

static void check(const char *what, enum rv_drop why, int stage, struct rte_mbuf *m);

static void v6_cases(void)
{
	check("IPv6 payload length past the end", RV_DROP_V6_MALFORMED, RV_STAGE_ROUTE,
	      v6_from_2(100, 2, NULL, 0));
	check("IPv6 source of another member", RV_DROP_V6_SPOOFED, RV_STAGE_ROUTE,
	      v6_from_2(8, 4, NULL, 0));
	check("IPv6 destination no member has", RV_DROP_V6_NO_ROUTE, RV_STAGE_ROUTE,
	      v6_from_2(8, 2, "fd00:80::ffff", 0));
	check("IPv6 neighbour solicitation", RV_DROP_V6_ND, RV_STAGE_ROUTE,
	      v6_from_2(8, 2, "ff02::1:ff00:4", 135));
	check("IPv6 interface-local multicast", RV_DROP_V6_MCAST_SCOPE, RV_STAGE_ROUTE,
	      v6_from_2(8, 2, "ff01::1", 0));
}

static struct rte_mbuf *valid_from(uint32_t src, uint32_t dst_session)
{
	return rh_packet_raw(&h, src, ++h.pid[src], rh_vip(&h, src), rh_vip(&h, dst_session), src,
			     64);
}

static void free_ring(struct rte_ring *r)
{
	void *m;
	while (rte_ring_dequeue(r, &m) == 0)
		rte_pktmbuf_free(m);
}

/* One pass of a worker over @m (and the control thread for ARP). */
static void run(struct rte_mbuf *m)
{
	struct rte_mbuf *data[1];
	w->tracing = rv_trace_armed();
	if (w->tracing)
		rv_trace_pass(w->lcore);
	unsigned nd = rv_rx_classify(w, &m, 1, data);
	if (nd)
		rv_relay_open_burst(w, data, nd);
	rv_tx_flush(w);
	if (!skip_control)
		rv_arp_poll();
	free_ring(rv_dp.w[0].jobs); /* ARP requests the control thread queued */
	rh_drain(&h);
}

static uint64_t drops_of(enum rv_drop r)
{
	struct rv_lcore_stats t;
	rv_stats_read_total(&t);
	return t.drops[r];
}

static void check(const char *what, enum rv_drop want, int stage, struct rte_mbuf *m)
{
	uint64_t before[RV_DROP__COUNT];
	for (int r = 1; r < RV_DROP__COUNT; r++)
		before[r] = drops_of(r);
	struct rv_trace_filter f = {.count = 1};
	rv_trace_start(&f);
	tested[want] = true;
	if (!m) {
		printf("FAIL %s: could not build the packet\n", what);
		failures++;
		return;
	}
	run(m);
	rv_trace_stop();
	for (int r = 1; r < RV_DROP__COUNT; r++) {
		uint64_t d = drops_of(r) - before[r];
		uint64_t exp = r == (int)want ? 1 : 0;
		if (d != exp) {
			printf("FAIL %s: %s rose by %llu, want %llu\n", what, rv_drop_name(r),
			       (unsigned long long)d, (unsigned long long)exp);
			failures++;
		}
	}
	if (stage == NO_STAGE) {
		printf("ok   %-16s (%s; counted by the control thread, not traced)\n",
		       rv_drop_name(want), what);
		return;
	}
	struct rv_trace_rec rec[64];
	uint32_t lost;
	unsigned n = rv_trace_read(rec, 64, &lost);
	bool seen = false;
	for (unsigned i = 0; i < n; i++)
		if (rec[i].decision == RV_TD_DROP && rec[i].reason == want && rec[i].stage == stage)
			seen = true;
	if (!seen) {
		printf("FAIL %s: the trace has no drop %s at %s (%u records)\n", what,
		       rv_drop_name(want), rv_trace_stage_name(stage), n);
		for (unsigned i = 0; i < n; i++)
			printf("     %s %s %s\n", rv_trace_stage_name(rec[i].stage),
			       rv_trace_decision_name(rec[i].decision),
			       rv_drop_name(rec[i].reason));
		failures++;
		return;
	}
	printf("ok   %-16s at %-8s (%s)\n", rv_drop_name(want), rv_trace_stage_name(stage), what);
}

static struct rte_mbuf *garbage(const char *name)
{
	unsigned n;
	const struct rb_garbage_kind *k = rb_garbage_kinds(&n);
	for (unsigned i = 0; i < n; i++)
		if (strcmp(k[i].name, name) == 0)
			return rb_garbage_packet(&h, i, 0, 64);
	return NULL;
}

/* An inner IPv4 packet from session @src to @dst with protocol @proto. */
static struct rte_mbuf *inner(uint32_t src, uint32_t src_ip, uint32_t dst_ip, uint8_t proto)
{
	uint8_t p[64] = {0};
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)p;
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->total_length = rte_cpu_to_be_16(sizeof(p));
	ip->time_to_live = 64;
	ip->next_proto_id = proto;
	ip->src_addr = rte_cpu_to_be_32(src_ip);
	ip->dst_addr = rte_cpu_to_be_32(dst_ip);
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	if (proto == IPPROTO_ICMP) {
		struct rte_icmp_hdr *icmp = (struct rte_icmp_hdr *)(ip + 1);
		icmp->icmp_type = RTE_IP_ICMP_ECHO_REQUEST;
		icmp->icmp_cksum = (uint16_t)~rte_raw_cksum(icmp, sizeof(p) - sizeof(*ip));
	}
	return rh_packet_bytes(&h, src, ++h.pid[src], p, sizeof(p), src);
}

static struct rte_mbuf *arp_for(uint32_t tip)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(rv_dp.pool);
	if (!m)
		return NULL;
	struct rte_ether_hdr *eh =
	    (struct rte_ether_hdr *)rte_pktmbuf_append(m, sizeof(*eh) + sizeof(struct rte_arp_hdr));
	struct rte_arp_hdr *ah = (struct rte_arp_hdr *)(eh + 1);
	memset(eh, 0xff, sizeof(*eh));
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
	memset(ah, 0, sizeof(*ah));
	ah->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	ah->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ah->arp_hlen = 6;
	ah->arp_plen = 4;
	ah->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
	ah->arp_data.arp_sip = rte_cpu_to_be_32(0x0A000063u);
	ah->arp_data.arp_tip = rte_cpu_to_be_32(tip);
	return m;
}

static struct rv_dp_session *session(uint32_t peer)
{
	return rv_dp_find_peer(rcu_dereference(rv_dp_root), peer);
}

static void set_addr(uint32_t peer, const struct rv_outer_addr *a)
{
	while (!rv_dp_addr_store(session(peer), a))
		;
}

/* Fill @r with placeholder entries (mbufs: freed with the ring). */
static void fill_ring(struct rte_ring *r)
{
	struct rte_mbuf *m;
	while (rte_ring_free_count(r) > 0 && (m = rte_pktmbuf_alloc(rv_dp.pool)))
		if (rte_ring_enqueue(r, m) < 0) {
			rte_pktmbuf_free(m);
			break;
		}
}

/* Reasons no single packet on this path triggers, and where they are tested. */
static const struct {
	enum rv_drop reason;
	const char *where;
} elsewhere[] = {
    {RV_DROP_TOO_BIG, "a buffer without room for the framing: tests/unit/test_dc_frame.c"},
    {RV_DROP_OUTER6_EXT_HEADER, "IPv6 classification: tests/dataplane/nd_test.c"},
    {RV_DROP_OUTER6_NO_CHECKSUM, "IPv6 classification: tests/dataplane/nd_test.c"},
    {RV_DROP_ND_NOT_FOR_US, "neighbour discovery junk: tests/dataplane/nd_test.c"},
    {RV_DROP_CRYPTO_ENQUEUE, "a full crypto queue pair: tests/dataplane/cdev_test.c"},
    {RV_DROP_CRYPTO_OP, "a crypto device fault (no software PMD makes one)"},
};

int main(int argc, char **argv)
{
	(void)argc;
	if (rh_eal_init(argv[0], "rv_drop_reasons", 1, 256) < 0)
		return 2;
	struct rh_config cfg = {.file_prefix = "rv_drop_reasons",
				.n_workers = 1,
				.mode = RV_DP_MODE_RSS,
				.n_mbufs = 8191,
				.ring_size = 1024,
				.cipher = RV_CIPHER_AES_256_GCM,
				.dual_stack = true};
	/* sessions 0, 2, 4 in room 0 (virtual IPs .2 .3 .4), 1, 3, 5 in room 1 */
	if (rh_setup(&h, &cfg) < 0 || rh_populate(&h, 6, 2) < 0)
		return 2;
	w = &rv_dp.w[0];
	w->lcore = rte_lcore_id();
	w->st = rv_stats_lcore(w->lcore);
	/* The worker's clock stands still: the rate bound refills nothing. */
	w->now_ns = rh_now_ns();
	w->wall_ns = w->now_ns;

	check("UDP to another port", RV_DROP_NOT_FOR_US, RV_STAGE_CLASSIFY, garbage("not_for_us"));
	check("data-channel packet of 4 bytes", RV_DROP_MALFORMED, RV_STAGE_CLASSIFY,
	      garbage("malformed"));
	check("P_CONTROL_V1 at the data port", RV_DROP_BAD_OPCODE, RV_STAGE_CLASSIFY,
	      garbage("bad_opcode"));
	struct rte_mbuf *m = valid_from(2, 4);
	if (m) /* more fragments */
		rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14)->fragment_offset =
		    rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG);
	check("outer IPv4 fragment", RV_DROP_FRAGMENT, RV_STAGE_CLASSIFY, m);
	check("unknown peer-id", RV_DROP_UNKNOWN_PEER, RV_STAGE_LOOKUP, garbage("unknown_peer"));
	h.key_id = 3;
	check("key-id 3 not installed", RV_DROP_UNKNOWN_KEY, RV_STAGE_LOOKUP, valid_from(2, 4));
	h.key_id = 0;
	check("one bit of the tag flipped", RV_DROP_AUTH, RV_STAGE_OPEN, garbage("bad_tag"));
	run(valid_from(2, 4));
	check("packet-id used twice", RV_DROP_REPLAY, RV_STAGE_REPLAY,
	      rh_packet_raw(&h, 2, h.pid[2], rh_vip(&h, 2), rh_vip(&h, 4), 2, 64));
	check("inner source of another member", RV_DROP_SPOOFED, RV_STAGE_ROUTE,
	      rh_packet_raw(&h, 2, ++h.pid[2], rh_vip(&h, 4), rh_vip(&h, 0), 2, 64));
	check("inner destination no member has", RV_DROP_NO_ROUTE, RV_STAGE_ROUTE,
	      rh_packet_raw(&h, 2, ++h.pid[2], rh_vip(&h, 2), rh_vip(&h, 2) + 50, 2, 64));
	/* room 0 denies everything for one packet */
	const struct rv_st_rule deny_all = {.port_hi = 65535, .deny = true};
	struct rv_st_room r0 = {.room_id = 0,
				.subnet = rh_vip(&h, 0) & 0xFF800000u,
				.prefix_len = 9,
				.n_rules = 1,
				.rules = &deny_all,
				.prefix6 = {0xfd, 0x00, 0x00, 0x80},
				.prefix6_len = 64};
	char err[256];
	if (rv_st_room_upsert(&r0, err, sizeof(err)) < 0)
		return 2;
	check("the room's rules deny it", RV_DROP_ACL, RV_STAGE_ROUTE, valid_from(2, 4));
	r0.n_rules = 0;
	if (rv_st_room_upsert(&r0, err, sizeof(err)) < 0)
		return 2;
	uint8_t v5[48] = {0x50};
	check("an IP version 5 payload", RV_DROP_NOT_IP, RV_STAGE_ROUTE,
	      rh_packet_bytes(&h, 2, ++h.pid[2], v5, sizeof(v5), 2));
	v6_cases();

	check("UDP to the server address", RV_DROP_SERVER_IP, RV_STAGE_ROUTE,
	      inner(2, rh_vip(&h, 2), SERVER_IP, IPPROTO_UDP));
	/* the server address answers at most a burst of 100 echo requests */
	uint64_t limited = drops_of(RV_DROP_RATE_LIMITED);
	for (int i = 0; i < 1000 && drops_of(RV_DROP_RATE_LIMITED) == limited; i++)
		run(inner(2, rh_vip(&h, 2), SERVER_IP, IPPROTO_ICMP));
	check("echo request over the rate bound", RV_DROP_RATE_LIMITED, RV_STAGE_ROUTE,
	      inner(2, rh_vip(&h, 2), SERVER_IP, IPPROTO_ICMP));

	/* destinations: session 4 gets no address, session 3 loses its key */
	struct rv_outer_addr none = {.kind = RV_ADDR_NONE};
	set_addr(4, &none);
	check("destination without an address", RV_DROP_NO_ADDRESS, RV_STAGE_SEAL,
	      valid_from(2, 4));
	atomic_store(&session(3)->tx_slot, -1); /* as between a key's retirement and the next */
	check("destination without a sealing key", RV_DROP_NO_TX_KEY, RV_STAGE_SEAL,
	      valid_from(1, 3));
	struct rv_dp_key *k = rv_dp_tx_key(session(5));
	if (k)
		atomic_store(&k->tx_pid, 0xFFFFFFFEu);
	check("destination's packet-ids used up", RV_DROP_PID_EXHAUSTED, RV_STAGE_SEAL,
	      valid_from(1, 5));
	struct rte_mbuf *job = rte_pktmbuf_alloc(rv_dp.pool);
	if (!job)
		return 2;
	/* a seal job (a hand-off) for a session deleted meanwhile */
	rv_job(job)->kind = RV_JOB_SEAL;
	rv_job(job)->peer_id = 999;
	uint64_t gone = drops_of(RV_DROP_DEST_GONE);
	rv_trace_start(&(struct rv_trace_filter){.count = 1});
	w->tracing = true;
	rv_trace_pass(w->lcore);
	rv_job(job)->trace = rv_trace_take(999, RV_TRACE_NO_ID);
	rv_relay_seal_jobs(w, &job, 1);
	rv_trace_stop();
	tested[RV_DROP_DEST_GONE] = true;
	if (drops_of(RV_DROP_DEST_GONE) != gone + 1) {
		printf("FAIL seal job for a deleted session: dest_gone did not rise by one\n");
		failures++;
	} else {
		printf("ok   %-16s at seal     (seal job for a deleted session)\n", "dest_gone");
	}

	/* transmit: on-link without ARP, no gateway, full TX queue */
	struct rv_outer_addr onlink = {.kind = RV_ADDR_UDP, .ip = 0x0A000005u, .port = 5000};
	struct rv_outer_addr offlink = {.kind = RV_ADDR_UDP, .ip = 0x64400002u, .port = 5000};
	set_addr(2, &onlink);
	check("next hop not resolved", RV_DROP_ARP_UNRESOLVED, RV_STAGE_TX, valid_from(0, 2));
	set_addr(2, &offlink);
	uint32_t gw = rv_dp.cfg.gateway;
	rv_dp.cfg.gateway = 0;
	check("off-link, no gateway", RV_DROP_NO_GATEWAY, RV_STAGE_TX, valid_from(0, 2));
	rv_dp.cfg.gateway = gw;
	/* the same over IPv6 outside: no neighbour entry, no gateway6 */
	struct rv_outer_addr onlink6 = {
	    .kind = RV_ADDR_UDP6, .port = 5000, .ip6 = {0xfd, 0, [15] = 5}};
	struct rv_outer_addr offlink6 = {
	    .kind = RV_ADDR_UDP6, .port = 5000, .ip6 = {0x20, 0x01, 0x0d, 0xb8, [15] = 2}};
	uint8_t ip6[16] = {0xfd, 0, [15] = 1};
	memcpy(rv_dp.cfg.ip6, ip6, 16);
	rv_dp.cfg.prefix6_len = 64;
	set_addr(2, &onlink6);
	check("IPv6 next hop not resolved", RV_DROP_ND_UNRESOLVED, RV_STAGE_TX, valid_from(0, 2));
	set_addr(2, &offlink6);
	check("IPv6 off-link, no gateway6", RV_DROP_ND_NO_GATEWAY, RV_STAGE_TX, valid_from(0, 2));
	memset(rv_dp.cfg.ip6, 0, 16);
	set_addr(2, &offlink);
	fill_ring(h.tx[0]);
	check("the port's TX queue full", RV_DROP_TX_FULL, RV_STAGE_TX, valid_from(0, 2));
	rh_drain(&h);

	/* control: ARP for another address, the ARP ring full */
	check("ARP for another address", RV_DROP_ARP_NOT_FOR_US, NO_STAGE, arp_for(0x0A000077u));
	fill_ring(rv_dp.ctl);
	skip_control = true;
	check("ARP ring full", RV_DROP_RING_FULL, RV_STAGE_CLASSIFY, arp_for(0x0A000001u));
	skip_control = false;
	free_ring(rv_dp.ctl);

	/* broadcast from session 1 to its room (3 is keyless, 5 gets the copy):
	 * the pool empty when copying */
	m = rh_packet_raw(&h, 1, ++h.pid[1], rh_vip(&h, 1), 0xFFFFFFFFu, 1, 64);
	struct rte_mbuf *hold[8192];
	unsigned held = 0;
	while (held < 8192 && (hold[held] = rte_pktmbuf_alloc(rv_dp.pool)))
		held++;
	atomic_store(&session(3)->dead, true); /* only 5 gets a copy */
	check("mbuf pool empty for a broadcast copy", RV_DROP_NO_MBUF, RV_STAGE_ROUTE, m);
	atomic_store(&session(3)->dead, false);
	rte_pktmbuf_free_bulk(hold, held);

	/* every reason is tested here or listed with where it is */
	for (int r = 1; r < RV_DROP__COUNT; r++) {
		const char *listed = NULL;
		for (size_t i = 0; i < sizeof(elsewhere) / sizeof(elsewhere[0]); i++)
			if (elsewhere[i].reason == (enum rv_drop)r)
				listed = elsewhere[i].where;
		if (listed) {
			printf("--   %-16s not here: %s\n", rv_drop_name(r), listed);
		} else if (!tested[r]) {
			printf("FAIL %s: no test here and none listed\n", rv_drop_name(r));
			failures++;
		}
	}
	printf("%s\n", failures ? "FAILED" : "all drop reasons counted once and traced");
	return failures ? 1 : 0;
}
