/* The tunnel registry, its reconciliation with the store, and the
 * keepalive stream (see session.h). */
#include "session.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "dpclient.h"
#include "key_slots.h"
#include "log.h"
#include "roomvpn/v1/auth_store.pb-c.h"
#include "room_net.h"
#include "rooms.h"
#include "store.h"
#include "tokens.h"

#define MAX_TUNNELS 4096

struct tunnel_entry {
	uint64_t room, device, user;
	uint32_t peer_id;
	char room_name[RV_ROOM_NAME_MAX + 1];
	struct rv_stream *stream; /* the open keepalive stream, or NULL */
	uint8_t key_id;		  /* the data plane's sealing key-id */
	uint64_t keyed_ns;	  /* when that key was installed (monotonic) */
	uint64_t rekey_asked_ns;  /* when the client was last asked to re-key */
	/* room settings the client has (0: not known yet) */
	uint32_t mtu, keepalive_s;
	uint8_t room_key_tag[8];
	uint64_t net_tag;    /* rv_room_net_tag of the DNS settings and routes */
	uint64_t config_seq; /* last ConfigUpdate pushed */
	uint64_t last_hb_ns; /* last Hello/Heartbeat (0: none in this process) */
	uint64_t created_ns; /* registered (bootstrap or adoption; monotonic) */
	/* what the data plane was given (in memory only; see session.h) */
	bool keyed;
	uint64_t key_ns; /* when recorded (monotonic) */
	uint32_t subnet, prefix_len, vip;
	enum rv_cipher suite;
	uint8_t push_key_id;
	bool repushed; /* in the last re-push */
	struct rv_key_material km;
	/* the room's managed routes as the data plane was given them (or is
	 * to be given on a re-push); the pointers are set when used */
	uint64_t dp_routes_tag;
	size_t n_dp_routes;
	Roomvpn__Dataplane__V1__Route dp_routes[RV_ROOM_ROUTES_MAX];
	Roomvpn__Dataplane__V1__Route *dp_route_ptrs[RV_ROOM_ROUTES_MAX];
};

/* All under lock: the stream pointer is set by Hello and cleared by the
 * stream's on_end, and only used (rv_stream_send) with the lock held. */
static struct {
	pthread_mutex_t lock;
	unsigned n;
	struct tunnel_entry t[MAX_TUNNELS];
} reg = {.lock = PTHREAD_MUTEX_INITIALIZER};

static bool adopted; /* the data plane's sessions were read in (lock held) */
static void adopt_from_dataplane(struct rv_control *ctl);

/* Forget an entry's key material. */
static void wipe_entry(struct tunnel_entry *e)
{
	OPENSSL_cleanse(&e->km, sizeof(e->km));
	e->keyed = false;
}

static void (*prev_rpc_done)(struct rv_control *, const char *, int, uint64_t);

/* Index of tunnel @peer_id, or reg.n (lock held). */
static unsigned find_peer(uint32_t peer_id)
{
	unsigned i;

	for (i = 0; i < reg.n && reg.t[i].peer_id != peer_id; i++)
		;
	return i;
}

/* Index of tunnel @peer_id if it is @device_id's in room @room_id, else
 * reg.n (lock held). The one ownership check behind Hello, Bootstrap's
 * re-key and End: a peer-id a client names is only ever its own. */
static unsigned find_owned(uint32_t peer_id, uint64_t device_id, uint64_t room_id)
{
	unsigned i;

	for (i = 0; i < reg.n; i++)
		if (reg.t[i].peer_id == peer_id && reg.t[i].device == device_id &&
		    reg.t[i].room == room_id)
			break;
	return peer_id ? i : reg.n;
}

bool rv_session_owned_by(uint32_t peer_id, uint64_t device_id, uint64_t room_id)
{
	pthread_mutex_lock(&reg.lock);
	bool owned = find_owned(peer_id, device_id, room_id) < reg.n;
	pthread_mutex_unlock(&reg.lock);
	return owned;
}

/* A fresh random peer-id in 1..0xFFFFFE that no tunnel has (registry and
 * adopted data-plane sessions alike), or 0 (lock held). Only the server
 * picks peer-ids: nothing a client sends moves this. */
static uint32_t alloc_peer_id(void)
{
	for (int tries = 0; tries < 64; tries++) {
		uint8_t b[3];
		if (RAND_bytes(b, sizeof(b)) != 1)
			return 0;
		uint32_t id = (uint32_t)b[0] << 16 | (uint32_t)b[1] << 8 | b[2];
		if (id && id <= RV_SESSION_PEER_ID_MAX && find_peer(id) == reg.n)
			return id;
	}
	return 0;
}

static unsigned tunnels_of_user(uint64_t user_id)
{
	unsigned n = 0;

	for (unsigned i = 0; i < reg.n; i++)
		n += reg.t[i].user == user_id;
	return n;
}

grpc_status_code rv_session_register(struct rv_control *ctl, uint64_t room_id,
				     const char *room_name, uint64_t device_id, uint64_t user_id,
				     uint32_t *peer_id, uint32_t *old, char *msg, size_t msglen)
{
	grpc_status_code st = GRPC_STATUS_OK;
	uint32_t id = 0;
	unsigned i, quota = ctl->cfg.max_tunnels_per_user;

	pthread_mutex_lock(&reg.lock);
	adopt_from_dataplane(ctl); /* so that no surviving session's id is reused */
	for (i = 0; i < reg.n; i++)
		if (reg.t[i].room == room_id && reg.t[i].device == device_id)
			break;
	bool found = i < reg.n; /* replaced: one tunnel per (room, device) */
	if (!found && quota && tunnels_of_user(user_id) >= quota) {
		snprintf(msg, msglen,
			 "this user already runs %u tunnels (the server's max_tunnels_per_user): "
			 "end one first (roomvpn down)",
			 quota);
		rv_log(RV_LOG_WARN, "tunnel refused: user %" PRIu64 " at max_tunnels_per_user (%u)",
		       user_id, quota);
		st = GRPC_STATUS_RESOURCE_EXHAUSTED;
	} else if (!found && reg.n == MAX_TUNNELS) {
		snprintf(msg, msglen, "the server runs its maximum of %u tunnels: try again later",
			 MAX_TUNNELS);
		rv_log(RV_LOG_WARN, "tunnel refused: the registry is full (%u tunnels)", MAX_TUNNELS);
		st = GRPC_STATUS_RESOURCE_EXHAUSTED;
	} else if (!(id = alloc_peer_id())) {
		snprintf(msg, msglen, "no free peer-id (random source failed)");
		st = GRPC_STATUS_INTERNAL;
	}
	if (st != GRPC_STATUS_OK) {
		pthread_mutex_unlock(&reg.lock);
		return st;
	}
	*old = found ? reg.t[i].peer_id : 0;
	if (!found)
		reg.n++;
	/* a replaced tunnel's stream stays attached until it ends */
	struct rv_stream *s = found ? reg.t[i].stream : NULL;
	uint64_t now = rv_control_now_mono();
	wipe_entry(&reg.t[i]);
	reg.t[i] = (struct tunnel_entry){.room = room_id,
					 .device = device_id,
					 .user = user_id,
					 .peer_id = id,
					 .stream = s,
					 .keyed_ns = now,
					 .created_ns = now};
	snprintf(reg.t[i].room_name, sizeof(reg.t[i].room_name), "%s", room_name);
	pthread_mutex_unlock(&reg.lock);
	*peer_id = id;
	return GRPC_STATUS_OK;
}

