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

#include "auth.h"
#include "clock.h"
#include "log.h"
#include "members.h"
#include "pwjob.h"
#include "ratelimit.h"
#include "room_records.h"
#include "store_keys.h"
#include "tokens.h"
#include "users.h"

typedef Roomvpn__V1__InviteRecord InviteRecord;

#define MAX_USES    10000
#define MAX_INVITES 1000 /* records per room: at the cap, revoked and expired ones are pruned */
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

struct prune {
	struct rv_store_batch *b;
	uint64_t now, n;
};

/* Revoked and expired invites of a room go (their code index is already
 * gone or useless): a scan, only when the room is at MAX_INVITES. */
static int prune_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct prune *pr = arg;
	InviteRecord *ir = roomvpn__v1__invite_record__unpack(NULL, vl, v);
	if (ir && (ir->revoked || (ir->expires_ns && ir->expires_ns <= pr->now))) {
		char hk[RV_KEY_MAX];
		rv_store_batch_delete(pr->b, k, kl);
		if (!ir->revoked)
			rv_store_batch_delete(pr->b, hk,
					      rv_key_invite_by_hash(hk, ir->code_hash.data));
		pr->n++;
	}
	if (ir)
		roomvpn__v1__invite_record__free_unpacked(ir, NULL);
	return 0;
}

