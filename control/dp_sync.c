/* The data-plane sync thread (see dp_sync.h). */
#include "dp_sync.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "clock.h"
#include "dataplane.pb-c.h"
#include "dp_link.h"
#include "dp_msgs.h"
#include "dp_owner.h"
#include "dp_poll.h"
#include "fleet.h"
#include "dp_move.h"
#include "log.h"
#include "tunnels.h"

#define BATCH	      256
#define WAIT_NS	      5000000000ull /* a caller waits at most this for its delta */
#define POLL_EVERY_NS 1000000000ull
#define POLL_SLOW_NS  200000000ull /* a longer poll pass is logged */
#define DELTA_SLOW_NS 500000000ull /* so is a delta settled later than this */

typedef rv_dp_request Request;

enum kind { D_UPSERT, D_DELETE, D_KEY, D_ROOM };

/* A caller waiting for its delta; freed by whichever side lets go last. */
struct waiter {
	pthread_cond_t cv;
	int refs, rc; /* rc: 1 pending, 0 done, -1 failed */
	char err[256];
};

struct delta {
	enum kind kind;
	uint32_t peer_id;
	uint64_t room;	/* whose data plane it goes to (upserts, keys: the tunnel's) */
	int slot, also; /* deletes: that data plane and a moved room's source, when queued */
	uint8_t key_id;
	enum rv_cipher suite;
	struct rv_key_material km;
	struct waiter *w;
	rv_dp_sync_done_fn done; /* or a callback, run with no lock held */
	void *arg;
	uint64_t deadline; /* callbacks: not sent after this, failed instead */
	uint64_t queued_ns;
	int rc;
	char err[160];
	struct delta *next;
};

static struct {
	pthread_mutex_t mu; /* the queue and the counters */
	pthread_cond_t cv;
	struct delta *head, **tail;
	size_t n, max;
	uint64_t dropped, failed, not_owner;
	struct rv_control *ctl;
	pthread_t thread;
	bool running, stop, poll_soon;
} q = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* ---- The queue --------------------------------------------------------- */

static void waiter_put(struct waiter *w) /* q.mu held */
{
	if (w && --w->refs == 0) {
		pthread_cond_destroy(&w->cv);
		free(w);
	}
}

/* Settles @d (q.mu held). A delta with a callback is returned instead of
 * freed: the caller runs it with run_done() once it let go of q.mu. */
static struct delta *finish(struct delta *d, int rc, const char *err)
{
	if (rc < 0)
		q.failed++;
	if (d->done) {
		d->rc = rc;
		snprintf(d->err, sizeof(d->err), "%s", err);
		return d;
	}
	if (d->w) {
		d->w->rc = rc;
		snprintf(d->w->err, sizeof(d->w->err), "%s", err);
		pthread_cond_broadcast(&d->w->cv);
		waiter_put(d->w);
	}
	OPENSSL_cleanse(&d->km, sizeof(d->km));
	free(d);
	return NULL;
}

/* The callbacks of the settled deltas on list @d (no lock held). */
static void run_done(struct delta *d)
{
	while (d) {
		struct delta *next = d->next;
		d->done(d->arg, d->rc, d->err);
		OPENSSL_cleanse(&d->km, sizeof(d->km));
		free(d);
		d = next;
	}
}

/* Queue @d (taken over); with @wait, wait for it (no lock held by the
 * caller) and return its result. */
