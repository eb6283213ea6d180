/* Internal layout of the session and room tables, shared by session_table.c
 * and room_table.c (the writer) and the packet path (relay.c, readers). Readers
 * access everything here between two rcu_quiescent_state() calls only. */
#ifndef RV_DP_TABLES_H
#define RV_DP_TABLES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <urcu-qsbr.h>
#include <urcu/rculfhash.h>
#include <urcu/rculist.h>

#include "cipher.h"
#include "replay.h"
#include "session_table.h"

#define RV_DP_KEY_SLOTS 2
#define RV_DP_NO_OWNER	(-1)

/* Where a cipher context's per-packet memory is beyond its own first line
 * (rv_cipher_ctx_lines without the context pointer), kept beside the
 * context pointer so that one line gives both. */
struct rv_dp_ctx_hint {
	const void *evp, *hot;
	uint32_t evp_len, hot_len;
};

static inline void rv_dp_ctx_prefetch(const struct rv_cipher_ctx *ctx,
				      const struct rv_dp_ctx_hint *h)
{
	struct rv_cipher_lines l = {
	    .ctx = ctx, .evp = h->evp, .hot = h->hot, .evp_len = h->evp_len, .hot_len = h->hot_len};
	rv_cipher_prefetch(&l);
}

/* One key of a session, 64-byte aligned, in the lines the packet path
 * reads: line 0 when opening (look-up by key-id, replay window, the
 * receive context and where its key state is), line 1 when sealing (the
 * packet-id counter, the send context and its key state); the rest is cold.
 * The owner worker opens with dec / dec_none and checks the replay window;
 * sealing uses enc / enc_none, also on the owner worker, with a packet-id
 * taken by atomic fetch-add. */
struct rv_dp_key {
	/* line 0: open */
	uint8_t key_id;
	_Atomic bool pending_tx; /* seals from its first use (rv_st_key_install) */
	enum rv_cipher suite;
	_Atomic uint64_t retire_at_ns; /* 0 = not retiring; CLOCK_MONOTONIC */
	struct rv_cipher_ctx *dec;     /* the session's cipher (UDP) */
	struct rv_replay replay;       /* owner worker only */
	struct rv_dp_ctx_hint dec_hint;
	/* line 1: seal */
	_Alignas(64) _Atomic uint32_t tx_pid; /* last packet-id sent */
	uint8_t seal_key_id;		      /* = key_id, read with the line it is used in */
	struct rv_cipher_ctx *enc;
	struct rv_dp_ctx_hint enc_hint;
	/* cold */
	_Alignas(64) struct rv_cipher_ctx *enc_none, *dec_none; /* cipher "none" (TCP fallback) */
	struct rv_key_dir tx_dir, rx_dir; /* kept to compare on resync; wiped */
	struct rcu_head rcu;
};
_Static_assert(offsetof(struct rv_dp_key, dec_hint) + sizeof(struct rv_dp_ctx_hint) <= 64,
	       "a key's open side fits one cache line");
_Static_assert(offsetof(struct rv_dp_key, enc_hint) + sizeof(struct rv_dp_ctx_hint) <= 128,
	       "a key's seal side fits the next one");

/* A room's members by host number (vip - subnet): rooms of up to
 * 2^RV_DP_HOSTS_MAX_BITS addresses; larger ones are looked up in by_vip. */
#define RV_DP_HOSTS_MAX_BITS 16
struct rv_dp_hosts {
	uint32_t subnet, n;
	struct rcu_head rcu;
	struct rv_dp_session *slot[];
};

struct rv_dp_room {
	struct cds_lfht_node node;
	struct rv_dp_hosts *hosts; /* NULL: subnet too big, use by_vip */
	struct rv_st_room cfg;	   /* broadcast always filled in */
	uint32_t mask;
	struct cds_list_head members; /* rv_dp_session.room_link, RCU list */
	uint32_t n_members;	      /* writer only */
	struct rcu_head rcu;
	struct rv_dp_room *reap_next;  /* tables_free: unlinked, freed after destroy */
	struct rv_dp_routes *routes;   /* RCU: managed routes, NULL = none (room_routes.h) */
	struct rv_dp_acl *acl;	       /* RCU: access rules, NULL = allow all (acl.h) */
	struct rv_dp_routes6 *routes6; /* RCU: managed IPv6 routes, NULL = none */
};

/* Counters written by the owner worker only (relaxed atomics, no RMW). */
struct rv_dp_sess_ctr {
	_Atomic uint64_t pkts_in, bytes_in, pkts_out, bytes_out;
	_Atomic uint64_t last_seen_ns, last_rtt_ns;
};

