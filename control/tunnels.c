/* The tunnel registry (see tunnels.h): hash tables, the room index, the
 * per-user count, and the operations built on them (no I/O: events.c). */
#include "tunnels.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "clock.h"
#include "dp_cache.h"
#include "key_slots.h"
#include "log.h"
#include "room_net.h"
#include "store.h"

/* A chained hash table of any struct with a "next" pointer at @link;
 * doubles its buckets when it holds more entries than buckets. */
struct table {
	void **b;
	size_t mask, n, link;
	uint64_t (*hash)(const void *e);
};

#define NEXT(tb, e) (*(void **)((char *)(e) + (tb)->link))

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

static void tb_grow(struct table *tb)
{
	size_t cap = tb->b ? (tb->mask + 1) * 2 : 64;
	void **nb = calloc(cap, sizeof(*nb));

	if (!nb)
		return; /* chains just get longer */
	for (size_t i = 0; tb->b && i <= tb->mask; i++)
		for (void *e = tb->b[i], *next; e; e = next) {
			next = NEXT(tb, e);
			size_t h = tb->hash(e) & (cap - 1);
			NEXT(tb, e) = nb[h];
			nb[h] = e;
		}
	free(tb->b);
	tb->b = nb;
	tb->mask = cap - 1;
}

/* Returns 0, or -1 when no bucket array could be made at all. */
static int tb_insert(struct table *tb, void *e)
{
	if (!tb->b || tb->n > tb->mask)
		tb_grow(tb);
	if (!tb->b)
		return -1;
	size_t h = tb->hash(e) & tb->mask;
	NEXT(tb, e) = tb->b[h];
	tb->b[h] = e;
	tb->n++;
	return 0;
}

static void tb_remove(struct table *tb, void *e)
{
	if (!tb->b)
		return;
	for (void **p = &tb->b[tb->hash(e) & tb->mask]; *p; p = &NEXT(tb, *p))
		if (*p == e) {
			*p = NEXT(tb, e);
			tb->n--;
			return;
		}
}

static void *tb_bucket(const struct table *tb, uint64_t h)
{
	return tb->b ? tb->b[h & tb->mask] : NULL;
}

struct user_count {
	uint64_t user;
	unsigned n;
	struct user_count *next;
};

static uint64_t h_peer(const void *e)
{
	return mix(((const struct rv_tunnel *)e)->peer_id);
}
static uint64_t rd_hash(uint64_t room, uint64_t dev)
{
	return mix(room * 0x9e3779b97f4a7c15ull ^ dev);
}
static uint64_t h_rd(const void *e)
{
	const struct rv_tunnel *t = e;
	return rd_hash(t->room_id, t->device);
}
static uint64_t h_stream(const void *e)
{
	return mix((uint64_t)(uintptr_t)((const struct rv_tunnel *)e)->stream);
}
static uint64_t h_room(const void *e)
{
	return mix(((const struct rv_tunnel_room *)e)->id);
}
static uint64_t h_user(const void *e)
{
	return mix(((const struct user_count *)e)->user);
}

static struct {
	pthread_mutex_t lock;
	struct table peers, rds, streams, rooms, users;
	size_t n;
	const struct rv_tunnels_timer_ops *timers;   /* NULL: none */
	const struct rv_tunnels_record_ops *records; /* NULL: none (RocksDB) */
} reg = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .peers = {.link = offsetof(struct rv_tunnel, next_peer), .hash = h_peer},
    .rds = {.link = offsetof(struct rv_tunnel, next_rd), .hash = h_rd},
    .streams = {.link = offsetof(struct rv_tunnel, next_stream), .hash = h_stream},
    .rooms = {.link = offsetof(struct rv_tunnel_room, next), .hash = h_room},
    .users = {.link = offsetof(struct user_count, next), .hash = h_user},
};

void rv_tunnels_set_timer_ops(const struct rv_tunnels_timer_ops *ops)
{
	reg.timers = ops;
}

void rv_tunnels_set_record_ops(const struct rv_tunnels_record_ops *ops)
{
	reg.records = ops;
}

