/* rv-relay-bench: synthetic relay on net_ring ports (prints a table).
 * Packets are generated and encrypted BEFORE each timed round, so a round
 * times only the worker: K valid packets are put on the RX ring(s) and the
 * clock stops when every one of them was transmitted or dropped. Every
 * session has a key of its own; after each round (untimed) every packet the
 * relay sent is opened with its DESTINATION member's key and checked (right
 * member, inner packet intact): only those count as relayed, drops are
 * reported beside them, and any packet that fails the check makes the run
 * exit 1 (--corrupt-dest-key gives one member a wrong key to show that).
 *
 * Rows: N sessions (1 sender, 1,000, 100,000; 100 per room) x payload
 * (64, 512, 1400 bytes of inner IPv4 packet): relayed Mpps and Gbit/s of
 * inner payload per worker core, DPDK io forwarding over the same ports, and
 * the crypto bound (bound.h: one open + one seal per packet, batched and
 * prefetched like the relay, one context pair per session, on the relay's
 * core, in passes between the relay rounds).
 * Then: table updates/s while forwarding, update-to-visible latency, memory
 * per session.
 * Modes beside the table (relay_modes.c):
 * --trace: the relay rate with the packet trace off, and armed for one
 * session, in alternating rounds of the same run (the cost of tracing).
 * --rules N: the relay rate with no access rules and with N rules in every
 * room (none matching: each packet is checked against all N, then opens its
 * flow), alternating rounds of the same run; then the time from a rule
 * change (rv_st_room_upsert) to its enforcement by the running workers.
 * --inner6: the relay rate with inner IPv4 and inner IPv6 packets (64 and
 * 1400 bytes) over the same dual-stack sessions, alternating rounds of the
 * same run, and their ratio. */
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_bus_vdev.h>
#include <rte_lcore.h>

#include "bound.h"
#include "heap.h"
#include "member.h"
#include "mem_floor.h"
#include "dc_frame.h"
#include "engine_cryptodev.h"
#include "harness.h"
#include "relay_modes.h"
#include "session_table.h"
#include "static_key.h"

#define CHURN_BASE 0x800000u
#define RB_CDEV	   "crypto_aesni_gcm0" /* --engine cryptodev */

/* Relayed packets by what their destination member made of them. */
static uint64_t verdicts[RH_VERDICT_COUNT];

static uint64_t bad_output(void)
{
	uint64_t bad = 0;
	for (int v = RH_OK + 1; v < RH_VERDICT_COUNT; v++)
		bad += verdicts[v];
	return bad;
}

static struct rh h;

struct rh *rb_harness(void)
{
	return &h;
}

uint64_t rb_drops_total(void)
{
	struct rv_lcore_stats t;
	rv_stats_read_total(&t);
	uint64_t d = 0;
	for (int i = 1; i < RV_DROP__COUNT; i++)
		d += t.drops[i];
	return d;
}

/* Packets the data plane is done with: sent or dropped. */
static uint64_t done_count(void)
{
	struct rv_lcore_stats t;
	rv_stats_read_total(&t);
	return t.tx_pkts + rb_drops_total();
}

/* Generate @k packets from the @senders first sessions, round robin. */
unsigned rb_generate(struct rte_mbuf **pkts, unsigned k, uint32_t senders, uint32_t payload)
{
	static uint32_t next;
	unsigned n = 0;
	for (; n < k; n++) {
		uint32_t src = next++ % senders;
		pkts[n] = rh_packet(&h, src, payload);
		if (!pkts[n])
			break;
	}
	return n;
}

/* Take every packet off the TX ring(s); with @payload, check each as its
 * destination member (into verdicts[]). Returns the packets that passed (or
 * all, without @payload). */
static uint64_t drain_checked(uint32_t payload)
{
	struct rte_mbuf *m[64];
	uint64_t ok = 0;
	for (unsigned q = 0; q < h.nq; q++) {
		unsigned n;
		while ((n = rte_ring_sc_dequeue_burst(h.tx[q], (void **)m, 64, NULL)) > 0) {
			for (unsigned i = 0; i < n && payload; i++) {
				enum rh_verdict v = rh_member_check(&h, m[i], payload);
				verdicts[v]++;
				ok += v == RH_OK;
			}
			ok += payload ? 0 : n;
			rte_pktmbuf_free_bulk(m, n);
		}
	}
	return ok;
}

