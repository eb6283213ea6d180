/* The other replicas' tunnels mirrored into this registry (see replica.h).
 *
 * Start: a full read of tun/ at one revision, then a watch of tun/ from the
 * revision after it, so no record is missed or applied twice. A record of
 * another replica becomes (or updates) a foreign tunnel: no stream here,
 * never timed out here (timers.c), its key material as published, so that
 * whichever replica drives the data plane can push it and resync it from
 * its own registry. A record's delete (its replica removed the tunnel, or
 * its lease expired) removes the foreign tunnel and its data-plane session.
 * A record of ours from the watch is our own write coming back: ignored.
 *
 * Takeover: a client whose replica died says Hello here with its peer-id;
 * keepalive.c checks it is the caller's (find_owned) and calls
 * rv_replica_mirror_take_over: the tunnel is local from then on and its
 * record is written under our lease, same peer-id and keys, so the data
 * plane's session is untouched. The replica that held it (if still alive)
 * sees our record and makes its own copy foreign. */
#include "replica.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "dp_sync.h"
#include "etcd/etcd.h"
#include "log.h"
#include "room_records.h"
#include "store_keys.h"

#define PAGE 256

static struct {
	struct rv_control *ctl;
	struct rv_etcd *e;
	struct rv_etcd_watch *watch;
} mir;

static void pushed(void *arg, int rc, const char *err)
{
	(void)arg, (void)rc, (void)err; /* dp_poll's resync repairs a failure */
}

static uint32_t key_peer_id(const uint8_t *k, size_t klen)
{
	if (klen != RV_KEY_TUNNEL_LEN)
		return 0;
	return (uint32_t)k[4] << 24 | (uint32_t)k[5] << 16 | (uint32_t)k[6] << 8 | k[7];
}

/* The registry's tunnel for @rec (lock held): found by peer-id, or by
 * (room, device) under another peer-id (replaced on its replica), or new.
 * *old: the peer-id it had (0: new). NULL: out of memory, or the room has
 * no entry here and @room is NULL. */
static struct rv_tunnel *mirror_of(const Roomvpn__V1__TunnelRecord *rec,
				   const Roomvpn__V1__RoomRecord *room, uint32_t *old)
{
	struct rv_tunnel *t = rv_tunnels_find(rec->peer_id);

	if (t && (t->room_id != rec->room || t->device != rec->device)) {
		uint32_t id = t->foreign ? 0 : rv_tunnels_new_peer_id();
		if (id) /* ours lost the race for this peer-id: its claim sees it */
			rv_tunnels_rename(t, id);
		else
			rv_tunnels_remove(t);
		t = NULL;
	}
	*old = t ? t->peer_id : 0;
	if (!t && (t = rv_tunnels_find_rd(rec->room, rec->device))) {
		*old = t->peer_id;
		rv_tunnels_rename(t, rec->peer_id); /* before foreign: ours goes from etcd */
	}
	if (t && !t->foreign) { /* ours, now another replica's: it took it over */
		rv_log(RV_LOG_INFO,
		       "tunnel peer-id %u (device %" PRIu64 ") taken over by replica %s",
		       rec->peer_id, rec->device, rec->replica);
		t->foreign = true;
		if (t->stream)
			rv_stream_finish(t->stream, GRPC_STATUS_UNAVAILABLE,
					 "this tunnel is now served by another replica");
		rv_tunnels_bind(t, NULL); /* and its timer cancelled (foreign) */
	}
	if (!t && (t = rv_tunnels_add_to(rec->room, room, rec->device, rec->user, rec->peer_id))) {
		t->foreign = true;
		rv_tunnels_bind(t, NULL);
	}
	return t;
}

/* Apply a PUT of another replica's record (@own_ok: also one naming this
 * replica, from a previous run: at start and on a Hello's fetch). */
