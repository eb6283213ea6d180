/* Session and room tables: one writer (the agent), QSBR readers (workers).
 * See session_table.h for the threading contract. */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "dp_tables.h"
#include "acl.h"
#include "ip6.h"
#include "room_routes.h"
#include "session_keys.h"
#include "static_key.h"

struct rv_dp_tables *rv_dp_root;
unsigned rv_dp_n_workers = 1;
bool rv_dp_pipeline;

static struct rv_st_params params;
static pthread_t writer;
static bool writer_set;
static __thread bool writer_offline;
static _Atomic uint32_t n_sessions;
_Atomic uint32_t rv_dp_n_rooms;
_Atomic uint64_t rv_dp_pending_frees;

struct rv_st_batch {
	struct rv_dp_tables *t;
};

int rv_dp_fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Every writer entry point: the one writer, online (QSBR). */
static void writer_enter(void)
{
	assert(writer_set && pthread_equal(writer, pthread_self()));
	if (writer_offline) {
		rcu_thread_online();
		writer_offline = false;
	}
}

void rv_dp_writer_enter(void)
{
	writer_enter();
}

/* ---- match functions and reader look-ups ---- */

static int match_peer(struct cds_lfht_node *n, const void *key)
{
	const struct rv_dp_session *s = caa_container_of(n, struct rv_dp_session, by_peer);
	return s->peer_id == *(const uint32_t *)key;
}

struct vip_key {
	uint32_t room, vip;
};

static int match_vip(struct cds_lfht_node *n, const void *key)
{
	const struct rv_dp_session *s = caa_container_of(n, struct rv_dp_session, by_vip);
	const struct vip_key *k = key;
	return s->room_id == k->room && s->vip == k->vip;
}

static int match_room(struct cds_lfht_node *n, const void *key)
{
	const struct rv_dp_room *r = caa_container_of(n, struct rv_dp_room, node);
	return r->cfg.room_id == *(const uint32_t *)key;
}

struct rv_dp_session *rv_dp_find_vip(struct rv_dp_tables *t, uint32_t room_id, uint32_t vip)
{
	struct vip_key k = {room_id, vip};
	struct cds_lfht_iter it;
	cds_lfht_lookup(t->by_vip, rv_dp_vip_hash(room_id, vip), match_vip, &k, &it);
	struct cds_lfht_node *n = cds_lfht_iter_get_node(&it);
	return n ? caa_container_of(n, struct rv_dp_session, by_vip) : NULL;
}

struct rv_dp_room *rv_dp_find_room(struct rv_dp_tables *t, uint32_t room_id)
{
	struct cds_lfht_iter it;
	cds_lfht_lookup(t->rooms, rv_dp_hash32(room_id), match_room, &room_id, &it);
	struct cds_lfht_node *n = cds_lfht_iter_get_node(&it);
	return n ? caa_container_of(n, struct rv_dp_room, node) : NULL;
}

int rv_dp_owner(struct rv_dp_session *s, int self)
{
	int cur = atomic_load_explicit(&s->owner, memory_order_relaxed);
	if (cur != RV_DP_NO_OWNER)
		return cur;
	if (atomic_compare_exchange_strong(&s->owner, &cur, self))
		return self;
	return cur;
}

/* ---- sessions ---- */

static void session_free(struct rv_dp_session *s)
{
	for (int i = 0; i < RV_DP_KEY_SLOTS; i++)
		if (s->slot[i] && !s->keys_moved)
			rv_dp_key_free(s->slot[i]);
	free(s);
	n_sessions--;
}

static void session_free_rcu(struct rcu_head *h)
{
	session_free(caa_container_of(h, struct rv_dp_session, rcu));
	rv_dp_pending_frees--;
}