/* Remember what the tunnel was set up with (lock held). */
static void note_room(struct tunnel_entry *e, const Roomvpn__V1__RoomRecord *r)
{
	e->mtu = r->mtu;
	e->keepalive_s = r->keepalive_s;
	e->net_tag = rv_room_net_tag(r);
	memset(e->room_key_tag, 0, sizeof(e->room_key_tag));
	memcpy(e->room_key_tag, r->room_key.data,
	       r->room_key.len < sizeof(e->room_key_tag) ? r->room_key.len
							 : sizeof(e->room_key_tag));
}

/* Remember the room's routes as the data plane has them (lock held). */
static void note_dp_routes(struct tunnel_entry *e, const Roomvpn__V1__RoomRecord *r)
{
	e->n_dp_routes = rv_room_net_dp_routes(r, e->dp_routes, e->dp_route_ptrs);
	e->dp_routes_tag = rv_room_net_routes_tag(r);
}

void rv_session_note_room(uint32_t peer_id, const Roomvpn__V1__RoomRecord *r)
{
	pthread_mutex_lock(&reg.lock);
	for (unsigned i = 0; i < reg.n; i++)
		if (reg.t[i].peer_id == peer_id) {
			note_room(&reg.t[i], r);
			note_dp_routes(&reg.t[i], r);
		}
	pthread_mutex_unlock(&reg.lock);
}

int rv_session_rekey_begin(uint64_t device_id, uint64_t room_id, uint32_t peer_id,
			   uint8_t *next_key_id)
{
	int rc = -1;

	pthread_mutex_lock(&reg.lock);
	unsigned i = find_owned(peer_id, device_id, room_id);
	if (i < reg.n) {
		*next_key_id = rv_key_id_next(reg.t[i].key_id);
		rc = 0;
	}
	pthread_mutex_unlock(&reg.lock);
	return rc;
}

void rv_session_rekey_done(uint32_t peer_id, uint8_t key_id)
{
	pthread_mutex_lock(&reg.lock);
	for (unsigned i = 0; i < reg.n; i++) {
		if (reg.t[i].peer_id == peer_id) {
			reg.t[i].key_id = key_id;
			reg.t[i].keyed_ns = rv_control_now_mono();
			reg.t[i].rekey_asked_ns = 0;
		}
	}
	pthread_mutex_unlock(&reg.lock);
}

void rv_session_set_key(uint32_t peer_id, const struct rv_session_keys *k)
{
	pthread_mutex_lock(&reg.lock);
	for (unsigned i = 0; i < reg.n; i++) {
		struct tunnel_entry *e = &reg.t[i];
		if (e->peer_id != peer_id)
			continue;
		e->keyed = true;
		e->key_ns = rv_control_now_mono();
		e->subnet = k->subnet;
		e->prefix_len = k->prefix_len;
		e->vip = k->vip;
		e->suite = k->suite;
		e->push_key_id = k->key_id;
		memcpy(&e->km, k->km, sizeof(e->km));
	}
	pthread_mutex_unlock(&reg.lock);
}

void rv_session_clear_key(uint32_t peer_id)
{
	pthread_mutex_lock(&reg.lock);
	for (unsigned i = 0; i < reg.n; i++)
		if (reg.t[i].peer_id == peer_id)
			wipe_entry(&reg.t[i]);
	pthread_mutex_unlock(&reg.lock);
}

static int is_member(struct rv_store *s, uint64_t room, uint64_t dev)
{
	char k[64];
	void *v = NULL;
	size_t vl;
	int rc = rv_store_get(
	    s, k, (size_t)snprintf(k, sizeof(k), "m/%016" PRIx64 "/%016" PRIx64, room, dev), &v,
	    &vl);

	free(v);
	return rc; /* 0 member, 1 not, -1 error */
}

static int delete_dp_session(struct rv_control *ctl, uint32_t peer_id)
{
	Roomvpn__Dataplane__V1__DeleteSession ds = ROOMVPN__DATAPLANE__V1__DELETE_SESSION__INIT;
	Roomvpn__Dataplane__V1__Request rq = ROOMVPN__DATAPLANE__V1__REQUEST__INIT, *one = &rq;
	char err[256];

	ds.peer_id = peer_id;
	rq.request_id = 1; /* an all-default Response would pack to 0 bytes */
	rq.body_case = ROOMVPN__DATAPLANE__V1__REQUEST__BODY_DELETE_SESSION;
	rq.delete_session = &ds;
	if (rv_dpclient_exchange(ctl->cfg.dp_agent, &one, 1, err, sizeof(err)) < 0) {
		rv_log(RV_LOG_WARN, "removing peer-id %u from the data plane: %s", peer_id, err);
		return -1;
	}
	return 0;
}

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

/* The user a device belongs to (0: unknown). */
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

