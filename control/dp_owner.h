/* Data-plane ownership (docs/etcd.md "Data-plane ownership"): with several
 * control replicas on one etcd, exactly one at a time drives the data
 * planes (the sync thread, dp_sync.c). The owner holds key `dpowner`
 * (value: its replica id), created with "absent" expected under a lease of
 * its own (dp_owner_ttl_s); the others watch the key and try again when it
 * goes. The owner's fence is the etcd revision at which it created the key:
 * every agent request it sends carries it (dp_link.c), and a data plane
 * refuses a request with a lower one, so a deposed owner that still thinks
 * it owns (paused past its lease) changes nothing.
 *
 * The owner steps down on its own clock: it counts as owner only until
 * four fifths of the TTL after the start of its last successful renewal,
 * so it stops before etcd can expire the lease and elect another. With
 * `store = rocksdb:` (one control plane) nothing runs: always the owner,
 * fence 0. */
#ifndef RV_DP_OWNER_H
#define RV_DP_OWNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "control.h"

/* Before the sync thread starts: on etcd, not the owner until elected. */
void rv_dp_owner_init(const struct rv_control *ctl);
/* On etcd: connect and start the election thread, as @replica_id (the
 * value of `dpowner`). Nothing on RocksDB. 0, or -1 with @err. */
int rv_dp_owner_start(const struct rv_control *ctl, const char *replica_id, char *err,
		      size_t errlen);
/* Stop the thread; an owner revokes its lease, so that another replica
 * takes over at once. */
void rv_dp_owner_stop(void);

/* Whether this replica drives the data planes now (any thread; cheap). */
bool rv_dp_owner_is_me(void);
/* The fence to send: the revision of this owner's `dpowner` (of its last
 * term when it is not the owner; 0 on RocksDB). */
uint64_t rv_dp_owner_fence(void);
/* Bumped each time this replica becomes the owner (elected, or renewed
 * after a lapse): the sync thread owes the data planes a full Resync. */
uint64_t rv_dp_owner_term(void);
/* Called (from the election thread) when this replica becomes the owner:
 * the sync thread's wake-up (dp_sync.c sets it). */
void rv_dp_owner_set_wake(void (*wake)(void));
/* The owner's replica id as last seen ("" unknown), into @out. */
void rv_dp_owner_holder(char *out, size_t len);

#endif
