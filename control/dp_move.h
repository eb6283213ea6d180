/* Moving rooms between data planes (docs/fleet.md "Drain", "Failover"),
 * on the sync thread after each poll pass: every room of a DRAINING or
 * DOWN data plane goes, one by one, to the least-loaded other UP data
 * plane matching its placement: its sessions are installed on the target
 * FIRST (same peer-ids, key material, virtual IPs), then its record names
 * the target, then its members get a Move on their keepalive stream and
 * bootstrap again. The sessions left on a drained source are deleted once
 * the member's new tunnel replaced them (dp_sync.c sends a moved room's
 * deletes to both) or when dataplane_move_grace ends; a DOWN source is
 * resynced when it returns (dp_poll.c). */
#ifndef RV_DP_MOVE_H
#define RV_DP_MOVE_H

#include "control.h"

/* Sync thread only. */
void rv_dp_move_step(struct rv_control *ctl);

#endif
