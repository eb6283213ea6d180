/* The sync thread's pass over the fleet (see dp_poll.h). */
#include "dp_poll.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dataplane.pb-c.h"
#include "dp_adopt.h"
#include "dp_cache.h"
#include "dp_link.h"
#include "dp_msgs.h"
#include "dp_owner.h"
#include "fleet.h"
#include "keepalive.h"
#include "log.h"
#include "tunnels.h"

static _Atomic uint64_t n_resyncs, n_failed;

void rv_dp_poll_counters(uint64_t *resyncs, uint64_t *failed)
{
	*resyncs = n_resyncs;
	*failed = n_failed;
}

struct repush {
	int slot;
	bool single; /* one data plane: rooms not placed are on it */
	uint64_t read_ns, gen;
	bool resync;
	size_t n, cap, n_rooms, keyless;
	struct rv_dp_msgs *m; /* one per session */
	Roomvpn__Dataplane__V1__Room **rooms;
	uint32_t *peers;
};

/* Keyed tunnels of the slot's rooms the data plane lacks (all of them for
 * a Resync). */
static void collect(struct rv_tunnel *t, void *arg)
{
	struct repush *r = arg;
	struct rv_tunnel_room *room = t->room;

	if (room->slot_gen != r->gen) { /* once per room and walk */
		room->slot_gen = r->gen;
		room->slot_of = rv_fleet_room_slot(t->room_id);
	}
	int slot = room->slot_of;

	if (slot != r->slot && !(slot < 0 && r->single))
		return;
	if (!t->keyed) {
		r->keyless++;
		return;
	}
	if (!r->resync && (t->key_ns >= r->read_ns || rv_dp_cache_find_in(r->slot, t->peer_id)))
		return;
	if (r->n == r->cap || t->walk_gen == (uint32_t)r->gen)
		return; /* sized before; taken already (the table grew mid-walk) */
	t->walk_gen = (uint32_t)r->gen;
	struct rv_dp_msgs *m = &r->m[r->n];
	rv_dp_msgs_session(m, t);
	if (t->room->sync_gen != r->gen) { /* each room once */
		t->room->sync_gen = r->gen;
		r->rooms[r->n_rooms++] = &m->room;
	}
	r->peers[r->n++] = t->peer_id;
}

/* @kept_on >= 0: a new owner's Resync of a data plane that ran on: the
 * sessions it had keep their packet-ids (a Resync keeps an unchanged
 * session's state), only the others re-key. */
#define REKEY_SLICE 1024

static void ask_rekey(uint32_t *peers, size_t n, int kept_on)
{
	/* in slices of REKEY_SLICE: at 100,000 sessions one hold was 3.2 s
	 * of heartbeats and Bootstraps waiting (a push is a stream write) */
	for (size_t at = 0; at < n; at += REKEY_SLICE) {
		rv_tunnels_lock();
		rv_dp_cache_lock();
		for (size_t i = at; i < n && i < at + REKEY_SLICE; i++) {
			struct rv_tunnel *t = rv_tunnels_find(peers[i]);
			if (t && (kept_on < 0 || !rv_dp_cache_find_in(kept_on, peers[i])))
				rv_keepalive_push_rekey(t, "the data plane restarted");
		}
		rv_dp_cache_unlock();
		rv_tunnels_unlock();
	}
}

static int send_resync(struct rv_dp_link *l, struct repush *r, char *err, size_t errlen)
{
	Roomvpn__Dataplane__V1__Resync rs = ROOMVPN__DATAPLANE__V1__RESYNC__INIT;
	Roomvpn__Dataplane__V1__Session **sp = calloc(r->n ? r->n : 1, sizeof(*sp));
	rv_dp_request rq = ROOMVPN__DATAPLANE__V1__REQUEST__INIT, *one = &rq;

	if (!sp) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < r->n; i++)
		sp[i] = &r->m[i].s;
	rs.n_rooms = r->n_rooms;
	rs.rooms = r->rooms;
	rs.n_sessions = r->n;
	rs.sessions = sp;
	rq.request_id = 1;
	rq.body_case = ROOMVPN__DATAPLANE__V1__REQUEST__BODY_RESYNC;
	rq.resync = &rs;
	int rc = rv_dp_link_exchange(l, &one, 1, err, errlen);
	free(sp);
	return rc;
}