static int enqueue(struct delta *d, bool wait, char *err, size_t errlen)
{
	struct waiter *w = NULL;
	struct delta *late = NULL;
	int rc = 0;

	if (!d) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	d->queued_ns = rv_control_now_mono();
	if (d->done)
		d->deadline = d->queued_ns + WAIT_NS;
	if (wait && (w = calloc(1, sizeof(*w)))) {
		pthread_cond_init(&w->cv, NULL);
		w->refs = 2;
		w->rc = 1;
	}
	d->w = w;
	pthread_mutex_lock(&q.mu);
	if (q.running && !rv_dp_owner_is_me()) {
		/* another replica drives the data planes, from its registry (and
		 * this one's Resync covers it if it becomes the owner): settled,
		 * never queued */
		q.not_owner++;
		if ((late = finish(d, 0, "")))
			late->next = NULL;
	} else if (!q.running || q.n >= q.max || (wait && !w)) {
		char why[128];
		snprintf(why, sizeof(why), "%s",
			 q.running ? "the data-plane sync backlog is full (dataplane_sync_backlog)"
				   : "no data-plane sync thread");
		rv_log(RV_LOG_WARN, "data-plane delta for peer-id %u dropped: %s", d->peer_id, why);
		snprintf(err, errlen, "%s", why);
		q.dropped++;
		if ((late = finish(d, -1, why)))
			late->next = NULL;
		q.failed--; /* counted as dropped */
		rc = -1;
	} else {
		d->next = NULL;
		*q.tail = d;
		q.tail = &d->next;
		q.n++;
		pthread_cond_signal(&q.cv);
	}
	if (w) {
		struct timespec ts = rv_clock_deadline(CLOCK_REALTIME, WAIT_NS);
		while (w->rc == 1 && pthread_cond_timedwait(&w->cv, &q.mu, &ts) == 0)
			;
		rc = w->rc == 1 ? -1 : w->rc;
		snprintf(err, errlen, "%s",
			 w->rc == 1 ? "the data plane did not answer within 5 s" : w->err);
		waiter_put(w);
	}
	pthread_mutex_unlock(&q.mu);
	run_done(late);
	return rc;
}

static struct delta *delta(enum kind k, uint32_t peer_id)
{
	struct delta *d = calloc(1, sizeof(*d));
	if (d) {
		d->kind = k;
		d->peer_id = peer_id;
	}
	return d;
}

static struct delta *delta_in(enum kind k, uint64_t room, uint32_t peer_id)
{
	struct delta *d = delta(k, peer_id);
	if (d) {
		d->room = room;
		d->slot = rv_fleet_room_slot(room);
		d->also = rv_fleet_room_source(room);
	}
	return d;
}

void rv_dp_sync_session_async(struct rv_control *ctl, uint64_t room, uint32_t old, uint32_t peer_id,
			      rv_dp_sync_done_fn done, void *arg)
{
	char ignored[256];
	struct delta *d = delta_in(D_UPSERT, room, peer_id);
	(void)ctl;
	if (old) /* the member's previous tunnel, if the data plane has it */
		enqueue(delta_in(D_DELETE, room, old), false, ignored, sizeof(ignored));
	if (!d) {
		done(arg, -1, "out of memory");
		return;
	}
	d->done = done;
	d->arg = arg;
	enqueue(d, false, ignored, sizeof(ignored));
}

void rv_dp_sync_key_async(struct rv_control *ctl, uint32_t peer_id, uint8_t key_id,
			  enum rv_cipher suite, const struct rv_key_material *km,
			  rv_dp_sync_done_fn done, void *arg)
{
	char ignored[256];
	struct delta *d = delta(D_KEY, peer_id);
	(void)ctl;
	if (!d) {
		done(arg, -1, "out of memory");
		return;
	}
	d->key_id = key_id;
	d->suite = suite;
	memcpy(&d->km, km, sizeof(d->km));
	d->done = done;
	d->arg = arg;
	enqueue(d, false, ignored, sizeof(ignored));
}

void rv_dp_sync_delete(struct rv_control *ctl, uint64_t room, uint32_t peer_id)
{
	char err[256];
	(void)ctl;
	enqueue(delta_in(D_DELETE, room, peer_id), false, err, sizeof(err));
}

int rv_dp_sync_delete_wait(struct rv_control *ctl, uint64_t room, uint32_t peer_id, char *err,
			   size_t errlen)
{
	(void)ctl;
	return enqueue(delta_in(D_DELETE, room, peer_id), true, err, errlen);
}

void rv_dp_sync_room(struct rv_control *ctl, uint64_t room)
{
	char err[256];
	struct delta *d = delta(D_ROOM, 0);
	(void)ctl;
	if (d)
		d->room = room;
	enqueue(d, false, err, sizeof(err));
}

void rv_dp_sync_counters(struct rv_dp_sync_counters *c)
{
	pthread_mutex_lock(&q.mu);
	*c = (struct rv_dp_sync_counters){q.n, q.dropped, q.failed, 0, q.not_owner};
	pthread_mutex_unlock(&q.mu);
	uint64_t resyncs, failed;
	rv_dp_poll_counters(&resyncs, &failed);
	c->resyncs = resyncs;
	c->failed += failed;
}