static struct rv_dp_session *session_new(const struct rv_st_session *c, struct rv_dp_room *room,
					 char *err, size_t errlen)
{
	if (c->peer_id > RV_ST_PEER_ID_MAX) {
		rv_dp_fail(err, errlen, "peer-id %u out of range (0..%u)", c->peer_id,
			   RV_ST_PEER_ID_MAX);
		return NULL;
	}
	struct rv_dp_key *k =
	    rv_dp_key_new(c->key_id, c->cipher, &c->key, c->key_direction, err, errlen);
	if (!k)
		return NULL;
	struct rv_dp_session *s = calloc(1, sizeof(*s));
	if (!s) {
		rv_dp_key_free(k);
		rv_dp_fail(err, errlen, "out of memory");
		return NULL;
	}
	n_sessions++;
	cds_lfht_node_init(&s->by_peer);
	cds_lfht_node_init(&s->by_vip);
	cds_lfht_node_init(&s->by_vip6);
	s->peer_id = c->peer_id;
	s->room_id = c->room_id;
	s->vip = c->vip;
	memcpy(s->vip6, c->vip6, sizeof(s->vip6));
	s->room = room;
	s->slot[0] = k;
	s->tx_slot = 0;
	s->owner = rv_dp_pipeline ? (int)(c->peer_id % rv_dp_n_workers) : RV_DP_NO_OWNER;
	rv_dp_addr_store(s, &c->addr); /* not yet published: no other writer */
	return s;
}

int rv_dp_check_vip(const struct rv_dp_room *r, uint32_t vip, char *err, size_t errlen)
{
	if ((vip & r->mask) != r->cfg.subnet || vip == r->cfg.subnet || vip == r->cfg.broadcast)
		return rv_dp_fail(
		    err, errlen, "virtual IP %u.%u.%u.%u is not a host of room %u's subnet",
		    vip >> 24, (vip >> 16) & 255, (vip >> 8) & 255, vip & 255, r->cfg.room_id);
	return 0;
}

/* An IPv6 virtual IP (not all zero) must be a host of the room's prefix6. */
int rv_dp_check_vip6(const struct rv_st_room *r, const uint8_t vip6[16], char *err, size_t errlen)
{
	char a[INET6_ADDRSTRLEN];
	if (!r->prefix6_len)
		return rv_dp_fail(err, errlen, "IPv6 virtual IP %s: room %u has no IPv6 prefix",
				  rv_ip6_str(vip6, a, sizeof(a)), r->room_id);
	if (!rv_ip6_is_host(vip6, r->prefix6, r->prefix6_len))
		return rv_dp_fail(err, errlen,
				  "IPv6 virtual IP %s is not a host of room %u's prefix6",
				  rv_ip6_str(vip6, a, sizeof(a)), r->room_id);
	return 0;
}

/* Link @s into @t (vip and peer-id must be free or held by @old, which is
 * replaced atomically in the peer-id table). */
static void session_link(struct rv_dp_tables *t, struct rv_dp_session *s, struct rv_dp_session *old)
{
	if (old) {
		atomic_store(&old->dead, true);
		rv_dp_hosts_clear(old->room, old);
		cds_lfht_del(t->by_vip, &old->by_vip);
		rv_dp_vip6_del(t, old);
		cds_list_del_rcu(&old->room_link);
		old->room->n_members--;
		struct cds_lfht_iter it;
		cds_lfht_lookup(t->by_peer, rv_dp_hash32(s->peer_id), match_peer, &s->peer_id, &it);
		cds_lfht_replace(t->by_peer, &it, rv_dp_hash32(s->peer_id), match_peer, &s->peer_id,
				 &s->by_peer);
	} else {
		cds_lfht_add(t->by_peer, rv_dp_hash32(s->peer_id), &s->by_peer);
		t->n_linked++;
	}
	cds_lfht_add(t->by_vip, rv_dp_vip_hash(s->room_id, s->vip), &s->by_vip);
	rv_dp_vip6_add(t, s);
	rv_dp_peer_ix_set(t, s);
	rv_dp_hosts_set(s->room, s);
	cds_list_add_tail_rcu(&s->room_link, &s->room->members);
	s->room->n_members++;
}

