/* In-process relay harness for bench/relay and tests/dataplane/rcu_stress:
 * the real packet path (rvdp) on a ring-backed ethdev (rte_eth_from_rings,
 * i.e. net_ring), N sessions in M rooms, and a generator of valid encrypted
 * packets acting as the members. The calling thread is the table writer. */
#ifndef RV_RELAY_HARNESS_H
#define RV_RELAY_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>
#include <rte_ring.h>

#include "cipher.h"
#include "dp.h"

#define RH_MAX_Q 4

struct rh_config {
	const char *file_prefix;
	unsigned n_workers;
	enum rv_dp_mode mode;
	uint32_t n_mbufs;
	uint32_t ring_size; /* per RX/TX ring, power of two */
	enum rv_cipher cipher;
	bool per_session_keys; /* each session its own key (member.h); else one for all */
	bool dual_stack;       /* rooms get prefix6 fd00:80::/64, sessions a vip6 (rh_vip6) */
};

struct rh_member_cache;

struct rh {
	struct rh_config cfg;
	uint16_t port;
	unsigned nq;
	struct rte_ring *rx[RH_MAX_Q]; /* generator -> data plane */
	struct rte_ring *tx[RH_MAX_Q]; /* data plane -> sink */
	struct rv_key_material key;    /* every session's, or the base of each one's (member.h) */
	struct rv_cipher_ctx *member_enc; /* the members' sealing context for the shared key */
	struct rh_member_cache *enc_cache, *dec_cache; /* member.c */
	uint32_t corrupt_peer; /* member whose receiving key is wrong (tests); UINT32_MAX: none */
	uint32_t n_sessions, n_rooms;
	uint32_t *pid; /* per session: last packet-id the generator used */
	uint32_t pid_cap;
	uint8_t key_id;
	bool inner6; /* rh_packet builds inner IPv6/UDP (needs cfg.dual_stack) */
	bool running;
	struct rv_dp_worker rxw; /* pipeline RX lcore */
};

/* EAL with --no-huge, @n_lcores lcores mapped over the machine's CPUs. */
int rh_eal_init(const char *prog, const char *file_prefix, unsigned n_lcores, unsigned mem_mb);
/* Ports, rings, tables (the caller becomes the writer). */
int rh_setup(struct rh *h, const struct rh_config *cfg);
/* @n sessions (peer-ids 0..n-1) spread over @rooms rooms; session i's
 * virtual IP is host (i / rooms) + 2 of room (i % rooms). Replaces all
 * (full resync). */
int rh_populate(struct rh *h, uint32_t n, uint32_t rooms);
/* Build one packet from session @src to the session after it in its room,
 * inner IPv4 packet of @payload bytes (IPv6 with h->inner6). NULL if out
 * of mbufs. */
struct rte_mbuf *rh_packet(struct rh *h, uint32_t src, uint32_t payload);
/* Any packet: session @peer_id with packet-id @pid, inner @src_vip -> @dst_vip,
 * outer source address number @outer_idx. */
struct rte_mbuf *rh_packet_raw(struct rh *h, uint32_t peer_id, uint32_t pid, uint32_t src_vip,
			       uint32_t dst_vip, uint32_t outer_idx, uint32_t payload);
/* Any payload @payload (@len bytes) sealed as session @peer_id's packet @pid. */
struct rte_mbuf *rh_packet_bytes(struct rh *h, uint32_t peer_id, uint32_t pid, const void *payload,
				 uint32_t len, uint32_t outer_idx);
uint32_t rh_vip(const struct rh *h, uint32_t i);
/* Session @i's IPv6 virtual IP (cfg.dual_stack): fd00:80:: + its vip's host
 * number. */
void rh_vip6(const struct rh *h, uint32_t i, uint8_t out[16]);
/* rh_packet_raw with an inner IPv6/UDP packet (@payload >= 48 bytes). */
struct rte_mbuf *rh_packet6_raw(struct rh *h, uint32_t peer_id, uint32_t pid, const uint8_t *src6,
				const uint8_t *dst6, uint32_t outer_idx, uint32_t payload);
/* Is outer address @ip:@port (host order) member *@i's? */
bool rh_member_of(const struct rh *h, uint32_t ip, uint16_t port, uint32_t *i);
/* RX ring a session's packets go to (RSS: by session; pipeline: 0). */
struct rte_ring *rh_rx_ring(struct rh *h, uint32_t src);
uint32_t rh_partner(const struct rh *h, uint32_t src);
/* Launch / stop the workers (and pipeline RX lcore). */
int rh_start(struct rh *h);
void rh_stop(struct rh *h);
/* io forwarding on the same port, one lcore per queue (the ceiling). */
int rh_start_iofwd(struct rh *h);
/* Drain every TX ring, freeing; returns packets drained. */
unsigned rh_drain(struct rh *h);
uint64_t rh_now_ns(void);
/* CPU time used so far by the worker lcores (summed), and by this thread. */
uint64_t rh_lcores_cpu_ns(const struct rh *h);
uint64_t rh_thread_cpu_ns(void);

#endif
