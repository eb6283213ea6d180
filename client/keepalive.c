#include "keepalive.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backoff.h"
#include "log.h"
#include "roomvpn/v1/session.pb-c.h"

#define KEEPALIVE_PATH "/roomvpn.v1.SessionService/Keepalive"
#define HEARTBEAT_MS   1000
/* Between attempts: 0.5 s doubling up to 5 s, each +-20 % (clients do not
 * all come back in step), so a client is back within about 6 s of its
 * server, whatever the length of the outage. */
#define BACKOFF_FIRST_MS 500
#define BACKOFF_MAX_MS	 5000
/* The server answers every heartbeat: this long without a word and the
 * stream counts as gone (a path lost without a reset, a hung server). */
#define SILENCE_MS 10000

struct rv_keepalive {
	struct rv_api *a;
	char room[128];
	_Atomic uint32_t peer_id; /* rv_keepalive_set_peer_id */
	struct rv_keepalive_ops ops;
	void *arg;
	atomic_bool stop;
	atomic_bool connected;
	atomic_uint connects;
	pthread_t thread;
	/* what the thread waits for (rv_keepalive_describe) */
	pthread_mutex_t lock;
	unsigned attempt;     /* failed attempts since the stream was last up */
	uint64_t next_try_ms; /* monotonic; 0: trying now */
	char last_error[240];
	char endpoint[300]; /* the replica the stream is on (rv_keepalive_endpoint) */
	/* recent presence changes: a ring, under lock */
	struct rv_presence_note presence[RV_KEEPALIVE_PRESENCE_MAX];
	size_t n_presence; /* ever received */
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Remember why the last attempt failed (status text goes into JSON as is:
 * no quotes, backslashes or control characters). */
static void set_error(struct rv_keepalive *k, const char *what, const char *msg)
{
	pthread_mutex_lock(&k->lock);
	snprintf(k->last_error, sizeof(k->last_error), "%s%s%s", what,
		 what[0] && msg[0] ? ": " : "", msg);
	for (char *p = k->last_error; *p; p++)
		if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
			*p = '\'';
	pthread_mutex_unlock(&k->lock);
}

static uint64_t now_ms(void) /* wall clock, for the server */
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int send_hello(struct rv_keepalive *k, struct rv_grpc_stream *s)
{
	Roomvpn__V1__KeepaliveRequest r = ROOMVPN__V1__KEEPALIVE_REQUEST__INIT;
	Roomvpn__V1__Hello h = ROOMVPN__V1__HELLO__INIT;

	h.room = k->room;
	h.peer_id = atomic_load(&k->peer_id);
	r.body_case = ROOMVPN__V1__KEEPALIVE_REQUEST__BODY_HELLO;
	r.hello = &h;
	return rv_grpc_stream_send(s, &r.base);
}

static int send_heartbeat(struct rv_keepalive *k, struct rv_grpc_stream *s, uint64_t seq)
{
	Roomvpn__V1__KeepaliveRequest r = ROOMVPN__V1__KEEPALIVE_REQUEST__INIT;
	Roomvpn__V1__Heartbeat hb = ROOMVPN__V1__HEARTBEAT__INIT;

	hb.seq = seq;
	hb.time_unix_ms = now_ms();
	hb.rtt_us = k->ops.rtt_us ? k->ops.rtt_us(k->arg) : 0;
	r.body_case = ROOMVPN__V1__KEEPALIVE_REQUEST__BODY_HEARTBEAT;
	r.heartbeat = &hb;
	return rv_grpc_stream_send(s, &r.base);
}

/* Apply pushed settings, then acknowledge them. */
static void apply_config(struct rv_keepalive *k, struct rv_grpc_stream *s,
			 const Roomvpn__V1__ConfigUpdate *cu)
{
	Roomvpn__V1__KeepaliveRequest r = ROOMVPN__V1__KEEPALIVE_REQUEST__INIT;
	Roomvpn__V1__Ack ack = ROOMVPN__V1__ACK__INIT;

	if (!k->ops.on_config || k->ops.on_config(k->arg, cu) < 0)
		return; /* not acknowledged */
	ack.seq = cu->seq;
	r.body_case = ROOMVPN__V1__KEEPALIVE_REQUEST__BODY_ACK;
	r.ack = &ack;
	rv_grpc_stream_send(s, &r.base);
}

/* The server announced the certificate it will present after a rotation:
 * pin it too, so that the reconnect after the switch still matches. */
static void learn_pin(struct rv_keepalive *k, const char *fp)
{
	char err[256];

	if (!rv_login_learn_pin(&k->a->login, fp))
		return;
	if (rv_login_save(k->a->dir, &k->a->login, err, sizeof(err)) < 0)
		rv_log(RV_LOG_WARN, "certificate rotation: %s", err);
	else
		rv_log(RV_LOG_INFO, "certificate rotation: the server's next certificate %s pinned",
		       fp);
}

/* One stream's life. Returns 1 after a Kick (the thread ends), 0 when the
 * stream was open and then ended, -1 if it never opened properly. */
static const char *presence_state(Roomvpn__V1__Presence__State st)
{
	switch (st) {
	case ROOMVPN__V1__PRESENCE__STATE__JOINED:
		return "joined";
	case ROOMVPN__V1__PRESENCE__STATE__LEFT:
		return "left";
	case ROOMVPN__V1__PRESENCE__STATE__ONLINE:
		return "online";
	case ROOMVPN__V1__PRESENCE__STATE__OFFLINE:
		return "offline";
	default:
		return "unknown";
	}
}

/* Another member of the room changed: logged, and kept among the last
 * RV_KEEPALIVE_PRESENCE_MAX (names go into JSON as is: no quotes,
 * backslashes or control characters, as set_error). */
static void on_presence(struct rv_keepalive *k, const Roomvpn__V1__Presence *p)
{
	if (p->device_id == k->a->login.device_id)
		return; /* a batch may carry our own change */
	pthread_mutex_lock(&k->lock);
	struct rv_presence_note *n = &k->presence[k->n_presence++ % RV_KEEPALIVE_PRESENCE_MAX];
	snprintf(n->room, sizeof(n->room), "%s", p->room);
	snprintf(n->username, sizeof(n->username), "%s", p->username);
	for (char *c = n->username; *c; c++)
		if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20)
			*c = '\'';
	n->device_id = p->device_id;
	n->time_unix_ms = p->time_unix_ms;
	n->state = presence_state(p->state);
	rv_log(RV_LOG_INFO, "room %s: %s (device %llu) %s", n->room, n->username,
	       (unsigned long long)n->device_id, n->state);
	pthread_mutex_unlock(&k->lock);
}

