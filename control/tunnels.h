/* The tunnel registry: every running tunnel (a device's membership carried
 * by the data plane), with no fixed cap.
 *
 * Structure: chained hash tables under ONE mutex (rv_tunnels_lock), keyed by
 * peer-id, by (room, device), by keepalive stream, plus a room table whose
 * entries hold the room's settings and routes once (not per tunnel) and the
 * list of the room's tunnels (events reach exactly them), and a per-user
 * count (quota). Why a mutex and not liburcu's cds_lfht: every operation is
 * a few pointer moves (no I/O and no store access is ever done under the
 * lock: data-plane work goes to dp_sync.c, store reads happen before), most
 * operations write (heartbeat timestamps, stream binding), and a stream
 * pointer must not be used after its on_end: a lock makes that rule simple;
 * at 10,000 heartbeats/s the lock is held ~1 % of the time.
 *
 * Memory: sizeof(struct rv_tunnel) (~480 bytes, mostly the 256-byte key
 * material) + 3 hash links' share of buckets (≤ 48 bytes) per tunnel; a
 * room entry (~400 bytes) per room with tunnels. docs/control.md.
 *
 * The lowest of the tunnel modules: it calls no module that acts on a
 * tunnel (keepalive pushes, data-plane deltas and the named events are in
 * events.c; timers.c arms through rv_tunnels_set_timer_ops).
 *
 * Functions marked "lock held" must be called with rv_tunnels_lock() held. */
#ifndef RV_TUNNELS_H
#define RV_TUNNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cipher.h"
#include "control.h"
#include "dataplane.pb-c.h"
#include "room_net.h"
#include "roomvpn/v1/room_store.pb-c.h"

/* The largest peer-id (24 bits; 0xFFFFFF is reserved). */
#define RV_TUNNELS_PEER_ID_MAX 0xFFFFFEu
#define RV_TUNNELS_ROUTES_MAX  16 /* = RV_ROOM_ROUTES_MAX */

/* A room with tunnels: its settings as last seen, shared by its tunnels. */
struct rv_tunnel_room {
	uint64_t id;
	char name[64];
	uint32_t subnet, prefix_len, mtu, keepalive_s;
	uint64_t key_tag, net_tag, routes_tag; /* room key, DNS+routes, routes */
	size_t n_routes;
	Roomvpn__Dataplane__V1__Route routes[RV_TUNNELS_ROUTES_MAX];
	/* IPv6 (room_net.h rv_room_net_dp_v6): prefix6_len 0 = none */
	uint8_t prefix6[16], prefix6_len;
	size_t n_routes6;
	struct rv_room_net_route6 routes6[RV_TUNNELS_ROUTES_MAX];
	/* access rules (room_rules.h), replaced whole by room_fill */
	uint64_t rules_tag;
	size_t n_rules;
	Roomvpn__Dataplane__V1__Rule *rules; /* malloc'd; NULL when none */
	struct rv_tunnel *head;		     /* its tunnels (room_next list) */
	uint64_t sync_gen;		     /* dp_poll.c: in the resync being built */
	uint64_t slot_gen;		     /* dp_poll.c: slot_of is this walk's */
	int slot_of;			     /* its data plane's fleet slot then */
	unsigned n;
	struct rv_tunnel_room *next; /* hash chain */
};

struct rv_tunnel {
	uint64_t room_id, device, user;
	uint32_t peer_id; /* 0: a stream waiting for its next bootstrap */
	struct rv_tunnel_room *room;
	struct rv_stream *stream; /* the open keepalive stream, or NULL */
	uint8_t key_id;		  /* the data plane's sealing key-id */
	uint64_t keyed_ns;	  /* when that key was installed (monotonic) */
	uint64_t rekey_asked_ns;  /* when the client was last asked to re-key */
	uint32_t client_rtt_us;	  /* the client's RTT to the data plane, from its heartbeats */
	uint64_t last_hb_ns;	  /* last Hello/Heartbeat (0: none in this process) */
	uint64_t created_ns;	  /* registered (monotonic) */
	char username[64];	  /* its user's, from its last Hello ("": none yet) */
	/* the room settings the client has (tags as in struct rv_tunnel_room) */
	uint32_t mtu, keepalive_s;
	uint64_t key_tag, net_tag, config_seq;
	/* another replica's, mirrored from its record (replica_mirror.c): no
	 * stream here, never timed out here */
	bool foreign;
	/* what the data plane was given (memory only; wiped when replaced) */
	bool keyed;
	uint32_t walk_gen; /* dp_poll.c: the re-push walk that last took it */
	uint64_t key_ns;   /* when recorded (monotonic) */
	uint32_t vip;
	uint8_t vip6[16]; /* with has_vip6 */
	bool has_vip6;
	enum rv_cipher suite;
	uint8_t push_key_id;
	struct rv_key_material km;
	/* registry links (tunnels.c) and the timer (timers.c) */
	struct rv_tunnel *next_peer, *next_rd, *next_stream, *room_prev, *room_next;
	size_t timer_idx; /* position in the deadline heap (SIZE_MAX: none) */
	uint64_t timer_at;
};

