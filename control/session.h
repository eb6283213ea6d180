/* Running tunnels and their keepalive streams (SessionService.Keepalive,
 * proto/roomvpn/v1/session.proto).
 *
 * Every bootstrapped tunnel is registered here with its peer-id; a client
 * can only ever name its own device's tunnels (rv_session_owned_by). A
 * tunnel whose client opens no keepalive stream within stream_deadline,
 * or whose stream sends no heartbeat for heartbeat_timeout, ends. After each
 * RPC that can end memberships (Kick, Leave, room Delete, user Update and
 * Delete) the registry is reconciled with the store: a tunnel whose device
 * is no longer a member loses its data-plane session at once and, if its
 * keepalive stream is open, gets a Kick with the reason. */
#ifndef RV_SESSION_H
#define RV_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "cipher.h"
#include "control.h"
#include "roomvpn/v1/room_store.pb-c.h"
#include "roomvpn/v1/session.pb-c.h"

/* The largest peer-id (24 bits; 0xFFFFFF is reserved). */
#define RV_SESSION_PEER_ID_MAX 0xFFFFFEu

/* Chain the reconciliation after ctl->on_rpc_done (call after the metrics
 * module installed its hook, before the server starts) and start the
 * sweeper thread that reconciles once a second; _fini stops it (before
 * the store closes). */
void rv_session_init(struct rv_control *ctl);
void rv_session_fini(struct rv_control *ctl);

/* Register a new tunnel of (room, device): OK, its fresh peer-id in
 * *peer_id (random in 1..RV_SESSION_PEER_ID_MAX, unused: only the server
 * picks peer-ids) and the member's previous one in *old (0 if none), which
 * it replaces. RESOURCE_EXHAUSTED with a message (and a log line) when the
 * user runs cfg.max_tunnels_per_user tunnels already or the registry is
 * full. The first call after a restart (and every reconcile until it
 * works) reads the data plane's sessions into the registry, owners found
 * through the store's ip/ keys. */
grpc_status_code rv_session_register(struct rv_control *ctl, uint64_t room_id,
				     const char *room_name, uint64_t device_id, uint64_t user_id,
				     uint32_t *peer_id, uint32_t *old, char *msg, size_t msglen);

/* Is tunnel @peer_id device @device_id's tunnel in room @room_id? The one
 * ownership check behind Hello, Bootstrap's re-key and End. */
bool rv_session_owned_by(uint32_t peer_id, uint64_t device_id, uint64_t room_id);

/* TunnelService.End: the device's own tunnel @peer_id in room @room_id
 * (@room: its name, for messages) ends at once: its data-plane session is
 * deleted, its stream finished, its entry removed. NOT_FOUND when the
 * device has no such tunnel (nothing removed); UNAVAILABLE when the data
 * plane did not confirm (the entry is removed all the same). */
grpc_status_code rv_session_end(struct rv_control *ctl, uint64_t room_id, const char *room,
				uint64_t device_id, uint32_t peer_id, char *msg, size_t msglen);

/* What a tunnel's data-plane session was set up with, kept in memory only
 * (never in the store) so that a restarted data plane can be given every
 * running session again; wiped (OPENSSL_cleanse) when the tunnel ends or
 * its key is replaced. */
struct rv_session_keys {
	uint32_t subnet, prefix_len, vip; /* the room's subnet, the device's VIP */
	enum rv_cipher suite;
	uint8_t key_id;
	const struct rv_key_material *km; /* copied */
};
/* Record @k for tunnel @peer_id before it is pushed (a bootstrap or a
 * re-key), so that a re-push in between already carries it. _clear_key
 * forgets it again (the push failed). */
void rv_session_set_key(uint32_t peer_id, const struct rv_session_keys *k);
void rv_session_clear_key(uint32_t peer_id);

/* At most once a second (callers: heartbeats, Health, metrics): read the
 * data plane's session stats (ReadStats) into a cache, and give it every
 * running tunnel it lacks: a data plane without any session (restarted)
 * gets one Resync of every room and session with key material, otherwise
 * the missing sessions are upserted. Tunnels adopted after a control-plane
 * restart have no key material until their next re-key: their clients
 * bootstrap again by themselves. */
void rv_session_poll(struct rv_control *ctl);

/* A tunnel as Health and the metrics report it. */
struct rv_tunnel_status {
	uint64_t device_id, user_id;
	uint32_t peer_id, vip;
	char room[64];
	bool on_dataplane;     /* the data plane runs the session */
	bool up;	       /* ...and saw a packet within max(3 keepalives, 30 s) */
	const char *transport; /* "udp", "tcp", "unknown" (static strings) */
	uint64_t packets_in, bytes_in, packets_out, bytes_out;
	uint64_t last_seen_unix_ms, rtt_us; /* 0: never */
};
/* Every tunnel (@all) or those of @user_id's devices, with the data
 * plane's figures (cache at most ~1 s old, see rv_session_poll). Returns
 * the count and a malloc'd array in *out (NULL when 0), or -1 (out of
 * memory). *dp_ok: the data plane answered the last read. */
int rv_session_status(struct rv_control *ctl, bool all, uint64_t user_id,
		      struct rv_tunnel_status **out, bool *dp_ok);

/* Re-key of the device's running tunnel @peer_id in room @room_id: 0 and
 * the next key-id, or -1 if the device has no such tunnel there. _done
 * records the new key. */
int rv_session_rekey_begin(uint64_t device_id, uint64_t room_id, uint32_t peer_id,
			   uint8_t *next_key_id);
void rv_session_rekey_done(uint32_t peer_id, uint8_t key_id);

/* Record the room settings a new tunnel was set up with. */
void rv_session_note_room(uint32_t peer_id, const Roomvpn__V1__RoomRecord *room);

/* Check every tunnel against the store now (see above). */
void rv_session_reconcile(struct rv_control *ctl);

extern const struct rv_stream_ops rv_session_keepalive_ops;

#endif
