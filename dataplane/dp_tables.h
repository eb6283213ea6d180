/* Internal layout of the session tables, shared by session_table.c (the
 * writer) and the packet path (relay.c, readers). Readers access everything
 * here between two rcu_quiescent_state() calls only. */
#ifndef RV_DP_TABLES_H
#define RV_DP_TABLES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <urcu-qsbr.h>
#include <urcu/rculfhash.h>
#include <urcu/rculist.h>

#include "cipher.h"
#include "replay.h"
#include "session_table.h"

#define RV_DP_KEY_SLOTS 2
#define RV_DP_NO_OWNER	(-1)

/* One key of a session. The owner worker opens with dec / dec_none and
 * checks the replay window; sealing uses enc / enc_none, also on the owner
 * worker, with a packet-id taken by atomic fetch-add. */
struct rv_dp_key {
	uint8_t key_id;
	enum rv_cipher suite;
	struct rv_cipher_ctx *enc, *dec;	   /* the session's cipher (UDP) */
	struct rv_cipher_ctx *enc_none, *dec_none; /* cipher "none" (TCP fallback) */
	_Atomic uint32_t tx_pid;		   /* last packet-id sent */
	_Atomic uint64_t retire_at_ns;		   /* 0 = not retiring; CLOCK_MONOTONIC */
	struct rv_replay replay;		   /* owner worker only */
	struct rv_key_dir tx_dir, rx_dir;	   /* kept to compare on resync; wiped */
	struct rcu_head rcu;
};

struct rv_dp_room {
	struct cds_lfht_node node;
	struct rv_st_room cfg; /* broadcast always filled in */
	uint32_t mask;
	struct cds_list_head members; /* rv_dp_session.room_link, RCU list */
	uint32_t n_members;	      /* writer only */
	struct rcu_head rcu;
	struct rv_dp_room *reap_next; /* tables_free: unlinked, freed after destroy */
	struct rv_dp_routes *routes;  /* RCU: managed routes, NULL = none (room_routes.h) */
};

/* Counters written by the owner worker only (relaxed atomics, no RMW). */
struct rv_dp_sess_ctr {
	_Atomic uint64_t pkts_in, bytes_in, pkts_out, bytes_out;
	_Atomic uint64_t last_seen_ns, last_rtt_ns;
};

struct rv_dp_session {
	struct cds_lfht_node by_peer;
	struct cds_lfht_node by_vip;
	struct cds_list_head room_link;
	uint32_t peer_id, room_id, vip;
	struct rv_dp_room *room;
	struct rv_dp_key *_Atomic slot[RV_DP_KEY_SLOTS];
	_Atomic int tx_slot;   /* slot that seals, -1 = none */
	_Atomic int owner;     /* worker index that does this session's crypto */
	_Atomic uint64_t addr; /* packed rv_outer_addr, see rv_dp_addr_pack() */
	_Atomic bool dead;     /* unlinked: workers stop using it */
	_Atomic bool tcp_none; /* the member's TCP frames use cipher "none" (owner-written) */
	bool keys_moved;       /* keys handed to a successor (resync): don't free */
	struct rv_dp_sess_ctr ctr;
	struct rcu_head rcu;
	struct rv_dp_session *reap_next; /* tables_free: unlinked, freed after destroy */
};

struct rv_dp_tables {
	struct cds_lfht *by_peer;
	struct cds_lfht *by_vip;
	struct cds_lfht *rooms;
	struct rcu_head rcu;
};

/* Published root; readers: rcu_dereference(rv_dp_root). */
extern struct rv_dp_tables *rv_dp_root;
extern unsigned rv_dp_n_workers;
extern bool rv_dp_pipeline; /* owner = peer_id % n_workers fixed at creation */

static inline uint64_t rv_dp_hash32(uint32_t x)
{
	uint64_t h = x * 0x9E3779B97F4A7C15ull;
	return h ^ (h >> 29);
}
static inline uint64_t rv_dp_vip_hash(uint32_t room, uint32_t vip)
{
	return rv_dp_hash32(vip ^ (room * 0x85EBCA6Bu)) ^ room;
}

/* Packed address: kind (8) | port (16) | ip or conn id (32). */
static inline uint64_t rv_dp_addr_pack(const struct rv_outer_addr *a)
{
	uint32_t v = a->kind == RV_ADDR_TCP ? a->conn_id : a->ip;
	uint16_t port = a->kind == RV_ADDR_UDP ? a->port : 0;
	return (uint64_t)a->kind << 48 | (uint64_t)port << 32 | v;
}
static inline void rv_dp_addr_unpack(uint64_t v, struct rv_outer_addr *a)
{
	a->kind = (enum rv_addr_kind)(v >> 48);
	a->port = a->kind == RV_ADDR_UDP ? (uint16_t)(v >> 32) : 0;
	a->ip = a->kind == RV_ADDR_UDP ? (uint32_t)v : 0;
	a->conn_id = a->kind == RV_ADDR_TCP ? (uint32_t)v : 0;
}

/* Reader look-ups (inside a worker loop pass). */
struct rv_dp_session *rv_dp_find_peer(struct rv_dp_tables *t, uint32_t peer_id);
struct rv_dp_session *rv_dp_find_vip(struct rv_dp_tables *t, uint32_t room_id, uint32_t vip);
/* Key of @s with @key_id still accepted at @now_ns, or NULL. */
struct rv_dp_key *rv_dp_rx_key(struct rv_dp_session *s, uint8_t key_id, uint64_t now_ns);
/* Sealing key of @s, or NULL. */
struct rv_dp_key *rv_dp_tx_key(struct rv_dp_session *s);
/* Owner worker of @s; claims it for @self if nobody owns it yet. */
int rv_dp_owner(struct rv_dp_session *s, int self);

#endif