/* Put @n pre-built packets on the RX ring(s) while the lcores are stopped,
 * start them, and wait (sleeping, so as not to take their CPU) until the
 * data plane is done with every packet (io forwarding: until all came out).
 * The lcores' CPU time is measured from start to done. *@out: the packets
 * out that their destination opened intact (relay rounds of rh_packet()s of
 * @payload bytes; @payload 0: packets out, unchecked). Returns wall ns, or 0
 * on timeout. */
uint64_t rb_timed_round(struct rte_mbuf **pkts, unsigned n, bool io, uint32_t payload,
			uint64_t *out, uint64_t *cpu)
{
	rh_stop(&h);
	for (unsigned i = 0; i < n; i++)
		if (rte_ring_sp_enqueue(rh_rx_ring(&h, pkts[i]->hash.usr), pkts[i]) != 0)
			rte_pktmbuf_free(pkts[i]); /* cannot happen: rings hold a round */
	uint64_t base = done_count(), t1;
	/* Once the lcores have emptied the RX ring they would spin until this
	 * thread (which sleeps, on a shared machine for up to milliseconds)
	 * notices: that spin is not relay work, so idle passes sleep instead. */
	rv_dp_idle_sleep_us = 20;
	uint64_t c0 = rh_lcores_cpu_ns(&h), t0 = rh_now_ns();
	io ? rh_start_iofwd(&h) : rh_start(&h);
	for (;;) {
		unsigned queued = 0;
		for (unsigned q = 0; q < h.nq; q++)
			queued += rte_ring_count(h.tx[q]);
		t1 = rh_now_ns();
		if (io ? queued >= n : done_count() - base >= n)
			break;
		if (t1 - t0 > ROUND_TIMEOUT_NS)
			break;
		usleep(50);
	}
	*cpu = rh_lcores_cpu_ns(&h) - c0;
	rh_stop(&h);
	rv_dp_idle_sleep_us = 0;
	*out = drain_checked(io ? 0 : payload);
	return t1 - t0 > ROUND_TIMEOUT_NS ? 0 : t1 - t0;
}

/* Remember each packet's sender (the peer-id in its header) in hash.usr. */
void rb_tag_senders(struct rte_mbuf **pkts, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *dc = rte_pktmbuf_mtod_offset(pkts[i], const uint8_t *, 42);
		pkts[i]->hash.usr = (uint32_t)dc[1] << 16 | (uint32_t)dc[2] << 8 | dc[3];
	}
}

/* Rates per CPU second of the data-plane lcores (cores are shared with
 * other processes, so wall-clock rates understate them), median round;
 * wall-clock over all rounds too. Only packets the destination opened
 * intact count as relayed. */
struct result {
	double mpps, gbps, wall_mpps;
	uint64_t drops, bad;
};

static double bound_on_worker(uint32_t senders, uint32_t payload);

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Median of @n values (sorted in place); 0 for none. */
static double median(double *v, unsigned n)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Rounds of ROUND_PKTS packets of @payload bytes; packets remember their
 * sender in hash.usr (overwritten by the data plane later: harmless).
 * Relay rounds (not @io) alternate with crypto-bound passes on the same
 * core, so both see the same machine. The relay's rate is its median round;
 * the bound (@cb) is its fastest pass: the most the crypto alone did. */
