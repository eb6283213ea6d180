/* The data-plane sync thread (see dp_sync.h). */
#include "dp_sync.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "dataplane.pb-c.h"
#include "dp_adopt.h"
#include "dp_cache.h"
#include "dp_link.h"
#include "keepalive.h"
#include "log.h"
#include "tunnels.h"

#define BATCH	      256
#define WAIT_NS	      5000000000ull /* a caller waits at most this for its delta */
#define POLL_EVERY_NS 1000000000ull

typedef Roomvpn__Dataplane__V1__Request Request;

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
	uint64_t room;
	uint8_t key_id;
	enum rv_cipher suite;
	struct rv_key_material km;
	struct waiter *w;
	rv_dp_sync_done_fn done; /* or a callback, run with no lock held */
	void *arg;
	uint64_t deadline; /* callbacks: not sent after this, failed instead */
	int rc;
	char err[160];
	struct delta *next;
};

/* The agent messages of one session or room (pointers into itself). */
struct msgs {
	Request rq[2];
	Roomvpn__Dataplane__V1__UpsertRoom ur;
	Roomvpn__Dataplane__V1__Room room;
	Roomvpn__Dataplane__V1__Route *rtp[RV_TUNNELS_ROUTES_MAX];
	Roomvpn__Dataplane__V1__Route rt[RV_TUNNELS_ROUTES_MAX];
	Roomvpn__Dataplane__V1__Rule *rules, **rulep; /* copies, freed by msgs_done */
	Roomvpn__Dataplane__V1__Rule deny_all, *deny_allp;
	Roomvpn__Dataplane__V1__UpsertSession us;
	Roomvpn__Dataplane__V1__Session s;
	Roomvpn__Dataplane__V1__Key k;
	Roomvpn__Dataplane__V1__DeleteSession ds;
	Roomvpn__Dataplane__V1__InstallKey ik;
	struct rv_key_material km;
	unsigned n_rq;
};

