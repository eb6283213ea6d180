/* TunnelService.Bootstrap: key exchange for a member device, the session
 * pushed into the data plane, then the answer to the client (only after the
 * data plane acknowledged). proto/roomvpn/v1/tunnel.proto. */
#include "tunnel.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "dpclient.h"
#include "kdf.h"
#include "log.h"
#include "inet.h"
#include "room_net.h"
#include "room_prefix6.h"
#include "rooms.h"
#include "dp_sync.h"
#include "events.h"
#include "fleet.h"
#include "placement.h"
#include "tunnels.h"
#include "store.h"

static grpc_status_code fail(char *msg, size_t msglen, grpc_status_code st, const char *fmt,
			     const char *arg)
{
	snprintf(msg, msglen, fmt, arg);
	return st;
}

/* The first offered suite the data plane runs. */
static int pick_cipher(const Roomvpn__V1__BootstrapRequest *r, enum rv_cipher *out)
{
	for (size_t i = 0; i < r->n_ciphers; i++) {
		enum rv_cipher c;
		if (rv_cipher_parse(r->ciphers[i], &c) == 0 &&
		    (c == RV_CIPHER_AES_256_GCM || c == RV_CIPHER_CHACHA20_POLY1305 ||
		     c == RV_CIPHER_AES_256_CBC_HMAC)) {
			*out = c;
			return 0;
		}
	}
	return -1;
}

static int load_member(struct rv_store *s, uint64_t room, uint64_t dev,
		       Roomvpn__V1__MemberRecord **out)
{
	char k[64];
	void *v;
	size_t vl;
	int rc = rv_store_get(
	    s, k, (size_t)snprintf(k, sizeof(k), "m/%016" PRIx64 "/%016" PRIx64, room, dev), &v,
	    &vl);

	if (rc != 0)
		return rc;
	*out = roomvpn__v1__member_record__unpack(NULL, vl, v);
	free(v);
	return *out ? 0 : -1;
}

/* One Bootstrap from its checks to its answer. Once the delta is queued it
 * belongs to the data-plane sync thread's callback (answered()), which
 * answers and frees it: no thread waits for the data plane. */
struct tunnel {
	Roomvpn__V1__RoomRecord *room;	   /* owned */
	Roomvpn__V1__MemberRecord *member; /* owned */
	struct rv_stream *s;		   /* held while the answer is pending */
	enum rv_cipher suite;
	Roomvpn__V1__Transport want;
	uint32_t peer_id, old_peer_id, rekey_peer_id;
	uint8_t key_id;
	uint8_t server_pub[RV_X25519_LEN];
	struct rv_key_material km; /* wiped with the tunnel */
	int rc;			   /* the data plane's answer (answered()) */
	char err[160];
	/* the room's data plane: its name and endpoints */
	char dataplane[RV_DP_NAME_MAX], udp[128], tcp[128];
};

static void tunnel_free(struct tunnel *t)
{
	if (t->member)
		roomvpn__v1__member_record__free_unpacked(t->member, NULL);
	if (t->room)
		roomvpn__v1__room_record__free_unpacked(t->room, NULL);
	OPENSSL_cleanse(t, sizeof(*t));
	free(t);
}

