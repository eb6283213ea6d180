/* Login (admitted by the guess limiter, ratelimit.h, then Argon2id on the
 * password pool), device-token refresh with rotation
 * and reuse detection, logout, and session-token resolution. */
#include "auth.h"
#include "audit.h"
#include "clock.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "password.h"
#include "prefetch.h"
#include "pwjob.h"
#include "ratelimit.h"
#include "roomvpn/v1/auth_store.pb-c.h"
#include "roomvpn/v1/common.pb-c.h"
#include "store.h"
#include "store_keys.h"
#include "tls.h"
#include "token_cache.h"
#include "tokens.h"
#include "users.h"

/* Serializes refresh/revoke so that a device token rotates exactly once. */
static pthread_mutex_t rotate_mu = PTHREAD_MUTEX_INITIALIZER;
/* Verified against for unknown users, so that they cost as much as known ones. */
static char dummy_hash[RV_PASSWORD_ENCODED];

int rv_auth_init(struct rv_control *ctl, char *err, size_t errlen)
{
	return rv_password_hash(&ctl->cfg, "not-a-password-of-anyone", dummy_hash,
				sizeof(dummy_hash), err, errlen);
}

static void device_key(uint64_t id, char key[RV_KEY_MAX])
{
	rv_key_device(key, id);
}

static int get_device(struct rv_store *s, uint64_t id, Roomvpn__V1__DeviceRecord **out)
{
	char key[RV_KEY_MAX];
	device_key(id, key);
	return rv_store_get_msg(s, key, &roomvpn__v1__device_record__descriptor,
				(ProtobufCMessage **)out);
}

static void put_device(struct rv_store_batch *b, const Roomvpn__V1__DeviceRecord *d)
{
	char key[RV_KEY_MAX];
	device_key(d->id, key);
	rv_store_put_msg(b, key, &d->base);
}

static grpc_status_code unauth(char *msg, size_t msglen, const char *why)
{
	snprintf(msg, msglen, "%s", why);
	return GRPC_STATUS_UNAUTHENTICATED;
}

/* The session token's user, device and expiry: from the cache, else its
 * record (learned). 0, 1 unknown or not a session token, -1 store error. */
static int session_of(struct rv_store *s, const char *token, struct rv_token_cache_entry *e)
{
	Roomvpn__V1__TokenRecord *t = NULL;
	uint8_t h[32];

	rv_token_hash(token, h);
	if (rv_token_cache_get(h, e))
		return 0;
	int rc = rv_token_lookup(s, token, &t);
	if (rc == 0 && t->kind != ROOMVPN__V1__TOKEN_RECORD__KIND__SESSION)
		rc = 1;
	if (rc == 0) {
		*e = (struct rv_token_cache_entry){t->user_id, t->device_id, t->expires_ns};
		rv_token_cache_put(h, e);
	}
	rv_token_rec_free(t);
	return rc;
}

/* The device (slot 0) and user (slot 1) read with the prefetched keys. */
static grpc_status_code check_principal(const struct rv_prefetch *p, struct rv_principal *who,
					char *msg, size_t msglen)
{
	Roomvpn__V1__DeviceRecord *d = NULL;
	Roomvpn__V1__UserRecord *u = NULL;
	grpc_status_code st = GRPC_STATUS_UNAUTHENTICATED;

	if (p->r[0].found)
		d = roomvpn__v1__device_record__unpack(NULL, p->r[0].vlen, p->r[0].val);
	if (p->r[1].found)
		u = roomvpn__v1__user_record__unpack(NULL, p->r[1].vlen, p->r[1].val);
	if (!d || d->revoked) {
		unauth(msg, msglen, "the device of this session was revoked: log in again");
	} else if (!u) {
		unauth(msg, msglen, "the user of this session no longer exists");
	} else if (u->disabled) {
		unauth(msg, msglen, "user is disabled");
	} else {
		who->authenticated = true;
		who->user_id = u->id;
		snprintf(who->username, sizeof(who->username), "%s", u->username);
		who->admin = u->admin;
		who->device_id = d->id;
		st = GRPC_STATUS_OK;
	}
	rv_users_free(u);
	if (d)
		roomvpn__v1__device_record__free_unpacked(d, NULL);
	return st;
}

