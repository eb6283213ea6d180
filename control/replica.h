/* Several roomvpn-control replicas on one etcd cluster (issue 12; docs/etcd.md
 * "Replicas"). With store = rocksdb: nothing here runs (no thread, no cost)
 * beyond filling in the replica_id that Health reports.
 *
 *   replica.c         this replica's identity and its lease (granted at start,
 *                     kept alive; on loss re-granted and every local tunnel's
 *                     record published again)
 *   replica_records.c  the local tunnels' records (tun/<peer-id>) written by a
 *                     thread of its own, off the registry lock, in Txns of at
 *                     most RECORDS_PER_TXN; a register waits for its claim;
 *                     at most one op queued per peer-id, a bounded queue
 *                     (replica_queue.c, replica_queue.h)
 *   replica_mirror.c   the other replicas' records mirrored into the registry
 *                     as foreign tunnels (a full read of tun/ at one revision,
 *                     then a watch from the next), and a foreign tunnel taken
 *                     over when its client says Hello here
 *   replica_watch.c     watches of the membership (m/) and room (r/) keys that
 *                     raise the named events of events.c for changes made by
 *                     any replica (the events are idempotent)
 *
 * Heartbeats never write to etcd: what the other replicas need of this one's
 * liveness is its lease. */
#ifndef RV_REPLICA_H
#define RV_REPLICA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <grpc/status.h>
#include <protobuf-c/protobuf-c.h>

#include "control.h"
#include "tunnels.h"

struct rv_etcd;

/* ---- replica.c ---- */

/* Fills cfg.replica_id when unset (hostname:<gRPC port>); on etcd opens a
 * client of its own, grants the lease and starts the three modules below.
 * Call after rv_events_init (the registry, timers and data-plane sync run)
 * and before the server serves. 0, or -1 with a message in @err. */
int rv_replica_start(struct rv_control *ctl, char *err, size_t errlen);
/* Stops them (before rv_events_fini). The lease is NOT revoked: this
 * replica's records live out its TTL, so its clients can move their
 * streams to another replica, which takes their tunnels over. */
void rv_replica_stop(void);
/* Replicas run (store = etcd:...). */
bool rv_replica_active(void);
/* The lease this replica's records are written under. */
int64_t rv_replica_lease(void);
/* etcd said the lease is gone (a write under it was refused). */
void rv_replica_lease_gone(void);
/* Called by the records thread: the lease was lost; grants a new one.
 * true if it was lost (and a new one granted or tried). */
bool rv_replica_lease_renew_if_lost(void);

/* ---- replica_records.c ---- */

int rv_replica_records_start(struct rv_control *ctl, struct rv_etcd *e, char *err, size_t errlen);
void rv_replica_records_stop(void);
/* Wake the records thread (the lease was lost). */
void rv_replica_records_wake(void);
/* Local tunnel @t's record as it is now is written unconditionally, under
 * our lease (a takeover, a new lease). Lock held; queued. */
void rv_replica_records_force(const struct rv_tunnel *t);
/* @t's record (lock held) into a malloc'd buffer: *len bytes, or NULL. */
uint8_t *rv_replica_records_pack(const struct rv_tunnel *t, size_t *len);
/* Ops waiting for the thread: at most one per peer-id, at most
 * 2 x max_tunnels + a batch (metrics). */
size_t rv_replica_records_queued(void);
/* Record changes refused (queue full, out of memory) since the start:
 * roomvpn_control_replica_records_dropped_total. */
uint64_t rv_replica_records_dropped(void);
/* Tests: the thread's Txn goes to @fn instead of rv_etcd_call (NULL:
 * etcd). Set before rv_replica_records_start. */
typedef grpc_status_code (*rv_replica_records_call_fn)(struct rv_etcd *e, const char *path,
						       const ProtobufCMessage *req,
						       const ProtobufCMessageDescriptor *resp_desc,
						       ProtobufCMessage **resp, char *err,
						       size_t errlen);
void rv_replica_records_set_call(rv_replica_records_call_fn fn);

/* ---- replica_mirror.c ---- */

/* The full read of tun/ (every other replica's tunnel mirrored), then the
 * watch from the revision after it. 0 or -1 with @err. */
int rv_replica_mirror_start(struct rv_control *ctl, struct rv_etcd *e, int64_t *revision, char *err,
			    size_t errlen);
void rv_replica_mirror_stop(void);
/* A Hello for @peer_id that the registry lacks (rv_tunnels_fetch): its
 * record is read from etcd and mirrored if another replica publishes it.
 * No lock held. */
void rv_replica_mirror_fetch(uint32_t peer_id);
/* Foreign tunnel @t is this replica's from now (its client said Hello
 * here: rv_tunnels_take_over): published under our lease, same peer-id and
 * keys. Lock held. */
void rv_replica_mirror_take_over(struct rv_tunnel *t);

/* ---- replica_watch.c ---- */

/* Watches m/ and r/ from @revision. 0 or -1 with @err. */
int rv_replica_watch_start(struct rv_control *ctl, struct rv_etcd *e, int64_t revision, char *err,
			   size_t errlen);
void rv_replica_watch_stop(void);

#endif
