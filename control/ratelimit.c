/* Failed-login counting in two fixed-size open-addressing tables (users and
 * addresses). An entry counts failures in a fixed window starting at its
 * first failure; stale entries are reused, and when a probe run is full the
 * oldest entry in it is evicted, so memory stays bounded. */
#include "ratelimit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RL_SLOTS 4096
#define RL_PROBE 16

struct rl_entry {
	char key[64];
	uint64_t window_start;
	uint32_t fails;
};

struct rl_table {
	uint32_t max;
	struct rl_entry e[RL_SLOTS];
};

struct rv_ratelimit {
	pthread_mutex_t mu;
	uint64_t window;
	struct rl_table users, addrs;
};

static uint32_t hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

/* The entry for @key (created if @create), NULL if absent. */
static struct rl_entry *find(struct rv_ratelimit *rl, struct rl_table *t, const char *key,
			     uint64_t now, bool create)
{
	uint32_t h = hash(key);
	struct rl_entry *victim = NULL;
	bool victim_stale = false;

	for (uint32_t i = 0; i < RL_PROBE; i++) {
		struct rl_entry *e = &t->e[(h + i) % RL_SLOTS];
		bool stale = e->key[0] == '\0' || now - e->window_start >= rl->window;
		if (e->key[0] && strncmp(e->key, key, sizeof(e->key) - 1) == 0) {
			if (stale)
				e->fails = 0, e->window_start = now;
			return e;
		}
		/* reuse an empty or stale slot, else evict the oldest */
		if (!victim || (stale && !victim_stale) ||
		    (stale == victim_stale && e->window_start < victim->window_start)) {
			victim = e;
			victim_stale = stale;
		}
	}
	if (!create)
		return NULL;
	snprintf(victim->key, sizeof(victim->key), "%s", key);
	victim->window_start = now;
	victim->fails = 0;
	return victim;
}

struct rv_ratelimit *rv_ratelimit_new(const struct rv_control_config *cfg)
{
	struct rv_ratelimit *rl = calloc(1, sizeof(*rl));
	if (!rl)
		return NULL;
	pthread_mutex_init(&rl->mu, NULL);
	rl->window = cfg->login_fail_window_ns;
	rl->users.max = cfg->login_fail_per_user;
	rl->addrs.max = cfg->login_fail_per_addr;
	return rl;
}

void rv_ratelimit_free(struct rv_ratelimit *rl)
{
	if (!rl)
		return;
	pthread_mutex_destroy(&rl->mu);
	free(rl);
}

static uint64_t wait_of(struct rv_ratelimit *rl, struct rl_table *t, const char *key, uint64_t now)
{
	struct rl_entry *e = find(rl, t, key, now, false);
	if (!e || e->fails < t->max)
		return 0;
	return e->window_start + rl->window - now;
}

uint64_t rv_ratelimit_check(struct rv_ratelimit *rl, const char *user, const char *addr,
			    uint64_t now_ns, const char **which)
{
	pthread_mutex_lock(&rl->mu);
	uint64_t w = wait_of(rl, &rl->users, user, now_ns);
	*which = "user";
	if (!w) {
		w = wait_of(rl, &rl->addrs, addr, now_ns);
		*which = "address";
	}
	pthread_mutex_unlock(&rl->mu);
	return w;
}

void rv_ratelimit_failed(struct rv_ratelimit *rl, const char *user, const char *addr,
			 uint64_t now_ns)
{
	pthread_mutex_lock(&rl->mu);
	find(rl, &rl->users, user, now_ns, true)->fails++;
	find(rl, &rl->addrs, addr, now_ns, true)->fails++;
	pthread_mutex_unlock(&rl->mu);
}

void rv_ratelimit_succeeded(struct rv_ratelimit *rl, const char *user)
{
	pthread_mutex_lock(&rl->mu);
	struct rl_entry *e = find(rl, &rl->users, user, 0, false);
	if (e)
		e->fails = 0;
	pthread_mutex_unlock(&rl->mu);
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
