/* The keepalive stream (see keepalive.h). */
#include "keepalive.h"
#include "presence.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dp_cache.h"
#include "log.h"
#include "room_net.h"
#include "room_records.h"
#include "store.h"
#include "store_keys.h"
#include "tls.h"
#include "tokens.h"
#include "tunnels.h"

void rv_keepalive_push_kick(struct rv_tunnel *t, const char *reason)
{
	Roomvpn__V1__KeepaliveEvent ev = ROOMVPN__V1__KEEPALIVE_EVENT__INIT;
	Roomvpn__V1__Kick k = ROOMVPN__V1__KICK__INIT;
	struct rv_stream *s = t->stream;

	if (!s)
		return;
	k.room = t->room->name;
	k.reason = (char *)reason;
	ev.body_case = ROOMVPN__V1__KEEPALIVE_EVENT__BODY_KICK;
	ev.kick = &k;
	rv_stream_send(s, &ev.base);
	rv_stream_finish(s, GRPC_STATUS_OK, "");
	rv_tunnels_bind(t, NULL);
}

void rv_keepalive_push_rekey(struct rv_tunnel *t, const char *reason)
{
	Roomvpn__V1__KeepaliveEvent ev = ROOMVPN__V1__KEEPALIVE_EVENT__INIT;
	Roomvpn__V1__Rekey rk = ROOMVPN__V1__REKEY__INIT;

	if (!t->stream)
		return;
	rk.peer_id = t->peer_id;
	rk.reason = (char *)reason;
	ev.body_case = ROOMVPN__V1__KEEPALIVE_EVENT__BODY_REKEY;
	ev.rekey = &rk;
	rv_stream_send(t->stream, &ev.base);
	t->rekey_asked_ns = rv_control_now_mono();
}

void rv_keepalive_push_move(struct rv_tunnel *t, const char *dataplane, const char *reason)
{
	Roomvpn__V1__KeepaliveEvent ev = ROOMVPN__V1__KEEPALIVE_EVENT__INIT;
	Roomvpn__V1__Move mv = ROOMVPN__V1__MOVE__INIT;

	if (!t->stream)
		return;
	mv.dataplane = (char *)dataplane;
	mv.reason = (char *)reason;
	ev.body_case = ROOMVPN__V1__KEEPALIVE_EVENT__BODY_MOVE;
	ev.move = &mv;
	rv_stream_send(t->stream, &ev.base);
}

/* The room's settings, whole, as ConfigUpdate; -1 when out of memory. The
 * DNS servers and routes come from the store's record: @r. */
static int push_config(struct rv_tunnel *t, const Roomvpn__V1__RoomRecord *r, const char *dns)
{
	Roomvpn__V1__KeepaliveEvent ev = ROOMVPN__V1__KEEPALIVE_EVENT__INIT;
	Roomvpn__V1__ConfigUpdate cu = ROOMVPN__V1__CONFIG_UPDATE__INIT;
	struct rv_room_net net;

	if (rv_room_net_export(r, dns, &net) < 0)
		return -1;
	cu.seq = ++t->config_seq;
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
	rv_stream_send(t->stream, &ev.base);
	rv_room_net_release(&net);
	return 0;
}

void rv_keepalive_push_room(struct rv_tunnel *t, const Roomvpn__V1__RoomRecord *r, const char *dns)
{
	const struct rv_tunnel_room *room = t->room;

	if (!t->stream)
		return;
	if ((room->mtu != t->mtu || room->keepalive_s != t->keepalive_s ||
	     room->net_tag != t->net_tag) &&
	    push_config(t, r, dns) < 0)
		return; /* out of memory: try again on the next change or Hello */
	if (room->key_tag != t->key_tag) {
		rv_log(RV_LOG_INFO, "room key of %s rotated: peer-id %u asked to re-key",
		       room->name, t->peer_id);
		rv_keepalive_push_rekey(t, "the room key was rotated");
	}
	rv_tunnels_client_synced(t);
}

/* ---- Hello ------------------------------------------------------------- */

/* A Hello for a peer-id the registry does not know (lock held). After a
 * control-plane restart the data plane may still run the caller's tunnel
 * (dp_sync.c adopts those it can): it is re-registered if the data plane
 * runs that peer-id in @room for the caller's VIP (@vip, read from the
 * store before). Any other peer-id is never bound; the member's stream is
 * kept (its tunnel ended while it was away): it joins the device's entry of
 * the room, or a new entry without a peer-id (0) that its next Bootstrap
 * fills. */