/* ---- Sending ---------------------------------------------------------------- */

/* The requests of delta @d into @m; -1 when there is nothing to send. An
 * upsert or a key is addressed to the data plane of its tunnel's room. */
static int build(struct rv_dp_msgs *m, struct delta *d)
{
	int rc = 0;

	m->n_rq = 0;
	rv_tunnels_lock();
	const struct rv_tunnel *t = rv_tunnels_find(d->peer_id);
	const struct rv_tunnel_room *room = rv_tunnels_room(d->room);
	switch (d->kind) {
	case D_UPSERT:
		if (!t || !t->keyed) {
			rc = -1; /* ended (or key forgotten) before its turn */
			break;
		}
		d->room = t->room_id;
		rv_dp_msgs_session(m, t);
		rv_dp_msgs_upsert(m);
		break;
	case D_ROOM:
		if (!room) {
			rc = -1;
			break;
		}
		rv_dp_msgs_room(m, room);
		rv_dp_msgs_upsert_room(m);
		break;
	case D_DELETE:
		rv_dp_msgs_delete(m, d->peer_id);
		break;
	case D_KEY:
		if (t)
			d->room = t->room_id;
		memcpy(&m->km, &d->km, sizeof(m->km));
		rv_dp_msgs_key(m, d->key_id);
		roomvpn__dataplane__v1__install_key__init(&m->ik);
		m->ik.peer_id = d->peer_id;
		m->ik.key = &m->k;
		m->ik.cipher = (char *)rv_cipher_name(d->suite);
		m->ik.seal_after_use = true; /* the client seals with it first */
		rv_dp_msgs_req(m, ROOMVPN__DATAPLANE__V1__REQUEST__BODY_INSTALL_KEY)->install_key =
		    &m->ik;
		break;
	}
	rv_tunnels_unlock();
	return rc;
}

/* One exchange with data plane @slot of the requests of the deltas @to[i]
 * == @slot; each one's verdict into @bad/@why (@record: else ignored). */
static void send_to(int slot, struct delta **ds, size_t n, const int *to, struct rv_dp_msgs *m,
		    Request **rqp, bool *ok, bool *bad, char (*why)[160], bool record)
{
	size_t nr = 0, owner[2 * BATCH];
	char err[160] = "", name[RV_DP_NAME_MAX]; /* as a delta's why */

	for (size_t i = 0; i < n; i++)
		for (unsigned j = 0; to[i] == slot && j < m[i].n_rq; j++) {
			owner[nr] = i;
			rqp[nr++] = &m[i].rq[j];
		}
	if (!nr)
		return;
	/* a DOWN one is not waited for (a hung one would hold every other);
	 * a fleet of one is tried still, as a single data plane always was */
	bool down = rv_fleet_probe_wanted(slot) && rv_fleet_slots() > 1;
	struct rv_dp_link *l = down ? NULL : rv_fleet_link(slot);
	int rc = l ? rv_dp_link_exchange_each(l, rqp, nr, ok, err, sizeof(err)) : -1;
	rv_dp_link_unref(l);
	if (!l)
		snprintf(err, sizeof(err), "data plane %s is %s",
			 rv_fleet_name_of(slot, name, sizeof(name)), down ? "down" : "not linked");
	if (rc < 0)
		rv_log(RV_LOG_WARN, "data plane %s: %zu requests not delivered: %s",
		       rv_fleet_name_of(slot, name, sizeof(name)), nr, err);
	for (size_t k = 0; record && k < nr; k++)
		if (rc < 0 || !ok[k]) {
			bad[owner[k]] = true;
			snprintf(why[owner[k]], sizeof(why[0]), "%s", err);
		}
	(void)ds;
}

/* The oldest of @n deltas sent at @sent_ns, if it took long: how long it
 * waited in the queue and how long at the data plane (once a second). */
