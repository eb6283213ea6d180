/* Room invitations (invites.h): inv/<room>/<id> holds an InviteRecord,
 * invh/<sha256 hex of the code> the "<room hex>/<id hex>" it belongs to
 * (deleted when the invite is revoked). A use is counted under invites_mu
 * together with the Join it allows, so a code never admits more devices
 * than its uses. */
#include "invites.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "clock.h"
#include "members.h"
#include "room_records.h"
#include "store_keys.h"
#include "tokens.h"
#include "users.h"

typedef Roomvpn__V1__InviteRecord InviteRecord;

#define MAX_USES    10000
#define DEFAULT_TTL (24ull * 3600)
#define MAX_TTL	    (30ull * 24 * 3600)
#define NS	    1000000000ull

static pthread_mutex_t invites_mu = PTHREAD_MUTEX_INITIALIZER;

static int put_record(struct rv_store_batch *b, const InviteRecord *ir)
{
	char k[RV_KEY_MAX];
	return rv_rooms_batch_put_msg(b, k, rv_key_invite(k, ir->room_id, ir->id), &ir->base);
}

static Roomvpn__V1__Invite *invite_msg(const InviteRecord *ir, const char *room, bool *oom)
{
	Roomvpn__V1__Invite *m = malloc(sizeof(*m));
	if (!m) {
		*oom = true;
		return NULL;
	}
	roomvpn__v1__invite__init(m);
	m->id = ir->id;
	m->room = rv_rooms_strdup(room, oom);
	m->max_uses = ir->max_uses;
	m->uses = ir->uses;
	m->expires_unix = ir->expires_ns / NS;
	m->created_unix = ir->created_ns / NS;
	m->created_by = rv_rooms_strdup(ir->created_by, oom);
	m->revoked = ir->revoked;
	return m;
}

/* ---- CreateInvite ---------------------------------------------------------- */

static grpc_status_code check_create(const Roomvpn__V1__CreateInviteRequest *q, char *msg,
				     size_t msglen)
{
	if (q->max_uses > MAX_USES || q->expires_s > MAX_TTL) {
		snprintf(msg, msglen, "an invite has at most %u uses and expires within %llu days",
			 MAX_USES, MAX_TTL / 86400);
		return GRPC_STATUS_INVALID_ARGUMENT;
	}
	return GRPC_STATUS_OK;
}

/* Stores @ir (id allocated here) and its code index: one synced batch. */
static grpc_status_code store_new(struct rv_store *s, InviteRecord *ir, char *msg, size_t msglen)
{
	char k[RV_KEY_MAX], v[40];
	struct rv_store_batch *b = rv_store_batch_new();
	grpc_status_code st = GRPC_STATUS_OK;
	if (!b)
		return rv_rooms_oom(msg, msglen);
	rv_id_lock();
	if (rv_id_alloc(s, b, "invite", &ir->id) < 0) {
		st = rv_rooms_store_error(msg, msglen);
		goto out;
	}
	int vl = snprintf(v, sizeof(v), "%016llx/%016llx", (unsigned long long)ir->room_id,
			  (unsigned long long)ir->id);
	rv_store_batch_put(b, k, rv_key_invite_by_hash(k, ir->code_hash.data), v, (size_t)vl);
	if (put_record(b, ir) < 0)
		st = rv_rooms_oom(msg, msglen);
	else if (rv_store_batch_commit(s, b, true) < 0)
		st = rv_rooms_store_error(msg, msglen);
out:
	rv_id_unlock();
	rv_store_batch_free(b);
	return st;
}

grpc_status_code rv_invites_create_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				       ProtobufCMessage **resp, char *msg, size_t msglen)
{
	const Roomvpn__V1__CreateInviteRequest *q = (const void *)req;
	Roomvpn__V1__RoomRecord *r = NULL;
	InviteRecord ir = ROOMVPN__V1__INVITE_RECORD__INIT;
	uint8_t hash[32];
	char code[RV_TOKEN_STR];
	bool oom = false;

	grpc_status_code st = check_create(q, msg, msglen);
	if (st == GRPC_STATUS_OK)
		st = rv_rooms_find(ctx, q->room, &r, msg, msglen);
	if (st != GRPC_STATUS_OK)
		return st;
	if (rv_token_new("rvi_", code) < 0) {
		roomvpn__v1__room_record__free_unpacked(r, NULL);
		snprintf(msg, msglen, "no randomness for an invite code");
		return GRPC_STATUS_INTERNAL;
	}
	rv_token_hash(code, hash);
	ir.room_id = r->id;
	ir.code_hash.data = hash;
	ir.code_hash.len = sizeof(hash);
	ir.max_uses = q->max_uses ? q->max_uses : 1;
	ir.created_ns = rv_clock_real_ns();
	ir.expires_ns = ir.created_ns + (q->expires_s ? q->expires_s : DEFAULT_TTL) * NS;
	ir.created_by = ctx->who.username;
	st = store_new(ctx->ctl->store, &ir, msg, msglen);
	if (st == GRPC_STATUS_OK) {
		Roomvpn__V1__CreatedInvite *m = malloc(sizeof(*m));
		if (m) {
			roomvpn__v1__created_invite__init(m);
			*resp = &m->base;
			m->invite = invite_msg(&ir, r->name, &oom);
			m->code = rv_rooms_strdup(code, &oom);
		}
		st = m && !oom ? GRPC_STATUS_OK : rv_rooms_oom(msg, msglen);
		snprintf(ctx->target, sizeof(ctx->target), "%.100s/invite/%llu", r->name,
			 (unsigned long long)ir.id);
	}
	OPENSSL_cleanse(code, sizeof(code));
	roomvpn__v1__room_record__free_unpacked(r, NULL);
	return st;
}

