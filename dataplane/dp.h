/* The data plane's runtime: configuration, per-worker state, job rings and
 * the per-mbuf job record. Shared by port.c, arp.c, rx.c, relay.c, tx.c,
 * worker.c and main.c. */
#ifndef RV_DP_H
#define RV_DP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <rte_common.h>
#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_ring.h>

#include "stats.h"
#include "trace.h"

#define RV_DP_BURST	  32
#define RV_DP_MAX_WORKERS 16
#define RV_DP_JOB_RING	  16384 /* per worker, multi-producer */
#define RV_DP_CTL_RING	  1024

enum rv_dp_mode {
	RV_DP_MODE_RSS = 0,	 /* run to completion, one RX/TX queue pair per worker */
	RV_DP_MODE_PIPELINE = 1, /* RX lcore -> per-worker rings by peer-id */
};

struct rv_dp_config {
	uint16_t port_id;
	uint32_t ip;	      /* our IPv4, host order */
	uint8_t prefix_len;   /* on-link subnet of @ip */
	uint32_t gateway;     /* next hop for off-link members, 0 = none */
	uint8_t ip6[16];      /* our IPv6 (network order), all zero = no IPv6 outside */
	uint8_t prefix6_len;  /* on-link prefix of @ip6 */
	uint8_t gateway6[16]; /* IPv6 next hop for off-link members, zero = none */
	uint16_t udp_port;    /* data channel port */
	unsigned n_workers;   /* 1..RV_DP_MAX_WORKERS */
	enum rv_dp_mode mode;
	uint32_t arp_timeout_s;
	uint32_t n_mbufs;
	bool tcp_enabled; /* create the TCP hand-off rings */
};

/* What a queued mbuf asks its worker to do (mbuf dynamic field). */
enum rv_job_kind {
	RV_JOB_OPEN_UDP = 1, /* wire packet at data_off, outer source in src_* */
	RV_JOB_OPEN_TCP,     /* wire frame at data_off, conn id in hash.usr */
	RV_JOB_SEAL,	     /* payload at data_off, for session @peer_id */
	RV_JOB_TX_RAW,	     /* complete Ethernet frame: transmit as is */
};

struct rv_job {
	uint8_t kind;
	uint8_t key_id;
	uint16_t src_port; /* host order */
	uint32_t src_ip;   /* host order; 0: an IPv6 source, in src6 (rx.c refuses 0.0.0.0) */
	uint32_t peer_id;
	uint32_t trace;	  /* trace id (trace.h), 0 = not traced */
	uint8_t src6[16]; /* OPEN_UDP over IPv6: the outer source (network order) */
};

extern int rv_job_offset;
static inline struct rv_job *rv_job(struct rte_mbuf *m)
{
	return RTE_MBUF_DYNFIELD(m, rv_job_offset, struct rv_job *);
}

struct rv_dp_tx {
	uint16_t n;
	struct rte_mbuf *pkts[RV_DP_BURST * 2];
};

/* One worker's state; written only by its lcore. */
struct rv_dp_worker {
	unsigned idx;
	unsigned lcore;
	uint16_t rxq, txq;
	struct rte_ring *jobs; /* inbox: MP/SC */
	struct rv_lcore_stats *st;
	uint64_t now_ns;  /* CLOCK_MONOTONIC at the start of the pass */
	uint64_t wall_ns; /* CLOCK_REALTIME at the start of the pass */
	struct rv_dp_tx tx;
	bool tcp_queued;
	uint64_t arp_refresh_ns; /* last time this worker asked to refresh an entry */
	bool tracing;		 /* rv_trace armed at the start of this pass */
	uint64_t drop_log_ns;	 /* last debug line about a drop */
} __rte_cache_aligned;

struct rv_dp {
	struct rv_dp_config cfg;
	struct rte_ether_addr mac;
	struct rte_mempool *pool;
	struct rte_ring *ctl;	  /* ARP frames for the control thread: MP/SC */
	struct rte_ring *arp_req; /* next-hop IPs to resolve: MP/SC */
	struct rte_ring *nd_req;  /* IPv6 next hops to resolve (16-byte elements): MP/SC */
	struct rte_ring *tcp_tx;  /* frames for TCP-attached members: MP/SC */
	int tcp_wakefd;
	unsigned n_rxq; /* RX queues the port has */
	struct rv_dp_worker w[RV_DP_MAX_WORKERS];
	atomic_bool stop;
};

extern struct rv_dp rv_dp;
/* The longest nap of an idle lcore in microseconds (naps grow from 1 us
 * to it; 0 = busy-poll). worker.c describes the policy. */
#define RV_DP_IDLE_SLEEP_US_DEFAULT 50
extern unsigned rv_dp_idle_sleep_us;
/* SCHED_FIFO priority of a napping lcore (worker.c "Wake priority"); 0: none */
#define RV_DP_WAKE_RT_PRIORITY_DEFAULT 0
extern unsigned rv_dp_wake_rt_priority;
/* Log drops (debug level, at most one line per 100 ms per worker). */
extern bool rv_dp_log_drops;

/* setup (main thread) */
int rv_dp_setup(const struct rv_dp_config *cfg, char *err, size_t errlen);
void rv_dp_teardown(void);
int rv_port_setup(uint16_t port, unsigned n_queues, struct rte_mempool *pool, char *err,
		  size_t errlen);

