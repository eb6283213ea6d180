/* Per-room memory beside the store (room_state.h): a hash table of rooms,
 * its own mutex held only to find or add an entry; each room's mutex and
 * condition variable for its claims. */
#include "room_state.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>

#include "store_keys.h"

#define BUCKETS 1024

struct rv_room_state {
	struct rv_room_state *next;
	uint64_t room;
	pthread_mutex_t mu;
	pthread_cond_t done; /* a claim was released */
	bool gone;
	uint64_t *claimed; /* devices with a change in flight */
	size_t n_claimed, cap_claimed;
	struct rv_ipam_hosts hosts;
	bool hosts_known;
	bool spread;	    /* shared store: next-fit from a random place */
	uint32_t next_host; /* where the next search starts (spread) */
	uint32_t members;
	bool members_known;
};

static pthread_mutex_t table_mu = PTHREAD_MUTEX_INITIALIZER;
static struct rv_room_state *table[BUCKETS];

static struct rv_room_state *find(uint64_t room, bool add)
{
	size_t b = (size_t)(room * 0x9e3779b97f4a7c15ull >> 54) % BUCKETS;
	pthread_mutex_lock(&table_mu);
	struct rv_room_state *rs = table[b];
	while (rs && rs->room != room)
		rs = rs->next;
	if (!rs && add && (rs = calloc(1, sizeof(*rs)))) {
		rs->room = room;
		pthread_mutex_init(&rs->mu, NULL);
		pthread_cond_init(&rs->done, NULL);
		rs->next = table[b];
		table[b] = rs;
	}
	pthread_mutex_unlock(&table_mu);
	return rs;
}

static ssize_t claim_index(const struct rv_room_state *rs, uint64_t dev)
{
	for (size_t i = 0; i < rs->n_claimed; i++)
		if (rs->claimed[i] == dev)
			return (ssize_t)i;
	return -1;
}

bool rv_room_state_claimed_locked(struct rv_room_state *rs, uint64_t dev)
{
	return claim_index(rs, dev) >= 0;
}

int rv_room_state_claim(uint64_t room, uint64_t dev, struct rv_room_state **out)
{
	struct rv_room_state *rs = find(room, true);
	int rc = 0;
	if (!rs)
		return -1;
	pthread_mutex_lock(&rs->mu);
	while (!rs->gone && claim_index(rs, dev) >= 0)
		pthread_cond_wait(&rs->done, &rs->mu);
	if (rs->gone) {
		rc = 1;
	} else if (rs->n_claimed == rs->cap_claimed) {
		size_t cap = rs->cap_claimed ? rs->cap_claimed * 2 : 8;
		uint64_t *p = realloc(rs->claimed, cap * sizeof(*p));
		if (p) {
			rs->claimed = p;
			rs->cap_claimed = cap;
		} else {
			rc = -1;
		}
	}
	if (rc == 0)
		rs->claimed[rs->n_claimed++] = dev;
	pthread_mutex_unlock(&rs->mu);
	*out = rs;
	return rc;
}

void rv_room_state_release(struct rv_room_state *rs, uint64_t dev)
{
	pthread_mutex_lock(&rs->mu);
	ssize_t i = claim_index(rs, dev);
	if (i >= 0)
		rs->claimed[i] = rs->claimed[--rs->n_claimed];
	pthread_cond_broadcast(&rs->done);
	pthread_mutex_unlock(&rs->mu);
}

void rv_room_state_lock(struct rv_room_state *rs)
{
	pthread_mutex_lock(&rs->mu);
}

void rv_room_state_unlock(struct rv_room_state *rs)
{
	pthread_mutex_unlock(&rs->mu);
}

/* ip/<room>/<addr> -> the address is taken */
static int hosts_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	uint32_t addr;
	(void)v;
	(void)vl;
	if (rv_key_addr_parse(k, kl, &addr) == 0)
		rv_ipam_hosts_take(arg, addr);
	return 0;
}

/* Reads the room's bitmap from the store (its mutex held; first use). */
static int hosts_load(struct rv_room_state *rs, struct rv_store *s, uint64_t room,
		      const struct rv_cidr *net)
{
	char p[RV_KEY_MAX];
	if (rv_ipam_hosts_init(&rs->hosts, net) < 0)
		return -1;
	if (rv_store_scan_prefix(s, p, rv_key_addr_prefix(p, room), NULL, 0, hosts_cb, &rs->hosts) <
	    0) {
		rv_ipam_hosts_fini(&rs->hosts);
		return -1;
	}
	rs->hosts_known = true;
	/* Replicas on one store each start at a random place of the subnet
	 * (lowest-first, they would all reach for the same address, and all
	 * but one retry); RocksDB keeps the lowest free address. */
	rs->spread = rv_store_shared(s);
	if (rs->spread && RAND_bytes((unsigned char *)&rs->next_host, sizeof(rs->next_host)) != 1)
		rs->next_host = (uint32_t)(uintptr_t)rs;
	rs->next_host %= rs->hosts.size;
	return 0;
}