static struct result run_size(const struct rb_opts *o, uint32_t senders, uint32_t payload, bool io,
			      double *cb)
{
	static struct rte_mbuf *pkts[ROUND_PKTS];
	double rate[64], bound[64];
	unsigned nr = 0, nb = 0;
	uint64_t ns = 0, pk = 0, out = 0, d0 = rb_drops_total(), b0 = bad_output();
	for (unsigned r = 0; r < o->rounds && r < 64; r++) {
		unsigned n = rb_generate(pkts, ROUND_PKTS, senders, payload);
		rb_tag_senders(pkts, n);
		uint64_t c = 0, t = rb_timed_round(pkts, n, io, payload, &out, &c);
		if (!t) {
			fprintf(stderr, "round timed out (starved?): cell left out\n");
			return (struct result){0};
		}
		if (r == 0)
			continue; /* warm-up */
		if (!io) {
			double one = bound_on_worker(senders, payload);
			if (one > 0)
				bound[nb++] = one;
		}
		ns += t;
		pk += out;
		if (c)
			rate[nr++] = (double)out / ((double)c / 1e3);
	}
	struct result res = {0};
	for (unsigned i = 0; cb && i < nb; i++)
		*cb = bound[i] > *cb ? bound[i] : *cb;
	if (ns && nr) {
		res.wall_mpps = (double)pk / ((double)ns / 1e3);
		res.mpps = median(rate, nr);
		res.gbps = res.mpps * payload * 8 / 1e3;
	}
	res.drops = rb_drops_total() - d0;
	res.bad = bad_output() - b0;
	if (res.drops) {
		struct rv_lcore_stats t;
		rv_stats_read_total(&t);
		fprintf(stderr, "  drops so far by reason:");
		for (int i = 1; i < RV_DROP__COUNT; i++)
			if (t.drops[i])
				fprintf(stderr, " %s=%lu", rv_drop_name(i), t.drops[i]);
		for (unsigned l = 0; l < 8; l++) {
			struct rv_lcore_stats one;
			rv_stats_read_lcore(l, &one);
			if (one.drops[RV_DROP_TX_FULL])
				fprintf(stderr, " [lcore %u: tx_full=%lu]", l,
					one.drops[RV_DROP_TX_FULL]);
		}
		fprintf(stderr, "\n");
	}
	return res;
}

/* A bound pass (bound.h) on the first worker lcore, where the relay runs
 * (lcores idle), over packets built as the relay's next round's would be:
 * the same senders in turn, as cold in cache. Only the open and the seal
 * are timed. */
struct bound_arg {
	struct rte_mbuf **pkts;
	unsigned n;
	double mpps;
	_Atomic bool done;
};

static int bound_main(void *arg)
{
	struct bound_arg *b = arg;
	b->mpps = rb_bound_pass(&h, b->pkts, b->n);
	atomic_store(&b->done, true);
	return 0;
}

static double bound_on_worker(uint32_t senders, uint32_t payload)
{
	static struct rte_mbuf *pkts[ROUND_PKTS];
	unsigned n = rb_generate(pkts, ROUND_PKTS, senders, payload);
	rb_tag_senders(pkts, n);
	struct bound_arg b = {.pkts = pkts, .n = n};
	unsigned lcore = rte_get_next_lcore(-1, 1, 0);
	if (lcore < RTE_MAX_LCORE && rte_eal_remote_launch(bound_main, &b, lcore) == 0) {
		/* wait as rb_timed_round() does, sleeping: a spinning main thread
		 * would slow the bound's core (shared, or a hyperthread sibling) */
		while (!atomic_load(&b.done))
			usleep(50);
		rte_eal_wait_lcore(lcore);
	} else {
		bound_main(&b);
	}
	rte_pktmbuf_free_bulk(pkts, n);
	if (!b.mpps)
		fprintf(stderr, "crypto bound: a packet failed to open or seal\n");
	return b.mpps;
}

static size_t heap_used(void)
{
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}

/* Heap in use once every deferred free (old tables, keys) has run. */
static size_t settled_heap(void)
{
	struct rv_st_counts c;
	rv_st_writer_idle();
	for (int i = 0; i < 2000; i++) {
		rv_st_counts(&c);
		if (!c.pending_frees)
			break;
		usleep(1000);
	}
	return heap_used();
}

/* Session upserts + deletes (churn sessions, own peer-ids) while the
 * workers forward a pre-generated stream; then update-to-visible: upsert a
 * session, send its first packet, time until the worker counted it. */
