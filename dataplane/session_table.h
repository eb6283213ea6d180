/* The data plane's tables: rooms, and sessions keyed by peer-id and by
 * (room, virtual IP). liburcu QSBR flavor; `cds_lfht` hash tables.
 *
 * Threads:
 *  - Exactly ONE writer, the agent thread. Every rv_st_* function below that
 *    changes or reads the tables for the agent "must be called from the agent
 *    thread (the one writer)" after rv_st_writer_register(). It is asserted.
 *  - Workers (lcores) are readers: registered with rcu_register_thread(),
 *    always online, rcu_quiescent_state() once per loop pass. Pointers found
 *    in one pass are never kept past it (rings carry peer-ids, not pointers).
 *
 * QSBR rules used by the writer (liburcu doc/rcu-api.md): the writer is a
 * registered QSBR thread; it does every cds_lfht add/replace/del inside
 * rcu_read_lock()/rcu_read_unlock() (free under QSBR, required by rculfhash);
 * it frees unlinked objects with call_rcu() after a grace period and wipes key
 * material (OPENSSL_cleanse via rv_cipher_ctx_free) before the memory goes
 * back. It never calls synchronize_rcu() while online (that would deadlock
 * QSBR): functions here go offline around any wait themselves, and
 * rv_st_writer_idle() must be called before the agent blocks (poll/accept).
 *
 * Full resync builds a complete new table set off-line and publishes it with
 * one rcu_assign_pointer() of the root: readers see either the old set or the
 * new one, never a mix. The old set is freed by call_rcu.
 *
 * Errors: every function that can fail returns 0, or -1 with a message in
 * @err (when @err is not NULL); on -1 nothing was changed ("never half
 * applied"). */
#ifndef RV_DP_SESSION_TABLE_H
#define RV_DP_SESSION_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cipher.h"

#define RV_ST_PEER_ID_MAX 0xFFFFFEu /* 24 bits; 0xFFFFFF means "no peer-id" */

/* Where a member was last seen: authenticated UDP source or TCP connection.
 * It moves only after a packet from the new address authenticated. */
enum rv_addr_kind {
	RV_ADDR_NONE = 0, /* unknown: nothing can be sent to the member yet */
	RV_ADDR_UDP = 1,  /* ip:port, host byte order */
	RV_ADDR_TCP = 2,  /* conn_id of the TCP fallback thread (see tcp_io.h) */
	RV_ADDR_UDP6 = 3, /* [ip6]:port, port host order */
};

struct rv_outer_addr {
	enum rv_addr_kind kind;
	uint32_t ip;	  /* UDP: IPv4, host order */
	uint16_t port;	  /* UDP, UDP6: port, host order */
	uint32_t conn_id; /* TCP: connection id */
	uint8_t ip6[16];  /* UDP6: IPv6, network order */
};

/* A managed route of a room (room_routes.h): inner packets for @target go
 * to the member whose vip is @via; sources inside @target are accepted
 * from that member only. */
#define RV_ST_ROUTES_MAX 16
struct rv_st_route {
	uint32_t target;    /* host order, no host bits, outside the room's subnet */
	uint8_t prefix_len; /* 1..32 */
	uint32_t via;	    /* a host address of the room's subnet */
};

/* A managed IPv6 route (room_routes.h): the same rules within prefix6. */
struct rv_st_route6 {
	uint8_t target[16]; /* network order, no host bits, outside the room's prefix6 */
	uint8_t prefix_len; /* 1..128 */
	uint8_t via[16];    /* a host address of the room's prefix6 */
};

/* An access rule of a room (acl.h): first match decides; no rule matching
 * (or no rules at all) allows. */
#define RV_ST_RULES_MAX 1024
struct rv_st_rule {
	uint32_t src, dst;	    /* networks, host order, no host bits */
	uint8_t src_plen, dst_plen; /* 0..32 (0 = any address) */
	uint8_t proto;		    /* 0 = any, 1 ICMP, 6 TCP, 17 UDP */
	uint16_t port_lo, port_hi;  /* destination ports; 0..65535 = any (else TCP/UDP only) */
	bool deny;
};