void rv_tunnels_fetch(uint32_t peer_id)
{
	const struct rv_tunnels_record_ops *ops = reg.records;
	if (!ops)
		return;
	rv_tunnels_lock();
	bool known = rv_tunnels_find(peer_id) != NULL;
	rv_tunnels_unlock();
	if (!known)
		ops->fetch(peer_id);
}

void rv_tunnels_take_over(struct rv_tunnel *t)
{
	if (reg.records && t->foreign)
		reg.records->take_over(t);
}

/* The record of local tunnel @peer_id must follow the registry. */
static void record_changed(const struct rv_tunnel *t, uint32_t peer_id)
{
	if (reg.records && !t->foreign && peer_id)
		reg.records->changed(peer_id);
}

static void arm(struct rv_tunnel *t)
{
	if (reg.timers)
		reg.timers->arm(t);
}

static void cancel(struct rv_tunnel *t)
{
	if (reg.timers)
		reg.timers->cancel(t);
}

static struct {
	const char *who; /* the holder (lock held) */
	uint64_t since_ns;
	uint64_t logged_ns; /* the last long hold logged: one a second */
} hold;

void rv_tunnels_lock_by(const char *who)
{
	pthread_mutex_lock(&reg.lock);
	hold.who = who;
	hold.since_ns = rv_clock_mono_ns();
}

void rv_tunnels_unlock(void)
{
	uint64_t now = rv_clock_mono_ns(), held = now - hold.since_ns;
	const char *who = hold.who;
	bool say =
	    held > RV_TUNNELS_HOLD_WARN_MS * 1000000ull && now - hold.logged_ns > 1000000000ull;
	if (say)
		hold.logged_ns = now;
	pthread_mutex_unlock(&reg.lock);
	if (say)
		rv_log(RV_LOG_WARN, "tunnel registry: %s held the lock %" PRIu64 " ms", who,
		       held / 1000000u);
}

struct rv_tunnel *rv_tunnels_find(uint32_t peer_id)
{
	struct rv_tunnel *t = tb_bucket(&reg.peers, mix(peer_id));

	while (t && (t->peer_id != peer_id || !peer_id))
		t = t->next_peer;
	return t;
}

struct rv_tunnel *rv_tunnels_find_owned(uint32_t peer_id, uint64_t device, uint64_t room)
{
	struct rv_tunnel *t = rv_tunnels_find(peer_id);

	return t && t->device == device && t->room_id == room ? t : NULL;
}

struct rv_tunnel *rv_tunnels_find_rd(uint64_t room, uint64_t device)
{
	struct rv_tunnel *t = tb_bucket(&reg.rds, rd_hash(room, device));

	while (t && (t->room_id != room || t->device != device))
		t = t->next_rd;
	return t;
}

struct rv_tunnel *rv_tunnels_find_stream(const struct rv_stream *s)
{
	struct rv_tunnel *t = tb_bucket(&reg.streams, mix((uint64_t)(uintptr_t)s));

	while (t && t->stream != s)
		t = t->next_stream;
	return s ? t : NULL;
}

struct rv_tunnel_room *rv_tunnels_room(uint64_t room)
{
	struct rv_tunnel_room *r = tb_bucket(&reg.rooms, mix(room));

	while (r && r->id != room)
		r = r->next;
	return r;
}

static struct user_count *user_entry(uint64_t user)
{
	struct user_count *u = tb_bucket(&reg.users, mix(user));

	while (u && u->user != user)
		u = u->next;
	return u;
}

unsigned rv_tunnels_of_user(uint64_t user)
{
	struct user_count *u = user_entry(user);
	return u ? u->n : 0;
}