static int send_upserts(struct rv_dp_link *l, struct repush *r, char *err, size_t errlen)
{
	rv_dp_request **rqp = calloc(2 * r->n, sizeof(*rqp));

	if (!rqp) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < r->n; i++) {
		struct rv_dp_msgs *m = &r->m[i];
		m->n_rq = 0;
		rv_dp_msgs_upsert(m);
		rqp[2 * i] = &m->rq[0];
		rqp[2 * i + 1] = &m->rq[1];
	}
	int rc = rv_dp_link_exchange(l, rqp, 2 * r->n, err, errlen);
	free(rqp);
	return rc;
}

#define REPUSH_SLICE 1024 /* hash buckets (about as many tunnels) per registry-lock hold */

/* Give data plane @slot what it lacks (@force: a Resync of exactly what it
 * should hold; @new_owner: one because this replica just became the owner,
 * not because the data plane lost anything); registry copied under the
 * lock, sent without it. */
static void repush(struct rv_dp_link *l, int slot, const Roomvpn__Dataplane__V1__Stats *st,
		   uint64_t read_ns, bool force, bool new_owner)
{
	static uint64_t gen;
	struct repush r = {.slot = slot,
			   .single = rv_fleet_slots() == 1,
			   .read_ns = read_ns,
			   .gen = ++gen,
			   .resync = force || !st->n_session};
	char err[256], name[RV_DP_NAME_MAX];
	int rc = 0;

	rv_fleet_name_of(slot, name, sizeof(name));
	rv_tunnels_lock();
	r.cap = rv_tunnels_count();
	r.m = calloc(r.cap ? r.cap : 1, sizeof(*r.m));
	r.rooms = calloc(r.cap ? r.cap : 1, sizeof(*r.rooms));
	r.peers = calloc(r.cap ? r.cap : 1, sizeof(*r.peers));
	if (r.m && r.rooms && r.peers && r.resync) { /* an exact snapshot: one hold */
		rv_dp_cache_lock();
		rv_tunnels_each(collect, &r);
		rv_dp_cache_unlock();
	} else if (r.m && r.rooms && r.peers) {
		/* Only what is missing: in slices, so that heartbeats and
		 * Bootstraps are not held up behind a walk of every tunnel; one
		 * missed because it came in between is found on the next read. */
		size_t at = 0;
		do {
			rv_dp_cache_lock();
			at = rv_tunnels_each_some(at, REPUSH_SLICE, collect, &r);
			rv_dp_cache_unlock();
			rv_tunnels_unlock();
			rv_tunnels_lock();
		} while (at);
	}
	rv_tunnels_unlock();
	if (!r.n && !(force && st->n_session))
		goto out;
	if (r.resync) {
		rc = send_resync(l, &r, err, sizeof(err));
		if (rc == 0)
			rv_log(RV_LOG_INFO,
			       "data plane %s %s: resynced %zu sessions in %zu rooms (%zu tunnels "
			       "without key material left to their clients)",
			       name,
			       new_owner ? "driven by this replica now"
			       : force	 ? "back"
					 : "without sessions (restarted)",
			       r.n, r.n_rooms, r.keyless);
	} else {
		rc = send_upserts(l, &r, err, sizeof(err));
		if (rc == 0)
			rv_log(RV_LOG_INFO, "data plane %s: re-pushed %zu missing sessions", name,
			       r.n);
	}
	if (rc == 0)
		n_resyncs++;
	else
		n_failed++;
	if (rc < 0)
		rv_log(RV_LOG_WARN, "data plane %s: re-pushing %zu sessions: %s", name, r.n, err);
	else /* packet-ids start afresh on the data plane: every client re-keys */
		ask_rekey(r.peers, r.n, new_owner && st->n_session ? slot : -1);
out:
	for (size_t i = 0; r.m && i < r.n; i++)
		rv_dp_msgs_done(&r.m[i]);
	free(r.m), free(r.rooms), free(r.peers);
}