static void note_slow(struct delta **ds, size_t n, uint64_t sent_ns)
{
	static const char *const kinds[] = {"session", "delete", "key", "room"};
	static uint64_t logged_ns;
	uint64_t done = rv_control_now_mono();
	struct delta *old = NULL;

	for (size_t i = 0; i < n; i++)
		if (!old || ds[i]->queued_ns < old->queued_ns)
			old = ds[i];
	if (!old || done - old->queued_ns < DELTA_SLOW_NS || done - logged_ns < 1000000000ull)
		return;
	logged_ns = done;
	rv_log(RV_LOG_WARN,
	       "data-plane sync: a %s delta (peer-id %u) took %" PRIu64 " ms: %" PRIu64
	       " ms queued (%zu in its batch), %" PRIu64 " ms at the data plane",
	       kinds[old->kind], old->peer_id, (done - old->queued_ns) / 1000000u,
	       (sent_ns - old->queued_ns) / 1000000u, n, (done - sent_ns) / 1000000u);
}

/* One exchange per data plane for @n deltas. A delta whose caller's bound
 * passed while it was queued is not sent: it fails. */
static void send_batch(struct delta **ds, size_t n, struct rv_dp_msgs *m, Request **rqp, bool *ok)
{
	struct delta *later = NULL, **later_tail = &later;
	uint64_t now = rv_control_now_mono();
	int to[BATCH], also[BATCH], slots = rv_fleet_slots();
	bool bad[BATCH] = {0};
	char why[BATCH][160];

	for (size_t i = 0; i < n; i++) {
		bool expired = ds[i]->deadline && now > ds[i]->deadline;
		if (expired || build(&m[i], ds[i]) < 0)
			m[i].n_rq = 0;
		bool del = ds[i]->kind == D_DELETE; /* its room may be gone: placed when queued */
		to[i] = del ? ds[i]->slot : rv_fleet_room_slot(ds[i]->room);
		/* a moved room's sessions stay on its source until the grace:
		 * a delete reaches them there too */
		also[i] = del ? ds[i]->also : -1;
		if (to[i] < 0 && slots == 1)
			to[i] = 0; /* one data plane: every room is on it */
		if (to[i] < 0 && m[i].n_rq) {
			bad[i] = true;
			snprintf(why[i], sizeof(why[i]),
				 "room %" PRIu64 " is on no data plane "
				 "(none up: roomvpn admin dataplanes)",
				 ds[i]->room);
		}
	}
	for (int s = 0; s < slots; s++) {
		send_to(s, ds, n, to, m, rqp, ok, bad, why, true);
		send_to(s, ds, n, also, m, rqp, ok, bad, why, false);
	}
	note_slow(ds, n, now);
	pthread_mutex_lock(&q.mu);
	for (size_t i = 0; i < n; i++) {
		int r = bad[i] ? -1 : 0;
		const char *w = bad[i] ? why[i] : "";
		if (m[i].n_rq == 0 && ds[i]->deadline && now > ds[i]->deadline) {
			r = -1;
			w = "the data plane did not answer within 5 s";
		} else if (m[i].n_rq == 0 && ds[i]->kind == D_UPSERT) {
			r = -1;
			w = "the tunnel ended before the data plane had it";
		}
		struct delta *d = finish(ds[i], r, w);
		if (d) {
			d->next = NULL;
			*later_tail = d;
			later_tail = &d->next;
		}
		rv_dp_msgs_done(&m[i]);
	}
	pthread_mutex_unlock(&q.mu);
	run_done(later);
}

/* Deltas queued while this replica was the owner, dequeued after it
 * stopped being it: not sent (the next owner resyncs), settled as
 * enqueue() settles them. */
static void settle_not_owner(struct delta **ds, size_t n)
{
	struct delta *later = NULL, **later_tail = &later;

	pthread_mutex_lock(&q.mu);
	for (size_t i = 0; i < n; i++) {
		q.not_owner++;
		struct delta *d = finish(ds[i], 0, "");
		if (d) {
			d->next = NULL;
			*later_tail = d;
			later_tail = &d->next;
		}
	}
	pthread_mutex_unlock(&q.mu);
	run_done(later);
}

void rv_dp_sync_poll_soon(void)
{
	pthread_mutex_lock(&q.mu);
	q.poll_soon = true;
	pthread_cond_signal(&q.cv);
	pthread_mutex_unlock(&q.mu);
}

/* ---- The thread ------------------------------------------------------------ */