grpc_status_code rv_auth_resolve_with(struct rv_control *ctl, const char *token,
				      struct rv_principal *who, rv_prefetch_fn fill,
				      const ProtobufCMessage *req, struct rv_prefetch **pre,
				      char *msg, size_t msglen)
{
	struct rv_token_cache_entry e;
	char k[RV_KEY_MAX];

	int rc = session_of(ctl->store, token, &e);
	if (rc < 0) {
		snprintf(msg, msglen, "store error checking the session token");
		return GRPC_STATUS_INTERNAL;
	}
	if (rc != 0)
		return unauth(msg, msglen, "invalid session token: log in again");
	if (e.expires_ns <= rv_clock_real_ns())
		return unauth(msg, msglen, "session token expired: refresh it or log in again");
	struct rv_prefetch *p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(msg, msglen, "out of memory");
		return GRPC_STATUS_RESOURCE_EXHAUSTED;
	}
	rv_prefetch_add(p, k, rv_key_device(k, e.device_id)); /* slot 0 */
	rv_prefetch_add(p, k, rv_key_user(k, e.user_id));     /* slot 1 */
	if (fill) {
		struct rv_principal ids = {.user_id = e.user_id, .device_id = e.device_id};
		fill(&ids, req, p);
	}
	if (rv_store_get_many(ctl->store, p->r, p->n) < 0) {
		p->n = 0;
		rv_prefetch_free(p);
		snprintf(msg, msglen, "store error checking the session token");
		return GRPC_STATUS_INTERNAL;
	}
	grpc_status_code st = check_principal(p, who, msg, msglen);
	if (st == GRPC_STATUS_OK && pre)
		*pre = p;
	else
		rv_prefetch_free(p);
	return st;
}

grpc_status_code rv_auth_resolve(struct rv_control *ctl, const char *token,
				 struct rv_principal *who, char *msg, size_t msglen)
{
	return rv_auth_resolve_with(ctl, token, who, NULL, NULL, NULL, msg, msglen);
}

/* New random token of @kind for (user, device), put into @b; its string in @out. */
static int new_token(struct rv_store_batch *b, const char *prefix,
		     Roomvpn__V1__TokenRecord__Kind kind, uint64_t user, uint64_t dev,
		     uint64_t expires, char out[RV_TOKEN_STR], uint8_t hash[32])
{
	Roomvpn__V1__TokenRecord t = ROOMVPN__V1__TOKEN_RECORD__INIT;

	if (rv_token_new(prefix, out) != 0)
		return -1;
	rv_token_hash(out, hash);
	t.kind = kind;
	t.user_id = user;
	t.device_id = dev;
	t.expires_ns = expires;
	rv_token_batch_put(b, hash, &t);
	return 0;
}

static void fill_session(Roomvpn__V1__Session *out, const char *session, const char *device,
			 uint64_t s_exp, uint64_t d_exp, uint64_t user, const char *name,
			 bool admin, uint64_t dev)
{
	out->session_token = strdup(session);
	out->device_token = strdup(device);
	out->session_expires_unix = s_exp / 1000000000ull;
	out->device_expires_unix = d_exp / 1000000000ull;
	out->user_id = user;
	out->username = strdup(name);
	out->admin = admin;
	out->device_id = dev;
	char next[96];
	if (rv_tls_next_pin(next, sizeof(next))) /* a certificate rotation is prepared */
		out->next_tls_fingerprint = strdup(next);
}

/* rv_auth_issue; with @ctx, the RPC's audit record goes into the same
 * batch (a Login: one write round trip). */