static uint64_t drops_of(const Roomvpn__Dataplane__V1__Stats *st)
{
	uint64_t n = 0;
	for (size_t i = 0; i < st->n_drop; i++)
		n += st->drop[i]->count;
	return n;
}

/* The rooms of adopted sessions whose records name no data plane are on
 * the one that runs them. */
static void note_rooms(int slot, const Roomvpn__Dataplane__V1__Stats *st)
{
	char name[RV_DP_NAME_MAX];

	rv_fleet_name_of(slot, name, sizeof(name));
	for (size_t i = 0; i < st->n_session; i++)
		if (rv_fleet_room_slot(st->session[i]->room_id) < 0)
			rv_fleet_room_note(st->session[i]->room_id, name, -1);
}

/* Sessions whose stats a full read brings per second of period: 20,000
 * makes it every 5 s at 100,000 sessions (a full read there is 30 MB, built
 * by the data plane's one agent thread, ahead of which a Kick's delete then
 * waits); at most 10,000 sessions it stays once a second. */
#define FULL_PER_S 20000

static struct poll_state {
	uint64_t full_ns;  /* last full read (monotonic) */
	uint32_t sessions; /* sessions it counted */
} polls[RV_FLEET_MAX];

static uint64_t full_period(uint32_t sessions)
{
	uint64_t p = (uint64_t)sessions * 1000000000ull / FULL_PER_S;
	return p > 1000000000ull ? p : 1000000000ull;
}

/* ---- The full reader ------------------------------------------------------
 * A full read (every session's stats, 30 MB at 100,000) takes the data
 * plane and this process a while: the reader thread does it, the sync
 * thread goes on sending deltas (a Kick's delete does not wait behind it)
 * and applies the result on its next pass, so cache, adoption and
 * re-pushes stay on the sync thread, in order with the deltas. */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	bool running, stop;
	bool want[RV_FLEET_MAX], busy[RV_FLEET_MAX], done[RV_FLEET_MAX];
	Roomvpn__Dataplane__V1__Response *got[RV_FLEET_MAX]; /* NULL: the read failed */
	uint32_t expect[RV_FLEET_MAX]; /* sessions the last read counted (page sizes) */
	uint64_t read_ns[RV_FLEET_MAX];
	char err[RV_FLEET_MAX][256];
} rd = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void *reader_main(void *arg)
{
	pthread_setname_np(pthread_self(), "rv-dp-read"); /* top -H, perf */
	(void)arg;
	pthread_mutex_lock(&rd.mu);
	while (!rd.stop) {
		int slot = -1;
		for (int i = 0; i < RV_FLEET_MAX && slot < 0; i++)
			if (rd.want[i])
				slot = i;
		if (slot < 0) {
			pthread_cond_wait(&rd.cv, &rd.mu);
			continue;
		}
		rd.want[slot] = false;
		rd.busy[slot] = true;
		uint32_t expect = rd.expect[slot];
		pthread_mutex_unlock(&rd.mu);
		char err[256] = "no link";
		uint64_t t0 = rv_control_now_mono();
		struct rv_dp_link *l = rv_fleet_link(slot);
		Roomvpn__Dataplane__V1__Response *r =
		    l ? rv_dp_link_stats_paged(l, expect, err, sizeof(err)) : NULL;
		rv_dp_link_unref(l);
		rv_dp_cache_sort(r); /* here, not on the sync thread */
		pthread_mutex_lock(&rd.mu);
		rd.busy[slot] = false;
		rd.done[slot] = true;
		rd.got[slot] = r;
		rd.read_ns[slot] = t0;
		snprintf(rd.err[slot], sizeof(rd.err[slot]), "%s", err);
		pthread_mutex_unlock(&rd.mu);
		rv_fleet_wake(); /* the sync thread applies it */
		pthread_mutex_lock(&rd.mu);
	}
	pthread_mutex_unlock(&rd.mu);
	return NULL;
}

