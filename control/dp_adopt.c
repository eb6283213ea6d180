/* Adoption of the data plane's sessions (see dp_adopt.h). */
#include "dp_adopt.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "room_prefix6.h"
#include "room_records.h"
#include "tokens.h"
#include "tunnels.h"

/* The device that owns @vip in room @room (ip/ keys outlive memberships). */
static int device_of(struct rv_store *s, uint64_t room, uint32_t vip, uint64_t *dev)
{
	char k[64], hex[17];
	void *v = NULL;
	size_t vl;
	int rc = rv_store_get(
	    s, k, (size_t)snprintf(k, sizeof(k), "ip/%016" PRIx64 "/%08" PRIx32, room, vip), &v,
	    &vl);

	if (rc == 0) {
		snprintf(hex, sizeof(hex), "%.*s", (int)(vl < 16 ? vl : 16), (const char *)v);
		*dev = strtoull(hex, NULL, 16);
	}
	free(v);
	return rc;
}

static uint64_t user_of(struct rv_store *s, uint64_t dev)
{
	Roomvpn__V1__DeviceRecord *d = NULL;
	char key[24], hex[17];
	uint64_t user = 0;

	rv_id_hex(dev, hex);
	snprintf(key, sizeof(key), "d/%s", hex);
	if (rv_store_get_msg(s, key, &roomvpn__v1__device_record__descriptor,
			     (ProtobufCMessage **)&d) == 0 &&
	    d) {
		user = d->user_id;
		roomvpn__v1__device_record__free_unpacked(d, NULL);
	}
	return user;
}

void rv_dp_adopt_sessions(struct rv_store *s, const Roomvpn__Dataplane__V1__Stats *st)
{
	for (size_t i = 0; s && i < st->n_session; i++) {
		const Roomvpn__Dataplane__V1__SessionStats *ss = st->session[i];
		Roomvpn__V1__RoomRecord *room = NULL;
		uint64_t dev;
		if (device_of(s, ss->room_id, ss->vip, &dev) != 0 ||
		    rv_rooms_load_id(s, ss->room_id, &room) != 0)
			continue;
		uint64_t user = user_of(s, dev);
		rv_tunnels_lock();
		struct rv_tunnel *t = rv_tunnels_find(ss->peer_id)
					  ? NULL
					  : rv_tunnels_add(room, dev, user, ss->peer_id);
		if (t) {
			t->key_id = (uint8_t)ss->key_id;
			t->vip = ss->vip;
			t->has_vip6 = rv_room_prefix6_vip6(room, ss->vip, t->vip6);
		}
		rv_tunnels_unlock();
		roomvpn__v1__room_record__free_unpacked(room, NULL);
	}
}
