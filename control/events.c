/* The named tunnel events (see events.h): what a change means for the
 * running tunnels, fanned out to keepalive pushes and data-plane deltas. */
#include "events.h"
#include "presence.h"

#include <inttypes.h>
#include <stdio.h>

#include "dp_sync.h"
#include "fleet.h"
#include "keepalive.h"
#include "log.h"
#include "store.h"
#include "tokens.h"
#include "store_keys.h"
#include "timers.h"
#include "tunnels.h"
#include "users.h"
#include "roomvpn/v1/auth_store.pb-c.h"

/* ---- Presence ---------------------------------------------------------- */

/* The username of device @dev's user into @out ("" when gone); store
 * reads, never under the lock. */
static void device_username(struct rv_store *s, uint64_t dev, char *out, size_t outlen)
{
	Roomvpn__V1__DeviceRecord *d = NULL;
	Roomvpn__V1__UserRecord *u = NULL;
	char k[RV_KEY_MAX];

	out[0] = 0;
	rv_key_device(k, dev);
	if (!s ||
	    rv_store_get_msg(s, k, &roomvpn__v1__device_record__descriptor,
			     (ProtobufCMessage **)&d) != 0 ||
	    !d)
		return;
	if (rv_users_get_by_id(s, d->user_id, &u) == 0 && u) {
		snprintf(out, outlen, "%s", u->username);
		roomvpn__v1__user_record__free_unpacked(u, NULL);
	}
	roomvpn__v1__device_record__free_unpacked(d, NULL);
}

void rv_events_presence(struct rv_control *ctl, uint64_t room, uint64_t device,
			const char *username, Roomvpn__V1__Presence__State state)
{
	char name[64];

	if (!username) {
		device_username(ctl->store, device, name, sizeof(name));
		username = name;
	}
	rv_presence_note(room, device, username, state);
}

/* Remove @t (lock held): its data-plane session goes, its stream gets a Kick
 * with @reason (@kick) or just ends. */
static void drop(struct rv_control *ctl, struct rv_tunnel *t, const char *reason, bool kick)
{
	rv_log(RV_LOG_INFO, "tunnel peer-id %u (device %" PRIu64 ", room %s) ended: %s", t->peer_id,
	       t->device, t->room->name, reason);
	if (t->peer_id)
		rv_dp_sync_delete(ctl, t->room_id, t->peer_id);
	if (kick)
		rv_keepalive_push_kick(t, reason);
	else if (t->stream)
		rv_stream_finish(t->stream, GRPC_STATUS_UNAVAILABLE, reason);
	rv_tunnels_remove(t);
}

grpc_status_code rv_events_tunnel_end(struct rv_control *ctl, uint64_t room, const char *room_name,
				      uint64_t device, uint32_t peer_id, char *msg, size_t msglen)
{
	char err[256];

	rv_tunnels_lock();
	struct rv_tunnel *t = rv_tunnels_find_owned(peer_id, device, room);
	if (t) {
		/* its room's other members hear it went down (the name from its
		 * Hello: no store read under the lock) */
		char name[sizeof(t->username)];
		snprintf(name, sizeof(name), "%s", t->username);
		rv_log(RV_LOG_INFO,
		       "tunnel peer-id %u (device %" PRIu64 ", room %s) ended by its "
		       "client",
		       peer_id, device, room_name);
		if (t->stream) /* the client ended it: its stream ends quietly */
			rv_stream_finish(t->stream, GRPC_STATUS_OK, "");
		rv_tunnels_take_over(t); /* another replica's: so that its record goes */
		rv_tunnels_remove(t);
		rv_presence_note(room, device, name, ROOMVPN__V1__PRESENCE__STATE__OFFLINE);
	}
	rv_tunnels_unlock();
	if (!t) {
		snprintf(msg, msglen, "this device has no tunnel with peer-id %u in room %s",
			 peer_id, room_name);
		return GRPC_STATUS_NOT_FOUND;
	}
	if (rv_dp_sync_delete_wait(ctl, room, peer_id, err, sizeof(err)) < 0) { /* no lock held */
		rv_log(RV_LOG_WARN, "removing peer-id %u from the data plane: %s", peer_id, err);
		snprintf(msg, msglen,
			 "the data plane did not confirm removing the session (see the "
			 "server log); the tunnel is ended on the control plane");
		return GRPC_STATUS_UNAVAILABLE;
	}
	return GRPC_STATUS_OK;
}

