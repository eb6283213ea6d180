/* Placement of rooms on the fleet's data planes (see placement.h). */
#include "placement.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet.h"
#include "fleet_config.h"
#include "log.h"
#include "room_records.h"
#include "store.h"
#include "store_keys.h"

/* A constraint as a room may hold it: labels' syntax, at most
 * RV_PLACEMENT_MAX bytes (it is stored in the room's record). */
static bool placement_ok(const char *placement, char *msg, size_t msglen)
{
	if (strlen(placement) > RV_PLACEMENT_MAX) {
		snprintf(msg, msglen, "placement is %zu bytes, at most %d", strlen(placement),
			 RV_PLACEMENT_MAX);
		return false;
	}
	if (!rv_fleet_labels_valid(placement)) {
		snprintf(msg, msglen, "placement '%s' is not k=v[,k=v] of [A-Za-z0-9._-]",
			 placement);
		return false;
	}
	return true;
}

grpc_status_code rv_placement_new(const char *placement, char *name, size_t len, char *msg,
				  size_t msglen)
{
	char why[256];

	name[0] = 0;
	if (placement && !placement_ok(placement, msg, msglen))
		return GRPC_STATUS_INVALID_ARGUMENT;
	if (rv_fleet_pick(placement, -1, name, len, why, sizeof(why)) >= 0)
		return GRPC_STATUS_OK;
	if (!placement || !placement[0])
		return GRPC_STATUS_OK; /* placed at the first Bootstrap */
	snprintf(msg, msglen, "placement '%s': %s", placement, why);
	return GRPC_STATUS_FAILED_PRECONDITION;
}

grpc_status_code rv_placement_set(Roomvpn__V1__RoomRecord *r, const char *placement, char *msg,
				  size_t msglen)
{
	if (!placement_ok(placement, msg, msglen))
		return GRPC_STATUS_INVALID_ARGUMENT;
	char *d = strdup(placement);
	if (!d) {
		snprintf(msg, msglen, "out of memory");
		return GRPC_STATUS_RESOURCE_EXHAUSTED;
	}
	if (r->placement && r->placement != protobuf_c_empty_string)
		free(r->placement);
	r->placement = d;
	return GRPC_STATUS_OK;
}

int rv_placement_store(struct rv_store *s, uint64_t room, const char *name)
{
	Roomvpn__V1__RoomRecord *r = NULL;
	char k[RV_KEY_MAX];
	int rc;

	rv_rooms_catalog_lock();
	rc = rv_rooms_load_id(s, room, &r);
	if (rc == 0) {
		char *old = r->dataplane;
		r->dataplane = (char *)name;
		size_t n = roomvpn__v1__room_record__get_packed_size(r);
		uint8_t *buf = malloc(n ? n : 1);
		size_t kl = rv_key_room_by_id(k, room);
		rc = buf ? rv_store_put(s, k, kl, buf, roomvpn__v1__room_record__pack(r, buf), true)
			 : -1;
		free(buf);
		r->dataplane = old;
		roomvpn__v1__room_record__free_unpacked(r, NULL);
	}
	rv_rooms_catalog_unlock();
	return rc;
}

grpc_status_code rv_placement_home(struct rv_control *ctl, const Roomvpn__V1__RoomRecord *r,
				   char *name, size_t namelen, char *udp, size_t udplen, char *tcp,
				   size_t tcplen, char *msg, size_t msglen)
{
	int slot = rv_fleet_room_slot(r->id);

	if (slot >= 0) {
		rv_fleet_name_of(slot, name, namelen);
	} else if (r->dataplane && r->dataplane[0] &&
		   rv_fleet_endpoints(r->dataplane, udp, udplen, tcp, tcplen)) {
		snprintf(name, namelen, "%s", r->dataplane); /* attached after the start */
		rv_fleet_room_note(r->id, name, -1);
	} else {
		char why[256];
		if (rv_fleet_pick(r->placement, -1, name, namelen, why, sizeof(why)) < 0) {
			if (rv_fleet_slots() != 1) {
				snprintf(msg, msglen, "room %s has no data plane: %s", r->name,
					 why);
				return GRPC_STATUS_UNAVAILABLE;
			}
			rv_fleet_name_of(0, name, namelen); /* the one there is, down or not */
		}
		if (rv_placement_store(ctl->store, r->id, name) < 0) {
			snprintf(msg, msglen, "store error");
			return GRPC_STATUS_INTERNAL;
		}
		rv_fleet_room_note(r->id, name, -1);
		rv_log(RV_LOG_INFO, "room %s placed on data plane %s", r->name, name);
	}
	if (!rv_fleet_endpoints(name, udp, udplen, tcp, tcplen)) {
		snprintf(msg, msglen, "room %s: data plane %s is not known", r->name, name);
		return GRPC_STATUS_UNAVAILABLE;
	}
	return GRPC_STATUS_OK;
}