void rv_dp_session_unlink(struct rv_dp_tables *t, struct rv_dp_session *s)
{
	atomic_store(&s->dead, true);
	rv_dp_peer_ix_clear(t, s);
	rv_dp_hosts_clear(s->room, s);
	cds_lfht_del(t->by_peer, &s->by_peer);
	t->n_linked--;
	cds_lfht_del(t->by_vip, &s->by_vip);
	rv_dp_vip6_del(t, s);
	cds_list_del_rcu(&s->room_link);
	s->room->n_members--;
}

void rv_dp_session_defer_free(struct rv_dp_session *s)
{
	rv_dp_pending_frees++;
	call_rcu(&s->rcu, session_free_rcu);
}

/* ---- tables ---- */

static struct rv_dp_tables *tables_new(void)
{
	struct rv_dp_tables *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	/* Sized for max_sessions up front: growing by auto-resize needs grace
	 * periods and leaves long chains meanwhile (by_vip6 too: with 1,024
	 * buckets, the duplicate check of each upsert walked those chains while
	 * 100,000 dual-stack sessions came up). */
	unsigned long init = 1024;
	while (init < params.max_sessions && init < (1ul << 20))
		init <<= 1;
	int flags = CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING;
	t->by_peer = cds_lfht_new(init, init, 0, flags, NULL);
	t->peer_buckets = init;
	t->by_vip = cds_lfht_new(init, init, 0, flags, NULL);
	t->by_vip6 = cds_lfht_new(init, init, 0, flags, NULL);
	t->rooms = cds_lfht_new(64, 64, 0, flags, NULL);
	if (!t->by_peer || !t->by_vip || !t->by_vip6 || !t->rooms || rv_dp_peer_ix_new(t) < 0 ||
	    rv_dp_vip6_hint_new(t, params.max_sessions) < 0) {
		if (t->by_peer)
			cds_lfht_destroy(t->by_peer, NULL);
		if (t->by_vip)
			cds_lfht_destroy(t->by_vip, NULL);
		if (t->by_vip6)
			cds_lfht_destroy(t->by_vip6, NULL);
		if (t->rooms)
			cds_lfht_destroy(t->rooms, NULL);
		rv_dp_peer_ix_free(t);
		rv_dp_vip6_hint_free(t);
		free(t);
		return NULL;
	}
	return t;
}

/* Unlinks every object of @t; returns them as two reap lists. Online: the
 * deletions may start an auto-resize (shrink), whose grace periods must
 * wait for this thread's traversal of the old bucket layout. */
static void tables_unlink_all(struct rv_dp_tables *t, struct rv_dp_session **sessions,
			      struct rv_dp_room **rooms)
{
	struct cds_lfht_iter it;
	struct rv_dp_session *s;
	struct rv_dp_room *r;
	rcu_read_lock();
	cds_lfht_for_each_entry(t->by_peer, &it, s, by_peer)
	{
		cds_lfht_del(t->by_peer, &s->by_peer);
		cds_lfht_del(t->by_vip, &s->by_vip); /* else cds_lfht_destroy refuses: leak */
		rv_dp_vip6_del(t, s);
		s->reap_next = *sessions;
		*sessions = s;
	}
	cds_lfht_for_each_entry(t->rooms, &it, r, node)
	{
		cds_lfht_del(t->rooms, &r->node);
		r->reap_next = *rooms;
		*rooms = r;
	}
	rcu_read_unlock();
}

static void lfht_destroy(struct cds_lfht *ht, const char *name)
{
	if (cds_lfht_destroy(ht, NULL) != 0)
		fprintf(stderr, "session table: %s table not empty at destroy (leaked)\n", name);
}

