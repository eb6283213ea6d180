/* The password-guess limiter (ratelimit.h) in two fixed-size open-addressing
 * tables, (user, address) pairs and addresses, under one lock. Buckets are
 * kept as GCRA "theoretical arrival times": one timestamp per entry, a check
 * costs one emission interval T = window / burst, and a check is admitted
 * while the bucket's time is at most burst * T ahead of now. An entry whose
 * time has passed and that has nothing in flight is free to reuse; when a
 * probe run is full, the one with the earliest time goes, so memory stays
 * bounded. */
#include "ratelimit.h"

#include "password.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RL_SLOTS 4096
#define RL_PROBE 16
#define RL_KEY	 208 /* "room/<name>/<user>" + '\x1f' + address */

struct rl_entry {
	char key[RL_KEY];
	uint64_t tat;	   /* the bucket is full again at this time */
	uint32_t inflight; /* addresses: reservations not yet released */
};

struct rl_table {
	uint32_t burst;
	uint64_t interval; /* ns one check costs */
	struct rl_entry e[RL_SLOTS];
};

struct rv_ratelimit {
	pthread_mutex_t mu;
	uint32_t inflight_max;
	uint64_t checks; /* rv_ratelimit_checks */
	struct rl_table pairs, addrs;
};

static uint32_t hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

static bool is_free(const struct rl_entry *e, uint64_t now)
{
	return e->key[0] == '\0' || (e->tat <= now && e->inflight == 0);
}

/* The entry for @key; if absent and @create, a free or evicted one taken for
 * it. NULL if absent (or, creating, if every slot of the run is in flight). */
static struct rl_entry *find(struct rl_table *t, const char *key, uint64_t now, bool create)
{
	uint32_t h = hash(key);
	struct rl_entry *victim = NULL;

	for (uint32_t i = 0; i < RL_PROBE; i++) {
		struct rl_entry *e = &t->e[(h + i) % RL_SLOTS];
		if (e->key[0] && strcmp(e->key, key) == 0)
			return e;
		if (e->inflight)
			continue;
		if (!victim || (is_free(e, now) && !is_free(victim, now)) ||
		    (is_free(e, now) == is_free(victim, now) && e->tat < victim->tat))
			victim = e;
	}
	if (!create || !victim)
		return NULL;
	snprintf(victim->key, sizeof(victim->key), "%s", key);
	victim->tat = 0;
	victim->inflight = 0;
	return victim;
}

/* ns until @e admits one more check (0: now). */
static uint64_t bucket_wait(const struct rl_table *t, const struct rl_entry *e, uint64_t now)
{
	uint64_t tat = e->tat > now ? e->tat : now;
	uint64_t limit = now + (uint64_t)t->burst * t->interval;
	return tat + t->interval <= limit ? 0 : tat + t->interval - limit;
}

static void bucket_take(const struct rl_table *t, struct rl_entry *e, uint64_t now)
{
	e->tat = (e->tat > now ? e->tat : now) + t->interval;
}

static void bucket_refund(const struct rl_table *t, struct rl_entry *e)
{
	e->tat = e->tat > t->interval ? e->tat - t->interval : 0;
}

static void pair_key(char key[RL_KEY], const char *user, const char *addr)
{
	snprintf(key, RL_KEY, "%.140s\x1f%.63s", user, addr);
}

static void table_init(struct rl_table *t, uint32_t burst, uint64_t window)
{
	t->burst = burst ? burst : 1;
	t->interval = window / t->burst;
}

struct rv_ratelimit *rv_ratelimit_new(const struct rv_control_config *cfg)
{
	struct rv_ratelimit *rl = calloc(1, sizeof(*rl));
	if (!rl)
		return NULL;
	pthread_mutex_init(&rl->mu, NULL);
	table_init(&rl->pairs, cfg->login_fail_per_user, cfg->login_fail_window_ns);
	table_init(&rl->addrs, cfg->login_fail_per_addr, cfg->login_fail_window_ns);
	rl->inflight_max = cfg->login_inflight_per_addr ? cfg->login_inflight_per_addr : 1;
	return rl;
}

void rv_ratelimit_free(struct rv_ratelimit *rl)
{
	if (!rl)
		return;
	pthread_mutex_destroy(&rl->mu);
	free(rl);
}

/* Which bucket, if any, refuses a check of @pk from @a now. */
static enum rv_ratelimit_verdict buckets(struct rv_ratelimit *rl, struct rl_entry *p,
					 struct rl_entry *a, uint64_t now, uint64_t *wait)
{
	if ((*wait = bucket_wait(&rl->pairs, p, now)))
		return RV_RATELIMIT_USER;
	if ((*wait = bucket_wait(&rl->addrs, a, now)))
		return RV_RATELIMIT_ADDR;
	return RV_RATELIMIT_OK;
}

