/* rv-relay-bench's modes beside its table (relay_modes.h): --garbage,
 * --trace and --rules, on the rounds of relay_bench.c. */
#include <stdio.h>
#include <stdlib.h>

#include "garbage.h"
#include "relay_modes.h"
#include "session_table.h"
#include "trace.h"

/* Drops so far under @why, or relayed packets for RV_OK. */
static uint64_t outcome_count(enum rv_drop why)
{
	struct rv_lcore_stats t;
	rv_stats_read_total(&t);
	return why == RV_OK ? t.tx_pkts : t.drops[why];
}

/* --garbage: rounds of one kind of garbage each; the worker's CPU time per
 * rejected packet (best round), and a check that every packet was counted
 * under the kind's reason (exit status 1 if not). */
int rb_run_garbage(const struct rb_opts *o, uint32_t senders)
{
	static struct rte_mbuf *pkts[ROUND_PKTS];
	unsigned nk, bad = 0;
	const struct rb_garbage_kind *k = rb_garbage_kinds(&nk);

	printf("garbage at the data port: %u sessions, 64-byte inner packets, %u rounds x %u "
	       "packets per kind;\nns per packet of data-plane lcore CPU time (best round)\n",
	       senders, o->rounds, ROUND_PKTS);
	printf("%-13s %-13s | %9s | %9s | %-7s | %s\n", "kind", "counted as", "ns/packet",
	       "Mpps/CPU", "counted", "what");
	for (unsigned i = 0; i < nk; i++) {
		double best = 0;
		bool exact = true;
		for (unsigned r = 0; r < o->rounds; r++) {
			unsigned n = 0;
			for (; n < ROUND_PKTS; n++) {
				uint32_t src = n % senders;
				if (!(pkts[n] = rb_garbage_packet(rb_harness(), i, src, 64)))
					break;
				pkts[n]->hash.usr = src;
			}
			uint64_t before = outcome_count(k[i].reason), out = 0, cpu = 0;
			if (!rb_timed_round(pkts, n, false, 0, &out, &cpu)) {
				fprintf(stderr, "garbage round timed out (starved?)\n");
				return 1;
			}
			exact = exact && outcome_count(k[i].reason) - before == n;
			/* round 0 warms up; the least disturbed round counts */
			if (r && cpu && (best == 0 || (double)cpu / n < best))
				best = (double)cpu / n;
		}
		bad += !exact;
		printf("%-13s %-13s | %9.1f | %9.2f | %-7s | %s\n", k[i].name,
		       k[i].reason == RV_OK ? "relayed" : rv_drop_name(k[i].reason), best,
		       best > 0 ? 1e3 / best : 0.0, exact ? "exact" : "WRONG", k[i].what);
	}
	return bad ? 1 : 0;
}

/* --trace: rounds alternate between tracing off and tracing armed for
 * session 0 (peer-id 0) through rv_trace_start, the call the agent makes for
 * `roomvpn-dpctl trace start --peer-id 0 --count 1000`; each on-round arms
 * a new run. The rate counts the other sessions' packets only (per CPU
 * second of the worker lcores, best round of each). */
int rb_run_trace(const struct rb_opts *o, uint32_t senders)
{
	static struct rte_mbuf *pkts[ROUND_PKTS];
	static struct rv_trace_rec rec[4 * RV_TRACE_RING];
	static const uint32_t sizes[] = {64, 1400};
	const struct rv_trace_filter one = {.count = RV_TRACE_MAX, .by_peer = true, .peer_id = 0};
	printf("trace bench: %s, %u worker(s), %s mode, %u sessions, %u rounds x %u packets "
	       "per cell,\ntracing off and on (session 0 only) alternating; others' relay Mpps "
	       "per CPU-second, best round\n",
	       rv_cipher_name(o->cipher), o->workers,
	       o->mode == RV_DP_MODE_RSS ? "rss" : "pipeline", senders, o->rounds, ROUND_PKTS);
	printf("%-7s | %-10s | %-10s | %-8s | %s\n", "payload", "off Mpps", "on Mpps", "on/off",
	       "records traced per on-round");
	for (unsigned z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
		double best[2] = {0};
		unsigned records = 0;
		for (unsigned r = 0; r < o->rounds; r++) {
			for (int on = 0; on < 2; on++) {
				unsigned n = rb_generate(pkts, ROUND_PKTS, senders, sizes[z]),
					 mine = 0;
				rb_tag_senders(pkts, n);
				for (unsigned i = 0; i < n; i++)
					mine += pkts[i]->hash.usr == 0;
				if (on)
					rv_trace_start(&one);
				uint64_t out, cpu,
				    t = rb_timed_round(pkts, n, false, sizes[z], &out, &cpu);
				if (on) {
					uint32_t lost;
					rv_trace_stop();
					records = rv_trace_read(rec, 4 * RV_TRACE_RING, &lost);
				}
				if (!t || !cpu) {
					fprintf(stderr, "round timed out (starved?)\n");
					return 1;
				}
				/* relayed = checked intact; session 0 sent @mine of them */
				double mpps =
				    (double)(out > mine ? out - mine : 0) / ((double)cpu / 1e3);
				if (r > 0 && mpps > best[on]) /* round 0 warms up */
					best[on] = mpps;
			}
		}
		printf("%-7u | %10.3f | %10.3f | %7.1f%% | %u\n", sizes[z], best[0], best[1],
		       100.0 * best[1] / best[0], records);
		if (!records) {
			fprintf(stderr,
				"tracing on recorded nothing: the figures are not its cost\n");
			return 1;
		}
	}
	return 0;
}