/* ---- ListInvites / RevokeInvite -------------------------------------------- */

struct invite_list {
	Roomvpn__V1__ListInvitesResponse *resp;
	const char *room;
	size_t cap;
	bool oom;
};

static int list_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct invite_list *il = arg;
	Roomvpn__V1__ListInvitesResponse *r = il->resp;
	(void)k;
	(void)kl;
	if (r->n_invites == il->cap) {
		size_t cap = il->cap ? il->cap * 2 : 8;
		void *p = realloc(r->invites, cap * sizeof(*r->invites));
		if (!p)
			return il->oom = true;
		r->invites = p;
		il->cap = cap;
	}
	InviteRecord *ir = roomvpn__v1__invite_record__unpack(NULL, vl, v);
	if (!ir)
		return 0;
	Roomvpn__V1__Invite *m = invite_msg(ir, il->room, &il->oom);
	if (m)
		r->invites[r->n_invites++] = m;
	roomvpn__v1__invite_record__free_unpacked(ir, NULL);
	return il->oom;
}

grpc_status_code rv_invites_list_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				     ProtobufCMessage **resp, char *msg, size_t msglen)
{
	const Roomvpn__V1__ListInvitesRequest *q = (const void *)req;
	Roomvpn__V1__RoomRecord *r = NULL;
	char p[RV_KEY_MAX];

	grpc_status_code st = rv_rooms_find(ctx, q->room, &r, msg, msglen);
	if (st != GRPC_STATUS_OK)
		return st;
	struct invite_list il = {.resp = malloc(sizeof(*il.resp)), .room = r->name};
	if (!il.resp) {
		roomvpn__v1__room_record__free_unpacked(r, NULL);
		return rv_rooms_oom(msg, msglen);
	}
	roomvpn__v1__list_invites_response__init(il.resp);
	*resp = &il.resp->base; /* the server frees it on any status */
	if (rv_store_scan_prefix(ctx->ctl->store, p, rv_key_invite_prefix(p, r->id), NULL, 0,
				 list_cb, &il) < 0)
		st = rv_rooms_store_error(msg, msglen);
	else if (il.oom)
		st = rv_rooms_oom(msg, msglen);
	roomvpn__v1__room_record__free_unpacked(r, NULL);
	return st;
}

static int load(struct rv_store *s, uint64_t room, uint64_t id, InviteRecord **out)
{
	char k[RV_KEY_MAX];
	rv_key_invite(k, room, id);
	return rv_store_get_msg(s, k, &roomvpn__v1__invite_record__descriptor,
				(ProtobufCMessage **)out);
}

/* Marks @ir revoked and drops its code index: one synced batch. 0 or -1. */
static int revoke(struct rv_store *s, InviteRecord *ir)
{
	char k[RV_KEY_MAX];
	struct rv_store_batch *b = rv_store_batch_new();
	int rc = -1;
	ir->revoked = true;
	if (b && put_record(b, ir) == 0) {
		rv_store_batch_delete(b, k, rv_key_invite_by_hash(k, ir->code_hash.data));
		rc = rv_store_batch_commit(s, b, true);
	}
	rv_store_batch_free(b);
	return rc;
}