static void adopt_one(struct rv_control *ctl, const Roomvpn__Dataplane__V1__SessionStats *ss)
{
	Roomvpn__V1__RoomRecord *room = NULL;
	uint64_t dev, now = rv_control_now_mono();

	if (find_peer(ss->peer_id) < reg.n ||
	    device_of(ctl->store, ss->room_id, ss->vip, &dev) != 0 ||
	    rv_rooms_load_id(ctl->store, ss->room_id, &room) != 0)
		return;
	if (reg.n == MAX_TUNNELS) {
		rv_log(RV_LOG_WARN, "data-plane session peer-id %u not adopted: registry full",
		       ss->peer_id);
		roomvpn__v1__room_record__free_unpacked(room, NULL);
		return;
	}
	reg.t[reg.n] = (struct tunnel_entry){.room = ss->room_id,
					     .device = dev,
					     .peer_id = ss->peer_id,
					     .key_id = (uint8_t)ss->key_id,
					     .keyed_ns = now,
					     .created_ns = now};
	snprintf(reg.t[reg.n].room_name, sizeof(reg.t[reg.n].room_name), "%s", room->name);
	note_room(&reg.t[reg.n], room);
	note_dp_routes(&reg.t[reg.n], room);
	reg.t[reg.n].user = user_of(ctl->store, dev);
	reg.n++;
	roomvpn__v1__room_record__free_unpacked(room, NULL);
}

/* Once per process (lock held): the tunnels a data plane runs from before a
 * control-plane restart join the registry, so kicks reach them too. */
static void adopt_from_dataplane(struct rv_control *ctl)
{
	Roomvpn__Dataplane__V1__Response *r;
	char err[256];

	if (adopted)
		return;
	r = rv_dpclient_sessions(ctl->cfg.dp_agent, err, sizeof(err));
	if (!r)
		return; /* no data plane yet: try again next time */
	adopted = true;
	for (size_t i = 0; i < r->stats->n_session; i++)
		adopt_one(ctl, r->stats->session[i]);
	roomvpn__dataplane__v1__response__free_unpacked(r, NULL);
}

/* Tell the stream why, and end it. Lock held. */
static void push_kick(struct tunnel_entry *e, const char *reason)
{
	Roomvpn__V1__KeepaliveEvent ev = ROOMVPN__V1__KEEPALIVE_EVENT__INIT;
	Roomvpn__V1__Kick k = ROOMVPN__V1__KICK__INIT;

	if (!e->stream)
		return;
	k.room = e->room_name;
	k.reason = (char *)reason;
	ev.body_case = ROOMVPN__V1__KEEPALIVE_EVENT__BODY_KICK;
	ev.kick = &k;
	rv_stream_send(e->stream, &ev.base);
	rv_stream_finish(e->stream, GRPC_STATUS_OK, "");
	e->stream = NULL;
}

/* Removes entry @i (lock held): its data-plane session, and its stream:
 * with a Kick when the device lost its membership (@kick), else the
 * stream just ends (the client reconnects and bootstraps again). */
static int drop_entry(struct rv_control *ctl, unsigned i, const char *reason, bool kick)
{
	rv_log(RV_LOG_INFO, "tunnel peer-id %u (device %" PRIu64 ", room %s) ended: %s",
	       reg.t[i].peer_id, reg.t[i].device, reg.t[i].room_name, reason);
	int rc = reg.t[i].peer_id ? delete_dp_session(ctl, reg.t[i].peer_id) : 0;
	if (kick)
		push_kick(&reg.t[i], reason);
	else if (reg.t[i].stream)
		rv_stream_finish(reg.t[i].stream, GRPC_STATUS_UNAVAILABLE, reason);
	wipe_entry(&reg.t[i]);
	reg.t[i] = reg.t[--reg.n];
	wipe_entry(&reg.t[reg.n]);
	return rc;
}

grpc_status_code rv_session_end(struct rv_control *ctl, uint64_t room_id, const char *room,
				uint64_t device_id, uint32_t peer_id, char *msg, size_t msglen)
{
	grpc_status_code st = GRPC_STATUS_OK;

	pthread_mutex_lock(&reg.lock);
	adopt_from_dataplane(ctl);
	unsigned i = find_owned(peer_id, device_id, room_id);
	if (i == reg.n) {
		snprintf(msg, msglen, "this device has no tunnel with peer-id %u in room %s",
			 peer_id, room);
		st = GRPC_STATUS_NOT_FOUND;
	} else {
		if (reg.t[i].stream) /* the client ended it: its stream ends quietly */
			rv_stream_finish(reg.t[i].stream, GRPC_STATUS_OK, "");
		reg.t[i].stream = NULL;
		if (drop_entry(ctl, i, "ended by its client", false) < 0) {
			snprintf(msg, msglen,
				 "the data plane did not confirm removing the session (see the "
				 "server log); the tunnel is ended on the control plane");
			st = GRPC_STATUS_UNAVAILABLE;
		}
	}
	pthread_mutex_unlock(&reg.lock);
	return st;
}

void rv_session_reconcile(struct rv_control *ctl)
{
	char reason[160];

	uint64_t now, limit = ctl->cfg.heartbeat_timeout_ns;
	uint64_t deadline = ctl->cfg.stream_deadline_ns;

	pthread_mutex_lock(&reg.lock);
	adopt_from_dataplane(ctl);
	/* read under the lock: a Hello stamped after an earlier read would make
	 * now - last_hb_ns wrap and drop a fresh tunnel as silent */
	now = rv_control_now_mono();
	for (unsigned i = 0; i < reg.n;) {
		struct tunnel_entry *e = &reg.t[i];
		Roomvpn__V1__RoomRecord *room = NULL;
		if (limit && e->last_hb_ns && now - e->last_hb_ns > limit) {
			snprintf(reason, sizeof(reason), "no keepalive heartbeat for %" PRIu64 " s",
				 (uint64_t)(limit / 1000000000u));
			drop_entry(ctl, i, reason, false);
			continue;
		}
		if (deadline && !e->last_hb_ns && !e->stream && now - e->created_ns > deadline) {
			snprintf(reason, sizeof(reason),
				 "no keepalive stream within %" PRIu64 " ms of the bootstrap",
				 deadline / 1000000u);
			drop_entry(ctl, i, reason, false);
			continue;
		}
		if (is_member(ctl->store, e->room, e->device) != 1) {
			i++;
			continue;
		}
		if (rv_rooms_load_id(ctl->store, e->room, &room) == 0)
			snprintf(reason, sizeof(reason),
				 "this device is no longer a member of room %s (kicked or left)",
				 e->room_name);
		else
			snprintf(reason, sizeof(reason), "room %s was deleted", e->room_name);
		if (room)
			roomvpn__v1__room_record__free_unpacked(room, NULL);
		drop_entry(ctl, i, reason, true); /* entry i now holds another tunnel */
	}
	pthread_mutex_unlock(&reg.lock);
}

