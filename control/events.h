/* Tunnel events: the RPC that made a change says what happened, after its
 * store write succeeded; this module decides what it means for the running
 * tunnels (WireGuard's wg_timers_* style): keepalive pushes (keepalive.c),
 * data-plane deltas (dp_sync.c), removal from the registry (tunnels.c).
 * Each event reaches exactly the affected tunnels.
 *
 * Layering (no module below calls up): tunnels.c (registry) and
 * dp_cache.c at the bottom, timers.c, keepalive.c and dp_sync.c above them,
 * this module above those, and rooms.c / members.c / tunnel.c / main.c on
 * top. Timer expiries reach this module through struct rv_timers_ops,
 * member removals through ctl->on_member_removed. */
#ifndef RV_EVENTS_H
#define RV_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "control.h"
#include "roomvpn/v1/room_store.pb-c.h"
#include "roomvpn/v1/session.pb-c.h"

/* Device @device is no longer a member of @room (Kick, Leave, its user
 * disabled or deleted): its tunnel ends with a Kick. Installed as
 * ctl->on_member_removed (members.c raises it for every removed
 * membership). */
void rv_events_member_left(struct rv_control *ctl, uint64_t room, uint64_t device);
/* Room @room was deleted: every tunnel of it ends with a Kick. */
void rv_events_room_deleted(struct rv_control *ctl, uint64_t room);
/* Room @r's settings, DNS, routes or key changed: its tunnels' streams get
 * ConfigUpdate / Rekey, the data plane the new routes. */
void rv_events_room_changed(struct rv_control *ctl, const Roomvpn__V1__RoomRecord *r);
/* Room @r's compiled access rules changed with its membership
 * (room_rules.c rv_room_rules_refresh): the data plane gets them, the
 * clients hear nothing (their settings did not change). */
void rv_events_room_rules_changed(struct rv_control *ctl, const Roomvpn__V1__RoomRecord *r);

/* TunnelService.End of the device's own tunnel (see tunnel.h): its stream
 * ends quietly, the data plane's session goes (waited for). NOT_FOUND when
 * it has none such (nothing removed). */
grpc_status_code rv_events_tunnel_end(struct rv_control *ctl, uint64_t room, const char *room_name,
				      uint64_t device, uint32_t peer_id, char *msg, size_t msglen);

/* Presence: device @device (of @username; NULL: read from the store, before
 * the lock) in room @room changed to @state (JOINED, LEFT, ONLINE, OFFLINE).
 * Every OTHER tunnel of that room with a keepalive stream gets a Presence
 * event; no other room's. Takes the lock. */
void rv_events_presence(struct rv_control *ctl, uint64_t room, uint64_t device,
			const char *username, Roomvpn__V1__Presence__State state);

/* Room @room moved to data plane @dataplane (@reason "drain", "failover";
 * its sessions are already there): each of its tunnels' streams gets a Move
 * and the client bootstraps again. Installed as ctl->on_room_moved. */
void rv_events_room_moved(struct rv_control *ctl, uint64_t room, const char *dataplane,
			  const char *reason);

/* Installs ctl->on_member_removed, ctl->on_room_moved and starts timers.c and dp_sync.c;
 * _fini stops them and empties the registry (before the store closes). */
void rv_events_init(struct rv_control *ctl);
void rv_events_fini(struct rv_control *ctl);

#endif