static int issue(struct rv_control *ctl, struct rv_rpc_ctx *ctx, uint64_t user_id,
		 const char *username, bool admin, const char *device_name,
		 Roomvpn__V1__Session *out)
{
	uint64_t now = rv_clock_real_ns(), dev;
	uint64_t s_exp = now + ctl->cfg.session_ttl_ns, d_exp = now + ctl->cfg.device_ttl_ns;
	char stok[RV_TOKEN_STR], dtok[RV_TOKEN_STR], key[RV_KEY_MAX];
	uint8_t sh[32], dh[32];
	Roomvpn__V1__DeviceRecord d = ROOMVPN__V1__DEVICE_RECORD__INIT;
	int rc = -1;

	struct rv_store_batch *b = rv_store_batch_new();
	if (!b || rv_id_next(ctl->store, &ctl->device_ids, "device", &dev) != 0)
		goto out;
	if (new_token(b, "rvs_", ROOMVPN__V1__TOKEN_RECORD__KIND__SESSION, user_id, dev, s_exp,
		      stok, sh) != 0 ||
	    new_token(b, "rvd_", ROOMVPN__V1__TOKEN_RECORD__KIND__DEVICE, user_id, dev, d_exp, dtok,
		      dh) != 0)
		goto out;
	d.id = dev;
	d.user_id = user_id;
	d.name = (char *)(device_name[0] ? device_name : "device");
	d.token_hash = (ProtobufCBinaryData){32, dh};
	d.expires_ns = d_exp;
	d.created_ns = now;
	put_device(b, &d);
	rv_store_batch_put(b, key, rv_key_user_device(key, user_id, dev), "", 0);
	if ((ctx && rv_audit_batch_add(ctx, b) != 0) ||
	    rv_store_batch_commit(ctl->store, b, true) != 0)
		goto out;
	if (ctx)
		ctx->audited = true;
	/* its first call here needs no t/ read */
	rv_token_cache_put(sh, &(struct rv_token_cache_entry){user_id, dev, s_exp});
	fill_session(out, stok, dtok, s_exp, d_exp, user_id, username, admin, dev);
	rc = 0;
out:
	rv_store_batch_free(b);
	OPENSSL_cleanse(stok, sizeof(stok));
	OPENSSL_cleanse(dtok, sizeof(dtok));
	return rc;
}

int rv_auth_issue(struct rv_control *ctl, uint64_t user_id, const char *username, bool admin,
		  const char *device_name, Roomvpn__V1__Session *out)
{
	return issue(ctl, NULL, user_id, username, admin, device_name, out);
}

/* Marks a device revoked and drops its current token (under rotate_mu). */
static void revoke_device(struct rv_control *ctl, Roomvpn__V1__DeviceRecord *d)
{
	struct rv_store_batch *b = rv_store_batch_new();
	if (d->token_hash.len == 32)
		rv_token_batch_delete(b, d->token_hash.data);
	d->revoked = true;
	put_device(b, d);
	if (rv_store_batch_commit(ctl->store, b, true) != 0)
		rv_log(RV_LOG_ERROR, "auth: store error revoking device %llu",
		       (unsigned long long)d->id);
	rv_store_batch_free(b);
}

int rv_auth_device_update(struct rv_control *ctl, uint64_t user_id, uint64_t dev, const char *name,
			  bool revoke)
{
	Roomvpn__V1__DeviceRecord *d = NULL;
	pthread_mutex_lock(&rotate_mu);
	int rc = get_device(ctl->store, dev, &d);
	if (rc == 0 && (d->user_id != user_id || d->revoked))
		rc = 1;
	if (rc == 0 && revoke) {
		revoke_device(ctl, d);
	} else if (rc == 0 && name) {
		char *old = d->name;
		struct rv_store_batch *b = rv_store_batch_new();
		d->name = (char *)name;
		put_device(b, d);
		rc = rv_store_batch_commit(ctl->store, b, true) == 0 ? 0 : -1;
		rv_store_batch_free(b);
		d->name = old;
	}
	pthread_mutex_unlock(&rotate_mu);
	if (d)
		roomvpn__v1__device_record__free_unpacked(d, NULL);
	return rc;
}