/* Room @room may get another invite: 1, 0 at the cap, -1 store error. */
static int below_cap(struct rv_store *s, uint64_t room)
{
	char p[RV_KEY_MAX];
	size_t pl = rv_key_invite_prefix(p, room);
	uint64_t n = 0;
	if (rv_store_count_prefix(s, p, pl, &n) < 0)
		return -1;
	if (n < MAX_INVITES)
		return 1;
	struct prune pr = {.b = rv_store_batch_new(), .now = rv_clock_real_ns()};
	int rc = pr.b && rv_store_scan_prefix(s, p, pl, NULL, 0, prune_cb, &pr) == 0 &&
			 (!pr.n || rv_store_batch_commit(s, pr.b, true) == 0)
		     ? 0
		     : -1;
	rv_store_batch_free(pr.b);
	return rc < 0 ? -1 : n - pr.n < MAX_INVITES;
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
	int cap = below_cap(ctx->ctl->store, r->id);
	if (cap <= 0) {
		if (cap == 0)
			snprintf(
			    msg, msglen,
			    "room '%s' has %u live invites, the most a room may have: revoke some "
			    "(roomvpn rooms invite-revoke)",
			    r->name, MAX_INVITES);
		else
			rv_rooms_store_error(msg, msglen);
		roomvpn__v1__room_record__free_unpacked(r, NULL);
		return cap == 0 ? GRPC_STATUS_RESOURCE_EXHAUSTED : GRPC_STATUS_INTERNAL;
	}
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

/* Joins the caller (ctx->who) through @code and counts the use. */
static grpc_status_code join_code(struct rv_rpc_ctx *ctx, const char *code, ProtobufCMessage **resp,
				  char *msg, size_t msglen)
{
	struct rv_store *s = ctx->ctl->store;
	InviteRecord *ir = NULL;
	Roomvpn__V1__RoomRecord *r = NULL;

	if (!code[0] || strlen(code) >= RV_TOKEN_STR) {
		snprintf(msg, msglen, "the invite code is missing or malformed");
		return GRPC_STATUS_INVALID_ARGUMENT;
	}
	pthread_mutex_lock(&invites_mu);
	grpc_status_code st = find_code(s, code, &ir, msg, msglen);
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

grpc_status_code rv_invites_join_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				     ProtobufCMessage **resp, char *msg, size_t msglen)
{
	const Roomvpn__V1__JoinInviteRequest *q = (const void *)req;

	return join_code(ctx, q->code, resp, msg, msglen);
}

/* ---- RegisterWithInvite ------------------------------------------------------ */

struct register_arg {
	struct rv_ratelimit *rl; /* its address's in-flight slot is held */
	char limit_user[80], addr[64];
	char name[RV_USERNAME_MAX + 1], device[64], code[RV_TOKEN_STR];
};

static void register_arg_free(void *p)
{
	struct register_arg *a = p;

	rv_ratelimit_cancel(a->rl, a->limit_user, a->addr); /* the slot, on every path */
	OPENSSL_cleanse(a->code, sizeof(a->code));
	free(a);
}

/* On the pool, once the password is hashed: the account, its session, the Join. */
static grpc_status_code register_step(struct rv_pwjob *j, ProtobufCMessage **resp, char *msg,
				      size_t msglen)
{
	struct register_arg *a = j->arg;
	struct rv_rpc_ctx *ctx = j->ctx;
	struct rv_control *ctl = ctx->ctl;
	char err[200];
	uint64_t uid;

	int rc = rv_users_create(ctl->store, a->name, j->hash, false, &uid, err, sizeof(err));
	if (rc != 0) {
		if (rc < 0)
			rv_log(RV_LOG_ERROR, "self-registration of %s: %s", a->name, err);
		snprintf(msg, msglen,
			 rc == 1 ? "username %s is taken: choose another"
				 : "store error creating user %s",
			 a->name);
		return rc == 1 ? GRPC_STATUS_ALREADY_EXISTS : GRPC_STATUS_INTERNAL;
	}
	rv_log(RV_LOG_INFO, "user %s registered itself with an invite code", a->name);
	Roomvpn__V1__RegisterWithInviteResponse *out = malloc(sizeof(*out));
	Roomvpn__V1__Session *sess = malloc(sizeof(*sess));
	if (!out || !sess) {
		free(out);
		free(sess);
		snprintf(msg, msglen, "out of memory (account %s was created: log in)", a->name);
		return GRPC_STATUS_RESOURCE_EXHAUSTED;
	}
	roomvpn__v1__register_with_invite_response__init(out);
	roomvpn__v1__session__init(sess);
	out->session = sess;
	if (rv_auth_issue(ctl, uid, a->name, false, a->device, sess) != 0) {
		protobuf_c_message_free_unpacked(&out->base, NULL);
		snprintf(msg, msglen, "store error issuing tokens (account %s was created: log in)",
			 a->name);
		return GRPC_STATUS_INTERNAL;
	}
	ctx->who = (struct rv_principal){
	    .authenticated = true, .user_id = uid, .device_id = sess->device_id};
	snprintf(ctx->who.username, sizeof(ctx->who.username), "%s", a->name);
	ProtobufCMessage *joined = NULL;
	char why[256];
	grpc_status_code st = join_code(ctx, a->code, &joined, why, sizeof(why));
	if (st != GRPC_STATUS_OK) { /* e.g. the code was used up meanwhile */
		protobuf_c_message_free_unpacked(&out->base, NULL);
		snprintf(msg, msglen,
			 "account %s was created, but joining failed: %s (log in and "
			 "ask for another code)",
			 a->name, why);
		return st;
	}
	const Roomvpn__V1__JoinRoomResponse *jr = (const void *)joined;
	out->room = strdup(jr->room && jr->room->name ? jr->room->name : "");
	protobuf_c_message_free_unpacked(joined, NULL);
	if (!out->room) {
		protobuf_c_message_free_unpacked(&out->base, NULL);
		return rv_rooms_oom(msg, msglen);
	}
	*resp = &out->base;
	return GRPC_STATUS_OK;
}

grpc_status_code rv_invites_register_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
					 ProtobufCMessage **resp, char *msg, size_t msglen)
{
	const Roomvpn__V1__RegisterWithInviteRequest *q = (const void *)req;
	struct rv_control *ctl = ctx->ctl;
	InviteRecord *ir = NULL;

	snprintf(ctx->actor, sizeof(ctx->actor), "%.63s", q->username);
	snprintf(ctx->target, sizeof(ctx->target), "user:%.100s", q->username);
	if (!ctl->cfg.self_registration) {
		snprintf(msg, msglen,
			 "self-registration is off on this server (self_registration = "
			 "false): ask an admin for an account, then use the code with "
			 "'roomvpn join-invite CODE'");
		return GRPC_STATUS_PERMISSION_DENIED;
	}
	grpc_status_code st = rv_users_check_new(q->username, q->password, msg, msglen);
	if (st != GRPC_STATUS_OK)
		return st;
	if (strlen(q->device_name) > 63) {
		snprintf(msg, msglen, "device_name is at most 63 bytes");
		return GRPC_STATUS_INVALID_ARGUMENT;
	}
	if (!q->code[0] || strlen(q->code) >= RV_TOKEN_STR) {
		snprintf(msg, msglen, "the invite code is missing or malformed");
		return GRPC_STATUS_INVALID_ARGUMENT;
	}
	/* a bad code costs no hash and creates no account */
	pthread_mutex_lock(&invites_mu);
	st = find_code(ctl->store, q->code, &ir, msg, msglen);
	pthread_mutex_unlock(&invites_mu);
	if (ir)
		roomvpn__v1__invite_record__free_unpacked(ir, NULL);
	if (st != GRPC_STATUS_OK)
		return st;
	struct register_arg *a = calloc(1, sizeof(*a));
	if (!a)
		return rv_rooms_oom(msg, msglen);
	rv_ratelimit_addr_of_peer(ctx->peer ? ctx->peer : "", a->addr, sizeof(a->addr));
	snprintf(a->limit_user, sizeof(a->limit_user), "register/%.63s", q->username);
	/* an in-flight slot of the address, as a login, before the hash is queued */
	st = rv_ratelimit_admit(ctl->ratelimit, a->limit_user, a->addr, "registrations", "name",
				msg, msglen);
	if (st != GRPC_STATUS_OK) {
		free(a);
		return st;
	}
	a->rl = ctl->ratelimit;
	snprintf(a->name, sizeof(a->name), "%s", q->username);
	snprintf(a->device, sizeof(a->device), "%s", q->device_name);
	snprintf(a->code, sizeof(a->code), "%s", q->code);
	struct rv_pwjob_args pa = {.kind = RV_PWJOB_HASH,
				   .password = q->password,
				   .arg = a,
				   .free_arg = register_arg_free,
				   .step = register_step};
	return rv_pwjob_start(ctx, &pa, resp, msg, msglen);
}