/* The room's settings, whole, as ConfigUpdate on @e's stream (lock held).
 * -1 (nothing sent) when out of memory. */
static int push_config(struct tunnel_entry *e, const Roomvpn__V1__RoomRecord *r, const char *dns)
{
	Roomvpn__V1__KeepaliveEvent ev = ROOMVPN__V1__KEEPALIVE_EVENT__INIT;
	Roomvpn__V1__ConfigUpdate cu = ROOMVPN__V1__CONFIG_UPDATE__INIT;
	struct rv_room_net net;

	if (rv_room_net_export(r, dns, &net) < 0)
		return -1;
	cu.seq = ++e->config_seq;
	cu.mtu = r->mtu;
	cu.keepalive_s = r->keepalive_s;
	cu.network = true;
	cu.n_dns_servers = net.n_dns;
	cu.dns_servers = net.dns;
	cu.dns_search = net.search;
	cu.n_routes = net.n_routes;
	cu.routes = net.routes;
	ev.body_case = ROOMVPN__V1__KEEPALIVE_EVENT__BODY_CONFIG;
	ev.config = &cu;
	rv_stream_send(e->stream, &ev.base);
	rv_room_net_release(&net);
	return 0;
}

/* Push what changed in @e's room (lock held): settings as ConfigUpdate, a
 * rotated room key as Rekey. Without a stream the change waits. @dns: the
 * server's default DNS server (cfg.dns). */
static void push_room_changes(struct tunnel_entry *e, const Roomvpn__V1__RoomRecord *r,
			      const char *dns)
{
	Roomvpn__V1__KeepaliveEvent ev = ROOMVPN__V1__KEEPALIVE_EVENT__INIT;
	Roomvpn__V1__Rekey rk = ROOMVPN__V1__REKEY__INIT;
	struct tunnel_entry now;

	if (!e->stream)
		return;
	note_room(&now, r);
	if ((now.mtu != e->mtu || now.keepalive_s != e->keepalive_s || now.net_tag != e->net_tag) &&
	    push_config(e, r, dns) < 0)
		return; /* out of memory: try again on the next change or Hello */
	if (memcmp(now.room_key_tag, e->room_key_tag, sizeof(e->room_key_tag)) != 0) {
		rk.peer_id = e->peer_id;
		rk.reason = "the room key was rotated";
		rv_log(RV_LOG_INFO, "room key of %s rotated: peer-id %u asked to re-key",
		       e->room_name, e->peer_id);
		ev.body_case = ROOMVPN__V1__KEEPALIVE_EVENT__BODY_REKEY;
		ev.rekey = &rk;
		rv_stream_send(e->stream, &ev.base);
		e->rekey_asked_ns = rv_control_now_mono();
	}
	note_room(e, r);
}

/* The routes of @r changed since the data plane got them for @e's room:
 * one UpsertRoom with the new set, and every tunnel of the room notes it
 * (so the room is pushed once; a re-push later carries the new set even
 * if this push failed). Lock held. */
static void sync_dp_routes(struct rv_control *ctl, struct tunnel_entry *e,
			   const Roomvpn__V1__RoomRecord *r)
{
	Roomvpn__Dataplane__V1__Request rq = ROOMVPN__DATAPLANE__V1__REQUEST__INIT, *one = &rq;
	Roomvpn__Dataplane__V1__UpsertRoom ur = ROOMVPN__DATAPLANE__V1__UPSERT_ROOM__INIT;
	Roomvpn__Dataplane__V1__Room room = ROOMVPN__DATAPLANE__V1__ROOM__INIT;
	Roomvpn__Dataplane__V1__Route rt[RV_ROOM_ROUTES_MAX], *rtp[RV_ROOM_ROUTES_MAX];
	char err[256];

	if (rv_room_net_routes_tag(r) == e->dp_routes_tag || !ctl->cfg.dp_agent[0])
		return;
	room.room_id = (uint32_t)r->id;
	room.subnet = r->subnet_addr;
	room.prefix_len = r->subnet_prefix;
	room.n_routes = rv_room_net_dp_routes(r, rt, rtp);
	room.routes = rtp;
	ur.room = &room;
	rq.request_id = 1;
	rq.body_case = ROOMVPN__DATAPLANE__V1__REQUEST__BODY_UPSERT_ROOM;
	rq.upsert_room = &ur;
	if (rv_dpclient_exchange(ctl->cfg.dp_agent, &one, 1, err, sizeof(err)) < 0)
		rv_log(RV_LOG_WARN, "routes of room %s to the data plane: %s", r->name, err);
	else
		rv_log(RV_LOG_INFO, "routes of room %s: %zu pushed to the data plane", r->name,
		       room.n_routes);
	for (unsigned i = 0; i < reg.n; i++)
		if (reg.t[i].room == e->room)
			note_dp_routes(&reg.t[i], r);
}

/* After RoomService.Update: every tunnel of a changed room hears of it. */
static void sync_rooms(struct rv_control *ctl)
{
	pthread_mutex_lock(&reg.lock);
	for (unsigned i = 0; i < reg.n; i++) {
		Roomvpn__V1__RoomRecord *r = NULL;
		if (rv_rooms_load_id(ctl->store, reg.t[i].room, &r) != 0)
			continue;
		sync_dp_routes(ctl, &reg.t[i], r);
		push_room_changes(&reg.t[i], r, ctl->cfg.dns);
		roomvpn__v1__room_record__free_unpacked(r, NULL);
	}
	pthread_mutex_unlock(&reg.lock);
}

static bool ends_memberships(const char *method)
{
	static const char *const paths[] = {
	    "/roomvpn.v1.RoomService/Kick",   "/roomvpn.v1.RoomService/Leave",
	    "/roomvpn.v1.RoomService/Delete", "/roomvpn.v1.UserService/Update",
	    "/roomvpn.v1.UserService/Delete",
	};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (!strcmp(method, paths[i]))
			return true;
	return false;
}

