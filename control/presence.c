/* Presence coalescing (presence.h). Pending changes live in a small hash of
 * rooms under the presence lock, and the rooms in the order their first
 * change came (a FIFO); the flush takes rooms from its head while the
 * fan-out budget lasts, then per room packs one
 * KeepaliveEvent{presence_batch}, collects the members' streams (held)
 * under the registry lock and sends outside it. A room left over waits at
 * the head for the next flush, gathering more changes.
 * Lock order: registry lock, then presence lock (never the reverse). */
#include "presence.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/byte_buffer.h>

#include "clock.h"
#include "log.h"
#include "rpc.h"
#include "server_call.h"
#include "tunnels.h"
#include "grpc_pb.h"

#define BUCKETS 1024

struct change {
	uint64_t device, time_ms;
	Roomvpn__V1__Presence__State state;
	char username[64];
};

struct pending {
	uint64_t room;
	struct change *v;
	size_t n, cap;
	uint32_t omitted;	   /* changes past RV_PRESENCE_BATCH_MAX */
	struct pending *next;	   /* in its hash bucket */
	struct pending *fifo_next; /* the next room to flush */
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct pending *rooms[BUCKETS];
	struct pending *fifo_head, **fifo_tail;
	size_t n_rooms;
	uint64_t dropped, omitted, deferred, interval_ns;
	uint64_t budget;      /* messages a second (0: no bound) */
	int64_t tokens;	      /* messages this flush may send; below 0: owed */
	uint64_t refilled_ns; /* when tokens were last added */
	bool stop, running;
	pthread_t thread;
} P = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .fifo_tail = &P.fifo_head};

static struct pending *pending_of(uint64_t room) /* P.mu held */
{
	struct pending **b = &P.rooms[room % BUCKETS], *p;
	for (p = *b; p; p = p->next)
		if (p->room == room)
			return p;
	p = calloc(1, sizeof(*p));
	if (p) {
		p->room = room;
		p->next = *b;
		*b = p;
		*P.fifo_tail = p;
		P.fifo_tail = &p->fifo_next;
		P.n_rooms++;
	}
	return p;
}

void rv_presence_note(uint64_t room, uint64_t device, const char *username,
		      Roomvpn__V1__Presence__State state)
{
	pthread_mutex_lock(&P.mu);
	struct pending *p = pending_of(room);
	if (p && p->n == RV_PRESENCE_BATCH_MAX) { /* the newest are kept: the oldest is omitted */
		memmove(p->v, p->v + 1, (p->n - 1) * sizeof(*p->v));
		p->n--;
		p->omitted++;
		P.omitted++;
	}
	if (p && p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 8;
		void *v = realloc(p->v, cap * sizeof(*p->v));
		if (v)
			p->v = v, p->cap = cap;
	}
	if (p && p->n < p->cap) {
		struct change *c = &p->v[p->n++];
		c->device = device;
		c->state = state;
		c->time_ms = rv_control_now_real() / 1000000u;
		snprintf(c->username, sizeof(c->username), "%s", username ? username : "");
	} else {
		P.dropped++;
	}
	pthread_mutex_unlock(&P.mu);
}

/* The streams of room @room's members, held, and its name (registry lock). */
static struct rv_stream **room_streams(uint64_t room, const struct pending *p, char *name,
				       size_t namelen, size_t *n)
{
	struct rv_stream **v = NULL;
	size_t cap = 0;
	*n = 0;
	/* nobody is told of changes that are all their own */
	uint64_t only = p->omitted ? 0 : p->v[0].device; /* omitted: maybe others' */
	for (size_t i = 1; i < p->n && only; i++)
		if (p->v[i].device != only)
			only = 0;
	rv_tunnels_lock();
	struct rv_tunnel_room *r = rv_tunnels_room(room);
	if (r)
		snprintf(name, namelen, "%s", r->name);
	for (struct rv_tunnel *t = r ? r->head : NULL; t; t = t->room_next) {
		if (!t->stream || (only && t->device == only))
			continue;
		if (*n == cap) {
			cap = cap ? 2 * cap : 64;
			void *nv = realloc(v, cap * sizeof(*v));
			if (!nv)
				break;
			v = nv;
		}
		rv_stream_hold(t->stream);
		v[(*n)++] = t->stream;
	}
	rv_tunnels_unlock();
	return v;
}