/* Frees @t and everything in it; nobody may reach it any more. The caller
 * is a registered QSBR thread, online. cds_lfht_destroy runs offline (it
 * waits for the table's resize work, which waits for grace periods), and
 * the objects are freed only after it: until then a resize started by the
 * deletions may still walk the unlinked nodes. */
static void tables_free(struct rv_dp_tables *t)
{
	struct rv_dp_session *sessions = NULL;
	struct rv_dp_room *rooms = NULL;
	tables_unlink_all(t, &sessions, &rooms);
	rcu_thread_offline();
	lfht_destroy(t->by_peer, "peer-id");
	lfht_destroy(t->by_vip, "virtual IP");
	lfht_destroy(t->by_vip6, "IPv6 virtual IP");
	lfht_destroy(t->rooms, "room");
	rcu_thread_online();
	while (sessions) {
		struct rv_dp_session *next = sessions->reap_next;
		session_free(sessions);
		sessions = next;
	}
	while (rooms) {
		struct rv_dp_room *next = rooms->reap_next;
		free(rooms->hosts);
		rv_dp_routes_free(rooms->routes);
		rv_dp_routes6_free(rooms->routes6);
		rv_dp_acl_free(rooms->acl);
		free(rooms);
		rv_dp_n_rooms--;
		rooms = next;
	}
	rv_dp_peer_ix_free(t);
	rv_dp_vip6_hint_free(t);
	free(t);
}

/* Thread body: waits for readers of @arg, then frees it. A thread of its
 * own: cds_lfht_destroy must not run from a call_rcu worker, and the
 * table calls need a registered reader. */
static void reap(struct rv_dp_tables *t)
{
	rcu_register_thread();
	rcu_thread_offline();
	synchronize_rcu();
	rcu_thread_online();
	tables_free(t);
	rcu_unregister_thread();
}

static void *tables_reaper(void *arg)
{
	reap(arg);
	rv_dp_pending_frees--;
	return NULL;
}

static void tables_defer_free(struct rv_dp_tables *t)
{
	pthread_t th;
	rv_dp_pending_frees++;
	if (pthread_create(&th, NULL, tables_reaper, t) == 0) {
		pthread_detach(th);
		return;
	}
	/* Could not start a thread: wait here (offline) instead. */
	rcu_thread_offline();
	synchronize_rcu();
	rcu_thread_online();
	tables_free(t);
	rv_dp_pending_frees--;
}

static void *fini_reaper(void *arg)
{
	reap(arg);
	return NULL;
}

/* ---- life cycle ---- */

int rv_st_init(const struct rv_st_params *p, char *err, size_t errlen)
{
	if (p->n_workers < 1 || p->n_workers > 1024)
		return rv_dp_fail(err, errlen, "n_workers %u out of range (1..1024)", p->n_workers);
	if (p->replay_window > RV_REPLAY_MAX_WINDOW)
		return rv_dp_fail(err, errlen, "replay window %u exceeds %u", p->replay_window,
				  RV_REPLAY_MAX_WINDOW);
	params = *p;
	if (!params.default_grace_ns)
		params.default_grace_ns = 60ull * 1000000000ull;
	rv_dp_n_workers = p->n_workers;
	rv_dp_pipeline = p->owner_by_peer_id;
	rv_dp_keys_init(&params);
	struct rv_dp_tables *t = tables_new();
	if (!t)
		return rv_dp_fail(err, errlen, "cannot allocate hash tables");
	rcu_assign_pointer(rv_dp_root, t);
	return 0;
}

void rv_st_fini(void)
{
	struct rv_dp_tables *t = rv_dp_root;
	rcu_assign_pointer(rv_dp_root, NULL);
	if (!t)
		return;
	/* The caller may be unregistered or a registered (offline) writer:
	 * free from a registered thread of our own and wait for it. */
	bool online = rcu_read_ongoing();
	pthread_t th;
	if (pthread_create(&th, NULL, fini_reaper, t) != 0) {
		fprintf(stderr, "session table: cannot start a thread to free the tables\n");
		return;
	}
	if (online)
		rcu_thread_offline();
	pthread_join(th, NULL);
	if (online)
		rcu_thread_online();
}

