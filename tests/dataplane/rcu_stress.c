/* RCU stress: the table writer (this thread, as the agent would) installs
 * and retires keys, deletes and re-adds sessions, updates rooms and runs
 * full resyncs at a high rate while 2 workers relay valid encrypted traffic
 * on net_ring ports. Rooms are dual-stack: half the traffic is inner IPv6,
 * the writer also moves vip6s (the by_vip6 table and its hint array) and
 * replaces routes6. Built with ASan+UBSan. Checks: every packet that comes
 * out authenticates with the destination member's key and carries the right
 * inner destination; traffic was relayed throughout; after the workers stop
 * and deferred frees ran, the live-object counts are exactly what the writer
 * expects, and zero after rv_st_fini().
 *
 * usage: rcu_stress rss|pipeline [seconds [openssl|ipsec-mb]]: the crypto
 * engine of every context (default openssl; 77 = absent, with the reason). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_bus_vdev.h>
#include <rte_eal.h>

#include "dc_frame.h"
#include "engine_cryptodev.h"
#include "harness.h"
#include "inet.h"
#include "key_slots.h"
#include "session_table.h"
#include "static_key.h"

#define N_SESSIONS 64
#define N_ROOMS	   3 /* odd: partners (i + rooms) live on the other worker */

static struct rh h;
static struct rv_cipher_ctx *member_dec;
static uint64_t out_ok, out_bad;

static uint32_t rnd(void)
{
	static uint64_t s = 0x9E3779B97F4A7C15ull;
	s ^= s << 13;
	s ^= s >> 7;
	s ^= s << 17;
	return (uint32_t)s;
}

/* Open every relayed packet as its destination member would. */
static void check_output(void)
{
	struct rte_mbuf *m[64];
	for (unsigned q = 0; q < h.nq; q++) {
		unsigned n;
		while ((n = rte_ring_sc_dequeue_burst(h.tx[q], (void **)m, 64, NULL)) > 0) {
			for (unsigned i = 0; i < n; i++) {
				uint8_t kid;
				uint32_t peer, pid;
				struct rv_pkt p = {.data = rte_pktmbuf_mtod(m[i], uint8_t *) + 42,
						   .len = rte_pktmbuf_data_len(m[i]) - 42u,
						   .headroom = rte_pktmbuf_headroom(m[i]) + 42u,
						   .tailroom = rte_pktmbuf_tailroom(m[i])};
				uint8_t want6[16];
				bool ok = rv_dc_peek(p.data, p.len, &kid, &peer) == RV_OK &&
					  peer < N_SESSIONS &&
					  rv_dc_open(member_dec, &p, &pid) == RV_OK;
				if (ok && p.len >= 40 && p.data[0] >> 4 == 6) {
					rh_vip6(&h, peer, want6);
					ok = memcmp(p.data + 24, want6, 16) == 0;
				} else {
					ok = ok && p.len >= 20 &&
					     rv_get_be32(p.data + 16) == rh_vip(&h, peer);
				}
				ok ? out_ok++ : out_bad++;
			}
			rte_pktmbuf_free_bulk(m, n);
		}
	}
}

static void send_burst(void)
{
	for (unsigned i = 0; i < 32; i++) {
		uint32_t src = rnd() % N_SESSIONS;
		struct rv_st_session_info info;
		if (rv_st_session_get(src, &info) == 0)
			h.key_id = info.tx_key_id; /* the member follows re-keys */
		h.inner6 = rnd() % 2;
		struct rte_mbuf *m = rh_packet(&h, src, 64 + rnd() % 1300);
		h.inner6 = false;
		if (m && rte_ring_sp_enqueue(rh_rx_ring(&h, src), m) != 0)
			rte_pktmbuf_free(m);
	}
}