static void on_rpc_done(struct rv_control *ctl, const char *method, int status, uint64_t ns)
{
	if (prev_rpc_done)
		prev_rpc_done(ctl, method, status, ns);
	if (status == GRPC_STATUS_OK && ends_memberships(method))
		rv_session_reconcile(ctl);
	if (status == GRPC_STATUS_OK && !strcmp(method, "/roomvpn.v1.RoomService/Update"))
		sync_rooms(ctl);
}

/* Once a second the registry is checked even when no RPC or heartbeat
 * arrives: a bootstrap whose client never opened its stream
 * (stream_deadline), a stream gone quiet (heartbeat_timeout). */
static struct {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool running, stop;
} sweeper = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void *sweeper_main(void *arg)
{
	struct rv_control *ctl = arg;

	pthread_mutex_lock(&sweeper.mu);
	while (!sweeper.stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		if (pthread_cond_timedwait(&sweeper.cv, &sweeper.mu, &ts) == 0 || sweeper.stop)
			continue;
		pthread_mutex_unlock(&sweeper.mu);
		rv_session_reconcile(ctl);
		pthread_mutex_lock(&sweeper.mu);
	}
	pthread_mutex_unlock(&sweeper.mu);
	return NULL;
}

void rv_session_init(struct rv_control *ctl)
{
	prev_rpc_done = ctl->on_rpc_done;
	ctl->on_rpc_done = on_rpc_done;
	sweeper.stop = false;
	if (pthread_create(&sweeper.thread, NULL, sweeper_main, ctl) == 0)
		sweeper.running = true;
	else
		rv_log(RV_LOG_WARN, "tunnel sweeper not started: stream_deadline and "
				    "heartbeat_timeout are only checked on heartbeats");
}

void rv_session_fini(struct rv_control *ctl)
{
	(void)ctl;
	if (!sweeper.running)
		return;
	pthread_mutex_lock(&sweeper.mu);
	sweeper.stop = true;
	pthread_cond_signal(&sweeper.cv);
	pthread_mutex_unlock(&sweeper.mu);
	pthread_join(sweeper.thread, NULL);
	sweeper.running = false;
}

/* ---- SessionService.Keepalive ---------------------------------------------- */

/* Does the data plane run @peer_id in @room_id for a VIP that the store
 * gives to @device_id? */
static bool dp_runs_for(struct rv_control *ctl, uint32_t peer_id, uint64_t room_id,
			uint64_t device_id)
{
	Roomvpn__Dataplane__V1__Response *r;
	char err[256];
	bool yes = false;
	uint64_t dev;

	r = rv_dpclient_sessions(ctl->cfg.dp_agent, err, sizeof(err));
	if (!r)
		return false;
	for (size_t i = 0; i < r->stats->n_session; i++) {
		const Roomvpn__Dataplane__V1__SessionStats *ss = r->stats->session[i];
		if (ss->peer_id == peer_id && ss->room_id == room_id &&
		    device_of(ctl->store, room_id, ss->vip, &dev) == 0 && dev == device_id) {
			yes = true;
			break;
		}
	}
	roomvpn__dataplane__v1__response__free_unpacked(r, NULL);
	return yes;
}

/* A Hello for a peer-id the registry does not know (lock held). After a
 * control-plane restart the data plane may still run the caller's tunnel:
 * it is re-registered if the caller's device is a member of @room and the
 * data plane runs that peer-id in @room for a VIP the store gives to the
 * caller's device. Any other peer-id is refused: it is never bound. The
 * member's stream itself is kept (its tunnel ended while it was away, say
 * frozen): it joins the device's entry of the room, or a new entry without
 * a peer-id (0), which the client's next Bootstrap fills. */
static grpc_status_code adopt(struct rv_rpc_ctx *ctx, struct rv_stream *s,
			      const Roomvpn__V1__Hello *h, const Roomvpn__V1__RoomRecord *room,
			      char *msg, size_t msglen)
{
	uint64_t dev = ctx->who.device_id, now = rv_control_now_mono();

	if (is_member(ctx->ctl->store, room->id, dev) != 0) {
		snprintf(msg, msglen,
			 "this device is no longer a member of room %s (kicked or left)", h->room);
		return GRPC_STATUS_NOT_FOUND;
	}
	bool runs = h->peer_id && h->peer_id <= RV_SESSION_PEER_ID_MAX &&
		    dp_runs_for(ctx->ctl, h->peer_id, room->id, dev);
	unsigned i, quota = ctx->ctl->cfg.max_tunnels_per_user;
	for (i = 0; !runs && i < reg.n; i++)
		if (reg.t[i].room == room->id && reg.t[i].device == dev) {
			reg.t[i].stream = s; /* its own tunnel of this room */
			reg.t[i].last_hb_ns = now;
			return GRPC_STATUS_OK;
		}
	if (reg.n == MAX_TUNNELS ||
	    (!runs && quota && tunnels_of_user(ctx->who.user_id) >= quota)) {
		snprintf(msg, msglen, "no tunnel with peer-id %u in room %s for this device",
			 h->peer_id, h->room);
		return GRPC_STATUS_NOT_FOUND;
	}
	if (!runs)
		rv_log(RV_LOG_INFO,
		       "keepalive Hello of %s (device %" PRIu64 ") for peer-id %u: no such tunnel "
		       "in room %s (not bound); the stream waits for its next bootstrap",
		       ctx->who.username, dev, h->peer_id, room->name);
	struct tunnel_entry *e = &reg.t[reg.n++];
	*e = (struct tunnel_entry){.room = room->id,
				   .device = dev,
				   .user = ctx->who.user_id,
				   .peer_id = runs ? h->peer_id : 0,
				   .stream = s,
				   .keyed_ns = now,
				   .created_ns = now,
				   .last_hb_ns = now};
	snprintf(e->room_name, sizeof(e->room_name), "%s", room->name);
	note_room(e, room);
	note_dp_routes(e, room);
	if (runs)
		rv_log(RV_LOG_INFO, "tunnel peer-id %u of %s (device %" PRIu64 ") in room %s adopted",
		       h->peer_id, ctx->who.username, dev, room->name);
	return GRPC_STATUS_OK;
}