size_t rv_keepalive_presence(struct rv_keepalive *k, struct rv_presence_note *out)
{
	if (!k)
		return 0;
	pthread_mutex_lock(&k->lock);
	size_t n =
	    k->n_presence < RV_KEEPALIVE_PRESENCE_MAX ? k->n_presence : RV_KEEPALIVE_PRESENCE_MAX;
	for (size_t i = 0; i < n; i++)
		out[i] = k->presence[(k->n_presence - n + i) % RV_KEEPALIVE_PRESENCE_MAX];
	pthread_mutex_unlock(&k->lock);
	return n;
}

static int run_stream(struct rv_keepalive *k, bool fresh)
{
	struct rv_grpc_result res;
	char err[256];
	struct rv_grpc_stream *s;
	const Roomvpn__V1__KeepaliveEvent *ev;
	ProtobufCMessage *m;
	uint64_t seq = 0, next_hb = 0, last_heard = mono_ms();
	int rc = -1;

	/* A fresh channel for every new attempt: its calls drive its own TLS
	 * handshake, with a deadline of its own. */
	if (fresh && rv_api_reconnect(k->a, err, sizeof(err)) < 0) {
		set_error(k, "", err);
		return -1;
	}
	if (rv_api_fresh(k->a, &res) != GRPC_STATUS_OK) {
		set_error(k, "session refresh", res.message);
		return -1;
	}
	s = rv_grpc_stream_open(k->a->g, KEEPALIVE_PATH, k->a->login.session_token, &res);
	if (!s) {
		set_error(k, "keepalive stream", res.message);
		return -1;
	}
	if (send_hello(k, s) < 0) {
		ProtobufCMessage *none;
		rv_grpc_stream_recv(s, &roomvpn__v1__keepalive_event__descriptor, &none, 0, &res);
		set_error(k, "keepalive stream", res.message[0] ? res.message : "closed");
		goto out;
	}
	while (!atomic_load(&k->stop)) {
		uint64_t now = now_ms();
		int got;
		if (now >= next_hb) {
			if (send_heartbeat(k, s, ++seq) < 0)
				break;
			next_hb = now + HEARTBEAT_MS;
			if (k->ops.check && atomic_load(&k->connected))
				k->ops.check(k->arg, k->a, false);
		}
		got = rv_grpc_stream_recv(s, &roomvpn__v1__keepalive_event__descriptor, &m,
					  (int)(next_hb - now), &res);
		if (got < 0 && res.status == GRPC_STATUS_NOT_FOUND) {
			/* the server does not know this tunnel (any more) */
			k->ops.on_kick(k->arg, res.message);
			rc = 1;
			break;
		}
		if (got < 0) {
			if (res.status == GRPC_STATUS_UNAUTHENTICATED)
				k->a->login.session_expires = 0; /* refresh first next time */
			if (rc == 0)
				rv_log(RV_LOG_WARN, "keepalive stream ended: %s", res.message);
			set_error(k, "keepalive stream", res.message[0] ? res.message : "ended");
			break;
		}
		if (got == 0 && mono_ms() - last_heard >= SILENCE_MS) {
			rv_log(RV_LOG_WARN, "keepalive stream: no answer from the server for %u s",
			       SILENCE_MS / 1000);
			set_error(k, "keepalive stream", "no answer from the server for 10 s");
			break;
		}
		if (got == 0)
			continue;
		last_heard = mono_ms();
		if (rc < 0) {
			rv_log(RV_LOG_INFO, "keepalive stream to the server is up");
			pthread_mutex_lock(&k->lock);
			k->attempt = 0;
			rv_grpc_endpoint(k->a->g, k->endpoint, sizeof(k->endpoint));
			pthread_mutex_unlock(&k->lock);
			/* Back after an outage: a Rekey may have been missed, and a
			 * restarted server holds no key of this tunnel (it could not
			 * give a restarted data plane the session): re-key now. */
			if (atomic_fetch_add(&k->connects, 1) > 0 && k->ops.check) {
				rv_log(RV_LOG_INFO, "control: back after an outage: re-keying");
				k->ops.check(k->arg, k->a, true);
			}
		}
		rc = 0; /* the server is talking to us */
		atomic_store(&k->connected, true);
		ev = (const void *)m;
		if (ev->body_case == ROOMVPN__V1__KEEPALIVE_EVENT__BODY_REKEY && k->ops.check)
			k->ops.check(k->arg, k->a, true);
		if (ev->body_case == ROOMVPN__V1__KEEPALIVE_EVENT__BODY_CONFIG)
			apply_config(k, s, ev->config);
		if (ev->body_case == ROOMVPN__V1__KEEPALIVE_EVENT__BODY_MOVE && k->ops.on_move)
			k->ops.on_move(k->arg, k->a, ev->move);
		if (ev->body_case == ROOMVPN__V1__KEEPALIVE_EVENT__BODY_PRESENCE)
			on_presence(k, ev->presence);
		if (ev->body_case == ROOMVPN__V1__KEEPALIVE_EVENT__BODY_PRESENCE_BATCH) {
			for (size_t i = 0; i < ev->presence_batch->n_changes; i++)
				on_presence(k, ev->presence_batch->changes[i]);
			if (ev->presence_batch->omitted)
				rv_log(RV_LOG_INFO,
				       "room %s: %u more presence changes not listed (many "
				       "members changed at once): roomvpn rooms members %s",
				       k->room, ev->presence_batch->omitted, k->room);
		}
		if (ev->body_case == ROOMVPN__V1__KEEPALIVE_EVENT__BODY_HEARTBEAT)
			learn_pin(k, ev->heartbeat->next_tls_fingerprint);
		if (ev->body_case == ROOMVPN__V1__KEEPALIVE_EVENT__BODY_KICK) {
			k->ops.on_kick(k->arg, ev->kick->reason);
			rc = 1;
		}
		protobuf_c_message_free_unpacked(m, NULL);
		if (rc == 1)
			break;
	}
out:
	atomic_store(&k->connected, false);
	rv_grpc_stream_close(s);
	return rc;
}