/* --rules: every room gets @n rules (or none). None matches the bench's
 * UDP packets: TCP to ports 1000+i, denied; so each packet is checked
 * against all of them, falls through to allow and opens its flow. With
 * @deny_all a last rule denies everything. */
static int set_rules(unsigned n, bool deny_all)
{
	static struct rv_st_rule rules[RV_ST_RULES_MAX + 1];
	char err[256];
	for (unsigned i = 0; i < n; i++)
		rules[i] = (struct rv_st_rule){.proto = 6,
					       .port_lo = (uint16_t)(1000 + i),
					       .port_hi = (uint16_t)(1000 + i),
					       .deny = true};
	if (deny_all)
		rules[n++] = (struct rv_st_rule){.port_hi = 65535, .deny = true};
	for (uint32_t r = 0; r < rb_harness()->n_rooms; r++) {
		struct rv_st_room room = {.room_id = r,
					  .subnet = rh_vip(rb_harness(), 0) & 0xFF800000u,
					  .prefix_len = 9,
					  .n_rules = n,
					  .rules = rules};
		if (rv_st_room_upsert(&room, err, sizeof(err)) < 0) {
			fprintf(stderr, "rules: %s\n", err);
			return -1;
		}
	}
	rv_st_writer_idle();
	return 0;
}

static uint64_t acl_drops(void)
{
	struct rv_lcore_stats t;
	rv_stats_read_total(&t);
	return t.drops[RV_DROP_ACL];
}

/* Rule change to enforcement: the workers run, this thread trickles
 * packets in, installs a deny-all rule and waits for the first acl drop. */
static int rule_latency(uint32_t senders)
{
	uint64_t worst = 0, sum = 0;
	const unsigned trials = 10;
	rv_dp_idle_sleep_us = 0;
	rh_start(rb_harness());
	for (unsigned t = 0; t < trials; t++) {
		if (set_rules(0, false) < 0)
			return 1;
		uint64_t base = acl_drops(), t0 = rh_now_ns(), t1;
		if (set_rules(0, true) < 0)
			return 1;
		while (acl_drops() == base) {
			struct rte_mbuf *pkts[8];
			unsigned n = rb_generate(pkts, 8, senders, 64);
			rb_tag_senders(pkts, n);
			for (unsigned i = 0; i < n; i++)
				if (rte_ring_sp_enqueue(rh_rx_ring(rb_harness(), pkts[i]->hash.usr),
							pkts[i]))
					rte_pktmbuf_free(pkts[i]);
			rh_drain(rb_harness());
			if (rh_now_ns() - t0 > ROUND_TIMEOUT_NS) {
				fprintf(stderr, "a deny-all rule was not enforced in 30 s\n");
				return 1;
			}
		}
		t1 = rh_now_ns();
		sum += t1 - t0;
		worst = t1 - t0 > worst ? t1 - t0 : worst;
	}
	rh_stop(rb_harness());
	rh_drain(rb_harness());
	printf("rule change to enforcement (upsert call to the first acl drop, packets "
	       "trickled in): mean %.3f ms, worst %.3f ms over %u changes\n",
	       (double)sum / trials / 1e6, (double)worst / 1e6, trials);
	return set_rules(0, false) < 0;
}