static void table_updates(const struct rb_opts *o, uint32_t senders)
{
	static struct rte_mbuf *pkts[ROUND_PKTS];
	unsigned n = rb_generate(pkts, ROUND_PKTS, senders, 64);
	rb_tag_senders(pkts, n);
	char err[256];
	struct rv_st_session s = {
	    .room_id = 0, .cipher = o->cipher, .key = h.key, .key_direction = 1};
	uint64_t updates = 0, t0 = rh_now_ns(), base = done_count();
	unsigned fed = 0;
	while (done_count() - base < n || fed < n) {
		for (unsigned x = 0; x < 256 && fed < n; x++, fed++)
			if (rte_ring_sp_enqueue(rh_rx_ring(&h, pkts[fed]->hash.usr), pkts[fed]) !=
			    0)
				break;
		rh_drain(&h);
		s.peer_id = CHURN_BASE + (uint32_t)(updates / 2 % 1000);
		s.vip = 0x0AF00000u + (uint32_t)(updates / 2 % 1000);
		if (updates % 2 == 0)
			rv_st_session_upsert(&s, err, sizeof(err));
		else
			rv_st_session_delete(s.peer_id, err, sizeof(err));
		updates++;
		if (rh_now_ns() - t0 > ROUND_TIMEOUT_NS)
			break;
	}
	double secs = (double)(rh_now_ns() - t0) / 1e9;
	rh_drain(&h);
	rv_st_writer_idle();
	/* update-to-visible */
	uint64_t lat[101];
	unsigned nl = 0;
	for (unsigned i = 0; i < 101; i++) {
		s.peer_id = CHURN_BASE + 5000 + i;
		s.vip = 0x0AF10000u + i;
		s.addr = (struct rv_outer_addr){
		    .kind = RV_ADDR_UDP, .ip = 0x64500000u + i, .port = 5000};
		uint64_t t = rh_now_ns();
		rv_st_session_upsert(&s, err, sizeof(err));
		struct rte_mbuf *m = rh_packet_raw(&h, s.peer_id, 1, s.vip, rh_vip(&h, 0), 0, 64);
		if (!m || rte_ring_sp_enqueue(rh_rx_ring(&h, s.peer_id), m) != 0)
			continue;
		struct rv_st_session_info info = {0};
		while (rv_st_session_get(s.peer_id, &info) == 0 && info.pkts_in == 0 &&
		       rh_now_ns() - t < 100000000ull)
			rh_drain(&h);
		if (info.pkts_in)
			lat[nl++] = rh_now_ns() - t;
		rv_st_session_delete(s.peer_id, err, sizeof(err));
		rh_drain(&h);
		rv_st_writer_idle();
	}
	for (unsigned i = 1; i < nl; i++)
		for (unsigned j = i; j > 0 && lat[j - 1] > lat[j]; j--) {
			uint64_t t = lat[j];
			lat[j] = lat[j - 1];
			lat[j - 1] = t;
		}
	printf("  table updates while forwarding: %.0f updates/s (session upsert or delete, "
	       "%lu in %.2f s, %u pkts forwarded meanwhile)\n",
	       updates / secs, updates, secs, n);
	if (nl)
		printf(
		    "  update-to-visible (upsert -> first packet of the new session counted by a "
		    "worker): median %.1f us, p90 %.1f us (%u samples)\n",
		    lat[nl / 2] / 1e3, lat[nl * 9 / 10] / 1e3, nl);
}

/* With 100,000 sessions: the memory floor (mem_floor.h) beside what the
 * relay lost per packet against one session in this run. */
static void print_floor(double mpps[3][3], const uint32_t sizes[3], uint32_t partner)
{
	unsigned lines = mf_lines_per_packet(0, partner);
	double ns = mf_cold_line_ns();
	printf("  memory floor: a relayed packet of a cold session touches %u cache lines of "
	       "per-session state; this machine serves one cold line per %.1f ns with 32 "
	       "prefetched loads in flight: >= %.0f ns per packet more than a hot session\n",
	       lines, ns, lines * ns);
	for (unsigned z = 0; z < 3; z++)
		if (mpps[0][z] > 0 && mpps[2][z] > 0)
			printf("    %u B: this run lost %.0f ns per packet at 100,000 sessions "
			       "against 1 (%.0f -> %.0f ns)\n",
			       sizes[z], 1e3 / mpps[2][z] - 1e3 / mpps[0][z], 1e3 / mpps[0][z],
			       1e3 / mpps[2][z]);
}

