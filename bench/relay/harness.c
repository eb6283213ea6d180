/* In-process relay harness (see harness.h). */
#include "harness.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_udp.h>

#include "dc_frame.h"
#include "inet.h"
#include "member.h"
#include "session_table.h"
#include "static_key.h"

#define DP_IP	   0x0A000001u /* 10.0.0.1 */
#define GW_IP	   0x0A0000FEu /* 10.0.0.254 */
#define MEMBER_NET 0x64400000u /* 100.64.0.0: members' outer addresses, behind the gateway */
#define OVERLAY	   0x0A800000u /* 10.128.0.0/9 in every room */
#define OUTER_LEN  42u
/* members from subnet + 2: subnet + 1 is the room's server address, as the
 * control plane's IPAM reserves it (control/ipam.c, dataplane/server_ip.c) */
#define FIRST_HOST 2u
/* fd00:80::/64: every room's prefix6 (cfg.dual_stack) */
static const uint8_t overlay6[16] = {0xfd, 0x00, 0x00, 0x80};

static void learn_threads(void);

static const struct rte_ether_addr gw_mac = {{0x02, 0, 0, 0, 0, 0xfe}};

uint64_t rh_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int rh_eal_init(const char *prog, const char *file_prefix, unsigned n_lcores, unsigned mem_mb)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	static char lcores[128], mem[16], prefix[64];
	size_t at = 0;
	for (unsigned i = 0; i < n_lcores && at < sizeof(lcores) - 16; i++)
		at += (size_t)snprintf(lcores + at, sizeof(lcores) - at, "%s%u@%ld", i ? "," : "",
				       i, (long)i % (cpus > 0 ? cpus : 1));
	snprintf(mem, sizeof(mem), "%u", mem_mb);
	snprintf(prefix, sizeof(prefix), "%s", file_prefix);
	char *argv[] = {(char *)prog, "--lcores",      lcores, "--no-huge",	    "-m", mem,
			"--no-pci",   "--file-prefix", prefix, "--log-level=error", NULL};
	int argc = (int)(sizeof(argv) / sizeof(argv[0])) - 1;
	if (rte_eal_init(argc, argv) < 0) {
		fprintf(stderr, "EAL init failed: %s\n", rte_strerror(rte_errno));
		return -1;
	}
	return 0;
}

static int make_port(struct rh *h)
{
	for (unsigned q = 0; q < h->nq; q++) {
		char name[32];
		snprintf(name, sizeof(name), "rh_rx%u", q);
		h->rx[q] = rte_ring_create(name, h->cfg.ring_size, SOCKET_ID_ANY,
					   RING_F_SP_ENQ | RING_F_SC_DEQ);
		snprintf(name, sizeof(name), "rh_tx%u", q);
		h->tx[q] = rte_ring_create(name, h->cfg.ring_size, SOCKET_ID_ANY, RING_F_SC_DEQ);
		if (!h->rx[q] || !h->tx[q]) {
			fprintf(stderr, "ring: %s\n", rte_strerror(rte_errno));
			return -1;
		}
	}
	int port = rte_eth_from_rings("rh_port", h->rx, h->nq, h->tx, h->nq, SOCKET_ID_ANY);
	if (port < 0) {
		fprintf(stderr, "rte_eth_from_rings: %s\n", rte_strerror(rte_errno));
		return -1;
	}
	h->port = (uint16_t)port;
	return 0;
}

int rh_setup(struct rh *h, const struct rh_config *cfg)
{
	char err[256];
	memset(h, 0, sizeof(*h));
	h->cfg = *cfg;
	h->corrupt_peer = UINT32_MAX;
	h->nq = cfg->n_workers;
	if (h->nq > RH_MAX_Q || make_port(h) < 0)
		return -1;
	struct rv_dp_config dc = {.port_id = h->port,
				  .ip = DP_IP,
				  .prefix_len = 24,
				  .gateway = GW_IP,
				  .udp_port = 1194,
				  .n_workers = cfg->n_workers,
				  .mode = cfg->mode,
				  .arp_timeout_s = 300,
				  .n_mbufs = cfg->n_mbufs};
	struct rv_st_params sp = {.max_sessions = 1u << 17,
				  .n_workers = cfg->n_workers,
				  .default_grace_ns = 1000000000ull,
				  .owner_by_peer_id = cfg->mode == RV_DP_MODE_PIPELINE};
	if (rv_dp_setup(&dc, err, sizeof(err)) < 0 || rv_st_init(&sp, err, sizeof(err)) < 0) {
		fprintf(stderr, "setup: %s\n", err);
		return -1;
	}
	rv_arp_add_static(GW_IP, &gw_mac);
	learn_threads();
	rv_st_writer_register();
	for (size_t i = 0; i < sizeof(h->key); i++)
		((uint8_t *)&h->key)[i] = (uint8_t)(i * 7 + 3);
	struct rv_key_dir tx, rx;
	rv_static_key_dirs(&h->key, 0, &tx, &rx); /* the members' side */
	h->member_enc = rv_cipher_ctx_new(cfg->cipher, &tx, true);
	return h->member_enc ? 0 : -1;
}

