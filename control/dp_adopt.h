/* Adoption: the tunnels a data plane runs from before a control-plane
 * restart join the registry (dp_sync.c calls it once, on its first read of
 * the data plane's sessions), so kicks reach them and their peer-ids are
 * not given out again. Each session's device comes from the store's ip/
 * key (it outlives memberships), its user from the device record. Store
 * reads happen in the caller's thread, never under the registry lock. */
#ifndef RV_DP_ADOPT_H
#define RV_DP_ADOPT_H

#include "dataplane.pb-c.h"
#include "store.h"

/* Adopt every session of @st the registry lacks (@s NULL: none). */
void rv_dp_adopt_sessions(struct rv_store *s, const Roomvpn__Dataplane__V1__Stats *st);

#endif