int rv_room_state_addr_get(struct rv_room_state *rs, struct rv_store *s, uint64_t room,
			   const struct rv_cidr *net, uint32_t *addr)
{
	int rc = 0;
	pthread_mutex_lock(&rs->mu);
	if (!rs->hosts_known)
		rc = hosts_load(rs, s, room, net);
	if (rc == 0 && (rs->spread ? rv_ipam_hosts_alloc_from(&rs->hosts, rs->next_host, addr)
				   : rv_ipam_hosts_alloc(&rs->hosts, addr)) < 0)
		rc = 1;
	if (rc == 0 && rs->spread)
		rs->next_host = (*addr - rs->hosts.net.addr + 1) % rs->hosts.size;
	pthread_mutex_unlock(&rs->mu);
	return rc;
}

int rv_room_state_addr_refresh(struct rv_room_state *rs, struct rv_store *s, uint64_t room,
			       const struct rv_cidr *net)
{
	struct rv_ipam_hosts seen; /* read without the mutex, merged under it */
	char p[RV_KEY_MAX];
	if (rv_ipam_hosts_init(&seen, net) < 0)
		return -1;
	if (rv_store_scan_prefix(s, p, rv_key_addr_prefix(p, room), NULL, 0, hosts_cb, &seen) < 0) {
		rv_ipam_hosts_fini(&seen);
		return -1;
	}
	pthread_mutex_lock(&rs->mu);
	for (uint32_t i = 0; rs->hosts_known && i < seen.size; i++)
		if (rv_ipam_hosts_is_taken(&seen, net->addr + i))
			rv_ipam_hosts_take(&rs->hosts, net->addr + i);
	if (rs->spread && RAND_bytes((unsigned char *)&rs->next_host, sizeof(rs->next_host)) == 1)
		rs->next_host %= rs->hosts.size;
	pthread_mutex_unlock(&rs->mu);
	rv_ipam_hosts_fini(&seen);
	return 0;
}

void rv_room_state_addr_put(struct rv_room_state *rs, uint32_t addr)
{
	pthread_mutex_lock(&rs->mu);
	if (rs->hosts_known)
		rv_ipam_hosts_release(&rs->hosts, addr);
	pthread_mutex_unlock(&rs->mu);
}

int rv_room_state_members(struct rv_store *s, uint64_t room, uint32_t *n)
{
	struct rv_room_state *rs = find(room, true);
	char p[RV_KEY_MAX];
	uint64_t c;
	int rc = 0;
	if (!rs) /* out of memory: count without keeping it */
		return rv_store_count_prefix(s, p, rv_key_member_prefix(p, room), &c) < 0
			   ? -1
			   : (*n = (uint32_t)c, 0);
	pthread_mutex_lock(&rs->mu);
	if (!rs->members_known) {
		rc = rv_store_count_prefix(s, p, rv_key_member_prefix(p, room), &c);
		rs->members = (uint32_t)c;
		rs->members_known = rc == 0;
	}
	*n = rs->members;
	pthread_mutex_unlock(&rs->mu);
	return rc;
}

void rv_room_state_members_add(struct rv_room_state *rs, int delta)
{
	pthread_mutex_lock(&rs->mu);
	if (rs->members_known)
		rs->members = (uint32_t)((int64_t)rs->members + delta);
	pthread_mutex_unlock(&rs->mu);
}

void rv_room_state_members_forget(uint64_t room)
{
	struct rv_room_state *rs = find(room, false);
	if (!rs)
		return;
	pthread_mutex_lock(&rs->mu);
	rs->members_known = false;
	pthread_mutex_unlock(&rs->mu);
}

static void drop_memory(struct rv_room_state *rs)
{
	if (rs->hosts_known)
		rv_ipam_hosts_fini(&rs->hosts);
	rs->hosts_known = false;
	rs->members_known = false;
}

void rv_room_state_retire(uint64_t room)
{
	struct rv_room_state *rs = find(room, true);
	if (!rs)
		return; /* out of memory: no claim can be in flight either */
	pthread_mutex_lock(&rs->mu);
	rs->gone = true;
	pthread_cond_broadcast(&rs->done); /* waiters see gone */
	while (rs->n_claimed)
		pthread_cond_wait(&rs->done, &rs->mu);
	drop_memory(rs);
	pthread_mutex_unlock(&rs->mu);
}

void rv_room_state_revive(uint64_t room)
{
	struct rv_room_state *rs = find(room, false);
	if (!rs)
		return;
	pthread_mutex_lock(&rs->mu);
	rs->gone = false;
	pthread_mutex_unlock(&rs->mu);
}

void rv_room_state_reset(void)
{
	pthread_mutex_lock(&table_mu);
	for (size_t b = 0; b < BUCKETS; b++) {
		while (table[b]) {
			struct rv_room_state *rs = table[b];
			table[b] = rs->next;
			drop_memory(rs);
			free(rs->claimed);
			pthread_mutex_destroy(&rs->mu);
			pthread_cond_destroy(&rs->done);
			free(rs);
		}
	}
	pthread_mutex_unlock(&table_mu);
}