static grpc_status_code hello(struct rv_rpc_ctx *ctx, struct rv_stream *s,
			      const Roomvpn__V1__Hello *h, char *msg, size_t msglen)
{
	Roomvpn__V1__RoomRecord *room = NULL;
	grpc_status_code st = GRPC_STATUS_OK;

	snprintf(ctx->target, sizeof(ctx->target), "%s", h->room);
	int rc = rv_rooms_load(ctx->ctl->store, h->room, &room);
	if (rc != 0) {
		snprintf(msg, msglen, rc < 0 ? "store error (see the server log)"
					     : "room %s was deleted", h->room);
		return rc < 0 ? GRPC_STATUS_INTERNAL : GRPC_STATUS_NOT_FOUND;
	}
	pthread_mutex_lock(&reg.lock);
	adopt_from_dataplane(ctx->ctl);
	unsigned i = find_owned(h->peer_id, ctx->who.device_id, room->id);
	if (i < reg.n) {
		reg.t[i].stream = s;
		reg.t[i].last_hb_ns = rv_control_now_mono();
		push_room_changes(&reg.t[i], room, ctx->ctl->cfg.dns); /* changes while away */
	} else if (find_peer(h->peer_id) < reg.n) { /* another device's, or another room's */
		rv_log(RV_LOG_WARN,
		       "keepalive Hello refused: %s (device %" PRIu64 ") named peer-id %u, "
		       "not its tunnel in room %s",
		       ctx->who.username, ctx->who.device_id, h->peer_id, room->name);
		snprintf(msg, msglen, "no tunnel with peer-id %u in room %s for this device",
			 h->peer_id, h->room);
		st = GRPC_STATUS_NOT_FOUND;
	} else {
		st = adopt(ctx, s, h, room, msg, msglen);
	}
	pthread_mutex_unlock(&reg.lock);
	roomvpn__v1__room_record__free_unpacked(room, NULL);
	return st;
}

/* The key of this stream's tunnel is older than rekey_interval: ask the
 * client for a fresh exchange (again after 10 s if nothing happened). */
static void ask_rekey(struct rv_control *ctl, struct rv_stream *s)
{
	Roomvpn__V1__KeepaliveEvent ev = ROOMVPN__V1__KEEPALIVE_EVENT__INIT;
	Roomvpn__V1__Rekey rk = ROOMVPN__V1__REKEY__INIT;
	uint64_t now = rv_control_now_mono(), every = ctl->cfg.rekey_interval_ns;

	pthread_mutex_lock(&reg.lock);
	for (unsigned i = 0; i < reg.n; i++) {
		struct tunnel_entry *e = &reg.t[i];
		if (e->stream == s)
			e->last_hb_ns = now;
		if (!every || e->stream != s || now - e->keyed_ns < every ||
		    (e->rekey_asked_ns && now - e->rekey_asked_ns < 10000000000ull))
			continue;
		e->rekey_asked_ns = now;
		rk.peer_id = e->peer_id;
		rk.reason = "the key reached rekey_interval";
		ev.body_case = ROOMVPN__V1__KEEPALIVE_EVENT__BODY_REKEY;
		ev.rekey = &rk;
		rv_stream_send(s, &ev.base);
	}
	pthread_mutex_unlock(&reg.lock);
}

static grpc_status_code heartbeat(struct rv_rpc_ctx *ctx, struct rv_stream *s,
				  const Roomvpn__V1__Heartbeat *hb)
{
	Roomvpn__V1__KeepaliveEvent ev = ROOMVPN__V1__KEEPALIVE_EVENT__INIT;
	Roomvpn__V1__Heartbeat reply = ROOMVPN__V1__HEARTBEAT__INIT;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	reply.seq = hb->seq;
	reply.time_unix_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	ev.body_case = ROOMVPN__V1__KEEPALIVE_EVENT__BODY_HEARTBEAT;
	ev.heartbeat = &reply;
	rv_stream_send(s, &ev.base);
	ask_rekey(ctx->ctl, s);
	rv_session_poll(ctx->ctl); /* a restarted data plane gets its sessions back */
	/* Memberships may also end without an RPC of ours (store restored,
	 * another control plane): check on every heartbeat too. */
	rv_session_reconcile(ctx->ctl);
	return GRPC_STATUS_OK;
}

static grpc_status_code on_message(struct rv_rpc_ctx *ctx, struct rv_stream *s,
				   const ProtobufCMessage *req, char *msg, size_t msglen)
{
	const Roomvpn__V1__KeepaliveRequest *r = (const void *)req;

	if (!r) { /* the client closed its side: so do we */
		rv_stream_finish(s, GRPC_STATUS_OK, "");
		return GRPC_STATUS_OK;
	}
	switch (r->body_case) {
	case ROOMVPN__V1__KEEPALIVE_REQUEST__BODY_HELLO:
		return hello(ctx, s, r->hello, msg, msglen);
	case ROOMVPN__V1__KEEPALIVE_REQUEST__BODY_HEARTBEAT:
		return heartbeat(ctx, s, r->heartbeat);
	case ROOMVPN__V1__KEEPALIVE_REQUEST__BODY_ACK:
		rv_log(RV_LOG_INFO,
		       "tunnel settings update %" PRIu64 " applied by %s (device %" PRIu64 ")",
		       r->ack->seq, ctx->who.username, ctx->who.device_id);
		return GRPC_STATUS_OK;
	default:
		snprintf(msg, msglen, "KeepaliveRequest without a body");
		return GRPC_STATUS_INVALID_ARGUMENT;
	}
}

static void on_end(struct rv_rpc_ctx *ctx, struct rv_stream *s, bool cancelled)
{
	(void)ctx, (void)cancelled;
	pthread_mutex_lock(&reg.lock);
	for (unsigned i = 0; i < reg.n; i++)
		if (reg.t[i].stream == s)
			reg.t[i].stream = NULL;
	pthread_mutex_unlock(&reg.lock);
}

const struct rv_stream_ops rv_session_keepalive_ops = {
    .on_message = on_message,
    .on_end = on_end,
};

/* ---- Data-plane stats cache and re-push ------------------------------------ */

static struct {
	pthread_mutex_t lock;			/* taken before reg.lock, never after */
	uint64_t read_ns;			/* when the last read started (0: never) */
	Roomvpn__Dataplane__V1__Response *resp; /* NULL: the last read failed */
} dps = {.lock = PTHREAD_MUTEX_INITIALIZER};

static bool on_dataplane(const Roomvpn__Dataplane__V1__Stats *st, uint32_t peer_id)
{
	for (size_t i = 0; i < st->n_session; i++)
		if (st->session[i]->peer_id == peer_id)
			return true;
	return false;
}

