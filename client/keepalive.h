/* The client side of SessionService.Keepalive: a thread that keeps the
 * stream of a running tunnel open, sends a heartbeat every second and
 * reports a Kick through a callback. When the server or the network goes
 * away it tries again with capped exponential backoff and jitter (0.5 s
 * doubling to 5 s, +-20 %), each time on a fresh channel (new TCP and TLS
 * connection); the server re-sends the room's settings and re-keys on the
 * new stream's Hello. */
#ifndef RV_CLIENT_KEEPALIVE_H
#define RV_CLIENT_KEEPALIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "roomvpn/v1/session.pb-c.h"

struct rv_keepalive;

/* Runs on the keepalive thread when the server ends the tunnel. */
typedef void (*rv_kick_fn)(void *arg, const char *reason);

/* Runs on the keepalive thread about once a second while the stream is up,
 * and at once with @rekey true when the server asks for a re-key or the
 * stream is back after an outage (the caller may use @a from it, e.g. to
 * bootstrap again). */
typedef void (*rv_ka_check_fn)(void *arg, struct rv_api *a, bool rekey);

/* New tunnel settings from the server (the whole current set, see
 * session.proto); return 0 once applied (the server gets an Ack), -1 if
 * they could not be. */
typedef int (*rv_ka_config_fn)(void *arg, const Roomvpn__V1__ConfigUpdate *cu);

/* The room moved to another data plane (drain, failover): bootstrap again
 * and use the new endpoints. Runs on the keepalive thread; @a as above. */
typedef void (*rv_ka_move_fn)(void *arg, struct rv_api *a, const Roomvpn__V1__Move *m);

struct rv_keepalive_ops {
	rv_kick_fn on_kick;
	rv_ka_check_fn check;	       /* may be NULL */
	rv_ka_config_fn on_config;     /* may be NULL */
	rv_ka_move_fn on_move;	       /* may be NULL */
	uint32_t (*rtt_us)(void *arg); /* sent with each heartbeat; may be NULL */
};

/* Start the thread. @a stays owned by the caller and is used only by the
 * thread until rv_keepalive_stop(). Returns 0 or -1. */
int rv_keepalive_start(struct rv_api *a, const char *room, uint32_t peer_id,
		       const struct rv_keepalive_ops *ops, void *arg, struct rv_keepalive **out);
/* The tunnel's peer-id after a new bootstrap: the next Hello (after a
 * reconnect) names it. Any thread. */
void rv_keepalive_set_peer_id(struct rv_keepalive *k, uint32_t peer_id);
/* True while the stream is open and the server answered on it. */
bool rv_keepalive_connected(const struct rv_keepalive *k);
/* How many times a stream was established (reconnects show here). */
unsigned rv_keepalive_connects(const struct rv_keepalive *k);
/* What the control connection is doing, for `roomvpn status`: "connected",
 * "connecting", or "reconnecting (attempt 4, next in 3.2 s): <last error>". */
void rv_keepalive_describe(struct rv_keepalive *k, char *out, size_t len);
/* The control endpoint (host:port) the stream was last up on, "" before
 * the first: with several replicas, the one holding this tunnel's stream. */
void rv_keepalive_endpoint(struct rv_keepalive *k, char *out, size_t len);
/* The last presence changes the server pushed (session.proto Presence),
 * oldest first: other members of the room joined, left, came online or
 * went offline. Each is logged at info as it arrives. */
#define RV_KEEPALIVE_PRESENCE_MAX 16
struct rv_presence_note {
	char room[64], username[64];
	uint64_t device_id, time_unix_ms;
	const char *state; /* "joined", "left", "online", "offline" (static) */
};
/* Copies up to RV_KEEPALIVE_PRESENCE_MAX notes into @out; returns how many. */
size_t rv_keepalive_presence(struct rv_keepalive *k, struct rv_presence_note *out);

/* Stop (within about a second) and join the thread. NULL is accepted. */
void rv_keepalive_stop(struct rv_keepalive *k);

#endif