static struct rv_st_session session_cfg(uint32_t i)
{
	struct rv_st_session s = {
	    .peer_id = i,
	    .room_id = i % N_ROOMS,
	    .vip = rh_vip(&h, i),
	    .cipher = RV_CIPHER_AES_256_GCM,
	    .key_id = 0,
	    .key = h.key,
	    .key_direction = 1,
	    .addr = {.kind = RV_ADDR_UDP, .ip = 0x64400000u + i, .port = 5000}};
	rh_vip6(&h, i, s.vip6);
	return s;
}

/* Room @id, dual-stack (fd00:80::/64 as rh_populate makes it), with a
 * random set of up to 3 routes6 via random members of the room. */
static struct rv_st_room room_cfg(uint32_t id)
{
	struct rv_st_room r = {.room_id = id,
			       .subnet = 0x0A800000u,
			       .prefix_len = 9,
			       .prefix6 = {0xfd, 0x00, 0x00, 0x80},
			       .prefix6_len = 64};
	r.n_routes6 = (uint8_t)(rnd() % 4);
	for (unsigned k = 0; k < r.n_routes6; k++) {
		r.routes6[k] = (struct rv_st_route6){
		    .target = {0x20, 0x01, 0x0d, 0xb8, 0, (uint8_t)k}, .prefix_len = 48};
		rh_vip6(&h, id + N_ROOMS * (rnd() % (N_SESSIONS / N_ROOMS)), r.routes6[k].via);
	}
	return r;
}

/* One random writer operation. */
static void churn(uint64_t it, uint64_t *ops)
{
	char err[256];
	uint32_t s = rnd() % N_SESSIONS;
	struct rv_st_session_info info;
	switch (rnd() % 7) {
	case 0:
	case 1:
		if (rv_st_session_get(s, &info) == 0)
			rv_st_key_install(s, rv_key_id_next(info.tx_key_id), RV_CIPHER_AES_256_GCM,
					  &h.key, 1, 1000000, rnd() % 2, err, sizeof(err));
		break;
	case 2:
		if (rv_st_session_get(s, &info) == 0 && info.n_keys == 2)
			rv_st_key_retire(s, info.tx_key_id == 1 ? 0 : 1, err, sizeof(err));
		break;
	case 3: {
		struct rv_st_session c = session_cfg(s);
		rv_st_session_delete(s, err, sizeof(err));
		rv_st_session_upsert(&c, err, sizeof(err));
		break;
	}
	case 4: {
		struct rv_st_room r = room_cfg(s % N_ROOMS);
		rv_st_room_upsert(&r, err, sizeof(err));
		break;
	}
	case 5: { /* the vip6 moves away (replaces the session); case 3 and
		   * resyncs bring it back */
		struct rv_st_session c = session_cfg(s);
		c.vip6[11] = 1;
		rv_st_session_upsert(&c, err, sizeof(err));
		break;
	}
	default:
		rv_st_expire(rh_now_ns());
		break;
	}
	if (it % 200 == 199)
		rh_populate(&h, N_SESSIONS, N_ROOMS); /* full resync */
	(*ops)++;
}

static int settle(void)
{
	struct rv_st_counts c;
	rv_st_writer_idle();
	for (int i = 0; i < 5000; i++) {
		rv_st_counts(&c);
		if (!c.pending_frees)
			return 0;
		usleep(1000);
	}
	return -1;
}

static int cdev_rc;

/* cryptodev: the software PMD as a vdev, a queue pair per worker; device
 * sessions made by the churning writer, freed after grace periods. */