/* The data-plane form of entry @e (pointers into @e). */
static void fill_session(struct tunnel_entry *e, Roomvpn__Dataplane__V1__Session *s,
			 Roomvpn__Dataplane__V1__Key *k, Roomvpn__Dataplane__V1__Room *r)
{
	roomvpn__dataplane__v1__session__init(s);
	roomvpn__dataplane__v1__key__init(k);
	roomvpn__dataplane__v1__room__init(r);
	r->room_id = (uint32_t)e->room;
	r->subnet = e->subnet;
	r->prefix_len = e->prefix_len;
	for (size_t i = 0; i < e->n_dp_routes; i++)
		e->dp_route_ptrs[i] = &e->dp_routes[i]; /* entries move in the registry */
	r->n_routes = e->n_dp_routes;
	r->routes = e->dp_route_ptrs;
	k->key_id = e->push_key_id;
	k->material.data = (uint8_t *)&e->km;
	k->material.len = sizeof(e->km);
	k->direction = ROOMVPN__DATAPLANE__V1__KEY_DIRECTION__KEY_DIRECTION_SERVER;
	s->peer_id = e->peer_id;
	s->room_id = r->room_id;
	s->vip = e->vip;
	s->cipher = (char *)rv_cipher_name(e->suite);
	s->key = k;
}

struct push {
	Roomvpn__Dataplane__V1__Request *rq, **rqp;
	Roomvpn__Dataplane__V1__Session *s, **sp;
	Roomvpn__Dataplane__V1__Key *k;
	Roomvpn__Dataplane__V1__Room *r, **rp;
	Roomvpn__Dataplane__V1__UpsertRoom *ur;
	Roomvpn__Dataplane__V1__UpsertSession *us;
};

static int push_alloc(struct push *p, unsigned n)
{
	p->rq = calloc(2 * n, sizeof(*p->rq));
	p->rqp = calloc(2 * n, sizeof(*p->rqp));
	p->s = calloc(n, sizeof(*p->s));
	p->sp = calloc(n, sizeof(*p->sp));
	p->k = calloc(n, sizeof(*p->k));
	p->r = calloc(n, sizeof(*p->r));
	p->rp = calloc(n, sizeof(*p->rp));
	p->ur = calloc(n, sizeof(*p->ur));
	p->us = calloc(n, sizeof(*p->us));
	return p->rq && p->rqp && p->s && p->sp && p->k && p->r && p->rp && p->ur && p->us ? 0 : -1;
}

static void push_free(struct push *p)
{
	free(p->rq), free(p->rqp), free(p->s), free(p->sp), free(p->k);
	free(p->r), free(p->rp), free(p->ur), free(p->us);
}

/* One Resync of every keyed tunnel and its room (lock held). */
static int resync(struct rv_control *ctl, struct push *p, unsigned *sessions, unsigned *rooms,
		  char *err, size_t errlen)
{
	Roomvpn__Dataplane__V1__Resync rs = ROOMVPN__DATAPLANE__V1__RESYNC__INIT;
	unsigned ns = 0, nr = 0;

	for (unsigned i = 0; i < reg.n; i++) {
		if (!reg.t[i].keyed)
			continue;
		reg.t[i].repushed = true;
		fill_session(&reg.t[i], &p->s[ns], &p->k[ns], &p->r[nr]);
		p->sp[ns] = &p->s[ns];
		ns++;
		unsigned j;
		for (j = 0; j < nr && p->rp[j]->room_id != p->r[nr].room_id; j++)
			;
		if (j == nr) {
			p->rp[nr] = &p->r[nr];
			nr++;
		}
	}
	rs.n_rooms = nr;
	rs.rooms = p->rp;
	rs.n_sessions = ns;
	rs.sessions = p->sp;
	roomvpn__dataplane__v1__request__init(&p->rq[0]);
	p->rq[0].request_id = 1;
	p->rq[0].body_case = ROOMVPN__DATAPLANE__V1__REQUEST__BODY_RESYNC;
	p->rq[0].resync = &rs;
	p->rqp[0] = &p->rq[0];
	*sessions = ns;
	*rooms = nr;
	return rv_dpclient_exchange(ctl->cfg.dp_agent, p->rqp, 1, err, errlen);
}

/* UpsertRoom + UpsertSession for every keyed tunnel recorded before
 * @read_ns that the data plane lacks (lock held). */
static int upsert_missing(struct rv_control *ctl, struct push *p,
			  const Roomvpn__Dataplane__V1__Stats *st, uint64_t read_ns,
			  unsigned *sessions, char *err, size_t errlen)
{
	unsigned n = 0;

	for (unsigned i = 0; i < reg.n; i++) {
		struct tunnel_entry *e = &reg.t[i];
		if (!e->keyed || e->key_ns >= read_ns || on_dataplane(st, e->peer_id))
			continue;
		e->repushed = true;
		fill_session(e, &p->s[n], &p->k[n], &p->r[n]);
		roomvpn__dataplane__v1__upsert_room__init(&p->ur[n]);
		roomvpn__dataplane__v1__upsert_session__init(&p->us[n]);
		p->ur[n].room = &p->r[n];
		p->us[n].session = &p->s[n];
		roomvpn__dataplane__v1__request__init(&p->rq[2 * n]);
		roomvpn__dataplane__v1__request__init(&p->rq[2 * n + 1]);
		p->rq[2 * n].request_id = 2 * n + 1;
		p->rq[2 * n].body_case = ROOMVPN__DATAPLANE__V1__REQUEST__BODY_UPSERT_ROOM;
		p->rq[2 * n].upsert_room = &p->ur[n];
		p->rq[2 * n + 1].request_id = 2 * n + 2;
		p->rq[2 * n + 1].body_case = ROOMVPN__DATAPLANE__V1__REQUEST__BODY_UPSERT_SESSION;
		p->rq[2 * n + 1].upsert_session = &p->us[n];
		p->rqp[2 * n] = &p->rq[2 * n];
		p->rqp[2 * n + 1] = &p->rq[2 * n + 1];
		n++;
	}
	*sessions = n;
	return n ? rv_dpclient_exchange(ctl->cfg.dp_agent, p->rqp, 2 * n, err, errlen) : 0;
}

/* The data plane starts packet-ids afresh for a re-pushed session, which
 * the client's replay window would refuse under the same key: every
 * re-pushed tunnel is asked to re-key at once (lock held). */