/* Ask for a full read of @slot (about @expect sessions); true if one is
 * asked for or under way. */
static bool reader_ask(int slot, uint32_t expect)
{
	pthread_mutex_lock(&rd.mu);
	bool ok = rd.running;
	if (ok && !rd.busy[slot] && !rd.done[slot] && !rd.want[slot]) {
		rd.want[slot] = true;
		rd.expect[slot] = expect;
		pthread_cond_signal(&rd.cv);
	}
	pthread_mutex_unlock(&rd.mu);
	return ok;
}

/* A finished full read of @slot: true and its result (NULL: failed). */
static bool reader_take(int slot, Roomvpn__Dataplane__V1__Response **r, uint64_t *read_ns,
			char *err, size_t errlen, bool *pending)
{
	pthread_mutex_lock(&rd.mu);
	bool done = rd.done[slot];
	*pending = rd.want[slot] || rd.busy[slot];
	if (done) {
		*r = rd.got[slot];
		*read_ns = rd.read_ns[slot];
		snprintf(err, errlen, "%s", rd.err[slot]);
		rd.got[slot] = NULL;
		rd.done[slot] = false;
	}
	pthread_mutex_unlock(&rd.mu);
	return done;
}

/* @resync: a Resync of exactly what it should hold, whatever it has (a
 * new data-plane owner's first pass). */
static void poll_one(struct rv_control *ctl, int slot, bool force_full, bool resync)
{
	if (rv_fleet_probe_wanted(slot)) /* DOWN: the prober reads it */
		return;
	char err[256], name[RV_DP_NAME_MAX];
	uint64_t now = rv_control_now_mono();
	struct rv_dp_link *l = rv_fleet_link(slot);
	bool first = rv_fleet_first_read(slot);
	/* Per-session stats are large: in full at most every max(1 s,
	 * sessions / FULL_PER_S s), by the reader thread; in between the
	 * counts alone (health, DOWN), and no session where the last full read
	 * saw some (a restart) asks for a full read at once. */
	struct poll_state *ps = &polls[slot];
	Roomvpn__Dataplane__V1__Response *r = NULL;
	bool pending = false, full = reader_take(slot, &r, &now, err, sizeof(err), &pending);
	bool due = force_full || first || rv_fleet_state_of(slot) == RV_FLEET_DOWN ||
		   now - ps->full_ns >= full_period(ps->sessions);
	if (!full && due && (force_full || !reader_ask(slot, ps->sessions))) { /* no reader: here */
		full = true;
		r = l ? rv_dp_link_stats_paged(l, ps->sessions, err, sizeof(err)) : NULL;
	} else if (!full && (due || pending)) {
		rv_dp_link_unref(l); /* the reader's answer will tell */
		return;
	} else if (!full) {
		r = l ? rv_dp_link_stats(l, false, err, sizeof(err)) : NULL;
		if (r && r->stats->sessions == 0 && ps->sessions) { /* restarted empty */
			roomvpn__dataplane__v1__response__free_unpacked(r, NULL);
			ps->full_ns = 0;
			reader_ask(slot, 0);
			rv_dp_link_unref(l);
			return;
		}
	}
	if (!r && !rv_dp_owner_is_me()) { /* not asked: this replica was deposed */
		rv_dp_link_unref(l);
		return;
	}
	if (r && full)
		ps->full_ns = now, ps->sessions = r->stats->sessions;
	enum rv_fleet_heard h = rv_fleet_heard(ctl, slot, r != NULL, r ? r->stats->sessions : 0,
					       r ? drops_of(r->stats) : 0);
	if (r && !full) { /* the cache keeps the last full read */
		roomvpn__dataplane__v1__response__free_unpacked(r, NULL);
		rv_dp_link_unref(l);
		return;
	}

	if (h == RV_FLEET_WENT_DOWN && ctl->audit_record) {
		char detail[300];
		snprintf(detail, sizeof(detail), "not heard from: %s", l ? err : "no link");
		struct rv_audit_event ev = {.time_ns = rv_control_now_real(),
					    .actor = "",
					    .source = "",
					    .action = "fleet.down",
					    .target = rv_fleet_name_of(slot, name, sizeof(name)),
					    .status = 14 /* UNAVAILABLE */,
					    .detail = detail};
		ctl->audit_record(ctl, &ev);
	}
	rv_dp_cache_set(slot, r);
	if (r) {
		if (first) {
			rv_dp_adopt_sessions(ctl->store, r->stats);
			note_rooms(slot, r->stats);
		}
		/* r stays valid: only this thread replaces it */
		repush(l, slot, r->stats, now, resync || h == RV_FLEET_CAME_BACK,
		       resync && h != RV_FLEET_CAME_BACK);
	}
	rv_dp_link_unref(l);
}