/* Under rotate_mu: rotates a valid device token into a new pair. */
static grpc_status_code rotate(struct rv_control *ctl, const Roomvpn__V1__TokenRecord *old,
			       const uint8_t old_hash[32], Roomvpn__V1__DeviceRecord *d,
			       const Roomvpn__V1__UserRecord *u, Roomvpn__V1__Session *out,
			       char *msg, size_t msglen)
{
	uint64_t now = rv_clock_real_ns();
	uint64_t s_exp = now + ctl->cfg.session_ttl_ns, d_exp = now + ctl->cfg.device_ttl_ns;
	char stok[RV_TOKEN_STR], dtok[RV_TOKEN_STR];
	uint8_t sh[32], dh[32];
	Roomvpn__V1__TokenRecord rot = ROOMVPN__V1__TOKEN_RECORD__INIT;
	grpc_status_code st = GRPC_STATUS_INTERNAL;

	struct rv_store_batch *b = rv_store_batch_new();
	if (new_token(b, "rvs_", ROOMVPN__V1__TOKEN_RECORD__KIND__SESSION, u->id, d->id, s_exp,
		      stok, sh) != 0 ||
	    new_token(b, "rvd_", ROOMVPN__V1__TOKEN_RECORD__KIND__DEVICE, u->id, d->id, d_exp, dtok,
		      dh) != 0)
		goto out;
	/* the old token stays known as ROTATED */
	rot.kind = ROOMVPN__V1__TOKEN_RECORD__KIND__ROTATED;
	rot.user_id = old->user_id;
	rot.device_id = old->device_id;
	rot.expires_ns = d_exp; /* reuse is detected as long as the device lives */
	rv_token_batch_put(b, old_hash, &rot);
	uint8_t *prev = d->token_hash.data;
	d->token_hash.data = dh;
	d->expires_ns = d_exp;
	put_device(b, d);
	d->token_hash.data = prev;
	if (rv_store_batch_commit(ctl->store, b, true) != 0) {
		snprintf(msg, msglen, "store error rotating the device token");
		goto out;
	}
	fill_session(out, stok, dtok, s_exp, d_exp, u->id, u->username, u->admin, d->id);
	st = GRPC_STATUS_OK;
out:
	rv_store_batch_free(b);
	OPENSSL_cleanse(stok, sizeof(stok));
	OPENSSL_cleanse(dtok, sizeof(dtok));
	return st;
}

grpc_status_code rv_auth_refresh(struct rv_control *ctl, const char *device_token,
				 Roomvpn__V1__Session *out, char *msg, size_t msglen)
{
	Roomvpn__V1__TokenRecord *t = NULL;
	Roomvpn__V1__DeviceRecord *d = NULL;
	Roomvpn__V1__UserRecord *u = NULL;
	uint8_t h[32];
	grpc_status_code st = GRPC_STATUS_UNAUTHENTICATED;

	rv_token_hash(device_token, h);
	pthread_mutex_lock(&rotate_mu);
	int rc = rv_token_lookup(ctl->store, device_token, &t);
	if (rc != 0 || t->kind == ROOMVPN__V1__TOKEN_RECORD__KIND__SESSION) {
		unauth(msg, msglen, "invalid device token: log in again");
		goto out;
	}
	if (get_device(ctl->store, t->device_id, &d) != 0 || d->revoked) {
		unauth(msg, msglen, "this device was revoked: log in again");
		goto out;
	}
	if (t->kind == ROOMVPN__V1__TOKEN_RECORD__KIND__ROTATED) {
		revoke_device(ctl, d);
		rv_log(RV_LOG_WARN, "auth: rotated device token of device %llu reused: revoked",
		       (unsigned long long)d->id);
		unauth(msg, msglen,
		       "device token was already used (rotated): the device is "
		       "revoked, log in again");
		goto out;
	}
	if (t->expires_ns <= rv_clock_real_ns()) {
		unauth(msg, msglen, "device token expired: log in again");
		goto out;
	}
	if (rv_users_get_by_id(ctl->store, t->user_id, &u) != 0 || u->disabled) {
		unauth(msg, msglen, u ? "user is disabled" : "the user no longer exists");
		goto out;
	}
	st = rotate(ctl, t, h, d, u, out, msg, msglen);
out:
	pthread_mutex_unlock(&rotate_mu);
	rv_token_rec_free(t);
	rv_users_free(u);
	if (d)
		roomvpn__v1__device_record__free_unpacked(d, NULL);
	return st;
}