grpc_status_code rv_invites_revoke_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				       ProtobufCMessage **resp, char *msg, size_t msglen)
{
	const Roomvpn__V1__RevokeInviteRequest *q = (const void *)req;
	Roomvpn__V1__RoomRecord *r = NULL;
	InviteRecord *ir = NULL;

	grpc_status_code st = rv_rooms_find(ctx, q->room, &r, msg, msglen);
	if (st != GRPC_STATUS_OK)
		return st;
	snprintf(ctx->target, sizeof(ctx->target), "%.100s/invite/%llu", r->name,
		 (unsigned long long)q->id);
	pthread_mutex_lock(&invites_mu);
	int rc = load(ctx->ctl->store, r->id, q->id, &ir);
	if (rc == 1) {
		snprintf(msg, msglen, "room '%s' has no invite %llu", r->name,
			 (unsigned long long)q->id);
		st = GRPC_STATUS_NOT_FOUND;
	} else if (rc < 0 ||
		   (!ir->revoked && ir->code_hash.len == 32 && revoke(ctx->ctl->store, ir) < 0)) {
		st = rv_rooms_store_error(msg, msglen);
	}
	pthread_mutex_unlock(&invites_mu);
	if (ir)
		roomvpn__v1__invite_record__free_unpacked(ir, NULL);
	roomvpn__v1__room_record__free_unpacked(r, NULL);
	return st == GRPC_STATUS_OK ? rv_rooms_empty_reply(resp, msg, msglen) : st;
}

/* ---- JoinInvite ------------------------------------------------------------- */

/* The invite a code names (invites_mu held): OK and *out, or NOT_FOUND /
 * FAILED_PRECONDITION (expired, used up) with a message. */
static grpc_status_code find_code(struct rv_store *s, const char *code, InviteRecord **out,
				  char *msg, size_t msglen)
{
	char k[RV_KEY_MAX];
	uint8_t hash[32];
	void *v = NULL;
	size_t vl = 0;
	uint64_t room, id;
	rv_token_hash(code, hash);
	int rc = rv_store_get(s, k, rv_key_invite_by_hash(k, hash), &v, &vl);
	if (rc == 0)
		rc = vl == 33 && rv_key_parse_id(v, 16, &room) == 0 &&
			     rv_key_parse_id((char *)v + 17, 16, &id) == 0
			 ? load(s, room, id, out)
			 : 1;
	free(v);
	if (rc < 0)
		return rv_rooms_store_error(msg, msglen);
	if (rc == 1 || (*out)->revoked) {
		snprintf(msg, msglen, "unknown or revoked invite code");
		return GRPC_STATUS_NOT_FOUND;
	}
	if ((*out)->expires_ns && (*out)->expires_ns <= rv_clock_real_ns()) {
		snprintf(msg, msglen, "this invite code has expired: ask for a new one");
		return GRPC_STATUS_FAILED_PRECONDITION;
	}
	if ((*out)->max_uses && (*out)->uses >= (*out)->max_uses) {
		snprintf(msg, msglen, "this invite code was used %u time(s), all it allows",
			 (*out)->max_uses);
		return GRPC_STATUS_FAILED_PRECONDITION;
	}
	return GRPC_STATUS_OK;
}

grpc_status_code rv_invites_join_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				     ProtobufCMessage **resp, char *msg, size_t msglen)
{
	const Roomvpn__V1__JoinInviteRequest *q = (const void *)req;
	struct rv_store *s = ctx->ctl->store;
	InviteRecord *ir = NULL;
	Roomvpn__V1__RoomRecord *r = NULL;

	if (!q->code[0] || strlen(q->code) >= RV_TOKEN_STR) {
		snprintf(msg, msglen, "the invite code is missing or malformed");
		return GRPC_STATUS_INVALID_ARGUMENT;
	}
	pthread_mutex_lock(&invites_mu);
	grpc_status_code st = find_code(s, q->code, &ir, msg, msglen);
	if (st != GRPC_STATUS_OK)
		goto out;
	snprintf(ctx->target, sizeof(ctx->target), "invite/%llu", (unsigned long long)ir->id);
	int rc = rv_rooms_load_id(s, ir->room_id, &r);
	if (rc != 0) {
		snprintf(msg, msglen, rc < 0 ? "store error" : "the room of this invite is gone");
		st = rc < 0 ? GRPC_STATUS_INTERNAL : GRPC_STATUS_NOT_FOUND;
		goto out;
	}
	snprintf(ctx->target, sizeof(ctx->target), "%.100s/invite/%llu", r->name,
		 (unsigned long long)ir->id);
	st = rv_members_join_checked(ctx, r, resp, msg, msglen);
	if (st != GRPC_STATUS_OK)
		goto out;
	ir->uses++;
	struct rv_store_batch *b = rv_store_batch_new();
	if (!b || put_record(b, ir) < 0 || rv_store_batch_commit(s, b, true) < 0)
		rv_log(RV_LOG_ERROR, "invites: store error counting a use of invite %llu",
		       (unsigned long long)ir->id);
	rv_store_batch_free(b);
out:
	pthread_mutex_unlock(&invites_mu);
	if (r)
		roomvpn__v1__room_record__free_unpacked(r, NULL);
	if (ir)
		roomvpn__v1__invite_record__free_unpacked(ir, NULL);
	return st;
}