/* lcore entry points (rte_eal_remote_launch) */
int rv_worker_main(void *arg);	 /* arg: struct rv_dp_worker * */
int rv_rx_lcore_main(void *arg); /* pipeline mode RX lcore; arg unused */
/* Control thread (main lcore): ARP, and ICMPv6 (neighbour discovery, echo)
 * through rv_nd_handle. Returns work done (0 = idle). */
unsigned rv_arp_poll(void);

/* packet path */
/* Sort @n frames from a port: data packets into @data (job filled), ARP to
 * the control ring, the rest dropped and counted. Returns count in @data. */
unsigned rv_rx_classify(struct rv_dp_worker *w, struct rte_mbuf **pkts, unsigned n,
			struct rte_mbuf **data);
/* Run OPEN jobs (any mix of UDP and TCP) and SEAL jobs; transmits. */
void rv_relay_open_burst(struct rv_dp_worker *w, struct rte_mbuf **pkts, unsigned n);
void rv_relay_seal_jobs(struct rv_dp_worker *w, struct rte_mbuf **pkts, unsigned n);
/* Pass @m to worker @to's inbox at @stage (counted); drops it on a full ring. */
void rv_relay_handoff(struct rv_dp_worker *w, unsigned to, struct rte_mbuf *m,
		      enum rv_trace_stage stage);

/* The one way the packet path drops @m: counted under @why, recorded if
 * the packet is traced, logged at debug level (rate-limited), freed. */
void rv_dp_drop_note(struct rv_dp_worker *w, struct rte_mbuf *m, enum rv_trace_stage stage,
		     enum rv_drop why);
static inline void rv_dp_drop(struct rv_dp_worker *w, struct rte_mbuf *m, enum rv_trace_stage stage,
			      enum rv_drop why)
{
	rv_stats_drop(w->st, why);
	if (unlikely(w->tracing | rv_dp_log_drops))
		rv_dp_drop_note(w, m, stage, why);
	rte_pktmbuf_free(m);
}
/* Record stage @stage of @m if it is traced (call only when w->tracing). */
static inline void rv_dp_trace(struct rv_dp_worker *w, struct rte_mbuf *m,
			       enum rv_trace_stage stage, enum rv_trace_decision d, uint32_t room,
			       uint32_t arg)
{
	const struct rv_job *j = rv_job(m);
	if (j->trace)
		rv_trace_add(w->lcore, w->now_ns, j->trace, stage, d, RV_OK, j->peer_id, room, arg);
}

/* transmit */
void rv_tx_queue(struct rv_dp_worker *w, struct rte_mbuf *m);
void rv_tx_flush(struct rv_dp_worker *w);
struct rv_outer_addr;
/* Prepend Ethernet/IPv4/UDP towards @a (or queue for TCP) and transmit. */
void rv_tx_to_member(struct rv_dp_worker *w, struct rte_mbuf *m, const struct rv_outer_addr *a);

/* ARP cache (readers: any lcore; writer: the control thread) */
bool rv_arp_lookup(uint32_t ip, uint64_t now_ns, struct rte_ether_addr *mac);
/* Same, also giving the entry's expiry (CLOCK_MONOTONIC ns). */
bool rv_arp_lookup_exp(uint32_t ip, uint64_t now_ns, struct rte_ether_addr *mac, uint64_t *expires);
void rv_arp_resolve(uint32_t ip); /* ask the control thread (any lcore) */
uint32_t rv_arp_next_hop(uint32_t dst);
int rv_arp_init(char *err, size_t errlen);
/* A permanent entry (start-up, or the control thread only). */
void rv_arp_add_static(uint32_t ip, const struct rte_ether_addr *mac);

/* IPv6 neighbour discovery (nd.c): the same cache design as ARP, keyed by
 * 16-byte addresses (network order). Readers: any lcore; writer: the
 * control thread. */
static inline bool rv_dp_has_ip6(void)
{
	static const uint8_t zero[16];
	return memcmp(rv_dp.cfg.ip6, zero, 16) != 0;
}
bool rv_nd_lookup_exp(const uint8_t ip[16], uint64_t now_ns, struct rte_ether_addr *mac,
		      uint64_t *expires);
void rv_nd_resolve(const uint8_t ip[16]); /* ask the control thread (any lcore) */
/* The next hop towards @dst: @dst itself on-link, else gateway6. False: off
 * link and no gateway6. */
bool rv_nd_next_hop(const uint8_t dst[16], uint8_t hop[16]);
/* Control thread: an IPv6/ICMPv6 frame from the control ring (consumed:
 * answered, learnt from or dropped and counted), and the resolution asks.
 * Returns work done. */
void rv_nd_handle(struct rte_mbuf *m, uint64_t now_ns);
unsigned rv_nd_poll_requests(uint64_t now_ns);
int rv_nd_init(char *err, size_t errlen); /* called by rv_arp_init */
/* Control thread: transmit a complete frame (through worker 0's inbox). */
void rv_dp_send_raw(struct rte_mbuf *m);
/* A permanent entry (start-up, tests). */
void rv_nd_add_static(const uint8_t ip[16], const struct rte_ether_addr *mac);

#endif