static void apply_put(const uint8_t *val, size_t vlen, bool own_ok)
{
	struct rv_control *ctl = mir.ctl;
	Roomvpn__V1__TunnelRecord *rec = roomvpn__v1__tunnel_record__unpack(NULL, vlen, val);
	Roomvpn__V1__RoomRecord *room = NULL;

	if (!rec || !rec->peer_id || rec->peer_id > RV_TUNNELS_PEER_ID_MAX)
		goto out;
	bool own = !strcmp(rec->replica, ctl->cfg.replica_id);
	rv_tunnels_lock();
	struct rv_tunnel *t = rv_tunnels_find(rec->peer_id);
	bool skip = own && (!own_ok || (t && !t->foreign));
	bool need_room = !rv_tunnels_room(rec->room);
	rv_tunnels_unlock();
	if (skip)
		goto out;
	if (need_room && rv_rooms_load_id(ctl->store, rec->room, &room) != 0)
		goto out; /* deleted meanwhile: its record goes too */
	bool keyed = rec->key.len == sizeof(struct rv_key_material);
	uint32_t old;
	rv_tunnels_lock();
	if (!room && !rv_tunnels_room(rec->room)) { /* its last tunnel here went meanwhile */
		rv_tunnels_unlock();
		if (rv_rooms_load_id(ctl->store, rec->room, &room) != 0)
			goto out;
		rv_tunnels_lock();
	}
	if (!(t = mirror_of(rec, room, &old))) {
		rv_tunnels_unlock();
		rv_log(RV_LOG_WARN, "tunnel records: peer-id %u of replica %s not mirrored",
		       rec->peer_id, rec->replica);
		goto out;
	}
	bool was_keyed = t->keyed && old == rec->peer_id;
	bool rekeyed = was_keyed && keyed &&
		       (t->push_key_id != rec->key_id ||
			CRYPTO_memcmp(&t->km, rec->key.data, sizeof(t->km)) != 0);
	if (keyed) {
		t->keyed = true;
		if (!was_keyed || rekeyed)
			t->key_ns = rv_control_now_mono();
		t->vip = rec->vip;
		t->has_vip6 = rec->vip6.len == sizeof(t->vip6);
		if (t->has_vip6)
			memcpy(t->vip6, rec->vip6.data, sizeof(t->vip6));
		t->suite = (enum rv_cipher)rec->suite;
		t->push_key_id = t->key_id = (uint8_t)rec->key_id;
		memcpy(&t->km, rec->key.data, sizeof(t->km));
	}
	/* the data plane follows (only the replica that drives it sends) */
	if (keyed && !was_keyed)
		rv_dp_sync_session_async(ctl, rec->room, old != rec->peer_id ? old : 0,
					 rec->peer_id, pushed, NULL);
	else if (rekeyed)
		rv_dp_sync_key_async(ctl, rec->peer_id, t->key_id, t->suite, &t->km, pushed, NULL);
	rv_tunnels_unlock();
out:
	if (room)
		roomvpn__v1__room_record__free_unpacked(room, NULL);
	if (rec) {
		OPENSSL_cleanse(rec->key.data, rec->key.len);
		roomvpn__v1__tunnel_record__free_unpacked(rec, NULL);
	}
}

static void apply_delete(uint32_t peer_id)
{
	rv_tunnels_lock();
	struct rv_tunnel *t = rv_tunnels_find(peer_id);
	if (t && t->foreign) {
		rv_log(RV_LOG_INFO,
		       "tunnel peer-id %u (device %" PRIu64 ", room %s) ended on its replica",
		       peer_id, t->device, t->room->name);
		rv_dp_sync_delete(mir.ctl, t->room_id, peer_id);
		rv_tunnels_remove(t);
	}
	rv_tunnels_unlock();
}

static void on_event(void *arg, enum rv_etcd_event_type type, const void *key, size_t klen,
		     const void *val, size_t vlen, int64_t revision)
{
	uint32_t peer_id = key_peer_id(key, klen);
	(void)arg, (void)revision;

	if (!peer_id)
		return;
	if (type == RV_ETCD_PUT)
		apply_put(val, vlen, false);
	else
		apply_delete(peer_id);
}

