/* Tunnel timers (see timers.h). */
#include "timers.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"
#include "tunnels.h"

#define REKEY_ASK_AGAIN_NS 10000000000ull /* a re-key asked is asked again after 10 s */

static struct {
	struct rv_tunnel **v; /* min-heap by timer_at (registry lock) */
	size_t n, cap;
	const struct rv_control_config *cfg; /* NULL: not started, nothing armed */
	struct rv_timers_ops ops;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool running, stop;
} tm = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* The rekey deadline of @t, or UINT64_MAX. */
static uint64_t rekey_at(const struct rv_tunnel *t)
{
	uint64_t every = tm.cfg->rekey_interval_ns, at;

	if (!every || !t->stream || !t->peer_id)
		return UINT64_MAX;
	at = t->keyed_ns + every;
	if (t->rekey_asked_ns && t->rekey_asked_ns + REKEY_ASK_AGAIN_NS > at)
		at = t->rekey_asked_ns + REKEY_ASK_AGAIN_NS;
	return at;
}

/* When @t ends for silence, or UINT64_MAX. */
static uint64_t end_at(const struct rv_tunnel *t)
{
	if (t->foreign) /* its replica times it out; its record's delete removes it here */
		return UINT64_MAX;
	if (tm.cfg->heartbeat_timeout_ns && t->last_hb_ns)
		return t->last_hb_ns + tm.cfg->heartbeat_timeout_ns;
	if (tm.cfg->stream_deadline_ns && !t->last_hb_ns && !t->stream)
		return t->created_ns + tm.cfg->stream_deadline_ns;
	return UINT64_MAX;
}

static uint64_t deadline(const struct rv_tunnel *t)
{
	uint64_t a = end_at(t), b = rekey_at(t);
	return a < b ? a : b;
}

static void put(size_t i, struct rv_tunnel *t)
{
	tm.v[i] = t;
	t->timer_idx = i;
}

static void sift_up(size_t i)
{
	struct rv_tunnel *t = tm.v[i];
	while (i && tm.v[(i - 1) / 2]->timer_at > t->timer_at) {
		put(i, tm.v[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	put(i, t);
}

static void sift_down(size_t i)
{
	struct rv_tunnel *t = tm.v[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= tm.n)
			break;
		if (c + 1 < tm.n && tm.v[c + 1]->timer_at < tm.v[c]->timer_at)
			c++;
		if (tm.v[c]->timer_at >= t->timer_at)
			break;
		put(i, tm.v[c]);
		i = c;
	}
	put(i, t);
}

void rv_timers_cancel(struct rv_tunnel *t)
{
	size_t i = t->timer_idx;

	if (i == SIZE_MAX || i >= tm.n || tm.v[i] != t)
		return;
	t->timer_idx = SIZE_MAX;
	if (i == --tm.n)
		return;
	struct rv_tunnel *moved = tm.v[tm.n];
	put(i, moved);
	sift_down(i);
	sift_up(moved->timer_idx);
}

void rv_timers_arm(struct rv_tunnel *t)
{
	if (!tm.cfg)
		return;
	uint64_t at = deadline(t);
	rv_timers_cancel(t);
	if (at == UINT64_MAX)
		return;
	if (tm.n == tm.cap) {
		size_t cap = tm.cap ? tm.cap * 2 : 1024;
		void *p = realloc(tm.v, cap * sizeof(*tm.v));
		if (!p) {
			rv_log(RV_LOG_WARN,
			       "timers: out of memory: tunnel peer-id %u has no "
			       "timeout",
			       t->peer_id);
			return;
		}
		tm.v = p;
		tm.cap = cap;
	}
	t->timer_at = at;
	put(tm.n++, t);
	sift_up(tm.n - 1);
}

static void ask_rekey(struct rv_tunnel *t, uint64_t now)
{
	tm.ops.rekey(t, "the key reached rekey_interval");
	t->rekey_asked_ns = now;
}

void rv_timers_sweep(struct rv_control *ctl, uint64_t now)
{
	char reason[160];

	while (tm.cfg && tm.n && tm.v[0]->timer_at <= now) {
		struct rv_tunnel *t = tm.v[0];
		if (end_at(t) <= now) {
			if (t->last_hb_ns)
				snprintf(reason, sizeof(reason),
					 "no keepalive heartbeat for %" PRIu64 " s",
					 tm.cfg->heartbeat_timeout_ns / 1000000000u);
			else
				snprintf(reason, sizeof(reason),
					 "no keepalive stream within %" PRIu64
					 " ms of the bootstrap",
					 tm.cfg->stream_deadline_ns / 1000000u);
			tm.ops.expire(ctl, t, reason); /* removes it: cancels its timer */
			continue;
		}
		if (rekey_at(t) <= now)
			ask_rekey(t, now);
		rv_timers_arm(t); /* a later deadline (heartbeats moved it) */
	}
}

static void *sweeper_main(void *arg)
{
	pthread_setname_np(pthread_self(), "rv-timers"); /* top -H, perf */
	struct rv_control *ctl = arg;

	pthread_mutex_lock(&tm.mu);
	while (!tm.stop) {
		rv_tunnels_lock();
		uint64_t now = rv_control_now_mono();
		rv_timers_sweep(ctl, now);
		uint64_t next = tm.n ? tm.v[0]->timer_at : UINT64_MAX;
		rv_tunnels_unlock();
		/* at the next deadline, at the latest in 1 s (newly armed timers) */
		uint64_t wait = next > now + 1000000000ull ? 1000000000ull : next - now;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t ns = (uint64_t)ts.tv_nsec + wait;
		ts.tv_sec += (time_t)(ns / 1000000000u);
		ts.tv_nsec = (long)(ns % 1000000000u);
		pthread_cond_timedwait(&tm.cv, &tm.mu, &ts);
	}
	pthread_mutex_unlock(&tm.mu);
	return NULL;
}

static const struct rv_tunnels_timer_ops registry_ops = {
    .arm = rv_timers_arm,
    .cancel = rv_timers_cancel,
};

void rv_timers_start(struct rv_control *ctl, const struct rv_timers_ops *ops)
{
	rv_tunnels_lock();
	tm.ops = *ops;
	tm.cfg = &ctl->cfg;
	rv_tunnels_set_timer_ops(&registry_ops);
	rv_tunnels_unlock();
	tm.stop = false;
	if (pthread_create(&tm.thread, NULL, sweeper_main, ctl) == 0)
		tm.running = true;
	else
		rv_log(RV_LOG_WARN, "tunnel timer thread not started: stream_deadline, "
				    "heartbeat_timeout and rekey_interval are not enforced");
}

void rv_timers_stop(void)
{
	if (tm.running) {
		pthread_mutex_lock(&tm.mu);
		tm.stop = true;
		pthread_cond_signal(&tm.cv);
		pthread_mutex_unlock(&tm.mu);
		pthread_join(tm.thread, NULL);
		tm.running = false;
	}
	rv_tunnels_lock();
	rv_tunnels_set_timer_ops(NULL);
	tm.cfg = NULL;
	free(tm.v);
	tm.v = NULL;
	tm.n = tm.cap = 0;
	rv_tunnels_unlock();
}
