/* Placement (docs/fleet.md "Placement"): each room lives on one data plane,
 * named in its store record (RoomRecord.dataplane) so a control-plane
 * restart keeps it. A new room goes to the least-loaded UP data plane
 * (sessions / max_sessions, then fewest rooms) whose labels include every
 * k=v of the room's placement constraint. A room created while no data
 * plane is up (and without a constraint) is placed at its first Bootstrap. */
#ifndef RV_PLACEMENT_H
#define RV_PLACEMENT_H

#include <stddef.h>
#include <stdint.h>

#include "control.h"
#include "roomvpn/v1/room_store.pb-c.h"

/* A room's placement constraint is at most this long (it is stored in the
 * room's record; a data plane's labels are at most 255 bytes too). */
#define RV_PLACEMENT_MAX 255

/* Where a new room with constraint @placement goes: OK and its name in
 * @name ("" when none is up and there is no constraint: placed later);
 * INVALID_ARGUMENT for a malformed constraint, FAILED_PRECONDITION when no
 * UP data plane satisfies it. */
grpc_status_code rv_placement_new(const char *placement, char *name, size_t len, char *msg,
				  size_t msglen);
/* UpdateRoom's new constraint into @r (INVALID_ARGUMENT when malformed).
 * It applies when the room is next placed (a drain, a failover): the room
 * does not move at once. */
grpc_status_code rv_placement_set(Roomvpn__V1__RoomRecord *r, const char *placement, char *msg,
				  size_t msglen);
/* Room @room lives on data plane @name now: its record says so (written
 * under the rooms' catalog lock). 0, 1 (no such room) or -1. */
int rv_placement_store(struct rv_store *s, uint64_t room, const char *name);
/* Bootstrap: the data plane of room @r, placing it now if it has none,
 * with its endpoints. OK, or UNAVAILABLE with a message. */
grpc_status_code rv_placement_home(struct rv_control *ctl, const Roomvpn__V1__RoomRecord *r,
				   char *name, size_t namelen, char *udp, size_t udplen, char *tcp,
				   size_t tcplen, char *msg, size_t msglen);

#endif