int rb_run_rules(const struct rb_opts *o, uint32_t senders)
{
	static struct rte_mbuf *pkts[ROUND_PKTS];
	static const uint32_t sizes[] = {64, 1400};
	printf("rules bench: %s, %u worker(s), %s mode, %u sessions in %u rooms, %u rounds x %u "
	       "packets per cell,\nno rules and %u rules per room alternating; relay Mpps per "
	       "CPU-second, best round\n",
	       rv_cipher_name(o->cipher), o->workers,
	       o->mode == RV_DP_MODE_RSS ? "rss" : "pipeline", senders, rb_harness()->n_rooms,
	       o->rounds, ROUND_PKTS, o->rules);
	printf("%-7s | %-10s | %-10s | %-8s | %s\n", "payload", "none Mpps", "rules Mpps",
	       "rules/none", "drops");
	for (unsigned z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
		double best[2] = {0};
		uint64_t drops = 0;
		for (unsigned r = 0; r < o->rounds; r++) {
			for (int on = 0; on < 2; on++) {
				if (set_rules(on ? o->rules : 0, false) < 0)
					return 1;
				unsigned n = rb_generate(pkts, ROUND_PKTS, senders, sizes[z]);
				rb_tag_senders(pkts, n);
				uint64_t d0 = rb_drops_total(), out, cpu;
				if (!rb_timed_round(pkts, n, false, sizes[z], &out, &cpu) || !cpu) {
					fprintf(stderr, "round timed out (starved?)\n");
					return 1;
				}
				drops += rb_drops_total() - d0;
				double mpps =
				    (double)out / ((double)cpu / 1e3); /* checked intact */
				if (r > 0 && mpps > best[on])	       /* round 0 warms up */
					best[on] = mpps;
			}
		}
		printf("%-7u | %10.3f | %10.3f | %9.1f%% | %lu\n", sizes[z], best[0], best[1],
		       100.0 * best[1] / best[0], (unsigned long)drops);
		if (drops) {
			fprintf(stderr,
				"packets were dropped: the rules are not the only difference\n");
			return 1;
		}
	}
	return rule_latency(senders);
}

/* --inner6: rounds alternate between inner IPv4/UDP and inner IPv6/UDP
 * packets of the same size over the same dual-stack sessions (every member
 * has a vip and a vip6); relayed = opened intact by the destination member.
 * Relay Mpps per CPU second of the worker lcores, best round of each after
 * a warm-up, and the IPv6/IPv4 ratio. */
int rb_run_inner6(const struct rb_opts *o, uint32_t senders)
{
	static struct rte_mbuf *pkts[ROUND_PKTS];
	static const uint32_t sizes[] = {64, 1400};
	struct rh *h = rb_harness();
	printf("inner IPv6 bench: %s, %u worker(s), %s mode, %u sessions (dual-stack), %u rounds "
	       "x %u packets per cell,\ninner IPv4/UDP and IPv6/UDP alternating; relay Mpps per "
	       "CPU-second, best round\n",
	       rv_cipher_name(o->cipher), o->workers,
	       o->mode == RV_DP_MODE_RSS ? "rss" : "pipeline", senders, o->rounds, ROUND_PKTS);
	printf("%-7s | %-10s | %-10s | %s\n", "payload", "IPv4 Mpps", "IPv6 Mpps", "IPv6/IPv4");
	for (unsigned z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
		double best[2] = {0};
		for (unsigned r = 0; r < o->rounds + 1; r++) {
			for (int v6 = 0; v6 < 2; v6++) {
				h->inner6 = v6;
				unsigned n = rb_generate(pkts, ROUND_PKTS, senders, sizes[z]);
				rb_tag_senders(pkts, n);
				uint64_t out, cpu,
				    t = rb_timed_round(pkts, n, false, sizes[z], &out, &cpu);
				if (!t || !cpu) {
					fprintf(stderr, "round timed out (starved?)\n");
					h->inner6 = false;
					return 1;
				}
				double mpps = (double)out / ((double)cpu / 1e3);
				if (r > 0 && mpps > best[v6]) /* round 0 warms up */
					best[v6] = mpps;
			}
		}
		h->inner6 = false;
		printf("%-7u | %10.3f | %10.3f | %8.1f%%\n", sizes[z], best[0], best[1],
		       best[0] > 0 ? 100.0 * best[1] / best[0] : 0.0);
		fflush(stdout);
	}
	return 0;
}