/* ---- RPC handlers ------------------------------------------------------- */

struct login_arg {
	char user[RV_USERNAME_MAX + 1];
	char addr[64];
	char device[64];
	Roomvpn__V1__UserRecord *u; /* NULL: unknown user */
};

static void login_arg_free(void *arg)
{
	struct login_arg *a = arg;
	rv_users_free(a->u);
	free(a);
}

static void set_session_header(struct rv_rpc_ctx *ctx, const Roomvpn__V1__Session *s)
{
	unsigned i = ctx->n_md++;
	snprintf(ctx->md[i].key, sizeof(ctx->md[i].key), "%s", RV_SESSION_HEADER);
	snprintf(ctx->md[i].value, sizeof(ctx->md[i].value), "%s", s->session_token);
}

static void login_result(struct rv_control *ctl, bool ok)
{
	if (ctl->on_login)
		ctl->on_login(ctl, ok);
}

/* On the pool, once the password was checked (a guess of the limiter). */
static grpc_status_code login_step(struct rv_pwjob *j, ProtobufCMessage **resp, char *msg,
				   size_t msglen)
{
	struct login_arg *a = j->arg;
	struct rv_control *ctl = j->ctx->ctl;

	if (j->verdict < 0) { /* refused by a bucket, unchecked: its message */
		login_result(ctl, false);
		return GRPC_STATUS_RESOURCE_EXHAUSTED;
	}
	if (j->verdict != 0 || !a->u) {
		login_result(ctl, false);
		snprintf(msg, msglen, "invalid username or password");
		return GRPC_STATUS_UNAUTHENTICATED;
	}
	if (a->u->disabled) {
		login_result(ctl, false);
		snprintf(msg, msglen, "user is disabled: ask an admin");
		return GRPC_STATUS_PERMISSION_DENIED;
	}
	Roomvpn__V1__Session *s = malloc(sizeof(*s));
	if (!s) {
		login_result(ctl, false);
		snprintf(msg, msglen, "out of memory");
		return GRPC_STATUS_RESOURCE_EXHAUSTED;
	}
	roomvpn__v1__session__init(s);
	if (issue(ctl, j->ctx, a->u->id, a->u->username, a->u->admin, a->device, s) != 0) {
		free(s);
		login_result(ctl, false);
		snprintf(msg, msglen, "store error issuing tokens");
		return GRPC_STATUS_INTERNAL;
	}
	login_result(ctl, true);
	set_session_header(j->ctx, s);
	*resp = &s->base;
	return GRPC_STATUS_OK;
}

grpc_status_code rv_auth_login_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				   ProtobufCMessage **resp, char *msg, size_t msglen)
{
	const Roomvpn__V1__LoginRequest *r = (const void *)req;
	struct rv_control *ctl = ctx->ctl;

	snprintf(ctx->actor, sizeof(ctx->actor), "%.63s", r->username);
	snprintf(ctx->target, sizeof(ctx->target), "user:%.100s", r->username);
	if (!r->username[0] || !r->password[0] || strlen(r->password) > RV_PASSWORD_MAX ||
	    strlen(r->device_name) > 63) {
		snprintf(msg, msglen,
			 "username and password are required (password at most %d "
			 "bytes, device_name at most 63)",
			 RV_PASSWORD_MAX);
		return GRPC_STATUS_INVALID_ARGUMENT;
	}
	struct login_arg *a = calloc(1, sizeof(*a));
	if (!a)
		return GRPC_STATUS_RESOURCE_EXHAUSTED;
	rv_ratelimit_addr_of_peer(ctx->peer, a->addr, sizeof(a->addr));
	snprintf(a->user, sizeof(a->user), "%.63s", r->username);
	/* admitted (an in-flight slot of the address) before its hash is queued */
	grpc_status_code st = rv_ratelimit_admit(ctl->ratelimit, a->user, a->addr, "failed logins",
						 "user", msg, msglen);
	if (st != GRPC_STATUS_OK) {
		free(a);
		login_result(ctl, false);
		return st;
	}
	snprintf(a->device, sizeof(a->device), "%s", r->device_name);
	if (rv_users_get_by_name(ctl->store, r->username, &a->u) < 0)
		a->u = NULL;
	struct rv_pwjob_args pa = {.kind = RV_PWJOB_VERIFY,
				   .password = r->password,
				   .encoded = a->u ? a->u->password_hash : dummy_hash,
				   .arg = a,
				   .free_arg = login_arg_free,
				   .step = login_step,
				   .limit_user = a->user,
				   .limit_addr = a->addr,
				   .limit_what = "failed logins",
				   .limit_who = "user"};
	return rv_pwjob_start(ctx, &pa, resp, msg, msglen);
}