/* A hold longer than RV_TUNNELS_HOLD_WARN_MS is logged with its taker's
 * name (heartbeats, Bootstraps and Kicks waited behind it). */
#define RV_TUNNELS_HOLD_WARN_MS 50
void rv_tunnels_lock_by(const char *who);
#define rv_tunnels_lock() rv_tunnels_lock_by(__func__)
void rv_tunnels_unlock(void);

/* Lookups (lock held). find_owned: tunnel @peer_id if it is @device's in
 * room @room, else NULL: the one ownership check behind Hello, Bootstrap's
 * re-key and End. */
struct rv_tunnel *rv_tunnels_find(uint32_t peer_id);
struct rv_tunnel *rv_tunnels_find_owned(uint32_t peer_id, uint64_t device, uint64_t room);
struct rv_tunnel *rv_tunnels_find_rd(uint64_t room, uint64_t device);
struct rv_tunnel *rv_tunnels_find_stream(const struct rv_stream *s);
struct rv_tunnel_room *rv_tunnels_room(uint64_t room);
unsigned rv_tunnels_of_user(uint64_t user);
size_t rv_tunnels_count(void);

/* A new tunnel of (@r, @device, @user) with @peer_id (lock held), or NULL
 * (out of memory). The room entry is made or refreshed from @r. No quota or
 * cap check here: rv_tunnels_register does those. */
struct rv_tunnel *rv_tunnels_add(const Roomvpn__V1__RoomRecord *r, uint64_t device, uint64_t user,
				 uint32_t peer_id);
/* The same in room @room_id; @r may be NULL when the room has tunnels here
 * already (its entry is then left as it is). */
struct rv_tunnel *rv_tunnels_add_to(uint64_t room_id, const Roomvpn__V1__RoomRecord *r,
				    uint64_t device, uint64_t user, uint32_t peer_id);
/* Give @t another peer-id (lock held): re-indexed. */
void rv_tunnels_rename(struct rv_tunnel *t, uint32_t peer_id);
/* Bind @t to keepalive stream @s (NULL: unbind) (lock held). */
void rv_tunnels_bind(struct rv_tunnel *t, struct rv_stream *s);
/* Unlink and free @t, key material wiped (lock held). */
void rv_tunnels_remove(struct rv_tunnel *t);
/* The room entry's settings from @r (lock held); NULL if no tunnel there. */
struct rv_tunnel_room *rv_tunnels_room_note(const Roomvpn__V1__RoomRecord *r);
/* The client-side view of @t is now its room's (lock held). */
void rv_tunnels_client_synced(struct rv_tunnel *t);

/* Visit every tunnel (lock held); @fn must not add or remove tunnels. */
void rv_tunnels_each(void (*fn)(struct rv_tunnel *t, void *arg), void *arg);
/* The same in slices, so that a walk of 100,000 tunnels does not hold the
 * lock for all of them (lock held for each slice): visits the tunnels of at
 * most @buckets hash buckets from cursor @from (0 to start) and returns the
 * cursor to go on from, 0 when done. Between slices tunnels come and go: one
 * present throughout is visited at least once (twice if the table grew). */
size_t rv_tunnels_each_some(size_t from, size_t buckets, void (*fn)(struct rv_tunnel *t, void *arg),
			    void *arg);

/* ---- Registry operations (take the lock themselves) ------------------- */

/* Register a new tunnel of (room, device): OK, its fresh random peer-id in
 * *peer_id and the member's previous one in *old (0 if none), which it
 * replaces (its stream stays attached). RESOURCE_EXHAUSTED with a message
 * and a log line at cfg.max_tunnels_per_user or cfg.max_tunnels. */
grpc_status_code rv_tunnels_register(struct rv_control *ctl, const Roomvpn__V1__RoomRecord *r,
				     uint64_t device, uint64_t user, uint32_t *peer_id,
				     uint32_t *old, char *msg, size_t msglen);
