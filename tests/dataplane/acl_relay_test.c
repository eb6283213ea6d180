/* Access rules through the real packet path, in process (bench/relay
 * harness: net_ring port, no root): room 0 with members A (session 0) and
 * B (session 1). Rules: deny TCP A->B port 22, allow TCP A->B port 80,
 * allow ICMP, deny all TCP B->A. Then: A's TCP/22 is dropped as `acl` (at
 * the route stage of the trace), A's ping and TCP/80 are relayed, B's reply
 * to A's port-80 connection is relayed (the flow cache) while B's packet to
 * another port of A is dropped; removing the rules lets TCP/22 through, and
 * putting them back stops it on the next packet. Each case is one packet
 * through the worker's steps run on this thread (no timing). */
#include <stdio.h>
#include <string.h>

#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <urcu-qsbr.h>

#include "dp_tables.h"
#include "harness.h"
#include "session_table.h"

#define A 0u
#define B 1u

static struct rh h;
static struct rv_dp_worker *w;
static int failures;

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
	rh_drain(&h);
}

/* An inner packet from session @from to session @to. */
static struct rte_mbuf *inner(uint32_t from, uint32_t to, uint8_t proto, uint16_t sport,
			      uint16_t dport)
{
	uint8_t p[64] = {0};
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)p;
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->total_length = rte_cpu_to_be_16(sizeof(p));
	ip->time_to_live = 64;
	ip->next_proto_id = proto;
	ip->src_addr = rte_cpu_to_be_32(rh_vip(&h, from));
	ip->dst_addr = rte_cpu_to_be_32(rh_vip(&h, to));
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	uint8_t *l4 = p + sizeof(*ip);
	if (proto == IPPROTO_ICMP) {
		l4[0] = RTE_IP_ICMP_ECHO_REQUEST;
		l4[4] = 0x42; /* id */
	} else {
		l4[0] = (uint8_t)(sport >> 8);
		l4[1] = (uint8_t)sport;
		l4[2] = (uint8_t)(dport >> 8);
		l4[3] = (uint8_t)dport;
	}
	return rh_packet_bytes(&h, from, ++h.pid[from], p, sizeof(p), from);
}

/* Send @m; it must be relayed (@relay) or dropped as acl, nothing else. */
static void expect(const char *what, bool relay, struct rte_mbuf *m)
{
	struct rv_lcore_stats t0, t1;
	rv_stats_read_total(&t0);
	struct rv_trace_filter f = {.count = 1};
	rv_trace_start(&f);
	run(m);
	rv_trace_stop();
	rv_stats_read_total(&t1);
	uint64_t tx = t1.tx_pkts - t0.tx_pkts, acl = t1.drops[RV_DROP_ACL] - t0.drops[RV_DROP_ACL];
	uint64_t other = 0;
	for (int r = 1; r < RV_DROP__COUNT; r++)
		if (r != RV_DROP_ACL)
			other += t1.drops[r] - t0.drops[r];
	bool ok = m && other == 0 && (relay ? tx == 1 && acl == 0 : tx == 0 && acl == 1);
	if (ok && !relay) { /* the trace shows it at the route stage */
		struct rv_trace_rec rec[64];
		uint32_t lost;
		unsigned n = rv_trace_read(rec, 64, &lost);
		ok = false;
		for (unsigned i = 0; i < n; i++)
			ok |= rec[i].decision == RV_TD_DROP && rec[i].reason == RV_DROP_ACL &&
			      rec[i].stage == RV_STAGE_ROUTE;
		if (!ok)
			printf("     (no 'route drop: acl' in the trace)\n");
	}
	printf("%s %-44s want %s: sent %lu, acl drops %lu, other drops %lu\n", ok ? "ok  " : "FAIL",
	       what, relay ? "relayed" : "acl", (unsigned long)tx, (unsigned long)acl,
	       (unsigned long)other);
	failures += !ok;
}

static int set_rules(const struct rv_st_rule *rules, uint32_t n)
{
	char err[256];
	struct rv_st_room room = {.room_id = 0,
				  .subnet = rh_vip(&h, 0) & 0xFF800000u,
				  .prefix_len = 9,
				  .n_rules = n,
				  .rules = rules};
	if (rv_st_room_upsert(&room, err, sizeof(err)) < 0) {
		printf("FAIL rules refused: %s\n", err);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	(void)argc;
	if (rh_eal_init(argv[0], "rv_acl_relay", 1, 256) < 0)
		return 2;
	struct rh_config cfg = {.file_prefix = "rv_acl_relay",
				.n_workers = 1,
				.mode = RV_DP_MODE_RSS,
				.n_mbufs = 4095,
				.ring_size = 1024,
				.cipher = RV_CIPHER_AES_256_GCM};
	if (rh_setup(&h, &cfg) < 0 || rh_populate(&h, 3, 1) < 0)
		return 2;
	w = &rv_dp.w[0];
	w->lcore = rte_lcore_id();
	w->st = rv_stats_lcore(w->lcore);
	w->now_ns = rh_now_ns();
	w->wall_ns = w->now_ns;

	uint32_t a = rh_vip(&h, A), b = rh_vip(&h, B);
	const struct rv_st_rule rules[] = {
	    {.src = a,
	     .src_plen = 32,
	     .dst = b,
	     .dst_plen = 32,
	     .proto = IPPROTO_TCP,
	     .port_lo = 22,
	     .port_hi = 22,
	     .deny = true},
	    {.src = a,
	     .src_plen = 32,
	     .dst = b,
	     .dst_plen = 32,
	     .proto = IPPROTO_TCP,
	     .port_lo = 80,
	     .port_hi = 80},
	    {.proto = IPPROTO_ICMP, .port_hi = 65535},
	    {.src = b,
	     .src_plen = 32,
	     .dst = a,
	     .dst_plen = 32,
	     .proto = IPPROTO_TCP,
	     .port_hi = 65535,
	     .deny = true},
	};
	expect("no rules: A -> B TCP/22", true, inner(A, B, IPPROTO_TCP, 40000, 22));
	if (set_rules(rules, 4) < 0)
		return 1;
	expect("A -> B TCP/22", false, inner(A, B, IPPROTO_TCP, 40000, 22));
	expect("A -> B ping", true, inner(A, B, IPPROTO_ICMP, 0, 0));
	expect("A -> B TCP/80", true, inner(A, B, IPPROTO_TCP, 40000, 80));
	expect("B -> A reply of A's TCP/80 connection", true, inner(B, A, IPPROTO_TCP, 80, 40000));
	expect("B -> A TCP, no connection of A's", false, inner(B, A, IPPROTO_TCP, 80, 40001));
	expect("A -> session 2 TCP/22 (no rule for it)", true, inner(A, 2, IPPROTO_TCP, 40000, 22));
	if (set_rules(NULL, 0) < 0)
		return 1;
	expect("rules removed: A -> B TCP/22", true, inner(A, B, IPPROTO_TCP, 40000, 22));
	if (set_rules(rules, 4) < 0)
		return 1;
	expect("rules back: A -> B TCP/22", false, inner(A, B, IPPROTO_TCP, 40000, 22));
	printf("%s\n", failures ? "FAILED" : "access rules enforced on the packet path");
	return failures ? 1 : 0;
}