int rv_st_writer_register(void)
{
	if (writer_set)
		return -1;
	rcu_register_thread();
	writer = pthread_self();
	writer_set = true;
	writer_offline = false;
	return 0;
}

void rv_st_writer_unregister(void)
{
	writer_enter();
	/* Offline while waiting: QSBR grace periods need this thread too. */
	rcu_thread_offline();
	rcu_barrier();
	rcu_thread_online();
	writer_set = false;
	rcu_unregister_thread();
}

void rv_st_writer_idle(void)
{
	writer_enter();
	rcu_quiescent_state();
	rcu_thread_offline();
	writer_offline = true;
}

/* ---- sessions ---- */

static int session_upsert_in(struct rv_dp_tables *t, const struct rv_st_session *c, char *err,
			     size_t errlen)
{
	struct rv_dp_room *room = rv_dp_find_room(t, c->room_id);
	if (!room)
		return rv_dp_fail(err, errlen, "session %u: room %u does not exist", c->peer_id,
				  c->room_id);
	if (rv_dp_check_vip(room, c->vip, err, errlen) < 0)
		return -1;
	bool has6 = !rv_ip6_is_zero(c->vip6);
	if (has6 && rv_dp_check_vip6(&room->cfg, c->vip6, err, errlen) < 0)
		return -1;
	struct rv_dp_session *old = rv_dp_find_peer(t, c->peer_id);
	struct rv_dp_session *holder = rv_dp_find_vip(t, c->room_id, c->vip);
	if (holder && holder != old)
		return rv_dp_fail(err, errlen, "session %u: virtual IP already used by peer-id %u",
				  c->peer_id, holder->peer_id);
	holder = has6 ? rv_dp_find_vip6(t, c->room_id, c->vip6) : NULL;
	if (holder && holder != old)
		return rv_dp_fail(err, errlen,
				  "session %u: IPv6 virtual IP already used by peer-id %u",
				  c->peer_id, holder->peer_id);
	if (old && old->room_id == c->room_id && old->vip == c->vip &&
	    memcmp(old->vip6, c->vip6, sizeof(c->vip6)) == 0) {
		if (!rv_dp_key_held(old, c->key_id)) {
			if (rv_st_key_install(c->peer_id, c->key_id, c->cipher, &c->key,
					      c->key_direction, 0, false, err, errlen) < 0)
				return -1;
		}
		while (c->addr.kind != RV_ADDR_NONE && !rv_dp_addr_store(old, &c->addr))
			; /* the owner worker is moving it (a few stores) */
		return 0;
	}
	struct rv_dp_session *s = session_new(c, room, err, errlen);
	if (!s)
		return -1;
	session_link(t, s, old);
	if (old)
		rv_dp_session_defer_free(old);
	return 0;
}

int rv_st_session_upsert(const struct rv_st_session *c, char *err, size_t errlen)
{
	writer_enter();
	rcu_read_lock();
	int rc = session_upsert_in(rv_dp_root, c, err, errlen);
	rcu_read_unlock();
	return rc;
}

int rv_st_session_delete(uint32_t peer_id, char *err, size_t errlen)
{
	writer_enter();
	rcu_read_lock();
	struct rv_dp_tables *t = rv_dp_root;
	struct rv_dp_session *s = rv_dp_find_peer(t, peer_id);
	if (s) {
		rv_dp_session_unlink(t, s);
		rv_dp_session_defer_free(s);
	}
	rcu_read_unlock();
	return s ? 0 : rv_dp_fail(err, errlen, "session %u does not exist", peer_id);
}

/* ---- full resync ---- */