static int start_cryptodev(void)
{
	char err[256];
	struct rv_cdev_config cc = {
	    .dev_name = "crypto_aesni_gcm0", .n_workers = 2, .n_sessions = 32768};
	if (rte_vdev_init(cc.dev_name, NULL) < 0) {
		printf("SKIP: the software cryptodev PMD %s is absent\n", cc.dev_name);
		return cdev_rc = 77;
	}
	if (rv_cdev_start(&cc, err, sizeof(err)) < 0) {
		printf("FAIL: %s\n", err);
		return cdev_rc = 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr,
			"usage: rcu_stress rss|pipeline [seconds [openssl|ipsec-mb|cryptodev]]\n");
		return 2;
	}
	enum rv_cipher_engine_id engine = RV_ENGINE_OPENSSL;
	char err[200];
	if (argc > 3 && rv_cipher_engine_parse(argv[3], &engine) < 0) {
		fprintf(stderr, "rcu_stress: unknown engine '%s'\n", argv[3]);
		return 2;
	}
	bool cdev = engine == RV_ENGINE_CRYPTODEV; /* started after the EAL */
	if (!cdev && rv_cipher_engine_select(engine, err, sizeof(err)) < 0) {
		printf("SKIP: %s\n", err);
		return 77;
	}
	bool pipeline = !strcmp(argv[1], "pipeline");
	double secs = argc > 2 ? atof(argv[2]) : 3.0;
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "rvrcu%d", (int)getpid());
	if (rh_eal_init(argv[0], prefix, pipeline ? 4 : 3, 256) < 0)
		return 1;
	if (cdev && start_cryptodev() != 0)
		return cdev_rc;
	struct rh_config cfg = {.n_workers = 2,
				.mode = pipeline ? RV_DP_MODE_PIPELINE : RV_DP_MODE_RSS,
				.n_mbufs = 8191,
				.ring_size = 1024,
				.cipher = RV_CIPHER_AES_256_GCM,
				.dual_stack = true};
	if (rh_setup(&h, &cfg) < 0 || rh_populate(&h, N_SESSIONS, N_ROOMS) < 0)
		return 1;
	struct rv_key_dir tx, rx;
	rv_static_key_dirs(&h.key, 0, &tx, &rx);
	member_dec = rv_cipher_ctx_new(RV_CIPHER_AES_256_GCM, &rx, false);
	rv_dp_idle_sleep_us = 20; /* 3 lcores share 2 CPUs: idle workers yield */
	rh_start(&h);
	uint64_t ops = 0, it = 0, end = rh_now_ns() + (uint64_t)(secs * 1e9);
	while (rh_now_ns() < end && it < 2000000) {
		send_burst();
		for (int k = 0; k < 32; k++)
			churn(it++, &ops);
		check_output();
		if (it % 64 == 0)
			rv_st_writer_idle(); /* let grace periods end, as the agent does in poll()
					      */
	}
	rh_stop(&h);
	check_output();
	struct rv_lcore_stats t;
	rv_stats_read_total(&t);
	int fail = 0;
	printf("rcu_stress %s on %s: %lu writer ops in %.1f s, %lu relayed, %lu out ok, %lu out "
	       "bad, %lu handoffs\n",
	       argv[1], rv_cipher_engine_name(rv_cipher_ctx_engine(member_dec)), ops, secs,
	       t.relayed, out_ok, out_bad, t.handoffs);
	if (out_ok == 0 || out_bad != 0 || t.relayed == 0) {
		printf("FAIL: relayed traffic missing or not authentic\n");
		fail = 1;
	}
	if (settle() < 0) {
		printf("FAIL: deferred frees never completed\n");
		fail = 1;
	}
	struct rv_st_counts c;
	rv_st_counts(&c);
	if (c.sessions != N_SESSIONS || c.rooms != N_ROOMS || c.keys < N_SESSIONS ||
	    c.keys > 2 * N_SESSIONS) {
		printf("FAIL: live objects sessions=%u rooms=%u keys=%u\n", c.sessions, c.rooms,
		       c.keys);
		fail = 1;
	}
	rv_st_fini();
	rv_st_counts(&c);
	if (c.sessions || c.rooms || c.keys) {
		printf("FAIL: after fini sessions=%u rooms=%u keys=%u\n", c.sessions, c.rooms,
		       c.keys);
		fail = 1;
	}
	rv_cipher_ctx_free(member_dec);
	printf("%s\n", fail ? "rcu_stress: FAILED" : "rcu_stress: passed");
	return fail;
}