static void *sync_main(void *arg)
{
	pthread_setname_np(pthread_self(), "rv-dp-sync"); /* top -H, perf */
	struct delta *ds[BATCH];
	struct rv_dp_msgs *m = calloc(BATCH, sizeof(*m));
	Request **rqp = calloc(2 * BATCH, sizeof(*rqp));
	bool *ok = calloc(2 * BATCH, sizeof(*ok));
	uint64_t next_poll = 0, term = 0;

	(void)arg;
	pthread_mutex_lock(&q.mu);
	while (!q.stop) {
		uint64_t now = rv_control_now_mono();
		if (q.poll_soon) {
			q.poll_soon = false;
			next_poll = now;
		}
		if (!q.n && now < next_poll) {
			struct timespec ts = rv_clock_deadline(CLOCK_REALTIME, next_poll - now);
			pthread_cond_timedwait(&q.cv, &q.mu, &ts);
			continue;
		}
		size_t n = 0;
		while (q.head && n < BATCH && m && rqp && ok) {
			ds[n++] = q.head;
			q.head = q.head->next;
			q.n--;
		}
		if (!q.head)
			q.tail = &q.head;
		pthread_mutex_unlock(&q.mu);
		bool owner = rv_dp_owner_is_me();
		if (n && owner)
			send_batch(ds, n, m, rqp, ok); /* completes the deltas */
		else if (n)
			settle_not_owner(ds, n);
		if (owner && rv_dp_owner_term() != term) {
			/* a new term (dp_owner.h): deltas were dropped before it */
			term = rv_dp_owner_term();
			rv_dp_poll_resync_all(q.ctl);
			next_poll = rv_control_now_mono() + POLL_EVERY_NS;
		} else if (now >= next_poll) {
			uint64_t t0 = rv_control_now_mono();
			if (owner) {
				rv_dp_poll_all(q.ctl);	/* health, cache, adoption, resync */
				rv_dp_move_step(q.ctl); /* drains, failovers, graces */
			}
			next_poll = rv_control_now_mono() + POLL_EVERY_NS;
			/* deltas queued meanwhile (Bootstraps, Kicks) waited this
			 * long: the figure for issue 10's tails at 100,000 tunnels */
			uint64_t took = next_poll - POLL_EVERY_NS - t0;
			if (took > POLL_SLOW_NS)
				rv_log(took > 5 * POLL_SLOW_NS ? RV_LOG_WARN : RV_LOG_INFO,
				       "data-plane sync: a poll pass took %llu ms (deltas waited)",
				       (unsigned long long)(took / 1000000u));
		}
		pthread_mutex_lock(&q.mu);
	}
	struct delta *later = NULL;
	while (q.head) { /* shutdown: nobody is served any more */
		struct delta *d = q.head;
		q.head = d->next;
		if ((d = finish(d, -1, "the control plane is shutting down"))) {
			d->next = later;
			later = d;
		}
	}
	q.tail = &q.head;
	q.n = 0;
	pthread_mutex_unlock(&q.mu);
	run_done(later);
	free(m), free(rqp), free(ok);
	return NULL;
}

void rv_dp_sync_start(struct rv_control *ctl)
{
	q.ctl = ctl;
	q.max = ctl->cfg.dp_sync_backlog ? ctl->cfg.dp_sync_backlog : 65536;
	q.tail = &q.head;
	q.stop = false;
	rv_dp_poll_start();
	rv_fleet_set_wake(rv_dp_sync_poll_soon);
	rv_dp_owner_set_wake(rv_dp_sync_poll_soon);
	if (pthread_create(&q.thread, NULL, sync_main, NULL) == 0)
		q.running = true;
	else
		rv_log(RV_LOG_ERROR, "data-plane sync thread not started: tunnels cannot start");
}

void rv_dp_sync_stop(void)
{
	rv_fleet_set_wake(NULL);
	rv_dp_owner_set_wake(NULL);
	pthread_mutex_lock(&q.mu);
	bool running = q.running;
	q.stop = true;
	q.running = false;
	pthread_cond_signal(&q.cv);
	pthread_mutex_unlock(&q.mu);
	if (running)
		pthread_join(q.thread, NULL);
	rv_dp_poll_stop();
	rv_dp_poll_reset();
}
