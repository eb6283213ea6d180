/* The data-plane sync thread: the one thread that talks to the data
 * planes of the fleet (fleet.h), each through its link (dp_link.h). RPC
 * handlers and events enqueue deltas (upsert or delete a session, install
 * a key, upsert a room) and never do socket I/O; the thread sends them in
 * batches, each delta to the data plane of its tunnel's room (and a
 * moved room's deletes also to the data plane it left, until the grace
 * ends). Once a second it reads every data plane's session stats
 * (dp_poll.c: cache, health, adoption, re-push, resync) and moves the
 * rooms of draining and down data planes (dp_move.c). The queue is
 * bounded (cfg.dp_sync_backlog): a delta beyond it is dropped and counted
 * (its caller gets an error); a slow or absent data plane never blocks a
 * caller beyond its own wait.
 *
 * With several control replicas (dp_owner.h) the thread talks to the data
 * planes only while this replica is the owner: otherwise a delta is
 * settled at once as done (the owner carries the tunnel) and counted, not
 * queued; and each time it becomes the owner its first pass gives every
 * data plane a full Resync of the registry. */
#ifndef RV_DP_SYNC_H
#define RV_DP_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cipher.h"
#include "control.h"

void rv_dp_sync_start(struct rv_control *ctl);
void rv_dp_sync_stop(void);

/* How a caller learns its delta's fate: @rc 0 once the data plane
 * acknowledged it, -1 with @err when it failed, was dropped (backlog full,
 * no thread, shutting down) or was still queued 5 s after it was queued
 * (then it is not sent). Runs exactly once, with no lock held, on the sync
 * thread (on the caller's own thread when the delta is refused at once).
 * Nobody waits: the caller answers its client from @done. */
typedef void (*rv_dp_sync_done_fn)(void *arg, int rc, const char *err);
/* Delete @old (if not 0; the member's previous tunnel in room @room), then
 * upsert tunnel @peer_id with its room and the key material the registry
 * holds for it. */
void rv_dp_sync_session_async(struct rv_control *ctl, uint64_t room, uint32_t old, uint32_t peer_id,
			      rv_dp_sync_done_fn done, void *arg);
/* InstallKey (a re-key: the next key beside the current one); @km copied. */
void rv_dp_sync_key_async(struct rv_control *ctl, uint32_t peer_id, uint8_t key_id,
			  enum rv_cipher suite, const struct rv_key_material *km,
			  rv_dp_sync_done_fn done, void *arg);
/* DeleteSession of tunnel @peer_id of room @room, not waited for / waited
 * for. */
void rv_dp_sync_delete(struct rv_control *ctl, uint64_t room, uint32_t peer_id);
int rv_dp_sync_delete_wait(struct rv_control *ctl, uint64_t room, uint32_t peer_id, char *err,
			   size_t errlen);
/* UpsertRoom of room @room as the registry has it (routes changed). */
void rv_dp_sync_room(struct rv_control *ctl, uint64_t room);

struct rv_dp_sync_counters {
	uint64_t backlog, dropped, failed, resyncs;
	uint64_t not_owner; /* deltas not sent: another replica drives the data planes */
};
void rv_dp_sync_counters(struct rv_dp_sync_counters *c);

/* Wake the thread for a poll pass now (a drain was asked for). */
void rv_dp_sync_poll_soon(void);

#endif