struct rv_st_room {
	uint32_t room_id;   /* any value; 0 is valid */
	uint32_t subnet;    /* overlay subnet, host order (e.g. 10.77.0.0) */
	uint8_t prefix_len; /* 8..30 */
	uint32_t broadcast; /* host order; 0 = derived from subnet/prefix_len */
	/* managed routes, replaced as a whole by every upsert (0..16) */
	uint8_t n_routes;
	struct rv_st_route routes[RV_ST_ROUTES_MAX];
	/* access rules, replaced as a whole by every upsert (0..RV_ST_RULES_MAX);
	 * read during the call only (the tables keep their own compiled copy) */
	uint32_t n_rules;
	const struct rv_st_rule *rules;
	/* IPv6 inside the tunnel (dual-stack room): prefix6_len 0 = none, else
	 * 48..120 with no host bits in prefix6 (network order); routes6 are
	 * replaced as a whole like routes (0..16) */
	uint8_t prefix6[16];
	uint8_t prefix6_len;
	uint8_t n_routes6;
	struct rv_st_route6 routes6[RV_ST_ROUTES_MAX];
};

struct rv_st_session {
	uint32_t peer_id;	    /* 0..RV_ST_PEER_ID_MAX */
	uint32_t room_id;	    /* must exist */
	uint32_t vip;		    /* virtual IP, host order, inside the room's subnet */
	uint8_t vip6[16];	    /* IPv6 virtual IP (network order) in prefix6; all 0 = none */
	enum rv_cipher cipher;	    /* AES-256-GCM, CHACHA20-POLY1305 or AES-256-CBC+HMAC */
	uint8_t key_id;		    /* 0..7 */
	struct rv_key_material key; /* OpenVPN 256-byte layout */
	/* The DATA PLANE's key-direction (rv_static_key_dirs): 1 means the data
	 * plane sends with dir[1] (server->client) and receives with dir[0]; the
	 * member then uses key-direction 0. RV_KEY_DIRECTION_NONE (-1): both
	 * ways use dir[0]. */
	int key_direction;
	struct rv_outer_addr addr; /* RV_ADDR_NONE if not known yet */
};

/* Limits fixed at start-up (command line / config of roomvpn-dataplane). */
struct rv_st_params {
	uint32_t max_sessions;	   /* hash table sizing hint */
	uint32_t replay_window;	   /* 0 = RV_REPLAY_DEFAULT_WINDOW */
	unsigned n_workers;	   /* workers that may own sessions (1..RTE_MAX_LCORE) */
	uint64_t default_grace_ns; /* old key kept this long after a re-key */
	bool owner_by_peer_id;	   /* pipeline mode: worker = peer-id % n_workers */
	bool tcp;		   /* TCP fallback on: keys also get cipher-"none" contexts */
};

/* ---- life cycle (main thread, before workers / after they stopped) ---- */
int rv_st_init(const struct rv_st_params *p, char *err, size_t errlen);
/* Frees everything, wiping keys. Workers must have stopped. */
void rv_st_fini(void);

/* ---- writer registration (the agent thread) ---- */
/* Registers the calling thread with QSBR RCU (online) and makes it the one
 * writer. A second writer is refused (-1). */
int rv_st_writer_register(void);
void rv_st_writer_unregister(void);
/* Announce a quiescent state and go offline before the agent blocks; it comes
 * back online by itself on the next rv_st_* call. */
void rv_st_writer_idle(void);

/* ---- rooms ---- */
/* Creates the room or changes its subnet/broadcast/prefix6 (members' virtual
 * IPs and IPv6 virtual IPs must stay inside the new ones, else -1). */
int rv_st_room_upsert(const struct rv_st_room *r, char *err, size_t errlen);
/* Deletes the room and every session in it. -1 if it does not exist. */
int rv_st_room_delete(uint32_t room_id, char *err, size_t errlen);

/* ---- sessions ---- */
/* Creates the session, or updates an existing one with the same peer-id:
 * same room and vip -> the key is installed like rv_st_key_install() (if its
 * key-id differs from the current one; identical key-id = the key is left
 * alone so that its replay window is kept) and the address is set if given;
 * otherwise the session is replaced (new keys, fresh replay window).
 * A different vip6 also replaces the session.
 * -1 if the room does not exist, the vip (vip6) is outside the room's subnet
 * (prefix6) or used by another peer-id in that room, or the cipher/key-id
 * is invalid. */
int rv_st_session_upsert(const struct rv_st_session *s, char *err, size_t errlen);
/* Unlinks at once: from the next loop pass of every worker, no packet of
 * this peer-id is accepted or delivered. Keys wiped after the grace period. */