struct rv_dp_session {
	struct cds_lfht_node by_peer;
	struct cds_lfht_node by_vip;
	struct cds_lfht_node by_vip6; /* in by_vip6 iff vip6 is not all zero */
	struct cds_list_head room_link;
	uint32_t peer_id, room_id, vip;
	uint8_t vip6[16]; /* network order; all zero: the member has no IPv6 */
	struct rv_dp_room *room;
	struct rv_dp_key *_Atomic slot[RV_DP_KEY_SLOTS];
	_Atomic int tx_slot;   /* slot that seals, -1 = none */
	_Atomic int owner;     /* worker index that does this session's crypto */
	_Atomic uint64_t addr; /* packed rv_outer_addr, see rv_dp_addr_pack() */
	/* UDP6: the IPv6 half of the address; addr and addr6 change together
	 * under addr_seq (odd while written), see rv_dp_addr_load/store */
	_Atomic uint32_t addr_seq;
	_Atomic uint64_t addr6[2];
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
	struct cds_lfht *by_vip6; /* (room, vip6) of the sessions that have one */
	struct cds_lfht *rooms;
	struct rv_dp_session **peer_ix;	  /* [peer-id], see session_index.c */
	struct rv_dp_session **vip6_hint; /* [vip6 hash & mask], see session_index.c */
	uint64_t vip6_hint_mask;
	_Atomic unsigned n_linked;  /* sessions in by_peer (writer-updated) */
	unsigned long peer_buckets; /* by_peer's buckets at creation: a walk visits each */
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

static inline uint64_t rv_dp_vip6_hash(uint32_t room, const uint8_t vip6[16])
{
	uint64_t a, b;
	memcpy(&a, vip6, 8);
	memcpy(&b, vip6 + 8, 8);
	return rv_dp_hash32(room) ^ rv_dp_hash32((uint32_t)(a ^ a >> 32)) * 31 ^
	       rv_dp_hash32((uint32_t)(b ^ b >> 32));
}

/* Packed address: kind (8) | port (16) | ip or conn id (32). */
static inline uint64_t rv_dp_addr_pack(const struct rv_outer_addr *a)
{
	uint32_t v = a->kind == RV_ADDR_TCP ? a->conn_id : a->kind == RV_ADDR_UDP ? a->ip : 0;
	uint16_t port = a->kind == RV_ADDR_UDP || a->kind == RV_ADDR_UDP6 ? a->port : 0;
	return (uint64_t)a->kind << 48 | (uint64_t)port << 32 | v;
}
static inline void rv_dp_addr_unpack(uint64_t v, struct rv_outer_addr *a)
{
	a->kind = (enum rv_addr_kind)(v >> 48);
	bool udp = a->kind == RV_ADDR_UDP || a->kind == RV_ADDR_UDP6;
	a->port = udp ? (uint16_t)(v >> 32) : 0;
	a->ip = a->kind == RV_ADDR_UDP ? (uint32_t)v : 0;
	a->conn_id = a->kind == RV_ADDR_TCP ? (uint32_t)v : 0;
}

/* A session's outer address, consistent. IPv4 and TCP addresses are one
 * atomic word; an IPv6 one is read under the sequence counter (a reader
 * that races a move retries: moves are rare and a few stores long; a
 * writer preempted in the middle must not stall a worker, so after
 * RV_DP_ADDR_TRIES the address reads as unknown: that packet is dropped
 * as no_address). Any thread. */
#define RV_DP_ADDR_TRIES 64
static inline void rv_dp_addr_load(struct rv_dp_session *s, struct rv_outer_addr *a)
{
	for (int tries = 0;; tries++) {
		if (__builtin_expect(tries == RV_DP_ADDR_TRIES, 0)) {
			a->kind = RV_ADDR_NONE;
			return;
		}
		uint32_t seq = atomic_load_explicit(&s->addr_seq, memory_order_acquire);
		rv_dp_addr_unpack(atomic_load_explicit(&s->addr, memory_order_relaxed), a);
		if (a->kind != RV_ADDR_UDP6)
			return;
		uint64_t h = atomic_load_explicit(&s->addr6[0], memory_order_relaxed);
		uint64_t l = atomic_load_explicit(&s->addr6[1], memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
		if (!(seq & 1) && atomic_load_explicit(&s->addr_seq, memory_order_relaxed) == seq) {
			memcpy(a->ip6, &h, 8);
			memcpy(a->ip6 + 8, &l, 8);
			return;
		}
	}
}

/* Whether @a is the session's address (IPv4/TCP: one load). */
static inline bool rv_dp_addr_is(struct rv_dp_session *s, const struct rv_outer_addr *a)
{
	uint64_t v = atomic_load_explicit(&s->addr, memory_order_relaxed);
	if (v != rv_dp_addr_pack(a))
		return false;
	if (a->kind != RV_ADDR_UDP6)
		return true;
	struct rv_outer_addr cur;
	rv_dp_addr_load(s, &cur);
	return cur.kind == RV_ADDR_UDP6 && cur.port == a->port && !memcmp(cur.ip6, a->ip6, 16);
}

/* Move the session to @a. Writers: the owner worker (a packet from @a
 * authenticated) and the agent thread (upserts). A writer that finds the
 * other one writing gives up and returns false (a worker: the next packet
 * from @a tries again; the agent thread retries). No lock, no wait. */
static inline bool rv_dp_addr_store(struct rv_dp_session *s, const struct rv_outer_addr *a)
{
	uint32_t seq = atomic_load_explicit(&s->addr_seq, memory_order_relaxed);
	if ((seq & 1) ||
	    !atomic_compare_exchange_strong_explicit(&s->addr_seq, &seq, seq + 1,
						     memory_order_acq_rel, memory_order_relaxed))
		return false;
	atomic_thread_fence(memory_order_release);
	if (a->kind == RV_ADDR_UDP6) {
		uint64_t h, l;
		memcpy(&h, a->ip6, 8);
		memcpy(&l, a->ip6 + 8, 8);
		atomic_store_explicit(&s->addr6[0], h, memory_order_relaxed);
		atomic_store_explicit(&s->addr6[1], l, memory_order_relaxed);
	}
	atomic_store_explicit(&s->addr, rv_dp_addr_pack(a), memory_order_relaxed);
	atomic_store_explicit(&s->addr_seq, seq + 2, memory_order_release);
	return true;
}

/* Flat indexes (session_index.c; writer side called by session_table.c). */
int rv_dp_peer_ix_new(struct rv_dp_tables *t);
void rv_dp_peer_ix_free(struct rv_dp_tables *t);
void rv_dp_peer_ix_set(struct rv_dp_tables *t, struct rv_dp_session *s);
void rv_dp_peer_ix_clear(struct rv_dp_tables *t, struct rv_dp_session *s);
/* NULL with *too_big set: the subnet has more than RV_DP_HOSTS_MAX_BITS host
 * bits; NULL without it: out of memory. */
struct rv_dp_hosts *rv_dp_hosts_new(uint32_t subnet, uint8_t prefix_len, bool *too_big);
void rv_dp_hosts_set(struct rv_dp_room *r, struct rv_dp_session *s);
void rv_dp_hosts_clear(struct rv_dp_room *r, struct rv_dp_session *s);
/* Replace @r's host array by one for @subnet/@prefix_len holding its current
 * members (old one freed after a grace period). -1: out of memory, nothing
 * changed. */
int rv_dp_hosts_rebuild(struct rv_dp_room *r, uint32_t subnet, uint8_t prefix_len);
/* Shared by the session table (session_table.c) and the room table
 * (room_table.c); writer only, inside a read-side section. */
extern _Atomic uint32_t rv_dp_n_rooms;	     /* rooms published */
extern _Atomic uint64_t rv_dp_pending_frees; /* call_rcu frees not yet run */
struct rv_dp_room *rv_dp_find_room(struct rv_dp_tables *t, uint32_t room_id);
/* 0 if @vip is a host of @r's subnet, else -1 and why in @err. */
int rv_dp_check_vip(const struct rv_dp_room *r, uint32_t vip, char *err, size_t errlen);
/* 0 if @vip6 is a host of @r's prefix6, else -1 and why in @err. */
int rv_dp_check_vip6(const struct rv_st_room *r, const uint8_t vip6[16], char *err, size_t errlen);
/* Two-phase delete of a session: unlink from every index and its room's
 * members, then free after a grace period. */
void rv_dp_session_unlink(struct rv_dp_tables *t, struct rv_dp_session *s);
void rv_dp_session_defer_free(struct rv_dp_session *s);
/* Add or update room @in in @t (the live tables or a resync batch's). */
int rv_dp_room_upsert_in(struct rv_dp_tables *t, const struct rv_st_room *in, char *err,
			 size_t errlen);
/* Write a message to @err (if any) and return -1: the tables' errors. */
int rv_dp_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The vip6 hint array of @t, sized for @max_sessions; -1: out of memory. */
int rv_dp_vip6_hint_new(struct rv_dp_tables *t, uint32_t max_sessions);
void rv_dp_vip6_hint_free(struct rv_dp_tables *t);
/* Link @s into / unlink it from by_vip6 and the hint array (nothing if it
 * has no vip6). */
void rv_dp_vip6_add(struct rv_dp_tables *t, struct rv_dp_session *s);
void rv_dp_vip6_del(struct rv_dp_tables *t, struct rv_dp_session *s);

/* Reader look-ups (inside a worker loop pass). */
static inline struct rv_dp_session **rv_dp_peer_slot(struct rv_dp_tables *t, uint32_t peer_id)
{
	return peer_id <= RV_ST_PEER_ID_MAX ? &t->peer_ix[peer_id] : NULL;
}
static inline struct rv_dp_session *rv_dp_find_peer(struct rv_dp_tables *t, uint32_t peer_id)
{
	struct rv_dp_session **slot = rv_dp_peer_slot(t, peer_id);
	return slot ? rcu_dereference(*slot) : NULL;
}
struct rv_dp_session *rv_dp_find_vip(struct rv_dp_tables *t, uint32_t room_id, uint32_t vip);
/* The member of room @room_id whose IPv6 virtual IP is @vip6, or NULL
 * (session_index.c: a lock-free cds_lfht look-up, no allocation). */
struct rv_dp_session *rv_dp_find_vip6(struct rv_dp_tables *t, uint32_t room_id,
				      const uint8_t vip6[16]);
/* A hint before rv_dp_find_member(@r, @vip): fetch its host slot. */
static inline void rv_dp_member_prefetch(struct rv_dp_room *r, uint32_t vip)
{
	struct rv_dp_hosts *h = rcu_dereference(r->hosts);
	if (h && vip - h->subnet < h->n)
		__builtin_prefetch(&h->slot[vip - h->subnet]);
}
/* The member of room @r with virtual IP @vip, or NULL. */
static inline struct rv_dp_session *rv_dp_find_member(struct rv_dp_tables *t, struct rv_dp_room *r,
						      uint32_t vip)
{
	struct rv_dp_hosts *h = rcu_dereference(r->hosts);
	if (!h)
		return rv_dp_find_vip(t, r->cfg.room_id, vip);
	if (vip - h->subnet >= h->n)
		return NULL;
	return rcu_dereference(h->slot[vip - h->subnet]);
}
/* The member of room @room_id with IPv6 virtual IP @vip6, or NULL: the
 * hint array's set first (RV_DP_VIP6_WAYS slots in one cache line at an
 * address computed from the key, so a burst's sets can be prefetched), each
 * checked against the session it names; by_vip6 when none of them is it (a
 * set full of others). */
#define RV_DP_VIP6_WAYS 4
static inline struct rv_dp_session **rv_dp_vip6_slot(struct rv_dp_tables *t, uint32_t room_id,
						     const uint8_t vip6[16])
{
	return &t->vip6_hint[rv_dp_vip6_hash(room_id, vip6) & t->vip6_hint_mask &
			     ~(uint64_t)(RV_DP_VIP6_WAYS - 1)];
}
static inline struct rv_dp_session *rv_dp_find_member6(struct rv_dp_tables *t, uint32_t room_id,
						       const uint8_t vip6[16])
{
	struct rv_dp_session **set = rv_dp_vip6_slot(t, room_id, vip6);
	for (int i = 0; i < RV_DP_VIP6_WAYS; i++) {
		struct rv_dp_session *s = rcu_dereference(set[i]);
		if (s && s->room_id == room_id && memcmp(s->vip6, vip6, 16) == 0)
			return s;
	}
	return rv_dp_find_vip6(t, room_id, vip6);
}
/* Key of @s with @key_id still accepted at @now_ns, or NULL. */
struct rv_dp_key *rv_dp_rx_key(struct rv_dp_session *s, uint8_t key_id, uint64_t now_ns);
/* Sealing key of @s, or NULL. */
struct rv_dp_key *rv_dp_tx_key(struct rv_dp_session *s);
/* Owner worker, after @k authenticated a packet of @s: a pending key
 * becomes the sealing key. */
void rv_dp_key_used(struct rv_dp_session *s, struct rv_dp_key *k);
/* Owner worker of @s; claims it for @self if nobody owns it yet. */
int rv_dp_owner(struct rv_dp_session *s, int self);

#endif