/* Every record of tun/ at one revision into *rev. 0 or -1. */
static int read_all(int64_t *rev, char *err, size_t errlen)
{
	uint8_t end[8], start[RV_KEY_TUNNEL_LEN + 1] = RV_KEY_TUNNEL_PREFIX;
	size_t elen = rv_etcd_prefix_end(RV_KEY_TUNNEL_PREFIX, 4, end), slen = 4;
	unsigned n = 0;

	*rev = 0;
	for (;;) {
		Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
		ProtobufCMessage *m;
		req.key = (ProtobufCBinaryData){slen, start};
		req.range_end = (ProtobufCBinaryData){elen, end};
		req.limit = PAGE;
		req.revision = *rev;
		if (rv_etcd_call(mir.e, "/etcdserverpb.KV/Range", &req.base,
				 &etcdserverpb__range_response__descriptor, &m, err,
				 errlen) != GRPC_STATUS_OK)
			return -1;
		Etcdserverpb__RangeResponse *r = (Etcdserverpb__RangeResponse *)m;
		if (!*rev && r->header)
			*rev = r->header->revision;
		for (size_t i = 0; i < r->n_kvs; i++, n++)
			apply_put(r->kvs[i]->value.data, r->kvs[i]->value.len, true);
		bool more = r->more && r->n_kvs > 0 && r->kvs[r->n_kvs - 1]->key.len == 8;
		if (more) { /* the key after the last one */
			memcpy(start, r->kvs[r->n_kvs - 1]->key.data, 8);
			start[8] = 0;
			slen = 9;
		}
		protobuf_c_message_free_unpacked(m, NULL);
		if (!more)
			break;
	}
	rv_log(RV_LOG_INFO, "tunnel records: %u read at etcd revision %" PRId64, n, *rev);
	return 0;
}

int rv_replica_mirror_start(struct rv_control *ctl, struct rv_etcd *e, int64_t *revision, char *err,
			    size_t errlen)
{
	mir.ctl = ctl;
	mir.e = e;
	if (read_all(revision, err, errlen) < 0)
		return -1;
	mir.watch = rv_etcd_watch_start(e, RV_KEY_TUNNEL_PREFIX, 4, *revision + 1, on_event, NULL,
					err, errlen);
	return mir.watch ? 0 : -1;
}

void rv_replica_mirror_stop(void)
{
	rv_etcd_watch_stop(mir.watch);
	mir.watch = NULL;
}

void rv_replica_mirror_fetch(uint32_t peer_id)
{
	char k[RV_KEY_TUNNEL_LEN], err[256];
	Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
	ProtobufCMessage *m;

	if (!mir.e || !peer_id || peer_id > RV_TUNNELS_PEER_ID_MAX)
		return; /* (rv_tunnels_fetch looked in the registry) */
	req.key = (ProtobufCBinaryData){rv_key_tunnel(k, peer_id), (uint8_t *)k};
	if (rv_etcd_call(mir.e, "/etcdserverpb.KV/Range", &req.base,
			 &etcdserverpb__range_response__descriptor, &m, err,
			 sizeof(err)) != GRPC_STATUS_OK) {
		rv_log(RV_LOG_WARN, "tunnel records: reading peer-id %u: %s", peer_id, err);
		return;
	}
	Etcdserverpb__RangeResponse *r = (Etcdserverpb__RangeResponse *)m;
	if (r->n_kvs)
		apply_put(r->kvs[0]->value.data, r->kvs[0]->value.len, true);
	protobuf_c_message_free_unpacked(m, NULL);
}

void rv_replica_mirror_take_over(struct rv_tunnel *t)
{
	rv_log(RV_LOG_INFO,
	       "tunnel peer-id %u (device %" PRIu64 ", room %s): its client came back on this "
	       "replica: taken over",
	       t->peer_id, t->device, t->room->name);
	t->foreign = false;
	rv_replica_records_force(t);
}