void rv_dp_poll_all(struct rv_control *ctl)
{
	int n = rv_fleet_slots();
	for (int i = 0; i < n; i++)
		poll_one(ctl, i, false, false);
}

void rv_dp_poll_resync_all(struct rv_control *ctl)
{
	int n = rv_fleet_slots();
	for (int i = 0; i < n; i++)
		poll_one(ctl, i, true, true);
}

void rv_dp_sync_poll_now(struct rv_control *ctl)
{
	int n = rv_fleet_slots();
	for (int i = 0; i < n; i++)
		poll_one(ctl, i, true, false);
}

/* ---- The prober ------------------------------------------------------------ */

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	bool running, stop;
} probe = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void *probe_main(void *arg)
{
	pthread_setname_np(pthread_self(), "rv-dp-probe"); /* top -H, perf */
	(void)arg;
	pthread_mutex_lock(&probe.mu);
	while (!probe.stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&probe.cv, &probe.mu, &ts);
		pthread_mutex_unlock(&probe.mu);
		for (int i = 0, n = rv_fleet_slots(); i < n; i++) {
			char err[256];
			struct rv_dp_link *l = rv_fleet_probe_wanted(i) ? rv_fleet_link(i) : NULL;
			Roomvpn__Dataplane__V1__Response *r =
			    l ? rv_dp_link_stats(l, true, err, sizeof(err)) : NULL;
			if (r) {
				rv_fleet_probe_answered(i);
				roomvpn__dataplane__v1__response__free_unpacked(r, NULL);
			}
			rv_dp_link_unref(l);
		}
		pthread_mutex_lock(&probe.mu);
	}
	pthread_mutex_unlock(&probe.mu);
	return NULL;
}

void rv_dp_poll_start(void)
{
	pthread_mutex_lock(&rd.mu);
	rd.stop = false;
	rd.running = pthread_create(&rd.thread, NULL, reader_main, NULL) == 0;
	pthread_mutex_unlock(&rd.mu);
	probe.stop = false;
	probe.running = pthread_create(&probe.thread, NULL, probe_main, NULL) == 0;
	if (!probe.running)
		rv_log(RV_LOG_ERROR, "data-plane prober not started: a DOWN data plane is not "
				     "noticed when it returns");
}

void rv_dp_poll_stop(void)
{
	pthread_mutex_lock(&probe.mu);
	probe.stop = true;
	pthread_cond_signal(&probe.cv);
	pthread_mutex_unlock(&probe.mu);
	if (probe.running)
		pthread_join(probe.thread, NULL);
	probe.running = false;
	pthread_mutex_lock(&rd.mu);
	bool running = rd.running;
	rd.stop = true;
	rd.running = false;
	pthread_cond_signal(&rd.cv);
	pthread_mutex_unlock(&rd.mu);
	if (running)
		pthread_join(rd.thread, NULL);
	for (int i = 0; i < RV_FLEET_MAX; i++) {
		if (rd.got[i])
			roomvpn__dataplane__v1__response__free_unpacked(rd.got[i], NULL);
		rd.got[i] = NULL;
		rd.want[i] = rd.busy[i] = rd.done[i] = false;
	}
}

void rv_dp_poll_reset(void)
{
	rv_dp_cache_clear();
	memset(polls, 0, sizeof(polls));
}