static int parse(struct rb_opts *o, int argc, char **argv)
{
	static const struct option lo[] = {{"workers", required_argument, NULL, 'w'},
					   {"mode", required_argument, NULL, 'm'},
					   {"quick", no_argument, NULL, 'q'},
					   {"cipher", required_argument, NULL, 'c'},
					   {"help", no_argument, NULL, 'h'},
					   {"sessions", required_argument, NULL, 's'},
					   {"garbage", no_argument, NULL, 'g'},
					   {"trace", no_argument, NULL, 't'},
					   {"rules", required_argument, NULL, 'r'},
					   {"corrupt-dest-key", no_argument, NULL, 'K'},
					   {"inner6", no_argument, NULL, '6'},
					   {"engine", required_argument, NULL, 'e'},
					   {NULL, 0, NULL, 0}};
	int c;
	*o = (struct rb_opts){
	    .workers = 1, .mode = RV_DP_MODE_RSS, .rounds = 8, .cipher = RV_CIPHER_AES_256_GCM};
	enum rv_cipher_engine_id engine = RV_ENGINE_OPENSSL;
	while ((c = getopt_long(argc, argv, "w:m:qc:s:gtr:e:h", lo, NULL)) != -1) {
		if (c == 'w')
			o->workers = (unsigned)atoi(optarg);
		else if (c == 'm')
			o->mode = strcmp(optarg, "pipeline") ? RV_DP_MODE_RSS : RV_DP_MODE_PIPELINE;
		else if (c == 'q')
			o->quick = true;
		else if (c == 'g')
			o->garbage = true;
		else if (c == 't')
			o->trace = true;
		else if (c == 'K')
			o->corrupt_dest_key = true;
		else if (c == '6')
			o->inner6 = true;
		else if (c == 's' && (o->only_sessions = (uint32_t)atoi(optarg)) >= 1 &&
			 o->only_sessions <= 100000)
			continue;
		else if (c == 'c' && rv_cipher_parse(optarg, &o->cipher) == 0)
			continue;
		else if (c == 'e' && rv_cipher_engine_parse(optarg, &engine) == 0)
			continue;
		else if (c == 'r' && (o->rules = (unsigned)atoi(optarg)) >= 1 &&
			 o->rules <= RV_ST_RULES_MAX)
			continue;
		else {
			printf(
			    "usage: rv-relay-bench [--workers 1..4] [--mode rss|pipeline] "
			    "[--cipher NAME] [--engine openssl|ipsec-mb|cryptodev|auto] "
			    "[--sessions "
			    "1|1000|100000] [--quick] [--garbage | --trace | --rules N | --inner6] "
			    "[--corrupt-dest-key]\n"
			    "  --engine   crypto engine of the AEAD suites, for the relay, the "
			    "bound and the members\n"
			    "             (default openssl; an absent engine is an error; "
			    "cryptodev: the software\n"
			    "             PMD " RB_CDEV " through the relay's asynchronous "
			    "burst seam)\n"
			    "  every packet relayed is opened with its destination member's "
			    "key and checked\n"
			    "  (right member, inner packet intact); exit 1 if any is not\n"
			    "  --garbage  the worker's cost of each kind of rejected packet "
			    "(unknown peer-id, bad opcode,\n"
			    "             malformed, bad tag, not for us) instead of the relay "
			    "table; exit 1 if a kind\n"
			    "             is not counted under its drop reason\n"
			    "  --trace    the relay rate with the packet trace off and armed for "
			    "one session (peer-id 0),\n"
			    "             alternating rounds, instead of the relay table "
			    "(default 1000 sessions)\n"
			    "  --rules N  the relay rate with no access rules and with N "
			    "(1..1024) in every room,\n"
			    "             alternating rounds, then rule change to enforcement "
			    "latency (default 1000\n"
			    "             sessions)\n"
			    "  --inner6   the relay rate with inner IPv4 and inner IPv6 packets "
			    "(64, 1400 bytes) over\n"
			    "             the same dual-stack sessions, alternating rounds, and "
			    "their ratio (default 1000\n"
			    "             sessions)\n"
			    "  --corrupt-dest-key  (test) give session 0's destination member a "
			    "wrong key: its packets\n"
			    "             must fail the check and the run exit 1\n");
			return c == 'h' ? 1 : -1;
		}
	}
	if (o->workers < 1 || o->workers > RH_MAX_Q)
		return -1;
	char err[200];
	o->cdev = engine == RV_ENGINE_CRYPTODEV; /* needs the EAL: start_cryptodev() */
	if (!o->cdev && rv_cipher_engine_select(engine, err, sizeof(err)) < 0) {
		fprintf(stderr, "rv-relay-bench: %s\n", err);
		return 77;
	}
	if (o->quick)
		o->rounds = 3;
	return 0;
}