bool rv_tunnels_owned_by(uint32_t peer_id, uint64_t device, uint64_t room);
/* Remove every tunnel, key material wiped (at shutdown, after the threads
 * that use the registry stopped). */
void rv_tunnels_clear(void);

/* What a tunnel's data-plane session was set up with (memory only). */
struct rv_tunnel_keys {
	uint32_t vip;
	uint8_t vip6[16]; /* with has_vip6 */
	bool has_vip6;
	enum rv_cipher suite;
	uint8_t key_id;
	const struct rv_key_material *km; /* copied */
};
void rv_tunnels_set_key(uint32_t peer_id, const struct rv_tunnel_keys *k);
void rv_tunnels_clear_key(uint32_t peer_id);
/* Re-key of the device's own tunnel: 0 and the next key-id, or -1. */
int rv_tunnels_rekey_begin(uint64_t device, uint64_t room, uint32_t peer_id, uint8_t *next);
void rv_tunnels_rekey_done(uint32_t peer_id, uint8_t key_id);

/* ---- Timers ----------------------------------------------------------- */

/* How the registry keeps a tunnel's timer (timers.c installs them when it
 * starts, NULL when it stops; none installed: no timers). @arm re-computes
 * @t's deadline, @cancel forgets it; both with the lock held. */
struct rv_tunnels_timer_ops {
	void (*arm)(struct rv_tunnel *t);
	void (*cancel)(struct rv_tunnel *t);
};
void rv_tunnels_set_timer_ops(const struct rv_tunnels_timer_ops *ops);

/* ---- Tunnel records (replica_records.c, on etcd only) -------------------- */

/* How the registry keeps its tunnels' records in etcd (installed by
 * replica_records.c while replicas run; none: RocksDB, nothing is done).
 * Called with the lock held except @claim. @changed: the record of local
 * tunnel @peer_id must follow the registry (published, or deleted when the
 * tunnel is gone); queued, never waited for. @claim: publish the record of
 * the new local tunnel @peer_id if no replica holds that peer-id, waited
 * for: 0, RV_STORE_CONFLICT (another replica holds it) or -1. */
struct rv_tunnels_record_ops {
	void (*changed)(uint32_t peer_id);
	int (*claim)(uint32_t peer_id);
	void (*fetch)(uint32_t peer_id);
	void (*take_over)(struct rv_tunnel *t);
};
void rv_tunnels_set_record_ops(const struct rv_tunnels_record_ops *ops);
/* A Hello names @peer_id: if no tunnel has it here, another replica's
 * record of it is read and mirrored (no lock held; nothing on RocksDB). */
void rv_tunnels_fetch(uint32_t peer_id);
/* Foreign tunnel @t's client said Hello here: @t becomes this replica's,
 * its record re-published under our lease (lock held). */
void rv_tunnels_take_over(struct rv_tunnel *t);
/* A fresh random peer-id no tunnel and no data-plane session has, or 0
 * (lock held). */
uint32_t rv_tunnels_new_peer_id(void);

/* ---- Status (tunnels_status.c) ------------------------------------------ */

/* A tunnel as Health and the metrics report it. */
struct rv_tunnel_status {
	uint64_t device_id, user_id;
	uint32_t peer_id, vip;
	uint8_t vip6[16]; /* with has_vip6 */
	bool has_vip6;
	char room[64];
	bool on_dataplane;     /* the data plane runs the session */
	bool up;	       /* ...and saw a packet within max(3 keepalives, 30 s) */
	const char *transport; /* "udp", "tcp", "unknown" (static strings) */
	uint64_t packets_in, bytes_in, packets_out, bytes_out;
	uint64_t last_seen_unix_ms, rtt_us; /* 0: never */
	char outer[24]; /* the device's address as the data plane sees it ("" unknown) */
};
/* Every tunnel (@all) or those of @user_id's devices with the data plane's
 * figures (at most ~1 s old: dp_cache.h). Returns the count and a malloc'd
 * array in *out (NULL when 0), or -1. *dp_ok: the data plane answered the last read. */
int rv_tunnels_status(bool all, uint64_t user_id, struct rv_tunnel_status **out, bool *dp_ok);
/* The tunnel of (@room, @device) into *out: false if it has none. The same
 * figures, from memory only (no store or socket I/O): ListMembers calls it
 * per member. */
bool rv_tunnels_status_of(uint64_t room, uint64_t device, struct rv_tunnel_status *out);

#endif