static grpc_status_code adopt(struct rv_rpc_ctx *ctx, struct rv_stream *s,
			      const Roomvpn__V1__Hello *h, const Roomvpn__V1__RoomRecord *room,
			      uint32_t vip, char *msg, size_t msglen)
{
	uint64_t dev = ctx->who.device_id;
	unsigned quota = ctx->ctl->cfg.max_tunnels_per_user, cap = ctx->ctl->cfg.max_tunnels;
	bool runs = h->peer_id && h->peer_id <= RV_TUNNELS_PEER_ID_MAX && vip &&
		    rv_dp_cache_runs(h->peer_id, room->id, vip);
	struct rv_tunnel *t = runs ? NULL : rv_tunnels_find_rd(room->id, dev);

	if (t) { /* its own tunnel of this room */
		snprintf(t->username, sizeof(t->username), "%s", ctx->who.username);
		rv_tunnels_bind(t, s);
		t->last_hb_ns = rv_control_now_mono();
		return GRPC_STATUS_OK;
	}
	if ((cap && rv_tunnels_count() >= cap) ||
	    (!runs && quota && rv_tunnels_of_user(ctx->who.user_id) >= quota) ||
	    !(t = rv_tunnels_add(room, dev, ctx->who.user_id, runs ? h->peer_id : 0))) {
		snprintf(msg, msglen, "no tunnel with peer-id %u in room %s for this device",
			 h->peer_id, h->room);
		return GRPC_STATUS_NOT_FOUND;
	}
	snprintf(t->username, sizeof(t->username), "%s", ctx->who.username);
	rv_tunnels_bind(t, s);
	t->last_hb_ns = rv_control_now_mono();
	if (runs)
		rv_log(RV_LOG_INFO,
		       "tunnel peer-id %u of %s (device %" PRIu64 ") in room %s adopted",
		       h->peer_id, ctx->who.username, dev, room->name);
	else
		rv_log(RV_LOG_INFO,
		       "keepalive Hello of %s (device %" PRIu64 ") for peer-id %u: no such tunnel "
		       "in room %s (not bound); the stream waits for its next bootstrap",
		       ctx->who.username, dev, h->peer_id, room->name);
	return GRPC_STATUS_OK;
}

/* Whether the caller is a member of @room (0 yes, 1 no, -1 store error)
 * and its VIP there (@vip, 0: none): one read, before the lock. */
static int member_of(struct rv_store *s, uint64_t room, uint64_t dev, uint32_t *vip)
{
	char k[RV_KEY_MAX];
	void *v = NULL;
	size_t vl = 0;
	int rc = rv_store_get(s, k, rv_key_member(k, room, dev), &v, &vl);

	*vip = 0;
	if (rc == 0) {
		Roomvpn__V1__MemberRecord *m = roomvpn__v1__member_record__unpack(NULL, vl, v);
		if (m)
			*vip = m->virtual_ip;
		roomvpn__v1__member_record__free_unpacked(m, NULL);
	}
	free(v);
	return rc;
}