/* --engine cryptodev: the software PMD as a vdev, a queue pair per worker,
 * device sessions for the relay's and the bound's context pairs at the
 * largest session count. 77 when the PMD is absent. */
static int start_cryptodev(const struct rb_opts *o)
{
	char err[256];
	uint32_t most = o->only_sessions ? o->only_sessions : 100000;
	struct rv_cdev_config cc = {.dev_name = RB_CDEV,
				    .n_workers = o->workers,
				    .n_sessions =
					4 * (most + 2) + 65536}; /* + the table updates' churn */
	if (rte_vdev_init(RB_CDEV, NULL) < 0) {
		fprintf(stderr, "rv-relay-bench: the software cryptodev PMD %s is absent\n",
			RB_CDEV);
		return 77;
	}
	if (rv_cdev_start(&cc, err, sizeof(err)) < 0) {
		fprintf(stderr, "rv-relay-bench: %s\n", err);
		return 1;
	}
	printf("crypto device %s\n", rv_cdev_describe());
	return 0;
}

/* rh_populate, then (--corrupt-dest-key) session 0's destination member
 * gets a wrong receiving key. */
static int populate(const struct rb_opts *o, uint32_t n, uint32_t rooms)
{
	if (rh_populate(&h, n, rooms) < 0)
		return -1;
	if (o->corrupt_dest_key)
		h.corrupt_peer = rh_partner(&h, 0);
	return 0;
}

/* What the destination members made of the relay's output, whole run; 1 if
 * any packet failed its check. */
static int report_checks(int rc)
{
	uint64_t bad = bad_output();
	printf("output check: %lu relayed packets opened intact with their destination "
	       "member's key",
	       (unsigned long)verdicts[RH_OK]);
	if (!bad) {
		printf(", none failed\n");
		return rc;
	}
	printf("; FAILED: %lu:", (unsigned long)bad);
	for (int v = RH_OK + 1; v < RH_VERDICT_COUNT; v++)
		if (verdicts[v])
			printf(" %s=%lu", rh_verdict_name(v), (unsigned long)verdicts[v]);
	printf("\n");
	fprintf(stderr,
		"rv-relay-bench: %lu relayed packet(s) did not decrypt intact with "
		"their destination member's key: the figures are not of a working relay\n",
		(unsigned long)bad);
	return 1;
}