int rh_populate(struct rh *h, uint32_t n, uint32_t rooms)
{
	char err[256];
	struct rv_st_batch *b = rv_st_batch_new(err, sizeof(err));
	if (!b)
		return -1;
	for (uint32_t r = 0; r < rooms; r++) {
		struct rv_st_room room = {.room_id = r, .subnet = OVERLAY, .prefix_len = 9};
		if (h->cfg.dual_stack) {
			memcpy(room.prefix6, overlay6, 16);
			room.prefix6_len = 64;
		}
		if (rv_st_batch_room(b, &room, err, sizeof(err)) < 0)
			goto err_batch;
	}
	struct rv_st_session s = {
	    .cipher = h->cfg.cipher, .key_id = 0, .key = h->key, .key_direction = 1};
	rh_member_flush(h);
	for (uint32_t i = 0; i < n; i++) {
		rh_member_key(h, i, &s.key);
		s.peer_id = i;
		s.room_id = i % rooms;
		s.vip = OVERLAY + i / rooms + FIRST_HOST;
		if (h->cfg.dual_stack) {
			memcpy(s.vip6, overlay6, 16);
			rv_put_be32(s.vip6 + 12, s.vip - OVERLAY);
		}
		s.addr =
		    (struct rv_outer_addr){.kind = RV_ADDR_UDP, .ip = MEMBER_NET + i, .port = 5000};
		if (rv_st_batch_session(b, &s, err, sizeof(err)) < 0)
			goto err_batch;
	}
	if (rv_st_batch_commit(b, err, sizeof(err)) < 0)
		goto err_msg;
	/* Packet-ids go on: a session that kept its key keeps its replay window. */
	if (n > h->pid_cap) {
		uint32_t *p = realloc(h->pid, n * sizeof(*p));
		if (!p)
			return -1;
		memset(p + h->pid_cap, 0, (n - h->pid_cap) * sizeof(*p));
		h->pid = p;
		h->pid_cap = n;
	}
	h->n_sessions = n;
	h->n_rooms = rooms;
	return 0;
err_batch:
	rv_st_batch_free(b);
err_msg:
	fprintf(stderr, "populate: %s\n", err);
	return -1;
}

uint32_t rh_partner(const struct rh *h, uint32_t src)
{
	uint32_t next = src + h->n_rooms;
	return next < h->n_sessions ? next : src % h->n_rooms;
}

struct rte_ring *rh_rx_ring(struct rh *h, uint32_t src)
{
	return h->rx[h->cfg.mode == RV_DP_MODE_PIPELINE ? 0 : src % h->nq];
}

static void inner_ipv4(uint8_t *p, uint32_t len, uint32_t src, uint32_t dst)
{
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)p;
	memset(p, 0, len);
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->total_length = rte_cpu_to_be_16((uint16_t)len);
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_UDP;
	ip->src_addr = rte_cpu_to_be_32(src);
	ip->dst_addr = rte_cpu_to_be_32(dst);
	ip->hdr_checksum = rte_ipv4_cksum(ip);
}

/* IPv6 header, then UDP, then zeros (the UDP checksum is left 0: the
 * relay never reads it). */
static void inner_ipv6(uint8_t *p, uint32_t len, const uint8_t *src, const uint8_t *dst)
{
	memset(p, 0, len);
	p[0] = 0x60;
	rv_put_be16(p + 4, (uint16_t)(len - 40));
	p[6] = IPPROTO_UDP;
	p[7] = 64;
	memcpy(p + 8, src, 16);
	memcpy(p + 24, dst, 16);
	rv_put_be16(p + 40, 40000);
	rv_put_be16(p + 42, 9);
	rv_put_be16(p + 44, (uint16_t)(len - 40));
}

static void outer(struct rte_mbuf *m, uint32_t src)
{
	uint16_t dc_len = rte_pktmbuf_data_len(m);
	struct rte_ether_hdr *eh = (struct rte_ether_hdr *)rte_pktmbuf_prepend(m, OUTER_LEN);
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eh + 1);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);
	eh->dst_addr = rv_dp.mac;
	eh->src_addr = gw_mac;
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	memset(ip, 0, sizeof(*ip));
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(dc_len + 28));
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_UDP;
	ip->src_addr = rte_cpu_to_be_32(MEMBER_NET + src);
	ip->dst_addr = rte_cpu_to_be_32(DP_IP);
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	udp->src_port = rte_cpu_to_be_16(5000);
	udp->dst_port = rte_cpu_to_be_16(1194);
	udp->dgram_len = rte_cpu_to_be_16((uint16_t)(dc_len + 8));
	udp->dgram_cksum = 0;
}

