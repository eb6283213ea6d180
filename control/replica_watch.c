/* Events through etcd watches (see replica.h): the store is the truth. A
 * membership's delete (m/<room>/<device>: Kick, Leave, a user removed) and
 * a room record's put or delete (r/<room>: Update, key rotation, rules,
 * a move to another data plane; Delete), made by ANY replica, raise the
 * named events of events.c here, so a Kick on replica A reaches the member whose stream is
 * on replica B. The replica that made the change raised the event already:
 * each is idempotent (a membership's tunnel is gone after its first
 * member_left, so the second finds nothing and is skipped; room_changed
 * compares tags; room_deleted finds no tunnels left). One thread per watch
 * (etcd/watch.c), events in revision order. */
#include "replica.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "etcd/etcd.h"
#include "events.h"
#include "fleet.h"
#include "store_keys.h"

static struct {
	struct rv_control *ctl;
	struct rv_etcd_watch *members, *rooms;
} sw;

/* 16 hex digits at @p into *out; false if not. */
static bool hex16(const char *p, uint64_t *out)
{
	uint64_t v = 0;
	for (int i = 0; i < 16; i++) {
		char c = p[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (d < 0)
			return false;
		v = v << 4 | (uint64_t)d;
	}
	*out = v;
	return true;
}

static void on_member(void *arg, enum rv_etcd_event_type type, const void *key, size_t klen,
		      const void *val, size_t vlen, int64_t revision)
{
	const char *k = key;
	uint64_t room, dev;
	(void)arg, (void)val, (void)vlen, (void)revision;

	/* m/<16 hex>/<16 hex> */
	if (type != RV_ETCD_DELETE || klen != 35 || k[18] != '/' || !hex16(k + 2, &room) ||
	    !hex16(k + 19, &dev))
		return;
	rv_tunnels_lock();
	bool here = rv_tunnels_find_rd(room, dev) != NULL;
	rv_tunnels_unlock();
	if (here) /* not handled here yet (no tunnel anywhere: nothing to end) */
		rv_events_member_left(sw.ctl, room, dev);
}

/* Room @r's record names the data plane it lives on: when another replica
 * moved it (a drain, a failover), this replica's fleet view follows and the
 * room's streams here get their Move (the replica that moved it told its
 * own already: its view says so). */
static void follow_placement(const Roomvpn__V1__RoomRecord *r)
{
	char was[RV_DP_NAME_MAX];
	int slot = rv_fleet_room_slot(r->id);

	rv_fleet_name_of(slot, was, sizeof(was));
	if (!r->dataplane[0] || !strcmp(was, r->dataplane))
		return;
	rv_fleet_room_note(r->id, r->dataplane, -1); /* its old sessions: the mover's */
	if (slot >= 0)
		rv_events_room_moved(sw.ctl, r->id, r->dataplane, "moved by another replica");
}

static void on_room(void *arg, enum rv_etcd_event_type type, const void *key, size_t klen,
		    const void *val, size_t vlen, int64_t revision)
{
	const char *k = key;
	uint64_t room;
	(void)arg, (void)revision;

	/* r/<16 hex> */
	if (klen != 18 || !hex16(k + 2, &room))
		return;
	if (type == RV_ETCD_DELETE) {
		rv_events_room_deleted(sw.ctl, room);
		return;
	}
	Roomvpn__V1__RoomRecord *r = roomvpn__v1__room_record__unpack(NULL, vlen, val);
	if (!r)
		return;
	follow_placement(r);
	rv_tunnels_lock();
	bool here = rv_tunnels_room(room) != NULL;
	rv_tunnels_unlock();
	if (here)
		rv_events_room_changed(sw.ctl, r);
	roomvpn__v1__room_record__free_unpacked(r, NULL);
}

int rv_replica_watch_start(struct rv_control *ctl, struct rv_etcd *e, int64_t revision, char *err,
			   size_t errlen)
{
	sw.ctl = ctl;
	sw.members = rv_etcd_watch_start(e, RV_KEY_MEMBER_PREFIX, strlen(RV_KEY_MEMBER_PREFIX),
					 revision, on_member, NULL, err, errlen);
	if (!sw.members)
		return -1;
	sw.rooms =
	    rv_etcd_watch_start(e, RV_KEY_ROOM_BY_ID_PREFIX, strlen(RV_KEY_ROOM_BY_ID_PREFIX),
				revision, on_room, NULL, err, errlen);
	if (!sw.rooms) {
		rv_etcd_watch_stop(sw.members);
		sw.members = NULL;
		return -1;
	}
	return 0;
}

void rv_replica_watch_stop(void)
{
	rv_etcd_watch_stop(sw.rooms);
	rv_etcd_watch_stop(sw.members);
	sw.rooms = sw.members = NULL;
}