int main(int argc, char **argv)
{
	struct rb_opts o;
	int rc = parse(&o, argc, argv);
	if (rc)
		return rc < 0 ? 2 : rc == 77 ? 77 : 0; /* 77: the engine is absent (tests skip) */
	rv_heap_thp_reexec(argv);		       /* like roomvpn-dataplane */
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "rvbench%d", (int)getpid());
	unsigned lcores = 1 + o.workers + (o.mode == RV_DP_MODE_PIPELINE);
	if (rh_eal_init(argv[0], prefix, lcores, o.cdev ? 2048 : 1024) < 0)
		return 1;
	if (o.cdev && (rc = start_cryptodev(&o)) != 0)
		return rc;
	struct rh_config cfg = {.n_workers = o.workers,
				.mode = o.mode,
				.n_mbufs = 65535,
				.ring_size = 32768,
				.cipher = o.cipher,
				.per_session_keys = true,
				.dual_stack = o.inner6};
	if (rh_setup(&h, &cfg) < 0)
		return 1;
	if (o.garbage) {
		uint32_t n = o.only_sessions ? o.only_sessions : 1000;
		if (rh_populate(&h, n < 2 ? 2 : n, n >= 200 ? n / 100 : 1) < 0)
			return 1;
		return rb_run_garbage(&o, n);
	}
	if (o.trace) {
		uint32_t n = o.only_sessions ? o.only_sessions : 1000;
		if (populate(&o, n < 2 ? 2 : n, n >= 200 ? n / 100 : 1) < 0)
			return 1;
		return report_checks(rb_run_trace(&o, n));
	}
	if (o.inner6) {
		uint32_t n = o.only_sessions ? o.only_sessions : 1000;
		if (populate(&o, n < 2 ? 2 : n, n >= 200 ? n / 100 : 1) < 0)
			return 1;
		return report_checks(rb_run_inner6(&o, n));
	}
	if (o.rules) {
		uint32_t n = o.only_sessions ? o.only_sessions : 1000;
		if (populate(&o, n < 2 ? 2 : n, n >= 200 ? n / 100 : 1) < 0)
			return 1;
		return report_checks(rb_run_rules(&o, n));
	}
	printf("relay bench: %s on engine %s, %u worker(s), %s mode, %u rounds x %u packets per "
	       "cell\n",
	       rv_cipher_name(o.cipher), rv_cipher_engine_name(rv_cipher_engine_current()),
	       o.workers, o.mode == RV_DP_MODE_RSS ? "rss" : "pipeline", o.rounds, ROUND_PKTS);
	printf(
	    "relayed = opened intact by the destination member (its own key); rates are per\n"
	    "CPU-second of the data-plane lcore(s) (thread CPU time; the machine's cores are\n"
	    "shared), median of the rounds after a warm-up; crypto bound: fastest of the passes\n"
	    "over %u packets built like the relay's, batched and prefetched like it, one context\n"
	    "pair per session, on the relay's core between its rounds; drops and packets that\n"
	    "failed the check (bad) over all rounds; wall-clock relayed Mpps in the last column\n",
	    ROUND_PKTS);
	printf("%-9s %-7s | %-20s | %-20s | %-12s | %-8s | %-6s | %-4s | %s\n", "sessions",
	       "payload", "relay Mpps  Gbit/s", "io-fwd Mpps Gbit/s", "crypto Mpps", "relay/cb",
	       "drops", "bad", "wall Mpps");
	static const uint32_t sizes[] = {64, 512, 1400};
	static const uint32_t ns[] = {1, 1000, 100000};
	double mpps[3][3] = {{0}};
	for (unsigned si = 0; si < 3; si++) {
		if (o.only_sessions && o.only_sessions != ns[si])
			continue;
		uint32_t n = ns[si] < 2 ? 2 : ns[si], senders = ns[si];
		uint32_t rooms = n >= 200 ? n / 100 : 1;
		if (rh_populate(&h, 2, 1) < 0)
			return 1;
		size_t before = settled_heap();
		if (populate(&o, n, rooms) < 0)
			return 1;
		size_t after = settled_heap();
		if (rb_bound_init(&h) < 0) /* after the memory figure: not the relay's */
			return 1;
		for (unsigned z = 0; z < 3; z++) {
			double cb = 0;
			struct result r = run_size(&o, senders, sizes[z], false, &cb);
			struct result io = run_size(&o, senders, sizes[z], true, NULL);
			mpps[si][z] = r.mpps;
			printf("%-9u %-7u | %8.3f  %8.2f  | %8.3f  %8.2f  | %10.3f   | %6.1f%% | "
			       "%-6lu | %-4lu | %.3f\n",
			       ns[si], sizes[z], r.mpps, r.gbps, io.mpps, io.gbps, cb,
			       cb > 0 ? 100.0 * r.mpps / cb : 0.0, (unsigned long)r.drops,
			       (unsigned long)r.bad, r.wall_mpps);
			fflush(stdout);
		}
		if (n > 2)
			printf("  memory: %.0f bytes/session (heap growth for %u sessions in %u "
			       "rooms, "
			       "2 cipher contexts per key, 4 with TCP fallback on)\n",
			       (double)(after - before) / (n - 2), n, rooms);
		if (si == 2)
			print_floor(mpps, sizes, rh_partner(&h, 0));
		if (si == 2 || o.quick) {
			rh_start(&h);
			table_updates(&o, senders);
			rh_stop(&h);
		}
		rv_st_writer_idle();
	}
	rb_bound_free();
	double load[1];
	if (getloadavg(load, 1) == 1)
		printf("load average (1 min) at the end: %.2f on %ld CPUs\n", load[0],
		       sysconf(_SC_NPROCESSORS_ONLN));
	return report_checks(0);
}