static grpc_status_code hello(struct rv_rpc_ctx *ctx, struct rv_stream *s,
			      const Roomvpn__V1__Hello *h, char *msg, size_t msglen)
{
	Roomvpn__V1__RoomRecord *room = NULL;
	grpc_status_code st = GRPC_STATUS_OK;
	uint64_t dev = ctx->who.device_id;

	snprintf(ctx->target, sizeof(ctx->target), "%s", h->room);
	int rc = rv_rooms_load(ctx->ctl->store, h->room, &room);
	if (rc != 0) {
		snprintf(msg, msglen,
			 rc < 0 ? "store error (see the server log)" : "room %s was deleted",
			 h->room);
		return rc < 0 ? GRPC_STATUS_INTERNAL : GRPC_STATUS_NOT_FOUND;
	}
	/* store reads first, never under the registry lock */
	uint32_t vip;
	int member = member_of(ctx->ctl->store, room->id, dev, &vip);
	rv_tunnels_fetch(h->peer_id); /* another replica's tunnel not mirrored yet */
	rv_tunnels_lock();
	struct rv_tunnel *t = rv_tunnels_find_owned(h->peer_id, dev, room->id);
	bool online = false;
	/* the membership could not be read: unless the tunnel is this
	 * replica's own, not a NOT_FOUND (the client would take it for a kick
	 * and give up) but a retry */
	bool unsure = member < 0 && (!t || t->foreign);
	/* kicked or left since: its dead replica's record outlived that */
	bool gone = !unsure && t && t->foreign && member != 0;
	if (t && t->foreign && !gone && !unsure) /* its replica died or lost the stream: ours now */
		rv_tunnels_take_over(t);
	if (unsure) {
		snprintf(
		    msg, msglen,
		    "store error reading the membership in room %s (see the server log): try again",
		    h->room);
		st = GRPC_STATUS_UNAVAILABLE;
	} else if (t && !gone) {
		snprintf(t->username, sizeof(t->username), "%s", ctx->who.username);
		online = t->stream != s; /* a repeated Hello on the same stream is no change */
		rv_tunnels_bind(t, s);
		t->last_hb_ns = rv_control_now_mono();
		rv_tunnels_room_note(room);
		rv_keepalive_push_room(t, room, ctx->ctl->cfg.dns); /* changes while away */
	} else if (!gone && rv_tunnels_find(h->peer_id)) {	    /* another device's or room's */
		rv_log(RV_LOG_WARN,
		       "keepalive Hello refused: %s (device %" PRIu64 ") named peer-id %u, "
		       "not its tunnel in room %s",
		       ctx->who.username, dev, h->peer_id, room->name);
		snprintf(msg, msglen, "no tunnel with peer-id %u in room %s for this device",
			 h->peer_id, h->room);
		st = GRPC_STATUS_NOT_FOUND;
	} else if (member != 0) {
		snprintf(msg, msglen,
			 "this device is no longer a member of room %s (kicked or left)", h->room);
		st = GRPC_STATUS_NOT_FOUND;
	} else {
		st = adopt(ctx, s, h, room, vip, msg, msglen);
	}
	if (online) /* its tunnel is up: the room's other members hear it */
		rv_presence_note(room->id, dev, ctx->who.username,
				 ROOMVPN__V1__PRESENCE__STATE__ONLINE);
	rv_tunnels_unlock();
	roomvpn__v1__room_record__free_unpacked(room, NULL);
	return st;
}

/* ---- Heartbeat --------------------------------------------------------- */

bool rv_keepalive_heartbeat_seen(struct rv_stream *s, uint32_t rtt_us)
{
	rv_tunnels_lock();
	struct rv_tunnel *t = rv_tunnels_find_stream(s);
	if (t) {
		t->last_hb_ns = rv_control_now_mono(); /* timers.c re-arms lazily */
		t->client_rtt_us = rtt_us;
	}
	rv_tunnels_unlock();
	return t != NULL;
}

static grpc_status_code heartbeat(struct rv_stream *s, const Roomvpn__V1__Heartbeat *hb)
{
	Roomvpn__V1__KeepaliveEvent ev = ROOMVPN__V1__KEEPALIVE_EVENT__INIT;
	Roomvpn__V1__Heartbeat reply = ROOMVPN__V1__HEARTBEAT__INIT;

	reply.seq = hb->seq;
	reply.time_unix_ms = rv_control_now_real() / 1000000u;
	char next[96];
	if (rv_tls_next_pin(next, sizeof(next))) /* a certificate rotation is prepared */
		reply.next_tls_fingerprint = next;
	ev.body_case = ROOMVPN__V1__KEEPALIVE_EVENT__BODY_HEARTBEAT;
	ev.heartbeat = &reply;
	rv_stream_send(s, &ev.base);
	rv_keepalive_heartbeat_seen(s, hb->rtt_us);
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
		return heartbeat(s, r->heartbeat);
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
	rv_tunnels_lock();
	for (struct rv_tunnel *t; (t = rv_tunnels_find_stream(s));) {
		rv_log(RV_LOG_INFO,
		       "tunnel peer-id %u of %s (device %" PRIu64 ") in room %s: keepalive stream "
		       "%s; the tunnel waits for the client to come back",
		       t->peer_id, ctx->who.username, t->device, t->room->name,
		       cancelled ? "lost" : "closed");
		rv_tunnels_bind(t, NULL); /* the pointer is never used again */
	}
	rv_tunnels_unlock();
}

const struct rv_stream_ops rv_keepalive_ops = {
    .on_message = on_message,
    .on_end = on_end,
};