struct rv_st_batch *rv_st_batch_new(char *err, size_t errlen)
{
	struct rv_st_batch *b = calloc(1, sizeof(*b));
	if (b)
		b->t = tables_new();
	if (!b || !b->t) {
		free(b);
		rv_dp_fail(err, errlen, "out of memory");
		return NULL;
	}
	return b;
}

int rv_st_batch_room(struct rv_st_batch *b, const struct rv_st_room *r, char *err, size_t errlen)
{
	writer_enter();
	if (rv_dp_find_room(b->t, r->room_id))
		return rv_dp_fail(err, errlen, "room %u appears twice", r->room_id);
	return rv_dp_room_upsert_in(b->t, r, err, errlen);
}

int rv_st_batch_session(struct rv_st_batch *b, const struct rv_st_session *c, char *err,
			size_t errlen)
{
	writer_enter();
	if (rv_dp_find_peer(b->t, c->peer_id))
		return rv_dp_fail(err, errlen, "session %u appears twice", c->peer_id);
	return session_upsert_in(b->t, c, err, errlen);
}

void rv_st_batch_free(struct rv_st_batch *b)
{
	if (!b)
		return;
	writer_enter();
	tables_free(b->t);
	free(b);
}

/* A session that kept its key keeps its state: key objects move over (the
 * old session, still visible to readers until the grace period, shares them
 * but no longer frees them). */
static void carry_over(struct rv_dp_session *old, struct rv_dp_session *s)
{
	struct rv_dp_key *nk = s->slot[0];
	struct rv_dp_key *ok = rv_dp_tx_key(old);
	if (!ok || !rv_dp_key_same(ok, nk) || old->keys_moved)
		return;
	rv_dp_key_free(nk);
	for (int i = 0; i < RV_DP_KEY_SLOTS; i++)
		s->slot[i] = old->slot[i];
	s->tx_slot = atomic_load(&old->tx_slot);
	old->keys_moved = true;
	/* Shared keys need one owner: claim the old session now if unowned. */
	s->owner = rv_dp_owner(old, (int)(old->peer_id % rv_dp_n_workers));
	if (atomic_load(&s->addr) == 0) {
		struct rv_outer_addr a;
		rv_dp_addr_load(old, &a);
		rv_dp_addr_store(s, &a);
	}
	s->ctr.pkts_in = atomic_load(&old->ctr.pkts_in);
	s->ctr.bytes_in = atomic_load(&old->ctr.bytes_in);
	s->ctr.pkts_out = atomic_load(&old->ctr.pkts_out);
	s->ctr.bytes_out = atomic_load(&old->ctr.bytes_out);
	s->ctr.last_seen_ns = atomic_load(&old->ctr.last_seen_ns);
	s->ctr.last_rtt_ns = atomic_load(&old->ctr.last_rtt_ns);
}

int rv_st_batch_commit(struct rv_st_batch *b, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	writer_enter();
	rcu_read_lock();
	struct rv_dp_tables *old = rv_dp_root;
	struct cds_lfht_iter it;
	struct rv_dp_session *s;
	cds_lfht_for_each_entry(b->t->by_peer, &it, s, by_peer)
	{
		struct rv_dp_session *o = rv_dp_find_peer(old, s->peer_id);
		if (o)
			carry_over(o, s);
	}
	/* Sessions the resync drops stop at once; kept ones stay usable
	 * through the old root until every worker moved to the new one. */
	cds_lfht_for_each_entry(old->by_peer, &it, s, by_peer)
	{
		if (!rv_dp_find_peer(b->t, s->peer_id))
			atomic_store(&s->dead, true);
	}
	rcu_assign_pointer(rv_dp_root, b->t);
	rcu_read_unlock();
	free(b);
	tables_defer_free(old);
	return 0;
}

void rv_st_counts(struct rv_st_counts *out)
{
	out->rooms = rv_dp_n_rooms;
	out->sessions = n_sessions;
	out->keys = rv_dp_keys_live();
	out->pending_frees = rv_dp_pending_frees + rv_dp_keys_pending_frees();
}