static struct {
	pthread_mutex_t mu; /* the queue and the counters */
	pthread_cond_t cv;
	struct delta *head, **tail;
	size_t n, max;
	uint64_t dropped, failed, resyncs;
	struct rv_control *ctl;
	struct rv_dp_link *link; /* the local data plane (dataplane_agent) */
	pthread_t thread;
	bool running, stop, adopted;
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
	if (d->done)
		d->deadline = rv_control_now_mono() + WAIT_NS;
	if (wait && (w = calloc(1, sizeof(*w)))) {
		pthread_cond_init(&w->cv, NULL);
		w->refs = 2;
		w->rc = 1;
	}
	d->w = w;
	pthread_mutex_lock(&q.mu);
	if (!q.running || q.n >= q.max || (wait && !w)) {
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
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += (time_t)(WAIT_NS / 1000000000u);
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

void rv_dp_sync_session_async(struct rv_control *ctl, uint32_t old, uint32_t peer_id,
			      rv_dp_sync_done_fn done, void *arg)
{
	char ignored[256];
	struct delta *d = delta(D_UPSERT, peer_id);
	(void)ctl;
	if (old) /* the member's previous tunnel, if the data plane has it */
		enqueue(delta(D_DELETE, old), false, ignored, sizeof(ignored));
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

void rv_dp_sync_delete(struct rv_control *ctl, uint32_t peer_id)
{
	char err[256];
	(void)ctl;
	enqueue(delta(D_DELETE, peer_id), false, err, sizeof(err));
}

int rv_dp_sync_delete_wait(struct rv_control *ctl, uint32_t peer_id, char *err, size_t errlen)
{
	(void)ctl;
	return enqueue(delta(D_DELETE, peer_id), true, err, errlen);
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
	*c = (struct rv_dp_sync_counters){q.n, q.dropped, q.failed, q.resyncs};
	pthread_mutex_unlock(&q.mu);
}

/* ---- Agent messages ------------------------------------------------------ */

static void req(struct msgs *m, int body_case)
{
	Request *r = &m->rq[m->n_rq++];
	roomvpn__dataplane__v1__request__init(r);
	r->request_id = m->n_rq; /* an all-default Response would pack to 0 bytes */
	r->body_case = body_case;
}

static void fill_room(struct msgs *m, const struct rv_tunnel_room *room)
{
	roomvpn__dataplane__v1__room__init(&m->room);
	m->room.room_id = (uint32_t)room->id;
	m->room.subnet = room->subnet;
	m->room.prefix_len = room->prefix_len;
	for (size_t i = 0; i < room->n_routes; i++) {
		m->rt[i] = room->routes[i];
		m->rtp[i] = &m->rt[i];
	}
	m->room.n_routes = room->n_routes;
	m->room.routes = m->rtp;
	/* the access rules, copied (sent without the lock); out of memory:
	 * deny everything rather than nothing */
	m->rules = NULL;
	m->rulep = NULL;
	if (!room->n_rules)
		return;
	m->rules = malloc(room->n_rules * sizeof(*m->rules));
	m->rulep = malloc(room->n_rules * sizeof(*m->rulep));
	if (!m->rules || !m->rulep) {
		free(m->rules), free(m->rulep);
		m->rules = NULL;
		m->rulep = NULL;
		roomvpn__dataplane__v1__rule__init(&m->deny_all);
		m->deny_all.deny = true;
		m->deny_allp = &m->deny_all;
		m->room.n_rules = 1;
		m->room.rules = &m->deny_allp;
		return;
	}
	for (size_t i = 0; i < room->n_rules; i++) {
		m->rules[i] = room->rules[i];
		m->rulep[i] = &m->rules[i];
	}
	m->room.n_rules = room->n_rules;
	m->room.rules = m->rulep;
}

/* After sending: the copies fill_room made. */
static void msgs_done(struct msgs *m)
{
	free(m->rules), free(m->rulep);
	m->rules = NULL;
	m->rulep = NULL;
	OPENSSL_cleanse(&m->km, sizeof(m->km));
}

static void key_msg(struct msgs *m, uint8_t key_id)
{
	roomvpn__dataplane__v1__key__init(&m->k);
	m->k.key_id = key_id;
	m->k.material.data = (uint8_t *)&m->km;
	m->k.material.len = sizeof(m->km);
	m->k.direction = ROOMVPN__DATAPLANE__V1__KEY_DIRECTION__KEY_DIRECTION_SERVER;
}

/* Room and session of keyed tunnel @t, copied (lock held). */
static void fill_session(struct msgs *m, const struct rv_tunnel *t)
{
	fill_room(m, t->room);
	memcpy(&m->km, &t->km, sizeof(m->km));
	key_msg(m, t->push_key_id);
	roomvpn__dataplane__v1__session__init(&m->s);
	m->s.peer_id = t->peer_id;
	m->s.room_id = m->room.room_id;
	m->s.vip = t->vip;
	m->s.cipher = (char *)rv_cipher_name(t->suite);
	m->s.key = &m->k;
}

/* The requests of delta @d into @m; -1 when there is nothing to send. */
static int build(struct msgs *m, const struct delta *d)
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
		fill_session(m, t);
		roomvpn__dataplane__v1__upsert_room__init(&m->ur);
		m->ur.room = &m->room;
		req(m, ROOMVPN__DATAPLANE__V1__REQUEST__BODY_UPSERT_ROOM);
		m->rq[0].upsert_room = &m->ur;
		roomvpn__dataplane__v1__upsert_session__init(&m->us);
		m->us.session = &m->s;
		req(m, ROOMVPN__DATAPLANE__V1__REQUEST__BODY_UPSERT_SESSION);
		m->rq[1].upsert_session = &m->us;
		break;
	case D_ROOM:
		if (!room) {
			rc = -1;
			break;
		}
		fill_room(m, room);
		roomvpn__dataplane__v1__upsert_room__init(&m->ur);
		m->ur.room = &m->room;
		req(m, ROOMVPN__DATAPLANE__V1__REQUEST__BODY_UPSERT_ROOM);
		m->rq[0].upsert_room = &m->ur;
		break;
	case D_DELETE:
		roomvpn__dataplane__v1__delete_session__init(&m->ds);
		m->ds.peer_id = d->peer_id;
		req(m, ROOMVPN__DATAPLANE__V1__REQUEST__BODY_DELETE_SESSION);
		m->rq[0].delete_session = &m->ds;
		break;
	case D_KEY:
		memcpy(&m->km, &d->km, sizeof(m->km));
		key_msg(m, d->key_id);
		roomvpn__dataplane__v1__install_key__init(&m->ik);
		m->ik.peer_id = d->peer_id;
		m->ik.key = &m->k;
		m->ik.cipher = (char *)rv_cipher_name(d->suite);
		m->ik.seal_after_use = true; /* the client seals with it first */
		req(m, ROOMVPN__DATAPLANE__V1__REQUEST__BODY_INSTALL_KEY);
		m->rq[0].install_key = &m->ik;
		break;
	}
	rv_tunnels_unlock();
	return rc;
}

/* One exchange for @n deltas. A delta whose caller's bound passed while
 * it was queued is not sent: it fails. */
static void send_batch(struct delta **ds, size_t n, struct msgs *m, Request **rqp, bool *ok)
{
	size_t nr = 0;
	char err[256] = "";
	struct delta *later = NULL, **later_tail = &later;
	uint64_t now = rv_control_now_mono();
	int rc;

	for (size_t i = 0; i < n; i++) {
		bool expired = ds[i]->deadline && now > ds[i]->deadline;
		if (expired || build(&m[i], ds[i]) < 0)
			m[i].n_rq = 0;
		for (unsigned j = 0; j < m[i].n_rq; j++)
			rqp[nr++] = &m[i].rq[j];
	}
	if (nr && !q.link)
		snprintf(err, sizeof(err), "no data plane configured (dataplane_agent)");
	rc = !nr      ? 0
	     : q.link ? rv_dp_link_exchange_each(q.link, rqp, nr, ok, err, sizeof(err))
		      : -1;
	if (rc < 0)
		rv_log(RV_LOG_WARN, "data plane: %zu requests not delivered: %s", nr, err);
	pthread_mutex_lock(&q.mu);
	nr = 0;
	for (size_t i = 0; i < n; i++) {
		int r = rc;
		const char *why = err;
		if (m[i].n_rq == 0 && ds[i]->deadline && now > ds[i]->deadline) {
			r = -1;
			why = "the data plane did not answer within 5 s";
		} else if (m[i].n_rq == 0 && ds[i]->kind == D_UPSERT) {
			r = -1;
			why = "the tunnel ended before the data plane had it";
		}
		for (unsigned j = 0; j < m[i].n_rq; j++, nr++)
			if (rc == 0 && !ok[nr])
				r = -1;
		struct delta *d = finish(ds[i], r, why);
		if (d) {
			d->next = NULL;
			*later_tail = d;
			later_tail = &d->next;
		}
		msgs_done(&m[i]);
	}
	pthread_mutex_unlock(&q.mu);
	run_done(later);
}

/* ---- Re-push ------------------------------------------------------------ */

struct repush {
	const Roomvpn__Dataplane__V1__Stats *st;
	uint64_t read_ns, gen;
	bool resync;
	size_t n, cap, n_rooms, keyless;
	struct msgs *m; /* one per session */
	Roomvpn__Dataplane__V1__Room **rooms;
	uint32_t *peers;
};

/* Keyed tunnels the data plane lacks (all of them for a Resync). */
static void collect(struct rv_tunnel *t, void *arg)
{
	struct repush *r = arg;

	if (!t->keyed) {
		r->keyless++;
		return;
	}
	if (!r->resync && (t->key_ns >= r->read_ns || rv_dp_cache_find(t->peer_id)))
		return;
	if (r->n == r->cap)
		return; /* sized before */
	struct msgs *m = &r->m[r->n];
	fill_session(m, t);
	if (t->room->sync_gen != r->gen) { /* each room once */
		t->room->sync_gen = r->gen;
		r->rooms[r->n_rooms++] = &m->room;
	}
	r->peers[r->n++] = t->peer_id;
}

static void ask_rekey(uint32_t *peers, size_t n)
{
	rv_tunnels_lock();
	for (size_t i = 0; i < n; i++) {
		struct rv_tunnel *t = rv_tunnels_find(peers[i]);
		if (t)
			rv_keepalive_push_rekey(t, "the data plane restarted");
	}
	rv_tunnels_unlock();
}

/* Give the data plane what it lacks; registry copied under the lock, sent
 * without it. */
static void repush(const Roomvpn__Dataplane__V1__Stats *st, uint64_t read_ns)
{
	static uint64_t gen;
	struct repush r = {.st = st, .read_ns = read_ns, .gen = ++gen, .resync = !st->n_session};
	char err[256];
	int rc = 0;

	rv_tunnels_lock();
	rv_dp_cache_lock();
	r.cap = rv_tunnels_count();
	r.m = calloc(r.cap ? r.cap : 1, sizeof(*r.m));
	r.rooms = calloc(r.cap ? r.cap : 1, sizeof(*r.rooms));
	r.peers = calloc(r.cap ? r.cap : 1, sizeof(*r.peers));
	if (r.m && r.rooms && r.peers)
		rv_tunnels_each(collect, &r);
	rv_dp_cache_unlock();
	rv_tunnels_unlock();
	if (!r.n)
		goto out;
	if (r.resync) {
		Roomvpn__Dataplane__V1__Resync rs = ROOMVPN__DATAPLANE__V1__RESYNC__INIT;
		Roomvpn__Dataplane__V1__Session **sp = calloc(r.n, sizeof(*sp));
		Request rq = ROOMVPN__DATAPLANE__V1__REQUEST__INIT, *one = &rq;
		for (size_t i = 0; sp && i < r.n; i++)
			sp[i] = &r.m[i].s;
		rs.n_rooms = r.n_rooms;
		rs.rooms = r.rooms;
		rs.n_sessions = r.n;
		rs.sessions = sp;
		rq.request_id = 1;
		rq.body_case = ROOMVPN__DATAPLANE__V1__REQUEST__BODY_RESYNC;
		rq.resync = &rs;
		rc = sp ? rv_dp_link_exchange(q.link, &one, 1, err, sizeof(err)) : -1;
		free(sp);
		if (rc == 0)
			rv_log(RV_LOG_INFO,
			       "data plane without sessions (restarted): resynced %zu sessions in "
			       "%zu rooms (%zu tunnels without key material left to their clients)",
			       r.n, r.n_rooms, r.keyless);
	} else {
		Request **rqp = calloc(2 * r.n, sizeof(*rqp));
		for (size_t i = 0; rqp && i < r.n; i++) {
			struct msgs *m = &r.m[i];
			m->n_rq = 0;
			roomvpn__dataplane__v1__upsert_room__init(&m->ur);
			m->ur.room = &m->room;
			req(m, ROOMVPN__DATAPLANE__V1__REQUEST__BODY_UPSERT_ROOM);
			m->rq[0].upsert_room = &m->ur;
			roomvpn__dataplane__v1__upsert_session__init(&m->us);
			m->us.session = &m->s;
			req(m, ROOMVPN__DATAPLANE__V1__REQUEST__BODY_UPSERT_SESSION);
			m->rq[1].upsert_session = &m->us;
			rqp[2 * i] = &m->rq[0];
			rqp[2 * i + 1] = &m->rq[1];
		}
		rc = rqp ? rv_dp_link_exchange(q.link, rqp, 2 * r.n, err, sizeof(err)) : -1;
		free(rqp);
		if (rc == 0)
			rv_log(RV_LOG_INFO, "re-pushed %zu sessions missing from the data plane",
			       r.n);
	}
	pthread_mutex_lock(&q.mu);
	q.resyncs += rc == 0;
	q.failed += rc != 0;
	pthread_mutex_unlock(&q.mu);
	if (rc < 0)
		rv_log(RV_LOG_WARN, "re-pushing %zu sessions to the data plane: %s", r.n, err);
	else /* packet-ids start afresh on the data plane: every client re-keys */
		ask_rekey(r.peers, r.n);
out:
	for (size_t i = 0; r.m && i < r.n; i++)
		msgs_done(&r.m[i]);
	free(r.m), free(r.rooms), free(r.peers);
}

void rv_dp_sync_poll_now(struct rv_control *ctl)
{
	char err[256];
	uint64_t now = rv_control_now_mono();

	q.ctl = ctl;
	if (!q.link && ctl->cfg.dp_agent[0])
		q.link = rv_dp_link_local(ctl->cfg.dp_agent);
	if (!q.link)
		return; /* no data plane configured */
	Roomvpn__Dataplane__V1__Response *r = rv_dp_link_sessions(q.link, err, sizeof(err));
	rv_dp_cache_set(r);
	if (!r)
		return;
	if (!q.adopted) {
		q.adopted = true;
		rv_dp_adopt_sessions(ctl->store, r->stats);
	}
	repush(r->stats, now); /* r stays valid: only this thread replaces it */
}

/* ---- The thread ------------------------------------------------------------ */

static void *sync_main(void *arg)
{
	struct delta *ds[BATCH];
	struct msgs *m = calloc(BATCH, sizeof(*m));
	Request **rqp = calloc(2 * BATCH, sizeof(*rqp));
	bool *ok = calloc(2 * BATCH, sizeof(*ok));
	uint64_t next_poll = 0;

	(void)arg;
	pthread_mutex_lock(&q.mu);
	while (!q.stop) {
		uint64_t now = rv_control_now_mono();
		if (!q.n && now < next_poll) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			uint64_t ns = (uint64_t)ts.tv_nsec + (next_poll - now);
			ts.tv_sec += (time_t)(ns / 1000000000u);
			ts.tv_nsec = (long)(ns % 1000000000u);
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
		if (n)
			send_batch(ds, n, m, rqp, ok); /* completes the deltas */
		if (now >= next_poll) {
			rv_dp_sync_poll_now(q.ctl);
			next_poll = rv_control_now_mono() + POLL_EVERY_NS;
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
	if (!q.link && ctl->cfg.dp_agent[0])
		q.link = rv_dp_link_local(ctl->cfg.dp_agent);
	if (pthread_create(&q.thread, NULL, sync_main, NULL) == 0)
		q.running = true;
	else
		rv_log(RV_LOG_ERROR, "data-plane sync thread not started: tunnels cannot start");
}

void rv_dp_sync_stop(void)
{
	pthread_mutex_lock(&q.mu);
	bool running = q.running;
	q.stop = true;
	q.running = false;
	pthread_cond_signal(&q.cv);
	pthread_mutex_unlock(&q.mu);
	if (running)
		pthread_join(q.thread, NULL);
	rv_dp_cache_set(NULL);
	q.adopted = false;
	rv_dp_link_unref(q.link);
	q.link = NULL;
}