void rv_events_member_left(struct rv_control *ctl, uint64_t room, uint64_t device)
{
	char reason[160];

	rv_tunnels_lock();
	struct rv_tunnel *t = rv_tunnels_find_rd(room, device);
	if (t) {
		snprintf(reason, sizeof(reason),
			 "this device is no longer a member of room %s (kicked or left)",
			 t->room->name);
		drop(ctl, t, reason, true);
	}
	rv_tunnels_unlock();
	rv_events_presence(ctl, room, device, NULL, ROOMVPN__V1__PRESENCE__STATE__LEFT);
}

void rv_events_room_deleted(struct rv_control *ctl, uint64_t room)
{
	char reason[160];

	rv_tunnels_lock();
	struct rv_tunnel_room *r = rv_tunnels_room(room);
	if (r)
		snprintf(reason, sizeof(reason), "room %s was deleted", r->name);
	for (unsigned n = r ? r->n : 0; n; n--) /* the entry goes with its last tunnel */
		drop(ctl, r->head, reason, true);
	rv_tunnels_unlock();
	rv_fleet_room_note(room, "", -1); /* no longer placed (deletes took their slot) */
}

void rv_events_room_changed(struct rv_control *ctl, const Roomvpn__V1__RoomRecord *r)
{
	rv_tunnels_lock();
	struct rv_tunnel_room *e = rv_tunnels_room(r->id);
	uint64_t routes_tag = e ? e->routes_tag : 0, rules_tag = e ? e->rules_tag : 0;
	if (e && (rv_tunnels_room_note(r)->routes_tag != routes_tag || e->rules_tag != rules_tag))
		rv_dp_sync_room(ctl, r->id);
	for (struct rv_tunnel *t = e ? e->head : NULL; t; t = t->room_next)
		rv_keepalive_push_room(t, r, ctl->cfg.dns);
	rv_tunnels_unlock();
}

void rv_events_room_rules_changed(struct rv_control *ctl, const Roomvpn__V1__RoomRecord *r)
{
	rv_tunnels_lock();
	struct rv_tunnel_room *e = rv_tunnels_room(r->id);
	uint64_t rules_tag = e ? e->rules_tag : 0;
	if (e && rv_tunnels_room_note(r)->rules_tag != rules_tag)
		rv_dp_sync_room(ctl, r->id);
	rv_tunnels_unlock();
}

void rv_events_room_moved(struct rv_control *ctl, uint64_t room, const char *dataplane,
			  const char *reason)
{
	(void)ctl;
	rv_tunnels_lock();
	struct rv_tunnel_room *e = rv_tunnels_room(room);
	for (struct rv_tunnel *t = e ? e->head : NULL; t; t = t->room_next)
		rv_keepalive_push_move(t, dataplane, reason);
	rv_tunnels_unlock();
}

/* timers.c: a tunnel past its deadline ends without a Kick. */
static void expire(struct rv_control *ctl, struct rv_tunnel *t, const char *reason)
{
	uint64_t room = t->room_id, device = t->device;
	char name[64];

	snprintf(name, sizeof(name), "%s", t->username); /* no store read under the lock */
	drop(ctl, t, reason, false);
	rv_presence_note(room, device, name, ROOMVPN__V1__PRESENCE__STATE__OFFLINE);
}

static const struct rv_timers_ops timer_ops = {
    .expire = expire,
    .rekey = rv_keepalive_push_rekey,
};

void rv_events_init(struct rv_control *ctl)
{
	ctl->on_member_removed = rv_events_member_left;
	ctl->on_room_moved = rv_events_room_moved;
	rv_timers_start(ctl, &timer_ops);
	rv_dp_sync_start(ctl);
	rv_presence_start(ctl);
}

void rv_events_fini(struct rv_control *ctl)
{
	ctl->on_member_removed = NULL;
	ctl->on_room_moved = NULL;
	rv_presence_stop();
	rv_timers_stop();
	rv_dp_sync_stop();
	rv_tunnels_clear();
}