static void ask_rekey_repushed(void)
{
	Roomvpn__V1__KeepaliveEvent ev = ROOMVPN__V1__KEEPALIVE_EVENT__INIT;
	Roomvpn__V1__Rekey rk = ROOMVPN__V1__REKEY__INIT;

	for (unsigned i = 0; i < reg.n; i++) {
		struct tunnel_entry *e = &reg.t[i];
		if (!e->repushed || !e->stream)
			continue;
		rk.peer_id = e->peer_id;
		rk.reason = "the data plane restarted";
		ev.body_case = ROOMVPN__V1__KEEPALIVE_EVENT__BODY_REKEY;
		ev.rekey = &rk;
		rv_stream_send(e->stream, &ev.base);
		e->rekey_asked_ns = rv_control_now_mono();
	}
}

/* Give the data plane what it lacks (lock held). */
static void repush(struct rv_control *ctl, const Roomvpn__Dataplane__V1__Stats *st,
		   uint64_t read_ns)
{
	unsigned missing = 0, keyless = 0, sessions = 0, rooms = 0;
	struct push p = {0};
	char err[256];
	int rc;

	for (unsigned i = 0; i < reg.n; i++) {
		struct tunnel_entry *e = &reg.t[i];
		if (!e->keyed)
			keyless++;
		else if (e->key_ns < read_ns && !on_dataplane(st, e->peer_id))
			missing++;
	}
	if (!missing)
		return;
	for (unsigned i = 0; i < reg.n; i++)
		reg.t[i].repushed = false;
	if (push_alloc(&p, reg.n) < 0) {
		rv_log(RV_LOG_WARN, "re-pushing sessions to the data plane: out of memory");
		goto out;
	}
	if (st->n_session == 0) {
		rc = resync(ctl, &p, &sessions, &rooms, err, sizeof(err));
		if (rc == 0)
			rv_log(RV_LOG_INFO,
			       "data plane without sessions (restarted): resynced %u sessions in "
			       "%u rooms (%u tunnels without key material left to their clients)",
			       sessions, rooms, keyless);
	} else {
		rc = upsert_missing(ctl, &p, st, read_ns, &sessions, err, sizeof(err));
		if (rc == 0)
			rv_log(RV_LOG_INFO, "re-pushed %u sessions missing from the data plane",
			       sessions);
	}
	if (rc < 0)
		rv_log(RV_LOG_WARN, "re-pushing %u sessions to the data plane: %s", missing, err);
	else
		ask_rekey_repushed();
out:
	push_free(&p);
}

void rv_session_poll(struct rv_control *ctl)
{
	char err[256];
	uint64_t now = rv_control_now_mono();

	if (!ctl->cfg.dp_agent[0])
		return; /* no data plane configured */
	pthread_mutex_lock(&dps.lock);
	if (dps.read_ns && now - dps.read_ns < 1000000000ull) {
		pthread_mutex_unlock(&dps.lock);
		return;
	}
	dps.read_ns = now;
	if (dps.resp)
		roomvpn__dataplane__v1__response__free_unpacked(dps.resp, NULL);
	dps.resp = rv_dpclient_sessions(ctl->cfg.dp_agent, err, sizeof(err));
	if (dps.resp) {
		pthread_mutex_lock(&reg.lock);
		adopt_from_dataplane(ctl); /* before anything could be pushed */
		if (adopted)
			repush(ctl, dps.resp->stats, now);
		pthread_mutex_unlock(&reg.lock);
	}
	pthread_mutex_unlock(&dps.lock);
}

static void fill_status(const struct tunnel_entry *e, const Roomvpn__Dataplane__V1__Stats *st,
			struct rv_tunnel_status *o)
{
	struct timespec ts;
	uint64_t now_ms, quiet_ms;

	clock_gettime(CLOCK_REALTIME, &ts);
	now_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;

	*o = (struct rv_tunnel_status){.device_id = e->device,
				       .user_id = e->user,
				       .peer_id = e->peer_id,
				       .vip = e->vip,
				       .transport = "unknown"};
	snprintf(o->room, sizeof(o->room), "%s", e->room_name);
	for (size_t i = 0; st && i < st->n_session; i++) {
		const Roomvpn__Dataplane__V1__SessionStats *ss = st->session[i];
		if (ss->peer_id != e->peer_id)
			continue;
		o->on_dataplane = true;
		o->vip = ss->vip;
		o->transport =
		    ss->transport == ROOMVPN__DATAPLANE__V1__TRANSPORT__TRANSPORT_UDP	? "udp"
		    : ss->transport == ROOMVPN__DATAPLANE__V1__TRANSPORT__TRANSPORT_TCP ? "tcp"
											: "unknown";
		o->packets_in = ss->packets_in;
		o->bytes_in = ss->bytes_in;
		o->packets_out = ss->packets_out;
		o->bytes_out = ss->bytes_out;
		o->last_seen_unix_ms = ss->last_seen_unix_ms;
		o->rtt_us = ss->last_rtt_us;
	}
	quiet_ms = 3000ull * e->keepalive_s;
	if (quiet_ms < 30000)
		quiet_ms = 30000;
	o->up = o->on_dataplane && o->last_seen_unix_ms &&
		/* (the data plane's clock may be a little ahead of ours) */
		(o->last_seen_unix_ms >= now_ms || now_ms - o->last_seen_unix_ms <= quiet_ms);
}

int rv_session_status(struct rv_control *ctl, bool all, uint64_t user_id,
		      struct rv_tunnel_status **out, bool *dp_ok)
{
	struct rv_tunnel_status *v = NULL;
	int n = 0;

	rv_session_poll(ctl);
	pthread_mutex_lock(&dps.lock);
	pthread_mutex_lock(&reg.lock);
	*dp_ok = dps.resp != NULL;
	if (reg.n && !(v = calloc(reg.n, sizeof(*v))))
		n = -1;
	for (unsigned i = 0; v && i < reg.n; i++)
		if (all || reg.t[i].user == user_id)
			fill_status(&reg.t[i], dps.resp ? dps.resp->stats : NULL, &v[n++]);
	pthread_mutex_unlock(&reg.lock);
	pthread_mutex_unlock(&dps.lock);
	if (n <= 0) {
		free(v);
		v = NULL;
	}
	*out = v;
	return n;
}