/* An mbuf with room for the framing, @len bytes of payload to fill. */
static struct rte_mbuf *payload_mbuf(uint32_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(rv_dp.pool);
	if (!m)
		return NULL;
	m->data_off = (uint16_t)(m->data_off + OUTER_LEN + RV_DC_HEADROOM);
	m->data_len = m->pkt_len = len;
	return m;
}

static struct rte_mbuf *seal_frame(struct rh *h, struct rte_mbuf *m, uint32_t peer_id, uint32_t pid,
				   uint32_t outer_idx, uint32_t payload);

struct rte_mbuf *rh_packet_raw(struct rh *h, uint32_t peer_id, uint32_t pid, uint32_t src_vip,
			       uint32_t dst_vip, uint32_t outer_idx, uint32_t payload)
{
	struct rte_mbuf *m = payload_mbuf(payload);
	if (!m)
		return NULL;
	inner_ipv4(rte_pktmbuf_mtod(m, uint8_t *), payload, src_vip, dst_vip);
	return seal_frame(h, m, peer_id, pid, outer_idx, payload);
}

struct rte_mbuf *rh_packet6_raw(struct rh *h, uint32_t peer_id, uint32_t pid, const uint8_t *src6,
				const uint8_t *dst6, uint32_t outer_idx, uint32_t payload)
{
	struct rte_mbuf *m = payload_mbuf(payload);
	if (!m)
		return NULL;
	inner_ipv6(rte_pktmbuf_mtod(m, uint8_t *), payload, src6, dst6);
	return seal_frame(h, m, peer_id, pid, outer_idx, payload);
}

struct rte_mbuf *rh_packet_bytes(struct rh *h, uint32_t peer_id, uint32_t pid, const void *payload,
				 uint32_t len, uint32_t outer_idx)
{
	struct rte_mbuf *m = payload_mbuf(len);
	if (!m)
		return NULL;
	memcpy(rte_pktmbuf_mtod(m, uint8_t *), payload, len);
	return seal_frame(h, m, peer_id, pid, outer_idx, len);
}

/* Seal the payload in @m as session @peer_id's packet @pid, add outer
 * headers from member address @outer_idx. */
static struct rte_mbuf *seal_frame(struct rh *h, struct rte_mbuf *m, uint32_t peer_id, uint32_t pid,
				   uint32_t outer_idx, uint32_t payload)
{
	struct rv_pkt p = {.data = rte_pktmbuf_mtod(m, uint8_t *),
			   .len = payload,
			   .headroom = rte_pktmbuf_headroom(m),
			   .tailroom = rte_pktmbuf_tailroom(m)};
	struct rv_cipher_ctx *enc = rh_member_enc(h, peer_id);
	if (!enc || rv_dc_seal(enc, h->key_id, peer_id, pid, 1, &p) != RV_OK) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	m->data_off = (uint16_t)(p.data - (uint8_t *)m->buf_addr);
	m->data_len = m->pkt_len = p.len;
	outer(m, outer_idx);
	return m;
}

bool rh_member_of(const struct rh *h, uint32_t ip, uint16_t port, uint32_t *i)
{
	*i = ip - MEMBER_NET;
	return ip >= MEMBER_NET && *i < h->n_sessions && port == 5000;
}

uint32_t rh_vip(const struct rh *h, uint32_t i)
{
	return OVERLAY + i / h->n_rooms + FIRST_HOST;
}

void rh_vip6(const struct rh *h, uint32_t i, uint8_t out[16])
{
	memcpy(out, overlay6, 16);
	rv_put_be32(out + 12, rh_vip(h, i) - OVERLAY);
}

struct rte_mbuf *rh_packet(struct rh *h, uint32_t src, uint32_t payload)
{
	if (h->inner6) {
		uint8_t s6[16], d6[16];
		rh_vip6(h, src, s6);
		rh_vip6(h, rh_partner(h, src), d6);
		return rh_packet6_raw(h, src, ++h->pid[src], s6, d6, src, payload);
	}
	return rh_packet_raw(h, src, ++h->pid[src], rh_vip(h, src), rh_vip(h, rh_partner(h, src)),
			     src, payload);
}