enum rv_ratelimit_verdict rv_ratelimit_reserve(struct rv_ratelimit *rl, const char *user,
					       const char *addr, uint64_t now_ns, uint64_t *wait_ns)
{
	char pk[RL_KEY];
	enum rv_ratelimit_verdict v = RV_RATELIMIT_BUSY;

	pair_key(pk, user, addr);
	*wait_ns = 1000000000ull; /* the retry hint while slots are in flight */
	pthread_mutex_lock(&rl->mu);
	struct rl_entry *a = find(&rl->addrs, addr, now_ns, true);
	struct rl_entry *p = find(&rl->pairs, pk, now_ns, true);
	if (a && p && a->inflight < rl->inflight_max &&
	    (v = buckets(rl, p, a, now_ns, wait_ns)) == RV_RATELIMIT_OK)
		a->inflight++;
	pthread_mutex_unlock(&rl->mu);
	return v;
}

static void refusal(enum rv_ratelimit_verdict v, uint64_t wait, const char *what, const char *who,
		    char *msg, size_t msglen)
{
	unsigned long long s = wait / 1000000000ull + 1;
	if (v == RV_RATELIMIT_BUSY)
		snprintf(msg, msglen,
			 "too many password checks in progress from this address: retry in %llu s",
			 s);
	else if (v == RV_RATELIMIT_USER)
		snprintf(msg, msglen, "too many %s for this %s from this address: retry in %llu s",
			 what, who, s);
	else
		snprintf(msg, msglen, "too many %s from this address: retry in %llu s", what, s);
}

grpc_status_code rv_ratelimit_admit(struct rv_ratelimit *rl, const char *user, const char *addr,
				    const char *what, const char *who, char *msg, size_t msglen)
{
	uint64_t wait;
	if (!rl)
		return GRPC_STATUS_OK;
	enum rv_ratelimit_verdict v =
	    rv_ratelimit_reserve(rl, user, addr, rv_control_now_mono(), &wait);
	if (v == RV_RATELIMIT_OK)
		return GRPC_STATUS_OK;
	refusal(v, wait, what, who, msg, msglen);
	return GRPC_STATUS_RESOURCE_EXHAUSTED;
}

/* Under rl->mu: the address's slot back (it is never evicted while held). */
static struct rl_entry *end_slot(struct rv_ratelimit *rl, const char *addr)
{
	struct rl_entry *a = find(&rl->addrs, addr, 0, false);
	if (a && a->inflight)
		a->inflight--;
	return a;
}

void rv_ratelimit_cancel(struct rv_ratelimit *rl, const char *user, const char *addr)
{
	(void)user;
	if (!rl)
		return;
	pthread_mutex_lock(&rl->mu);
	end_slot(rl, addr);
	pthread_mutex_unlock(&rl->mu);
}

int rv_ratelimit_verify(struct rv_ratelimit *rl, const char *user, const char *addr,
			const char *encoded, const char *password, const char *what,
			const char *who, char *msg, size_t msglen)
{
	char pk[RL_KEY];
	uint64_t now = rv_control_now_mono(), wait;

	if (!rl)
		return rv_password_verify(encoded, password) == 0 ? 0 : 1;
	pair_key(pk, user, addr);
	pthread_mutex_lock(&rl->mu);
	struct rl_entry *a = find(&rl->addrs, addr, now, true);
	struct rl_entry *p = find(&rl->pairs, pk, now, true);
	enum rv_ratelimit_verdict v = a && p ? buckets(rl, p, a, now, &wait) : RV_RATELIMIT_BUSY;
	if (v != RV_RATELIMIT_OK) {
		end_slot(rl, addr);
		pthread_mutex_unlock(&rl->mu);
		refusal(v, v == RV_RATELIMIT_BUSY ? 1000000000ull : wait, what, who, msg, msglen);
		return -1;
	}
	bucket_take(&rl->pairs, p, now);
	bucket_take(&rl->addrs, a, now);
	rl->checks++;
	pthread_mutex_unlock(&rl->mu);

	int right = rv_password_verify(encoded, password) == 0;

	pthread_mutex_lock(&rl->mu);
	a = end_slot(rl, addr);
	p = find(&rl->pairs, pk, 0, false);
	/* a right password gives its tokens back: only wrong ones use them up */
	if (right && a)
		bucket_refund(&rl->addrs, a);
	if (right && p)
		bucket_refund(&rl->pairs, p);
	pthread_mutex_unlock(&rl->mu);
	return right ? 0 : 1;
}

uint64_t rv_ratelimit_checks(struct rv_ratelimit *rl)
{
	pthread_mutex_lock(&rl->mu);
	uint64_t n = rl->checks;
	pthread_mutex_unlock(&rl->mu);
	return n;
}

void rv_ratelimit_addr_of_peer(const char *peer, char *out, size_t outlen)
{
	const char *p = strchr(peer, ':');
	p = p ? p + 1 : peer;
	snprintf(out, outlen, "%s", p);
	if (out[0] == '[') { /* [v6]:port */
		char *end = strchr(out, ']');
		if (end)
			*end = '\0';
		memmove(out, out + 1, strlen(out));
		return;
	}
	char *colon = strrchr(out, ':');
	if (colon && strchr(out, ':') == colon) /* v4:port */
		*colon = '\0';
}