size_t rv_tunnels_count(void)
{
	return reg.n;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

/* The room's access rules as the data plane takes them. Out of memory: one
 * rule denying everything (closed, not open) until the next change. */
static void room_fill_rules(struct rv_tunnel_room *e, const Roomvpn__V1__RoomRecord *r)
{
	static const Roomvpn__Dataplane__V1__Rule deny_all = {
	    PROTOBUF_C_MESSAGE_INIT(&roomvpn__dataplane__v1__rule__descriptor), .port_hi = 65535,
	    .deny = true};
	Roomvpn__Dataplane__V1__Rule *v =
	    r->n_acl_rules ? calloc(r->n_acl_rules, sizeof(*v)) : NULL;
	uint64_t h = 0xcbf29ce484222325ull;
	free(e->rules);
	e->rules = v;
	e->n_rules = r->n_acl_rules;
	if (r->n_acl_rules && !v) {
		e->rules = malloc(sizeof(*e->rules));
		e->n_rules = e->rules ? 1 : 0;
		if (e->rules)
			*e->rules = deny_all;
	}
	for (size_t i = 0; v && i < r->n_acl_rules; i++) {
		const Roomvpn__V1__AclRuleRecord *a = r->acl_rules[i];
		roomvpn__dataplane__v1__rule__init(&v[i]);
		v[i].src = a->src;
		v[i].src_prefix_len = a->src_prefix;
		v[i].dst = a->dst;
		v[i].dst_prefix_len = a->dst_prefix;
		v[i].proto = a->proto;
		v[i].port_lo = a->port_lo;
		v[i].port_hi = a->port_hi;
		v[i].deny = a->deny;
	}
	for (size_t i = 0; e->rules && i < e->n_rules; i++) {
		const Roomvpn__Dataplane__V1__Rule *x = &e->rules[i];
		uint32_t f[8] = {x->src,   x->src_prefix_len, x->dst,	  x->dst_prefix_len,
				 x->proto, x->port_lo,	      x->port_hi, x->deny};
		h = fnv(h, f, sizeof(f));
	}
	e->rules_tag = fnv(h, &e->n_rules, sizeof(e->n_rules));
}

static void room_fill(struct rv_tunnel_room *e, const Roomvpn__V1__RoomRecord *r)
{
	Roomvpn__Dataplane__V1__Route *ptrs[RV_TUNNELS_ROUTES_MAX];

	snprintf(e->name, sizeof(e->name), "%s", r->name);
	e->subnet = r->subnet_addr;
	e->prefix_len = r->subnet_prefix;
	e->mtu = r->mtu;
	e->keepalive_s = r->keepalive_s;
	e->key_tag = 0;
	if (r->room_key.len)
		memcpy(&e->key_tag, r->room_key.data,
		       r->room_key.len < sizeof(e->key_tag) ? r->room_key.len : sizeof(e->key_tag));
	e->net_tag = rv_room_net_tag(r);
	e->routes_tag = rv_room_net_routes_tag(r);
	e->n_routes = rv_room_net_dp_routes(r, e->routes, ptrs);
	e->n_routes6 = rv_room_net_dp_v6(r, e->prefix6, &e->prefix6_len, e->routes6);
	room_fill_rules(e, r);
}

struct rv_tunnel_room *rv_tunnels_room_note(const Roomvpn__V1__RoomRecord *r)
{
	struct rv_tunnel_room *e = rv_tunnels_room(r->id);

	if (e)
		room_fill(e, r);
	return e;
}

void rv_tunnels_client_synced(struct rv_tunnel *t)
{
	t->mtu = t->room->mtu;
	t->keepalive_s = t->room->keepalive_s;
	t->key_tag = t->room->key_tag;
	t->net_tag = t->room->net_tag;
}

struct rv_tunnel *rv_tunnels_add(const Roomvpn__V1__RoomRecord *r, uint64_t device, uint64_t user,
				 uint32_t peer_id)
{
	return rv_tunnels_add_to(r->id, r, device, user, peer_id);
}

struct rv_tunnel *rv_tunnels_add_to(uint64_t room_id, const Roomvpn__V1__RoomRecord *r,
				    uint64_t device, uint64_t user, uint32_t peer_id)
{
	struct rv_tunnel_room *room = rv_tunnels_room(room_id);
	struct user_count *u = user_entry(user);
	struct rv_tunnel *t = calloc(1, sizeof(*t));
	bool new_room = !room, new_user = !u;

	if (new_room && !r) {
		free(t);
		return NULL;
	}
	if (new_room)
		room = calloc(1, sizeof(*room));
	if (new_user)
		u = calloc(1, sizeof(*u));
	if (!t || !room || !u)
		goto err;
	if (new_room) {
		room->id = room_id;
		if (tb_insert(&reg.rooms, room) < 0)
			goto err;
	}
	if (new_user) {
		u->user = user;
		if (tb_insert(&reg.users, u) < 0)
			goto err_room;
	}
	if (r)
		room_fill(room, r);
	*t = (struct rv_tunnel){.room_id = room_id,
				.device = device,
				.user = user,
				.peer_id = peer_id,
				.room = room,
				.timer_idx = SIZE_MAX};
	t->keyed_ns = t->created_ns = rv_control_now_mono();
	rv_tunnels_client_synced(t);
	if (tb_insert(&reg.peers, t) < 0 || tb_insert(&reg.rds, t) < 0) {
		tb_remove(&reg.peers, t);
		goto err_user;
	}
	t->room_next = room->head;
	if (room->head)
		room->head->room_prev = t;
	room->head = t;
	room->n++;
	u->n++;
	reg.n++;
	arm(t);
	return t;
err_user:
	if (new_user)
		tb_remove(&reg.users, u);
err_room:
	if (new_room)
		tb_remove(&reg.rooms, room);
err:
	free(t);
	if (new_room) {
		free(room->rules);
		free(room);
	}
	if (new_user)
		free(u);
	return NULL;
}

void rv_tunnels_rename(struct rv_tunnel *t, uint32_t peer_id)
{
	record_changed(t, t->peer_id); /* the old peer-id's record goes */
	tb_remove(&reg.peers, t);
	t->peer_id = peer_id;
	tb_insert(&reg.peers, t); /* buckets exist: cannot fail */
}

void rv_tunnels_bind(struct rv_tunnel *t, struct rv_stream *s)
{
	if (t->stream)
		tb_remove(&reg.streams, t);
	t->stream = s;
	if (s && tb_insert(&reg.streams, t) < 0)
		t->stream = NULL;
	arm(t);
}

void rv_tunnels_remove(struct rv_tunnel *t)
{
	struct rv_tunnel_room *room = t->room;
	struct user_count *u = user_entry(t->user);

	cancel(t);
	record_changed(t, t->peer_id);
	tb_remove(&reg.peers, t);
	tb_remove(&reg.rds, t);
	if (t->stream)
		tb_remove(&reg.streams, t);
	if (t->room_prev)
		t->room_prev->room_next = t->room_next;
	else
		room->head = t->room_next;
	if (t->room_next)
		t->room_next->room_prev = t->room_prev;
	if (--room->n == 0) {
		tb_remove(&reg.rooms, room);
		free(room->rules);
		free(room);
	}
	if (u && --u->n == 0) {
		tb_remove(&reg.users, u);
		free(u);
	}
	reg.n--;
	OPENSSL_cleanse(t, sizeof(*t));
	free(t);
}

void rv_tunnels_each(void (*fn)(struct rv_tunnel *t, void *arg), void *arg)
{
	for (size_t i = 0; reg.peers.b && i <= reg.peers.mask; i++)
		for (struct rv_tunnel *t = reg.peers.b[i], *next; t; t = next) {
			next = t->next_peer;
			fn(t, arg);
		}
}

size_t rv_tunnels_each_some(size_t from, size_t buckets, void (*fn)(struct rv_tunnel *t, void *arg),
			    void *arg)
{
	size_t i = from;

	for (; reg.peers.b && i <= reg.peers.mask && i - from < buckets; i++)
		for (struct rv_tunnel *t = reg.peers.b[i], *next; t; t = next) {
			next = t->next_peer;
			fn(t, arg);
		}
	return reg.peers.b && i <= reg.peers.mask ? i : 0;
}

/* ---- Operations -------------------------------------------------------- */

/* A fresh random peer-id in 1..RV_TUNNELS_PEER_ID_MAX that no tunnel and no
 * data-plane session has, or 0 (lock held). Only the server picks them. */
uint32_t rv_tunnels_new_peer_id(void)
{
	for (int tries = 0; tries < 64; tries++) {
		uint8_t b[3];
		if (RAND_bytes(b, sizeof(b)) != 1)
			return 0;
		uint32_t id = (uint32_t)b[0] << 16 | (uint32_t)b[1] << 8 | b[2];
		if (id && id <= RV_TUNNELS_PEER_ID_MAX && !rv_tunnels_find(id) &&
		    !rv_dp_cache_has(id))
			return id;
	}
	return 0;
}

static grpc_status_code refuse(char *msg, size_t msglen, grpc_status_code st, const char *fmt,
			       unsigned n)
{
	snprintf(msg, msglen, fmt, n);
	rv_log(RV_LOG_WARN, "tunnel refused: %s", msg);
	return st;
}

/* Replicas on etcd: the new peer-id @*peer_id of (@room, @device) becomes
 * its record before the client hears it; another replica holding that
 * peer-id (a conflict) means another peer-id. No lock held. */
static grpc_status_code claim(uint64_t room, uint64_t device, uint32_t *peer_id, char *msg,
			      size_t msglen)
{
	for (int tries = 0; tries < 8; tries++) {
		int rc = reg.records->claim(*peer_id);
		if (rc == 0)
			return GRPC_STATUS_OK;
		rv_tunnels_lock();
		struct rv_tunnel *t = rv_tunnels_find_rd(room, device);
		bool ours = t && !t->foreign;
		/* the mirror may have renamed it already (replica_mirror.c) */
		uint32_t id = rc != RV_STORE_CONFLICT || !ours ? 0
			      : t->peer_id != *peer_id	       ? t->peer_id
							       : rv_tunnels_new_peer_id();
		if (id && id != t->peer_id)
			rv_tunnels_rename(t, id); /* the taken record stays: its delete is
						     guarded by our lease */
		else if (!id && ours)
			rv_tunnels_remove(t);
		rv_tunnels_unlock();
		if (!ours) {
			snprintf(msg, msglen, "the tunnel ended while it was being registered");
			return GRPC_STATUS_ABORTED;
		}
		if (!id) {
			snprintf(msg, msglen,
				 rc < 0
				     ? "the tunnel's record could not be written to etcd (see the "
				       "server log)"
				     : "no free peer-id");
			return GRPC_STATUS_UNAVAILABLE;
		}
		rv_log(RV_LOG_INFO, "peer-id %u is another replica's: trying %u", *peer_id, id);
		*peer_id = id;
	}
	snprintf(msg, msglen, "no peer-id free across the replicas after %d tries", 8);
	return GRPC_STATUS_UNAVAILABLE;
}

grpc_status_code rv_tunnels_register(struct rv_control *ctl, const Roomvpn__V1__RoomRecord *r,
				     uint64_t device, uint64_t user, uint32_t *peer_id,
				     uint32_t *old, char *msg, size_t msglen)
{
	unsigned quota = ctl->cfg.max_tunnels_per_user, cap = ctl->cfg.max_tunnels;
	grpc_status_code st = GRPC_STATUS_OK;
	uint32_t id;

	rv_tunnels_lock();
	struct rv_tunnel *t = rv_tunnels_find_rd(r->id, device); /* one per (room, device) */
	bool found = t != NULL;
	if (!t && quota && rv_tunnels_of_user(user) >= quota) {
		rv_log(RV_LOG_WARN, "tunnel refused: user %" PRIu64 " at max_tunnels_per_user (%u)",
		       user, quota);
		snprintf(msg, msglen,
			 "this user already runs %u tunnels (the server's max_tunnels_per_user): "
			 "end one first (roomvpn down)",
			 quota);
		st = GRPC_STATUS_RESOURCE_EXHAUSTED;
	} else if (!t && cap && reg.n >= cap)
		st = refuse(msg, msglen, GRPC_STATUS_RESOURCE_EXHAUSTED,
			    "the server runs its maximum of %u tunnels (max_tunnels): try again "
			    "later",
			    cap);
	else if (!(id = rv_tunnels_new_peer_id()))
		st = refuse(msg, msglen, GRPC_STATUS_INTERNAL, "no free peer-id (%u tries)", 64);
	else if (!t && !(t = rv_tunnels_add(r, device, user, id)))
		st = refuse(msg, msglen, GRPC_STATUS_RESOURCE_EXHAUSTED,
			    "out of memory for a new tunnel (%u running)", (unsigned)reg.n);
	if (st == GRPC_STATUS_OK) {
		*old = found ? t->peer_id : 0;
		if (found) { /* replaced: a fresh tunnel, the same stream */
			rv_tunnels_rename(t, id);
			t->foreign = false; /* (was another replica's: ours now) */
			OPENSSL_cleanse(&t->km, sizeof(t->km));
			t->keyed = false;
			t->key_id = 0;
			t->rekey_asked_ns = t->config_seq = 0;
			t->keyed_ns = t->created_ns = rv_control_now_mono();
			/* its stream's silence counts from now: a replaced tunnel
			 * with a stream that never beats again must still expire */
			t->last_hb_ns = t->stream ? t->created_ns : 0;
			rv_tunnels_room_note(r);
			rv_tunnels_client_synced(t);
			arm(t);
		}
		*peer_id = id;
	}
	rv_tunnels_unlock();
	if (st == GRPC_STATUS_OK && reg.records)
		st = claim(r->id, device, peer_id, msg, msglen);
	return st;
}

bool rv_tunnels_owned_by(uint32_t peer_id, uint64_t device, uint64_t room)
{
	rv_tunnels_lock();
	bool owned = rv_tunnels_find_owned(peer_id, device, room) != NULL;
	rv_tunnels_unlock();
	return owned;
}

void rv_tunnels_set_key(uint32_t peer_id, const struct rv_tunnel_keys *k)
{
	rv_tunnels_lock();
	struct rv_tunnel *t = rv_tunnels_find(peer_id);
	if (t) {
		t->keyed = true;
		t->key_ns = rv_control_now_mono();
		t->vip = k->vip;
		t->has_vip6 = k->has_vip6;
		memcpy(t->vip6, k->vip6, sizeof(t->vip6));
		t->suite = k->suite;
		t->push_key_id = k->key_id;
		memcpy(&t->km, k->km, sizeof(t->km));
		record_changed(t, peer_id);
	}
	rv_tunnels_unlock();
}

void rv_tunnels_clear_key(uint32_t peer_id)
{
	rv_tunnels_lock();
	struct rv_tunnel *t = rv_tunnels_find(peer_id);
	if (t) {
		OPENSSL_cleanse(&t->km, sizeof(t->km));
		t->keyed = false;
		record_changed(t, peer_id);
	}
	rv_tunnels_unlock();
}

int rv_tunnels_rekey_begin(uint64_t device, uint64_t room, uint32_t peer_id, uint8_t *next)
{
	rv_tunnels_lock();
	struct rv_tunnel *t = rv_tunnels_find_owned(peer_id, device, room);
	if (t)
		*next = rv_key_id_next(t->key_id);
	rv_tunnels_unlock();
	return t ? 0 : -1;
}

void rv_tunnels_rekey_done(uint32_t peer_id, uint8_t key_id)
{
	rv_tunnels_lock();
	struct rv_tunnel *t = rv_tunnels_find(peer_id);
	if (t) {
		t->key_id = key_id;
		t->keyed_ns = rv_control_now_mono();
		t->rekey_asked_ns = 0;
		arm(t);
		record_changed(t, peer_id);
	}
	rv_tunnels_unlock();
}

static void free_one(struct rv_tunnel *t, void *arg)
{
	(void)arg;
	rv_tunnels_remove(t);
}

void rv_tunnels_clear(void)
{
	rv_tunnels_lock();
	rv_tunnels_each(free_one, NULL);
	rv_tunnels_unlock();
}