static void *thread_main(void *arg)
{
	struct rv_keepalive *k = arg;
	bool fresh = false; /* the first attempt uses the channel `up` used */

	while (!atomic_load(&k->stop)) {
		int rc = run_stream(k, fresh);
		uint64_t until;
		if (rc == 1 || atomic_load(&k->stop))
			break;
		fresh = true;
		/* server or network gone: try again later, without giving up */
		pthread_mutex_lock(&k->lock);
		k->attempt++;
		until = mono_ms() + rv_backoff_ms(k->attempt, BACKOFF_FIRST_MS, BACKOFF_MAX_MS);
		k->next_try_ms = until;
		rv_log(RV_LOG_INFO, "control: reconnecting (attempt %u) in %.1f s: %s", k->attempt,
		       (double)(until - mono_ms()) / 1000.0, k->last_error);
		pthread_mutex_unlock(&k->lock);
		while (!atomic_load(&k->stop) && mono_ms() < until)
			usleep(50000);
		pthread_mutex_lock(&k->lock);
		k->next_try_ms = 0;
		pthread_mutex_unlock(&k->lock);
	}
	return NULL;
}

int rv_keepalive_start(struct rv_api *a, const char *room, uint32_t peer_id,
		       const struct rv_keepalive_ops *ops, void *arg, struct rv_keepalive **out)
{
	struct rv_keepalive *k = calloc(1, sizeof(*k));

	if (!k)
		return -1;
	k->a = a;
	snprintf(k->room, sizeof(k->room), "%s", room);
	atomic_init(&k->peer_id, peer_id);
	k->ops = *ops;
	k->arg = arg;
	pthread_mutex_init(&k->lock, NULL);
	if (pthread_create(&k->thread, NULL, thread_main, k) != 0) {
		pthread_mutex_destroy(&k->lock);
		free(k);
		return -1;
	}
	*out = k;
	return 0;
}