int rv_st_session_delete(uint32_t peer_id, char *err, size_t errlen);

/* ---- keys ---- */
/* Installs key @key_id beside the current one. It opens at once; it seals
 * at once too, or, with @seal_after_use, only from the member's first
 * authenticated packet under it (the owner worker switches) or when the
 * current key's grace period ends: the data plane then never seals with a
 * key the member may not hold yet (the control plane's re-keys use this).
 * The previous key is still accepted for opening for @grace_ns (0 = the
 * default), then retired by rv_st_expire(). A third key-id retires the
 * oldest at once. Key-id equal to the sealing or a pending one: -1. */
int rv_st_key_install(uint32_t peer_id, uint8_t key_id, enum rv_cipher cipher,
		      const struct rv_key_material *key, int key_direction, uint64_t grace_ns,
		      bool seal_after_use, char *err, size_t errlen);
/* Retires key @key_id now (unlink, call_rcu, wipe). Retiring the sealing key
 * is refused (-1) while it is the only key. */
int rv_st_key_retire(uint32_t peer_id, uint8_t key_id, char *err, size_t errlen);
/* Retires every key whose grace period ended before @now_ns (CLOCK_MONOTONIC).
 * The agent calls it periodically (e.g. once per second). Returns the count. */
unsigned rv_st_expire(uint64_t now_ns);

/* ---- full resync: build off-line, then swap atomically ---- */
struct rv_st_batch;
struct rv_st_batch *rv_st_batch_new(char *err, size_t errlen);
/* Add to the batch (same validation as the upserts, against the batch). */
int rv_st_batch_room(struct rv_st_batch *b, const struct rv_st_room *r, char *err, size_t errlen);
int rv_st_batch_session(struct rv_st_batch *b, const struct rv_st_session *s, char *err,
			size_t errlen);
/* Replace every room and session by the batch's content; consumes @b.
 * Sessions whose peer-id and key (id + material) did not change keep their
 * replay window, counters and address. */
int rv_st_batch_commit(struct rv_st_batch *b, char *err, size_t errlen);
/* Drop an uncommitted batch (wipes its keys). NULL is accepted. */
void rv_st_batch_free(struct rv_st_batch *b);

/* ---- reading (agent thread) ---- */
struct rv_st_session_info {
	uint32_t peer_id;
	uint32_t room_id;
	uint32_t vip;
	uint8_t vip6[16]; /* all 0 = none */
	enum rv_cipher cipher;
	uint8_t tx_key_id;
	uint8_t n_keys;
	struct rv_outer_addr addr;
	uint64_t pkts_in, bytes_in;   /* authenticated packets from the member */
	uint64_t pkts_out, bytes_out; /* packets sealed for the member */
	uint64_t last_seen_ns; /* CLOCK_REALTIME of the last authenticated packet, 0 = never */
	uint64_t last_rtt_ns;  /* last echo round trip, 0 = none */
};

struct rv_st_room_info {
	struct rv_st_room room;
	uint32_t n_members;
};

int rv_st_session_get(uint32_t peer_id, struct rv_st_session_info *out);
/* Calls @cb for every session (in no particular order); returns the count. */
typedef void (*rv_st_session_cb)(void *arg, const struct rv_st_session_info *s);
unsigned rv_st_session_foreach(rv_st_session_cb cb, void *arg);
/* Sessions in the table (linked: rv_st_counts also counts those awaiting
 * call_rcu), without a walk. */
unsigned rv_st_session_count(void);
/* @cb for each session with @from <= peer-id < @to (@to 0: no bound) and
 * the number of sessions in the table (all of them, in range or not). A
 * page of peer-ids is read from the peer-id index: its cost is the page's,
 * not the table's (the control plane pages through 100,000 sessions). */
unsigned rv_st_session_foreach_range(uint32_t from, uint32_t to, rv_st_session_cb cb, void *arg);
typedef void (*rv_st_room_cb)(void *arg, const struct rv_st_room_info *r);
unsigned rv_st_room_foreach(rv_st_room_cb cb, void *arg);
/* Per-lcore and per-drop-reason counters: see stats.h (any thread). */

/* Counts of live objects, for tests and memory figures. */
struct rv_st_counts {
	uint32_t rooms, sessions, keys;
	uint64_t pending_frees; /* call_rcu callbacks not yet run */
};
void rv_st_counts(struct rv_st_counts *out);

#endif