static int iofwd_main(void *arg)
{
	struct rh *h = arg;
	uint16_t q = (uint16_t)(rte_lcore_id() - 1) % h->nq;
	struct rte_mbuf *pkts[RV_DP_BURST];
	while (!atomic_load_explicit(&rv_dp.stop, memory_order_relaxed)) {
		uint16_t n = rte_eth_rx_burst(h->port, q, pkts, RV_DP_BURST);
		uint16_t s = n ? rte_eth_tx_burst(h->port, q, pkts, n) : 0;
		rv_stats_lcore(rte_lcore_id())->rx_pkts += n;
		rv_stats_lcore(rte_lcore_id())->relayed += s;
		for (uint16_t i = s; i < n; i++)
			rte_pktmbuf_free(pkts[i]);
		if (!n && rv_dp_idle_sleep_us) /* as the workers do */
			usleep(rv_dp_idle_sleep_us);
	}
	return 0;
}

/* Each launched lcore publishes its pthread so that the bench can read the
 * CPU time it used (the machine's cores are shared: wall time lies). */
static pthread_t lcore_thread[RTE_MAX_LCORE];
static _Atomic bool lcore_known[RTE_MAX_LCORE];

struct wrap_arg {
	int (*fn)(void *);
	void *arg;
};
static struct wrap_arg wraps[RTE_MAX_LCORE];

static int wrapped(void *arg)
{
	struct wrap_arg *w = arg;
	lcore_thread[rte_lcore_id()] = pthread_self();
	atomic_store(&lcore_known[rte_lcore_id()], true);
	return w->fn(w->arg);
}

static void launch_one(int (*fn)(void *), void *arg, unsigned lcore)
{
	wraps[lcore] = (struct wrap_arg){fn, arg};
	rte_eal_remote_launch(wrapped, &wraps[lcore], lcore);
}

static int noop(void *arg)
{
	(void)arg;
	return 0;
}

/* Learn every worker lcore's thread once, so that CPU time can be read
 * before a launch (EAL lcore threads live as long as the process). */
static void learn_threads(void)
{
	unsigned lcore;
	RTE_LCORE_FOREACH_WORKER(lcore)
	{
		launch_one(noop, NULL, lcore);
	}
	rte_eal_mp_wait_lcore();
}

uint64_t rh_lcores_cpu_ns(const struct rh *h)
{
	uint64_t sum = 0;
	(void)h;
	for (unsigned l = 0; l < RTE_MAX_LCORE; l++) {
		if (!atomic_load(&lcore_known[l]))
			continue;
		clockid_t cid;
		struct timespec ts;
		if (pthread_getcpuclockid(lcore_thread[l], &cid) == 0 &&
		    clock_gettime(cid, &ts) == 0)
			sum += (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	}
	return sum;
}

uint64_t rh_thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int launch(struct rh *h, bool io)
{
	atomic_store(&rv_dp.stop, false);
	unsigned lcore = rte_get_next_lcore(-1, 1, 0);
	for (unsigned i = 0; i < h->cfg.n_workers; i++, lcore = rte_get_next_lcore(lcore, 1, 0)) {
		if (lcore >= RTE_MAX_LCORE)
			return -1;
		rv_dp.w[i].lcore = lcore;
		rv_dp.w[i].st = rv_stats_lcore(lcore);
		if (io)
			launch_one(iofwd_main, h, lcore);
		else
			launch_one(rv_worker_main, &rv_dp.w[i], lcore);
	}
	if (!io && h->cfg.mode == RV_DP_MODE_PIPELINE) {
		if (lcore >= RTE_MAX_LCORE)
			return -1;
		h->rxw.lcore = lcore;
		h->rxw.st = rv_stats_lcore(lcore);
		launch_one(rv_rx_lcore_main, &h->rxw, lcore);
	}
	h->running = true;
	return 0;
}

int rh_start(struct rh *h)
{
	return launch(h, false);
}

int rh_start_iofwd(struct rh *h)
{
	return launch(h, true);
}

void rh_stop(struct rh *h)
{
	if (!h->running)
		return;
	atomic_store(&rv_dp.stop, true);
	/* The writer must not hold up workers that wait for nothing: QSBR
	 * readers never wait for the writer, so a plain wait is fine. */
	rte_eal_mp_wait_lcore();
	h->running = false;
}

unsigned rh_drain(struct rh *h)
{
	struct rte_mbuf *m[64];
	unsigned total = 0;
	for (unsigned q = 0; q < h->nq; q++) {
		unsigned n;
		while ((n = rte_ring_sc_dequeue_burst(h->tx[q], (void **)m, 64, NULL)) > 0) {
			rte_pktmbuf_free_bulk(m, n);
			total += n;
		}
	}
	return total;
}