void rv_keepalive_set_peer_id(struct rv_keepalive *k, uint32_t peer_id)
{
	if (k)
		atomic_store(&k->peer_id, peer_id);
}

bool rv_keepalive_connected(const struct rv_keepalive *k)
{
	return k && atomic_load(&k->connected);
}

unsigned rv_keepalive_connects(const struct rv_keepalive *k)
{
	return k ? atomic_load(&k->connects) : 0;
}

void rv_keepalive_describe(struct rv_keepalive *k, char *out, size_t len)
{
	uint64_t now = mono_ms();

	if (!k) {
		snprintf(out, len, "off");
		return;
	}
	if (atomic_load(&k->connected)) {
		snprintf(out, len, "connected");
		return;
	}
	pthread_mutex_lock(&k->lock);
	if (!k->attempt)
		snprintf(out, len, "connecting");
	else if (k->next_try_ms > now)
		snprintf(out, len, "reconnecting (attempt %u, next in %.1f s): %s", k->attempt,
			 (double)(k->next_try_ms - now) / 1000.0, k->last_error);
	else
		snprintf(out, len, "reconnecting (attempt %u, trying now): %s", k->attempt,
			 k->last_error);
	pthread_mutex_unlock(&k->lock);
}

void rv_keepalive_endpoint(struct rv_keepalive *k, char *out, size_t len)
{
	if (!k) {
		snprintf(out, len, "%s", "");
		return;
	}
	pthread_mutex_lock(&k->lock);
	snprintf(out, len, "%s", k->endpoint);
	pthread_mutex_unlock(&k->lock);
}

void rv_keepalive_stop(struct rv_keepalive *k)
{
	if (!k)
		return;
	atomic_store(&k->stop, true);
	pthread_join(k->thread, NULL);
	pthread_mutex_destroy(&k->lock);
	free(k);
}