static unsigned send_room(const struct pending *p)
{
	char name[64] = "";
	size_t n;
	struct rv_stream **streams = room_streams(p->room, p, name, sizeof(name), &n);
	if (!n) {
		free(streams);
		return 0; /* nobody of the room has a stream: nobody to tell */
	}
	Roomvpn__V1__Presence *ps = calloc(p->n, sizeof(*ps));
	Roomvpn__V1__Presence **pp = calloc(p->n, sizeof(*pp));
	grpc_byte_buffer *buf = NULL;
	if (ps && pp) {
		for (size_t i = 0; i < p->n; i++) {
			roomvpn__v1__presence__init(&ps[i]);
			ps[i].room = name;
			ps[i].username = (char *)p->v[i].username;
			ps[i].device_id = p->v[i].device;
			ps[i].state = p->v[i].state;
			ps[i].time_unix_ms = p->v[i].time_ms;
			pp[i] = &ps[i];
		}
		Roomvpn__V1__PresenceBatch b = ROOMVPN__V1__PRESENCE_BATCH__INIT;
		Roomvpn__V1__KeepaliveEvent ev = ROOMVPN__V1__KEEPALIVE_EVENT__INIT;
		b.n_changes = p->n;
		b.changes = pp;
		b.omitted = p->omitted;
		ev.body_case = ROOMVPN__V1__KEEPALIVE_EVENT__BODY_PRESENCE_BATCH;
		ev.presence_batch = &b;
		buf = rv_grpc_pb_pack(&ev.base);
	}
	unsigned told = 0;
	for (size_t i = 0; i < n; i++) {
		if (buf && rv_stream_send_packed(streams[i], buf) == 0)
			told++;
		rv_stream_release(streams[i]);
	}
	if (buf)
		grpc_byte_buffer_destroy(buf);
	rv_log(RV_LOG_DEBUG, "presence: %zu change(s) in room %s, told %u member(s)", p->n, name,
	       told);
	free(ps), free(pp), free(streams);
	return told;
}

/* The room at the head of the FIFO, taken out of the table (P.mu held). */
static struct pending *take_head(void)
{
	struct pending *p = P.fifo_head;
	if (!p)
		return NULL;
	P.fifo_head = p->fifo_next;
	if (!P.fifo_head)
		P.fifo_tail = &P.fifo_head;
	for (struct pending **b = &P.rooms[p->room % BUCKETS]; *b; b = &(*b)->next)
		if (*b == p) {
			*b = p->next;
			break;
		}
	P.n_rooms--;
	return p;
}

/* Tokens for the time since the last refill, at most one second's worth;
 * time not yet worth a whole token stays owed (P.mu held). */
static void refill(uint64_t now_ns)
{
	if (!P.budget)
		return;
	uint64_t dt = now_ns - P.refilled_ns;
	if (dt >= 1000000000u) {
		P.tokens += (int64_t)P.budget;
		P.refilled_ns = now_ns;
	} else {
		uint64_t add = P.budget * dt / 1000000000u;
		P.tokens += (int64_t)add;
		P.refilled_ns += add * 1000000000u / P.budget;
	}
	if (P.tokens > (int64_t)P.budget)
		P.tokens = (int64_t)P.budget;
}

/* Sends pending rooms, oldest first, while the budget lasts (@all: every
 * room, whatever the budget). A room is sent whole even when it takes the
 * tokens below zero: a room bigger than the budget is told late, not
 * never, and the next rooms wait until the debt is paid. */
static void flush(bool all)
{
	pthread_mutex_lock(&P.mu);
	refill(rv_control_now_mono());
	for (;;) {
		if (!all && P.budget && P.tokens <= 0) {
			P.deferred += P.n_rooms;
			break;
		}
		struct pending *p = take_head();
		if (!p)
			break;
		pthread_mutex_unlock(&P.mu);
		unsigned told = send_room(p);
		free(p->v);
		free(p);
		pthread_mutex_lock(&P.mu);
		P.tokens -= told;
	}
	pthread_mutex_unlock(&P.mu);
}

void rv_presence_flush(void)
{
	flush(false);
}

static void *presence_main(void *arg)
{
	pthread_setname_np(pthread_self(), "rv-presence"); /* top -H, perf */
	(void)arg;
	pthread_mutex_lock(&P.mu);
	while (!P.stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t ns = (uint64_t)ts.tv_nsec + P.interval_ns;
		ts.tv_sec += (time_t)(ns / 1000000000u);
		ts.tv_nsec = (long)(ns % 1000000000u);
		pthread_cond_timedwait(&P.cv, &P.mu, &ts);
		if (P.stop || !P.n_rooms)
			continue;
		pthread_mutex_unlock(&P.mu);
		rv_presence_flush();
		pthread_mutex_lock(&P.mu);
	}
	pthread_mutex_unlock(&P.mu);
	return NULL;
}

void rv_presence_start(struct rv_control *ctl)
{
	P.interval_ns = ctl->cfg.presence_interval_ns ? ctl->cfg.presence_interval_ns : 1000000;
	P.budget = ctl->cfg.presence_budget;
	P.tokens = (int64_t)P.budget;
	P.refilled_ns = rv_control_now_mono();
	P.stop = false;
	if (pthread_create(&P.thread, NULL, presence_main, NULL) == 0)
		P.running = true;
	else
		rv_log(RV_LOG_ERROR, "presence thread not started: members hear no presence");
}

void rv_presence_stop(void)
{
	pthread_mutex_lock(&P.mu);
	bool running = P.running;
	P.stop = true;
	P.running = false;
	pthread_cond_signal(&P.cv);
	pthread_mutex_unlock(&P.mu);
	if (running)
		pthread_join(P.thread, NULL);
	flush(true); /* the streams are still open: the last changes go out */
}

void rv_presence_counters(struct rv_presence_counters *out)
{
	pthread_mutex_lock(&P.mu);
	out->dropped = P.dropped;
	out->omitted = P.omitted;
	out->deferred = P.deferred;
	pthread_mutex_unlock(&P.mu);
}