grpc_status_code rv_auth_refresh_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				     ProtobufCMessage **resp, char *msg, size_t msglen)
{
	const Roomvpn__V1__RefreshRequest *r = (const void *)req;

	if (!r->device_token[0] || strlen(r->device_token) >= RV_TOKEN_STR) {
		snprintf(msg, msglen, "device_token is missing or malformed");
		return GRPC_STATUS_INVALID_ARGUMENT;
	}
	Roomvpn__V1__Session *s = malloc(sizeof(*s));
	roomvpn__v1__session__init(s);
	grpc_status_code st = rv_auth_refresh(ctx->ctl, r->device_token, s, msg, msglen);
	if (st != GRPC_STATUS_OK) {
		free(s);
		return st;
	}
	snprintf(ctx->actor, sizeof(ctx->actor), "%s", s->username);
	snprintf(ctx->target, sizeof(ctx->target), "device:%llu", (unsigned long long)s->device_id);
	set_session_header(ctx, s);
	*resp = (ProtobufCMessage *)s;
	return GRPC_STATUS_OK;
}

static int revoke_cb(void *arg, const void *key, size_t klen, const void *v, size_t vl)
{
	struct rv_control *ctl = arg;
	Roomvpn__V1__DeviceRecord *d;
	uint64_t id;
	(void)v, (void)vl;

	if (klen < 16 || rv_id_parse((const char *)key + klen - 16, 16, &id) != 0)
		return 0;
	if (get_device(ctl->store, id, &d) == 0) {
		if (!d->revoked)
			revoke_device(ctl, d);
		roomvpn__v1__device_record__free_unpacked(d, NULL);
	}
	return 0;
}

grpc_status_code rv_auth_logout_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				    ProtobufCMessage **resp, char *msg, size_t msglen)
{
	const Roomvpn__V1__LogoutRequest *r = (const void *)req;
	struct rv_control *ctl = ctx->ctl;
	Roomvpn__V1__DeviceRecord *d;
	char key[RV_KEY_MAX];
	int rc = 0;

	snprintf(ctx->target, sizeof(ctx->target), "device:%llu",
		 (unsigned long long)ctx->who.device_id);
	pthread_mutex_lock(&rotate_mu);
	if (r->all_devices) {
		rc = rv_store_scan_prefix(ctl->store, key,
					  rv_key_user_device_prefix(key, ctx->who.user_id), NULL, 0,
					  revoke_cb, ctl);
	} else if (get_device(ctl->store, ctx->who.device_id, &d) == 0) {
		/* the device ends with its session: its sessions stop resolving */
		revoke_device(ctl, d);
		roomvpn__v1__device_record__free_unpacked(d, NULL);
	}
	pthread_mutex_unlock(&rotate_mu);
	if (rc != 0) {
		snprintf(msg, msglen, "store error logging out");
		return GRPC_STATUS_INTERNAL;
	}
	Roomvpn__V1__Empty *e = malloc(sizeof(*e));
	roomvpn__v1__empty__init(e);
	*resp = (ProtobufCMessage *)e;
	return GRPC_STATUS_OK;
}

