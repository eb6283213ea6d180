/* Reading the session and room tables (session_table.h): snapshots of one
 * session or of every one for the agent's ReadStats and dpctl, taken by the
 * one writer thread under an RCU read lock (the workers go on meanwhile). */
#include <string.h>

#include "dp_tables.h"
#include "session_keys.h"

static void session_info(struct rv_dp_session *s, struct rv_st_session_info *o)
{
	memset(o, 0, sizeof(*o));
	o->peer_id = s->peer_id;
	o->room_id = s->room_id;
	o->vip = s->vip;
	memcpy(o->vip6, s->vip6, sizeof(o->vip6));
	struct rv_dp_key *k = rv_dp_tx_key(s);
	if (k) {
		o->cipher = k->suite;
		o->tx_key_id = k->key_id;
	}
	for (int i = 0; i < RV_DP_KEY_SLOTS; i++)
		o->n_keys += rcu_dereference(s->slot[i]) != NULL;
	rv_dp_addr_load(s, &o->addr);
	o->pkts_in = atomic_load_explicit(&s->ctr.pkts_in, memory_order_relaxed);
	o->bytes_in = atomic_load_explicit(&s->ctr.bytes_in, memory_order_relaxed);
	o->pkts_out = atomic_load_explicit(&s->ctr.pkts_out, memory_order_relaxed);
	o->bytes_out = atomic_load_explicit(&s->ctr.bytes_out, memory_order_relaxed);
	o->last_seen_ns = atomic_load_explicit(&s->ctr.last_seen_ns, memory_order_relaxed);
	o->last_rtt_ns = atomic_load_explicit(&s->ctr.last_rtt_ns, memory_order_relaxed);
}

int rv_st_session_get(uint32_t peer_id, struct rv_st_session_info *out)
{
	rv_dp_writer_enter();
	rcu_read_lock();
	struct rv_dp_session *s = rv_dp_find_peer(rv_dp_root, peer_id);
	if (s)
		session_info(s, out);
	rcu_read_unlock();
	return s ? 0 : -1;
}

unsigned rv_st_session_foreach(rv_st_session_cb cb, void *arg)
{
	rv_dp_writer_enter();
	unsigned n = 0;
	struct cds_lfht_iter it;
	struct rv_dp_session *s;
	struct rv_st_session_info info;
	rcu_read_lock();
	cds_lfht_for_each_entry(rv_dp_root->by_peer, &it, s, by_peer)
	{
		session_info(s, &info);
		cb(arg, &info);
		n++;
	}
	rcu_read_unlock();
	return n;
}

unsigned rv_st_session_count(void)
{
	rv_dp_writer_enter();
	rcu_read_lock();
	unsigned n = rcu_dereference(rv_dp_root)->n_linked;
	rcu_read_unlock();
	return n;
}

/* A page is read from the peer-id index (a sequential scan, ~2 ns an id)
 * unless a walk of by_peer is cheaper: a walk visits every bucket (a dummy
 * node each, ~200 ns: the table is sized for max_sessions, up to 2^20
 * buckets) and every session (~50 ns). Measured here: 2^20 buckets and
 * 40,000 sessions, a walk 210 ms, the index of all 2^24 ids 27-37 ms; 1,024
 * buckets and 100,000 sessions, a walk 5 ms. The control plane reads 8,192
 * sessions a page: a walk a page made its full read of 40,000 sessions
 * cost the agent a second. */
static bool range_by_index(const struct rv_dp_tables *t, uint32_t from, uint32_t to)
{
	uint64_t walk = 100ull * t->peer_buckets + 25ull * atomic_load(&t->n_linked);
	return (uint64_t)(to - from) <= walk;
}

unsigned rv_st_session_foreach_range(uint32_t from, uint32_t to, rv_st_session_cb cb, void *arg)
{
	if (!to || to > RV_ST_PEER_ID_MAX + 1)
		to = RV_ST_PEER_ID_MAX + 1;
	if (from >= to)
		from = to;
	rv_dp_writer_enter();
	struct rv_st_session_info info;
	struct rv_dp_session *s;
	rcu_read_lock();
	struct rv_dp_tables *t = rcu_dereference(rv_dp_root);
	if (range_by_index(t, from, to)) {
		for (uint32_t id = from; id < to; id++)
			if ((s = rcu_dereference(t->peer_ix[id]))) {
				session_info(s, &info);
				cb(arg, &info);
			}
	} else { /* a table of few buckets: a walk */
		struct cds_lfht_iter it;
		cds_lfht_for_each_entry(t->by_peer, &it, s, by_peer)
		{
			if (s->peer_id >= from && s->peer_id < to) {
				session_info(s, &info);
				cb(arg, &info);
			}
		}
	}
	unsigned n = t->n_linked;
	rcu_read_unlock();
	return n;
}

unsigned rv_st_room_foreach(rv_st_room_cb cb, void *arg)
{
	rv_dp_writer_enter();
	unsigned n = 0;
	struct cds_lfht_iter it;
	struct rv_dp_room *r;
	rcu_read_lock();
	cds_lfht_for_each_entry(rv_dp_root->rooms, &it, r, node)
	{
		struct rv_st_room_info info = {.room = r->cfg, .n_members = r->n_members};
		cb(arg, &info);
		n++;
	}
	rcu_read_unlock();
	return n;
}
