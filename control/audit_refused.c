/* Refused-login aggregation (audit_refused.h): one fixed open-addressing
 * table under one lock holds both kinds of entry, (address, user) pairs
 * ("<addr>\x1f<user>") and addresses ("<addr>", counting their pairs). An
 * entry lives for one interval from its first refusal; then it is written
 * (pairs with a count) and its slot is free again. */
#include "audit_refused.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ratelimit.h"

#define SLOTS 1024
#define PROBE 16

struct agg {
	char key[160];
	uint64_t first_ns, last_ns;
	uint32_t count; /* pairs: refusals not written yet; addresses: pairs */
	bool is_pair;
	int status;
	char actor[64], source[80], target[128], detail[160];
};

struct rv_audit_refused {
	pthread_mutex_t mu;
	uint64_t interval;
	rv_audit_write_fn write;
	void *arg;
	struct agg e[SLOTS];
};

static uint32_t hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

/* Writes @e's count, if any, and frees its slot. */
static void retire(struct rv_audit_refused *r, struct agg *e)
{
	if (e->is_pair && e->count) {
		char detail[256];
		snprintf(detail, sizeof(detail),
			 "%u refused logins more within %llu s of the one recorded before; "
			 "the last: %s",
			 e->count, (unsigned long long)(r->interval / 1000000000ull), e->detail);
		struct rv_audit_event ev = {
		    .time_ns = e->last_ns,
		    .actor = e->actor,
		    .source = e->source,
		    .action = "auth.login",
		    .target = e->target,
		    .status = e->status,
		    .detail = detail,
		};
		r->write(r->arg, &ev);
	}
	memset(e, 0, sizeof(*e));
}

static bool expired(const struct rv_audit_refused *r, const struct agg *e, uint64_t now)
{
	return now >= e->first_ns + r->interval;
}

/* The live entry for @key, or (if @create) a new one in a free, expired or
 * else the oldest slot of its run (whatever was there is written first). */
static struct agg *find(struct rv_audit_refused *r, const char *key, uint64_t now, bool create)
{
	uint32_t h = hash(key);
	struct agg *victim = NULL;

	for (uint32_t i = 0; i < PROBE; i++) {
		struct agg *e = &r->e[(h + i) % SLOTS];
		if (e->key[0] && strcmp(e->key, key) == 0) {
			if (!expired(r, e, now))
				return e;
			retire(r, e);
		}
		bool free_slot = !e->key[0] || expired(r, e, now);
		bool victim_free = victim && (!victim->key[0] || expired(r, victim, now));
		if (!victim || (free_slot && !victim_free) ||
		    (!victim_free && e->first_ns < victim->first_ns))
			victim = e;
	}
	if (!create)
		return NULL;
	if (victim->key[0])
		retire(r, victim);
	snprintf(victim->key, sizeof(victim->key), "%s", key);
	victim->first_ns = now;
	return victim;
}

static void remember(struct agg *e, const struct rv_audit_event *ev)
{
	e->last_ns = ev->time_ns;
	e->status = ev->status;
	snprintf(e->target, sizeof(e->target), "%s", ev->target ? ev->target : "");
	snprintf(e->detail, sizeof(e->detail), "%s", ev->detail ? ev->detail : "");
}

void rv_audit_refused_add(struct rv_audit_refused *r, const struct rv_audit_event *ev)
{
	char addr[64], key[160];
	const char *actor = ev->actor ? ev->actor : "";
	uint64_t now = ev->time_ns;

	rv_ratelimit_addr_of_peer(ev->source ? ev->source : "", addr, sizeof(addr));
	pthread_mutex_lock(&r->mu);
	snprintf(key, sizeof(key), "%s\x1f%.63s", addr, actor);
	struct agg *p = find(r, key, now, false);
	if (!p) {
		/* a new pair: past the address's quota, the shared one */
		struct agg *a = find(r, addr, now, true);
		if (a->count >= RV_AUDIT_REFUSED_PAIRS) {
			actor = "";
			snprintf(key, sizeof(key), "%s\x1f", addr);
			p = find(r, key, now, false);
		} else {
			a->count++;
		}
	}
	if (p) {
		p->count++;
		remember(p, ev);
		pthread_mutex_unlock(&r->mu);
		return;
	}
	p = find(r, key, now, true);
	p->is_pair = true;
	snprintf(p->actor, sizeof(p->actor), "%s", actor);
	snprintf(p->source, sizeof(p->source), "%s", ev->source ? ev->source : "");
	remember(p, ev);
	r->write(r->arg, ev);
	pthread_mutex_unlock(&r->mu);
}

void rv_audit_refused_flush(struct rv_audit_refused *r, uint64_t now_ns, bool all)
{
	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < SLOTS; i++)
		if (r->e[i].key[0] && (all || expired(r, &r->e[i], now_ns)))
			retire(r, &r->e[i]);
	pthread_mutex_unlock(&r->mu);
}

struct rv_audit_refused *rv_audit_refused_new(uint64_t interval_ns, rv_audit_write_fn write,
					      void *arg)
{
	struct rv_audit_refused *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	pthread_mutex_init(&r->mu, NULL);
	r->interval = interval_ns;
	r->write = write;
	r->arg = arg;
	return r;
}

void rv_audit_refused_free(struct rv_audit_refused *r)
{
	if (!r)
		return;
	rv_audit_refused_flush(r, 0, true);
	pthread_mutex_destroy(&r->mu);
	free(r);
}
