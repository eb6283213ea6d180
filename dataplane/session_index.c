/* Flat indexes beside the tables' hash tables, for the packet path: a
 * peer-id -> session array (one slot per 24-bit peer-id, reserved virtual
 * memory of which only the pages of used peer-ids are ever touched) and, per
 * room, a host -> session array over the room's subnet. A look-up is one
 * load at an address computed from the key, so a worker can prefetch the
 * slots of a whole burst before it reads them (a cds_lfht walk is a chain of
 * dependent misses that cannot be started ahead). The hash tables stay the
 * writer's authority (iteration, uniqueness, rooms too big for an array).
 *
 * Writer: the agent only (session_table.c calls these); readers: workers,
 * with rcu_dereference. A replaced host array is freed after a grace period. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "dp_tables.h"
#include "ip6.h"

#define PEER_IX_BYTES ((size_t)(RV_ST_PEER_ID_MAX + 1) * sizeof(struct rv_dp_session *))

int rv_dp_peer_ix_new(struct rv_dp_tables *t)
{
	void *p = mmap(NULL, PEER_IX_BYTES, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	t->peer_ix = p;
	return 0;
}

void rv_dp_peer_ix_free(struct rv_dp_tables *t)
{
	if (t->peer_ix)
		munmap(t->peer_ix, PEER_IX_BYTES);
	t->peer_ix = NULL;
}

void rv_dp_peer_ix_set(struct rv_dp_tables *t, struct rv_dp_session *s)
{
	rcu_assign_pointer(t->peer_ix[s->peer_id], s);
}

void rv_dp_peer_ix_clear(struct rv_dp_tables *t, struct rv_dp_session *s)
{
	if (t->peer_ix[s->peer_id] == s)
		rcu_assign_pointer(t->peer_ix[s->peer_id], NULL);
}

/* ---- per-room host arrays ---- */

struct rv_dp_hosts *rv_dp_hosts_new(uint32_t subnet, uint8_t prefix_len, bool *too_big)
{
	*too_big = 32 - prefix_len > RV_DP_HOSTS_MAX_BITS;
	if (*too_big)
		return NULL;
	uint32_t n = 1u << (32 - prefix_len);
	struct rv_dp_hosts *h = calloc(1, sizeof(*h) + (size_t)n * sizeof(h->slot[0]));
	if (!h)
		return NULL;
	h->subnet = subnet;
	h->n = n;
	return h;
}

void rv_dp_hosts_set(struct rv_dp_room *r, struct rv_dp_session *s)
{
	struct rv_dp_hosts *h = r->hosts;
	if (h && s->vip - h->subnet < h->n)
		rcu_assign_pointer(h->slot[s->vip - h->subnet], s);
}

void rv_dp_hosts_clear(struct rv_dp_room *r, struct rv_dp_session *s)
{
	struct rv_dp_hosts *h = r->hosts;
	if (h && s->vip - h->subnet < h->n && h->slot[s->vip - h->subnet] == s)
		rcu_assign_pointer(h->slot[s->vip - h->subnet], NULL);
}

static void hosts_free_rcu(struct rcu_head *head)
{
	free(caa_container_of(head, struct rv_dp_hosts, rcu));
}

int rv_dp_hosts_rebuild(struct rv_dp_room *r, uint32_t subnet, uint8_t prefix_len)
{
	bool too_big;
	struct rv_dp_hosts *h = rv_dp_hosts_new(subnet, prefix_len, &too_big);
	if (!h && !too_big)
		return -1;
	struct rv_dp_session *s;
	cds_list_for_each_entry(s, &r->members, room_link) if (h && s->vip - h->subnet < h->n)
	    h->slot[s->vip - h->subnet] = s;
	struct rv_dp_hosts *old = r->hosts;
	rcu_assign_pointer(r->hosts, h);
	if (old)
		call_rcu(&old->rcu, hosts_free_rcu);
	return 0;
}

/* ---- (room, IPv6 virtual IP) -> session ----
 * A hash table beside by_vip: an IPv6 prefix is too large for a flat array.
 * Sessions without vip6 are not in it. */

struct vip6_key {
	uint32_t room;
	const uint8_t *vip6;
};

static int match_vip6(struct cds_lfht_node *n, const void *key)
{
	const struct rv_dp_session *s = caa_container_of(n, struct rv_dp_session, by_vip6);
	const struct vip6_key *k = key;
	return s->room_id == k->room && memcmp(s->vip6, k->vip6, 16) == 0;
}

struct rv_dp_session *rv_dp_find_vip6(struct rv_dp_tables *t, uint32_t room_id,
				      const uint8_t vip6[16])
{
	struct vip6_key k = {room_id, vip6};
	struct cds_lfht_iter it;
	cds_lfht_lookup(t->by_vip6, rv_dp_vip6_hash(room_id, vip6), match_vip6, &k, &it);
	struct cds_lfht_node *n = cds_lfht_iter_get_node(&it);
	return n ? caa_container_of(n, struct rv_dp_session, by_vip6) : NULL;
}

/* The hint array: a 4-way set-associative cache in front of by_vip6 (a set
 * is 4 slots in one cache line; twice as many slots as sessions): a new
 * session takes a free slot of its set, else the first one (the newest
 * wins); a deleted one clears its own. A reader checks the sessions its set
 * names and falls back to by_vip6, so a stale or lost slot costs a hash
 * table walk, never a wrong answer. (Direct-mapped, ~17% of 100,000
 * sessions lost their slot to a collision and IPv6 relayed at 75-85% of
 * IPv4's rate there.) */
int rv_dp_vip6_hint_new(struct rv_dp_tables *t, uint32_t max_sessions)
{
	uint64_t n = 1024;
	while (n < 2ull * max_sessions)
		n <<= 1;
	t->vip6_hint = aligned_alloc(64, n * sizeof(*t->vip6_hint)); /* a set in one line */
	if (t->vip6_hint)
		memset(t->vip6_hint, 0, n * sizeof(*t->vip6_hint));
	t->vip6_hint_mask = n - 1;
	return t->vip6_hint ? 0 : -1;
}

void rv_dp_vip6_hint_free(struct rv_dp_tables *t)
{
	free(t->vip6_hint);
	t->vip6_hint = NULL;
}

void rv_dp_vip6_add(struct rv_dp_tables *t, struct rv_dp_session *s)
{
	if (rv_ip6_is_zero(s->vip6))
		return;
	cds_lfht_add(t->by_vip6, rv_dp_vip6_hash(s->room_id, s->vip6), &s->by_vip6);
	struct rv_dp_session **set = rv_dp_vip6_slot(t, s->room_id, s->vip6);
	int way = 0;
	while (way < RV_DP_VIP6_WAYS && set[way])
		way++;
	rcu_assign_pointer(set[way < RV_DP_VIP6_WAYS ? way : 0], s);
}

void rv_dp_vip6_del(struct rv_dp_tables *t, struct rv_dp_session *s)
{
	if (rv_ip6_is_zero(s->vip6))
		return;
	cds_lfht_del(t->by_vip6, &s->by_vip6);
	struct rv_dp_session **set = rv_dp_vip6_slot(t, s->room_id, s->vip6);
	for (int i = 0; i < RV_DP_VIP6_WAYS; i++)
		if (set[i] == s)
			rcu_assign_pointer(set[i], NULL);
}