/* ---- sweeping expired tokens and devices -------------------------------- */

struct sweep {
	struct rv_control *ctl;
	struct rv_store_batch *b;
	uint64_t now;
	long n;
	bool devices;
};

static int sweep_cb(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct sweep *sw = arg;
	char k[RV_KEY_MAX];

	if (!sw->devices) {
		Roomvpn__V1__TokenRecord *t = roomvpn__v1__token_record__unpack(NULL, vlen, val);
		if (!t || t->expires_ns <= sw->now) {
			rv_store_batch_delete(sw->b, key, klen);
			sw->n++;
		}
		if (t)
			roomvpn__v1__token_record__free_unpacked(t, NULL);
		return 0;
	}
	Roomvpn__V1__DeviceRecord *d = roomvpn__v1__device_record__unpack(NULL, vlen, val);
	if (d && d->expires_ns + sw->ctl->cfg.session_ttl_ns <= sw->now) {
		rv_store_batch_delete(sw->b, key, klen);
		rv_store_batch_delete(sw->b, k, rv_key_user_device(k, d->user_id, d->id));
		sw->n += 2;
	}
	if (d)
		roomvpn__v1__device_record__free_unpacked(d, NULL);
	return 0;
}

long rv_auth_sweep(struct rv_control *ctl, uint64_t now_ns)
{
	struct sweep sw = {.ctl = ctl, .now = now_ns};
	int rc = 0;

	for (int pass = 0; pass < 2 && rc == 0; pass++) {
		sw.devices = pass == 1;
		sw.b = rv_store_batch_new();
		/* under rotate_mu: a refresh never races with its token's deletion */
		pthread_mutex_lock(&rotate_mu);
		rc = rv_store_scan_prefix(ctl->store,
					  sw.devices ? RV_KEY_DEVICE_PREFIX : RV_KEY_TOKEN_PREFIX,
					  2, NULL, 0, sweep_cb, &sw);
		if (rc == 0)
			rc = rv_store_batch_commit(ctl->store, sw.b, false);
		pthread_mutex_unlock(&rotate_mu);
		rv_store_batch_free(sw.b);
	}
	return rc == 0 ? sw.n : -1;
}

static struct {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool running, stop;
	struct rv_control *ctl;
} sweeper = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void *sweeper_main(void *arg)
{
	pthread_setname_np(pthread_self(), "rv-auth-sweep"); /* top -H, perf */
	(void)arg;
	pthread_mutex_lock(&sweeper.mu);
	while (!sweeper.stop) {
		struct timespec ts =
		    rv_clock_deadline(CLOCK_REALTIME, sweeper.ctl->cfg.token_sweep_ns);
		if (pthread_cond_timedwait(&sweeper.cv, &sweeper.mu, &ts) == 0 || sweeper.stop)
			continue;
		pthread_mutex_unlock(&sweeper.mu);
		long n = rv_auth_sweep(sweeper.ctl, rv_clock_real_ns());
		if (n != 0)
			rv_log(n < 0 ? RV_LOG_WARN : RV_LOG_DEBUG,
			       "auth: sweep deleted %ld expired keys", n);
		pthread_mutex_lock(&sweeper.mu);
	}
	pthread_mutex_unlock(&sweeper.mu);
	return NULL;
}

int rv_auth_sweeper_start(struct rv_control *ctl)
{
	sweeper.ctl = ctl;
	sweeper.stop = false;
	if (pthread_create(&sweeper.thread, NULL, sweeper_main, NULL) != 0)
		return -1;
	sweeper.running = true;
	return 0;
}

void rv_auth_sweeper_stop(void)
{
	if (!sweeper.running)
		return;
	pthread_mutex_lock(&sweeper.mu);
	sweeper.stop = true;
	pthread_cond_signal(&sweeper.cv);
	pthread_mutex_unlock(&sweeper.mu);
	pthread_join(sweeper.thread, NULL);
	sweeper.running = false;
}