static void ip_str(uint32_t a, char *out, size_t len)
{
	snprintf(out, len, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

/* Build and send the answer. */
static int answer(struct rv_control *ctl, const struct tunnel *t)
{
	const uint8_t *server_pub = t->server_pub;
	Roomvpn__V1__Transport want = t->want;
	Roomvpn__V1__BootstrapResponse r = ROOMVPN__V1__BOOTSTRAP_RESPONSE__INIT;
	Roomvpn__V1__Endpoint ep[3] = {ROOMVPN__V1__ENDPOINT__INIT, ROOMVPN__V1__ENDPOINT__INIT,
				       ROOMVPN__V1__ENDPOINT__INIT};
	Roomvpn__V1__Endpoint *eps[3] = {&ep[0], &ep[1], &ep[2]};
	char vip[16], net[16], subnet[24], srv[16], udp[2][RV_ENDPOINT_MAX];
	/* "A:P" or "A:P,[B]:P" (a dual-stack data plane): one endpoint each */
	unsigned n_udp = rv_endpoints_split(t->udp, udp);

	ip_str(t->member->virtual_ip, vip, sizeof(vip));
	ip_str(t->room->subnet_addr, net, sizeof(net));
	ip_str(t->room->subnet_addr + 1, srv, sizeof(srv));
	snprintf(subnet, sizeof(subnet), "%s/%u", net, t->room->subnet_prefix);
	/* preferred transport first: the request's, else the room's, else UDP */
	bool tcp_first = (want ? want : (Roomvpn__V1__Transport)t->room->transport) ==
			 ROOMVPN__V1__TRANSPORT__TRANSPORT_TCP;
	unsigned n = 0;
	if (tcp_first) {
		ep[n].transport = ROOMVPN__V1__TRANSPORT__TRANSPORT_TCP;
		ep[n++].address = (char *)t->tcp;
	}
	for (unsigned i = 0; i < n_udp; i++) { /* a dual-stack data plane: one per family */
		ep[n].transport = ROOMVPN__V1__TRANSPORT__TRANSPORT_UDP;
		ep[n++].address = udp[i];
	}
	if (!tcp_first) {
		ep[n].transport = ROOMVPN__V1__TRANSPORT__TRANSPORT_TCP;
		ep[n++].address = (char *)t->tcp;
	}
	r.cipher = (char *)rv_cipher_name(t->suite);
	r.server_public.data = (uint8_t *)server_pub;
	r.server_public.len = RV_X25519_LEN;
	r.peer_id = t->peer_id;
	r.key_id = t->key_id;
	r.n_endpoints = n;
	r.endpoints = eps;
	r.keepalive_s = t->room->keepalive_s;
	r.virtual_ip = vip;
	r.prefix_len = t->room->subnet_prefix;
	r.mtu = t->room->mtu;
	r.subnet = subnet;
	r.server_ip = srv;
	r.dataplane = (char *)t->dataplane;
	char sub6[64], vip6[46], srv6[46];
	rv_room_prefix6_text(t->room, t->member->virtual_ip, sub6, vip6, srv6);
	r.virtual_ip6 = vip6;
	r.subnet6 = sub6;
	r.prefix6_len = sub6[0] ? t->room->prefix6_len : 0;
	(void)ctl;
	return rv_stream_send(t->s, &r.base);
}

/* Answer the client after answered(), then let go of the stream and the
 * tunnel. On a server thread. */
static void answer_now(void *arg)
{
	struct tunnel *t = arg;
	int rc = t->rc;
	const char *err = t->err;
	struct rv_rpc_ctx *ctx = rv_stream_ctx(t->s);
	struct rv_tunnel_keys keys = {
	    .vip = t->member->virtual_ip, .suite = t->suite, .key_id = t->key_id, .km = &t->km};
	keys.has_vip6 = rv_room_prefix6_vip6(t->room, t->member->virtual_ip, keys.vip6);
	char msg[256];

	if (rc < 0) {
		if (!t->rekey_peer_id)
			rv_tunnels_clear_key(t->peer_id);
		rv_log(RV_LOG_WARN, "tunnel bootstrap for %s in room %s: %s", ctx->who.username,
		       t->room->name, err);
		snprintf(msg, sizeof(msg), "%s", err);
		rv_stream_finish(t->s, GRPC_STATUS_UNAVAILABLE, msg);
	} else if (answer(ctx->ctl, t) < 0) {
		rv_stream_finish(t->s, GRPC_STATUS_CANCELLED, "");
	} else {
		if (t->rekey_peer_id) {
			rv_tunnels_set_key(t->peer_id, &keys); /* the data plane took it */
			rv_tunnels_rekey_done(t->peer_id, t->key_id);
		}
		char replaced[40] = "";
		if (!t->rekey_peer_id && t->old_peer_id)
			snprintf(replaced, sizeof(replaced), " (replaces peer-id %u)",
				 t->old_peer_id);
		rv_log(RV_LOG_INFO,
		       "tunnel %s: %s (device %" PRIu64 ") in room %s, peer-id %u%s, key-id %u, %s",
		       t->rekey_peer_id ? "re-keyed" : "up", ctx->who.username,
		       t->member->device_id, t->room->name, t->peer_id, replaced, t->key_id,
		       rv_cipher_name(t->suite));
		rv_stream_finish(t->s, GRPC_STATUS_OK, "");
	}
	rv_stream_release(t->s);
	tunnel_free(t);
}

/* The data plane took tunnel @arg's delta (@rc 0) or did not. Runs once, on
 * the sync thread (or on_message's when the delta was refused at once):
 * the answer itself goes to a server thread, the sync thread stays free. */
static void answered(void *arg, int rc, const char *err)
{
	struct tunnel *t = arg;

	t->rc = rc;
	snprintf(t->err, sizeof(t->err), "%s", err);
	rv_stream_post(t->s, answer_now, t);
}

/* Keys, then the delta to the data plane; answered() answers. Returns OK
 * once @t belongs to the callback, else an error (@t still the caller's). */
static grpc_status_code bootstrap(struct rv_rpc_ctx *ctx, struct rv_stream *s, struct tunnel *t,
				  const Roomvpn__V1__BootstrapRequest *r, char *msg, size_t msglen)
{
	uint8_t shared[RV_X25519_LEN];
	grpc_status_code st = GRPC_STATUS_OK;
	struct rv_tunnel_keys keys = {
	    .vip = t->member->virtual_ip, .suite = t->suite, .key_id = t->key_id, .km = &t->km};
	keys.has_vip6 = rv_room_prefix6_vip6(t->room, t->member->virtual_ip, keys.vip6);

	int rc = rv_x25519_answer(r->client_public.data, t->server_pub, shared);
	if (rc == -2)
		return fail(msg, msglen, GRPC_STATUS_INTERNAL, "%s", "key generation failed");
	if (rc < 0)
		return fail(msg, msglen, GRPC_STATUS_INVALID_ARGUMENT, "%s",
			    "client_public is not a usable X25519 key");
	if (rv_kdf_derive(shared, t->room->room_key.data, t->room->room_key.len, t->key_id,
			  r->client_public.data, t->server_pub, &t->km) < 0) {
		st = fail(msg, msglen, GRPC_STATUS_INTERNAL, "%s", "key derivation failed");
		goto out;
	}
	t->want = r->transport;
	t->rekey_peer_id = r->rekey_peer_id;
	if (r->rekey_peer_id) {
		t->peer_id = r->rekey_peer_id; /* the caller's own (rv_tunnels_rekey_begin) */
	} else {
		st = rv_tunnels_register(ctx->ctl, t->room, t->member->device_id, ctx->who.user_id,
					 &t->peer_id, &t->old_peer_id, msg, msglen);
		if (st != GRPC_STATUS_OK)
			goto out;
		rv_tunnels_set_key(t->peer_id, &keys); /* what dp_sync pushes (and re-pushes) */
	}
	/* answered only once the data plane has it: answered() runs when it
	 * acknowledged our delta (or failed, or 5 s passed in the queue) */
	t->s = s;
	rv_stream_hold(s);
	if (r->rekey_peer_id)
		rv_dp_sync_key_async(ctx->ctl, t->peer_id, t->key_id, t->suite, &t->km, answered,
				     t);
	else
		rv_dp_sync_session_async(ctx->ctl, t->room->id, t->old_peer_id, t->peer_id,
					 answered, t);
out:
	OPENSSL_cleanse(shared, sizeof(shared));
	return st;
}

static grpc_status_code on_message(struct rv_rpc_ctx *ctx, struct rv_stream *s,
				   const ProtobufCMessage *req, char *msg, size_t msglen)
{
	const Roomvpn__V1__BootstrapRequest *r = (const void *)req;
	Roomvpn__V1__RoomRecord *room = NULL;
	Roomvpn__V1__MemberRecord *member = NULL;
	struct tunnel *t;
	enum rv_cipher suite;
	uint8_t key_id = 0;
	grpc_status_code st;
	int rc;

	if (!r)
		return fail(msg, msglen, GRPC_STATUS_INVALID_ARGUMENT, "%s",
			    "no BootstrapRequest before the end of the stream");
	snprintf(ctx->target, sizeof(ctx->target), "%s", r->room);
	if (r->client_public.len != RV_X25519_LEN)
		return fail(msg, msglen, GRPC_STATUS_INVALID_ARGUMENT, "%s",
			    "client_public must be a 32-byte X25519 public key");
	if (pick_cipher(r, &suite) < 0)
		return fail(msg, msglen, GRPC_STATUS_INVALID_ARGUMENT, "%s",
			    "no common cipher: the server offers AES-256-GCM, CHACHA20-POLY1305, "
			    "AES-256-CBC");
	rc = rv_rooms_load(ctx->ctl->store, r->room, &room);
	if (rc != 0)
		return fail(msg, msglen, rc < 0 ? GRPC_STATUS_INTERNAL : GRPC_STATUS_NOT_FOUND,
			    rc < 0 ? "store error%s" : "no room %s", rc < 0 ? "" : r->room);
	rc = load_member(ctx->ctl->store, room->id, ctx->who.device_id, &member);
	if (rc != 0) {
		st = fail(msg, msglen,
			  rc < 0 ? GRPC_STATUS_INTERNAL : GRPC_STATUS_FAILED_PRECONDITION,
			  rc < 0 ? "store error%s"
				 : "this device has not joined room %s: run 'roomvpn join' first",
			  rc < 0 ? "" : r->room);
		goto out;
	}
	if (r->rekey_peer_id &&
	    rv_tunnels_rekey_begin(ctx->who.device_id, room->id, r->rekey_peer_id, &key_id) < 0) {
		rv_log(RV_LOG_WARN,
		       "re-key refused: %s (device %" PRIu64 ") named peer-id %u, not its "
		       "tunnel in room %s",
		       ctx->who.username, ctx->who.device_id, r->rekey_peer_id, room->name);
		st = fail(msg, msglen, GRPC_STATUS_NOT_FOUND,
			  "this device has no running tunnel with that peer-id in room %s: "
			  "bootstrap anew",
			  r->room);
		goto out;
	}
	if (!(t = calloc(1, sizeof(*t)))) {
		st = fail(msg, msglen, GRPC_STATUS_RESOURCE_EXHAUSTED, "%s", "out of memory");
		goto out;
	}
	*t = (struct tunnel){.room = room, .member = member, .suite = suite, .key_id = key_id};
	st = rv_placement_home(ctx->ctl, room, t->dataplane, sizeof(t->dataplane), t->udp,
			       sizeof(t->udp), t->tcp, sizeof(t->tcp), msg, msglen);
	if (st == GRPC_STATUS_OK)
		st = bootstrap(ctx, s, t, r, msg, msglen);
	if (st == GRPC_STATUS_OK)
		return st; /* answered() owns t, room and member */
	t->room = NULL, t->member = NULL;
	tunnel_free(t);
out:
	if (member)
		roomvpn__v1__member_record__free_unpacked(member, NULL);
	roomvpn__v1__room_record__free_unpacked(room, NULL);
	return st;
}

static void on_end(struct rv_rpc_ctx *ctx, struct rv_stream *s, bool cancelled)
{
	(void)ctx, (void)s, (void)cancelled;
}

const struct rv_stream_ops rv_tunnel_bootstrap_ops = {
    .on_message = on_message,
    .on_end = on_end,
    .one_request = true, /* one BootstrapRequest per call for now */
};

grpc_status_code rv_tunnel_end_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				   ProtobufCMessage **resp, char *msg, size_t msglen)
{
	const Roomvpn__V1__EndTunnelRequest *q = (const void *)req;
	Roomvpn__V1__RoomRecord *room = NULL;
	Roomvpn__V1__EndTunnelResponse *e;
	grpc_status_code st;

	snprintf(ctx->target, sizeof(ctx->target), "%s peer-id %u", q->room, q->peer_id);
	int rc = rv_rooms_load(ctx->ctl->store, q->room, &room);
	if (rc != 0)
		return fail(msg, msglen, rc < 0 ? GRPC_STATUS_INTERNAL : GRPC_STATUS_NOT_FOUND,
			    rc < 0 ? "store error%s" : "no room %s", rc < 0 ? "" : q->room);
	st = rv_events_tunnel_end(ctx->ctl, room->id, room->name, ctx->who.device_id, q->peer_id,
				  msg, msglen);
	roomvpn__v1__room_record__free_unpacked(room, NULL);
	if (st != GRPC_STATUS_OK)
		return st;
	if (!(e = malloc(sizeof(*e))))
		return fail(msg, msglen, GRPC_STATUS_RESOURCE_EXHAUSTED, "%s", "out of memory");
	roomvpn__v1__end_tunnel_response__init(e);
	*resp = &e->base;
	return GRPC_STATUS_OK;
}
