/* Running tunnels and their keepalive streams (SessionService.Keepalive,
 * proto/roomvpn/v1/session.proto).
 *
 * Every bootstrapped tunnel is registered here with its peer-id. After each
 * RPC that can end memberships (Kick, Leave, room Delete, user Update and
 * Delete) the registry is reconciled with the store: a tunnel whose device
 * is no longer a member loses its data-plane session at once and, if its
 * keepalive stream is open, gets a Kick with the reason. */
#ifndef RV_SESSION_H
#define RV_SESSION_H

#include <stdint.h>

#include "control.h"
#include "roomvpn/v1/room_store.pb-c.h"
#include "roomvpn/v1/session.pb-c.h"

/* Chain the reconciliation after ctl->on_rpc_done (call after the metrics
 * module installed its hook, before the server starts). */
void rv_session_init(struct rv_control *ctl);

/* Register a new tunnel of (room, device): returns its fresh peer-id and
 * the member's previous one in *old (0 if none). The first call after a
 * restart (and every reconcile until it works) reads the data plane's
 * sessions into the registry, owners found through the store's ip/ keys. */
uint32_t rv_session_register(struct rv_control *ctl, uint64_t room_id, const char *room_name,
			     uint64_t device_id, uint32_t *old);

/* Re-key of the device's running tunnel @peer_id: 0 and the next key-id,
 * or -1 if the device has no such tunnel. _done records the new key. */
int rv_session_rekey_begin(uint64_t device_id, uint32_t peer_id, uint8_t *next_key_id);
void rv_session_rekey_done(uint32_t peer_id, uint8_t key_id);

/* Record the room settings a new tunnel was set up with. */
void rv_session_note_room(uint32_t peer_id, const Roomvpn__V1__RoomRecord *room);

/* Check every tunnel against the store now (see above). */
void rv_session_reconcile(struct rv_control *ctl);

extern const struct rv_stream_ops rv_session_keepalive_ops;

#endif
