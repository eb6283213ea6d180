/* SessionService.Keepalive (proto/roomvpn/v1/session.proto): the stream a
 * running tunnel's client keeps open. Hello binds it to the device's tunnel;
 * a Heartbeat touches only that tunnel (its timestamp) and is answered; the
 * server pushes Kick, ConfigUpdate, Rekey and Presence on it (the push functions
 * below, called with the registry lock held). */
#ifndef RV_KEEPALIVE_H
#define RV_KEEPALIVE_H

#include <stdbool.h>

#include "control.h"
#include "roomvpn/v1/room_store.pb-c.h"
#include "roomvpn/v1/session.pb-c.h"

struct rv_tunnel;

extern const struct rv_stream_ops rv_keepalive_ops;

/* A Kick with @reason, and the stream ends (lock held). */
void rv_keepalive_push_kick(struct rv_tunnel *t, const char *reason);
/* What changed in @t's room since its client heard (lock held): settings,
 * DNS or routes as one ConfigUpdate, a rotated room key as Rekey. Without a
 * stream the change waits for the next Hello. @r: the room's record (its
 * settings already noted in t->room); @dns: cfg.dns. */
void rv_keepalive_push_room(struct rv_tunnel *t, const Roomvpn__V1__RoomRecord *r, const char *dns);
/* A Rekey with @reason (lock held). */
void rv_keepalive_push_rekey(struct rv_tunnel *t, const char *reason);
/* Move: @t's room now lives on data plane @dataplane (@reason "drain",
 * "failover"): the client bootstraps again (lock held). */
void rv_keepalive_push_move(struct rv_tunnel *t, const char *dataplane, const char *reason);

/* A heartbeat on stream @s: its tunnel's timestamp and the client's RTT
 * (@rtt_us, 0: unknown), nothing else (takes the lock). False when the
 * stream has no tunnel. Exported for tests. */
bool rv_keepalive_heartbeat_seen(struct rv_stream *s, uint32_t rtt_us);

#endif
