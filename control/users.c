/* User records and the UserService handlers (admin scope, checked before
 * these run). Passwords are hashed on the Argon2 pool: Create and Update
 * with a password return RV_RPC_PENDING and complete from a pool thread. */
#include "users.h"
#include "clock.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "name_cache.h"
#include "password.h"
#include "pwjob.h"
#include "roomvpn/v1/common.pb-c.h"
#include "roomvpn/v1/users.pb-c.h"
#include "store.h"
#include "store_keys.h"
#include "tokens.h"

static pthread_mutex_t id_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_uint_fast64_t n_users;

void rv_id_lock(void)
{
	pthread_mutex_lock(&id_mu);
}

void rv_id_unlock(void)
{
	pthread_mutex_unlock(&id_mu);
}

int rv_id_alloc(struct rv_store *s, struct rv_store_batch *b, const char *name, uint64_t *id)
{
	char key[RV_KEY_MAX], buf[32];
	void *val = NULL;
	size_t vlen = 0;
	uint64_t next = 1;

	size_t kl = rv_key_id_counter(key, name);
	int rc = rv_store_get(s, key, kl, &val, &vlen);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		snprintf(buf, sizeof(buf), "%.*s", (int)(vlen < 31 ? vlen : 31), (char *)val);
		next = strtoull(buf, NULL, 10);
		free(val);
		if (next == 0)
			return -1;
	}
	/* other replicas (a shared store) move the counter too: the batch
	 * commits only if it still holds what was read (RV_STORE_CONFLICT) */
	if (rv_store_shared(s))
		rv_store_batch_expect(b, key, kl, rc == 0 ? buf : NULL, rc == 0 ? strlen(buf) : 0);
	*id = next;
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)(next + 1));
	rv_store_batch_put(b, key, strlen(key), buf, strlen(buf));
	return 0;
}

int rv_id_next(struct rv_store *s, struct rv_id_block *blk, const char *name, uint64_t *id)
{
	int rc = 0;
	pthread_mutex_lock(&blk->mu);
	for (int tries = 0; blk->next == blk->limit; tries++) {
		struct rv_store_batch *b = rv_store_batch_new();
		uint64_t first = 0;
		rv_id_lock(); /* beside rv_id_alloc's batches */
		rc = b ? rv_id_alloc(s, b, name, &first) : -1;
		if (rc == 0) { /* the counter moves past the whole block */
			char key[RV_KEY_MAX], buf[32];
			size_t kl = rv_key_id_counter(key, name);
			snprintf(buf, sizeof(buf), "%llu",
				 (unsigned long long)(first + RV_ID_BLOCK));
			rv_store_batch_put(b, key, kl, buf, strlen(buf));
			rc = rv_store_batch_commit(s, b, true);
		}
		rv_id_unlock();
		rv_store_batch_free(b);
		if (rc == 0)
			blk->next = first, blk->limit = first + RV_ID_BLOCK;
		else if (rc != RV_STORE_CONFLICT || tries == 16)
			break; /* (a conflict: another replica took the block; again) */
	}
	rc = rc == 0 ? 0 : -1;
	if (rc == 0)
		*id = blk->next++;
	pthread_mutex_unlock(&blk->mu);
	return rc;
}

bool rv_users_valid_name(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > RV_USERNAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("._-", name[i]))
			return false;
	return true;
}

static void user_key(uint64_t id, char key[RV_KEY_MAX])
{
	rv_key_user(key, id);
}

int rv_users_get_by_id(struct rv_store *s, uint64_t id, Roomvpn__V1__UserRecord **out)
{
	char key[RV_KEY_MAX];
	user_key(id, key);
	return rv_store_get_msg(s, key, &roomvpn__v1__user_record__descriptor,
				(ProtobufCMessage **)out);
}

/* Usernames already looked up (name_cache.h): a Login reads u/<id> only. */
static struct rv_name_cache *names;
static pthread_once_t names_once = PTHREAD_ONCE_INIT;

static void names_init(void)
{
	names = rv_name_cache_new(16384);
}

int rv_users_get_by_name(struct rv_store *s, const char *name, Roomvpn__V1__UserRecord **out)
{
	char key[RV_KEY_MAX];
	void *val = NULL;
	size_t vlen = 0;
	uint64_t id;

	if (!rv_users_valid_name(name))
		return 1;
	pthread_once(&names_once, names_init);
	if (rv_name_cache_get(names, name, &id)) { /* a hint: the record must still say so */
		int rc = rv_users_get_by_id(s, id, out);
		if (rc == 0 && !strcmp((*out)->username, name))
			return 0;
		if (rc == 0)
			rv_users_free(*out);
		if (rc < 0)
			return rc;
		rv_name_cache_forget(names, name);
	}
	rv_key_user_by_name(key, name);
	int rc = rv_store_get(s, key, strlen(key), &val, &vlen);
	if (rc != 0)
		return rc;
	rc = rv_id_parse(val, vlen, &id);
	free(val);
	if (rc != 0)
		return -1;
	rc = rv_users_get_by_id(s, id, out);
	if (rc == 0)
		rv_name_cache_put(names, name, id);
	return rc;
}

void rv_users_free(Roomvpn__V1__UserRecord *u)
{
	if (u)
		roomvpn__v1__user_record__free_unpacked(u, NULL);
}

uint64_t rv_users_count(void)
{
	return atomic_load(&n_users);
}

static int count_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)k, (void)kl, (void)v, (void)vl;
	(*(uint64_t *)arg)++;
	return 0;
}

int rv_users_load_count(struct rv_store *s)
{
	uint64_t n = 0;
	if (rv_store_scan_prefix(s, RV_KEY_USER_BY_NAME_PREFIX, 3, NULL, 0, count_cb, &n) != 0)
		return -1;
	atomic_store(&n_users, n);
	return 0;
}

static void put_user(struct rv_store_batch *b, const Roomvpn__V1__UserRecord *u)
{
	char key[RV_KEY_MAX];
	user_key(u->id, key);
	rv_store_put_msg(b, key, &u->base);
}

/* One attempt: 0, 1 the name exists, RV_STORE_CONFLICT (another replica
 * took the id or the name meanwhile: again), -1. Under rv_id_lock. */
static int create_once(struct rv_store *s, const char *name, const char *pw_hash, bool admin,
		       uint64_t *id, char *err, size_t errlen)
{
	char key[RV_KEY_MAX];
	void *val = NULL;
	size_t vlen;

	rv_key_user_by_name(key, name);
	int ex = rv_store_get(s, key, strlen(key), &val, &vlen);
	free(val);
	if (ex != 1) {
		snprintf(err, errlen, ex == 0 ? "user %s already exists" : "store error", name);
		return ex == 0 ? 1 : -1;
	}
	struct rv_store_batch *b = rv_store_batch_new();
	if (!b || rv_id_alloc(s, b, "user", id) != 0) {
		snprintf(err, errlen, "store error allocating a user id");
		rv_store_batch_free(b);
		return -1;
	}
	Roomvpn__V1__UserRecord u = ROOMVPN__V1__USER_RECORD__INIT;
	u.id = *id;
	u.username = (char *)name;
	u.password_hash = (char *)pw_hash;
	u.admin = admin;
	u.created_ns = rv_clock_real_ns();
	put_user(b, &u);
	char v[17];
	if (rv_store_shared(s)) /* the name is still free (several replicas) */
		rv_store_batch_expect(b, key, strlen(key), NULL, 0);
	rv_store_batch_put(b, key, strlen(key), v, rv_key_id_value(v, *id));
	int rc = rv_store_batch_commit(s, b, true);
	rv_store_batch_free(b);
	if (rc < 0)
		snprintf(err, errlen, "store error writing user %s", name);
	return rc;
}

int rv_users_create(struct rv_store *s, const char *name, const char *pw_hash, bool admin,
		    uint64_t *id, char *err, size_t errlen)
{
	int rc = RV_STORE_CONFLICT;
	rv_id_lock();
	for (int tries = 0; rc == RV_STORE_CONFLICT && tries < 16; tries++)
		rc = create_once(s, name, pw_hash, admin, id, err, errlen);
	rv_id_unlock();
	if (rc == 0)
		atomic_fetch_add(&n_users, 1);
	if (rc == RV_STORE_CONFLICT)
		snprintf(err, errlen, "store error writing user %s (contended)", name);
	return rc == RV_STORE_CONFLICT ? -1 : rc;
}

static Roomvpn__V1__User *user_msg(const Roomvpn__V1__UserRecord *r)
{
	Roomvpn__V1__User *u = malloc(sizeof(*u));
	if (!u)
		return NULL;
	roomvpn__v1__user__init(u);
	u->id = r->id;
	u->username = strdup(r->username);
	u->admin = r->admin;
	u->disabled = r->disabled;
	u->created_unix = r->created_ns / 1000000000ull;
	return u;
}

/* ---- Create ------------------------------------------------------------- */

struct create_arg {
	char name[RV_USERNAME_MAX + 1];
	bool admin;
};

/* On the pool, once the password is hashed. */
static grpc_status_code create_step(struct rv_pwjob *j, ProtobufCMessage **resp, char *msg,
				    size_t msglen)
{
	struct create_arg *a = j->arg;
	struct rv_store *s = j->ctx->ctl->store;
	Roomvpn__V1__UserRecord *r = NULL;
	uint64_t id;

	int rc = rv_users_create(s, a->name, j->hash, a->admin, &id, msg, msglen);
	if (rc != 0)
		return rc == 1 ? GRPC_STATUS_ALREADY_EXISTS : GRPC_STATUS_INTERNAL;
	if (rv_users_get_by_id(s, id, &r) != 0) {
		snprintf(msg, msglen, "store error reading user %s back", a->name);
		return GRPC_STATUS_INTERNAL;
	}
	*resp = (ProtobufCMessage *)user_msg(r);
	rv_users_free(r);
	return GRPC_STATUS_OK;
}

static grpc_status_code check_password(const char *pw, char *msg, size_t msglen)
{
	size_t n = strlen(pw);
	if (n < RV_PASSWORD_MIN || n > RV_PASSWORD_MAX) {
		snprintf(msg, msglen, "password must be %d to %d bytes long (got %zu)",
			 RV_PASSWORD_MIN, RV_PASSWORD_MAX, n);
		return GRPC_STATUS_INVALID_ARGUMENT;
	}
	return GRPC_STATUS_OK;
}

static grpc_status_code check_name(const char *name, char *msg, size_t msglen)
{
	if (rv_users_valid_name(name))
		return GRPC_STATUS_OK;
	snprintf(msg, msglen, "username \"%.80s\" is invalid: 1-%d characters of A-Z a-z 0-9 . _ -",
		 name, RV_USERNAME_MAX);
	return GRPC_STATUS_INVALID_ARGUMENT;
}

grpc_status_code rv_users_check_new(const char *name, const char *password, char *msg,
				    size_t msglen)
{
	grpc_status_code st = check_name(name, msg, msglen);
	return st != GRPC_STATUS_OK ? st : check_password(password, msg, msglen);
}

grpc_status_code rv_users_create_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				     ProtobufCMessage **resp, char *msg, size_t msglen)
{
	const Roomvpn__V1__CreateUserRequest *r = (const void *)req;
	grpc_status_code st;

	snprintf(ctx->target, sizeof(ctx->target), "user:%.100s", r->username);
	if ((st = check_name(r->username, msg, msglen)) != GRPC_STATUS_OK ||
	    (st = check_password(r->password, msg, msglen)) != GRPC_STATUS_OK)
		return st;
	struct create_arg *a = calloc(1, sizeof(*a));
	if (!a)
		return GRPC_STATUS_RESOURCE_EXHAUSTED;
	snprintf(a->name, sizeof(a->name), "%s", r->username);
	a->admin = r->admin;
	struct rv_pwjob_args pa = {.kind = RV_PWJOB_HASH,
				   .password = r->password,
				   .arg = a,
				   .free_arg = free,
				   .step = create_step};
	return rv_pwjob_start(ctx, &pa, resp, msg, msglen);
}

/* ---- Get / List --------------------------------------------------------- */

static grpc_status_code load(struct rv_control *ctl, const char *name, Roomvpn__V1__UserRecord **u,
			     char *msg, size_t msglen)
{
	grpc_status_code st = check_name(name, msg, msglen);
	if (st != GRPC_STATUS_OK)
		return st;
	int rc = rv_users_get_by_name(ctl->store, name, u);
	if (rc == 0)
		return GRPC_STATUS_OK;
	snprintf(msg, msglen, rc == 1 ? "no user %s" : "store error reading user %s", name);
	return rc == 1 ? GRPC_STATUS_NOT_FOUND : GRPC_STATUS_INTERNAL;
}

grpc_status_code rv_users_get_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				  ProtobufCMessage **resp, char *msg, size_t msglen)
{
	const Roomvpn__V1__GetUserRequest *r = (const void *)req;
	Roomvpn__V1__UserRecord *u;
	grpc_status_code st = load(ctx->ctl, r->username, &u, msg, msglen);
	if (st != GRPC_STATUS_OK)
		return st;
	*resp = (ProtobufCMessage *)user_msg(u);
	rv_users_free(u);
	return GRPC_STATUS_OK;
}

struct list_state {
	struct rv_store *store;
	Roomvpn__V1__ListUsersResponse *resp;
	uint32_t want;
	int err;
};

static int list_cb(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct list_state *ls = arg;
	Roomvpn__V1__ListUsersResponse *resp = ls->resp;
	Roomvpn__V1__UserRecord *u;
	uint64_t id;
	(void)key, (void)klen;

	if (resp->n_users == ls->want) {
		/* one more exists: the page ends at the last user returned */
		resp->next_page_token = strdup(resp->users[resp->n_users - 1]->username);
		return 1;
	}
	if (rv_id_parse(val, vlen, &id) != 0 || rv_users_get_by_id(ls->store, id, &u) != 0) {
		ls->err = 1;
		return 1;
	}
	resp->users[resp->n_users++] = user_msg(u);
	rv_users_free(u);
	return 0;
}

grpc_status_code rv_users_list_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				   ProtobufCMessage **resp, char *msg, size_t msglen)
{
	const Roomvpn__V1__ListUsersRequest *r = (const void *)req;
	char after[96];
	struct list_state ls = {.store = ctx->ctl->store, .want = r->page_size ? r->page_size : 50};

	if (ls.want > 1000) {
		snprintf(msg, msglen, "page_size %u is larger than 1000", r->page_size);
		return GRPC_STATUS_INVALID_ARGUMENT;
	}
	if (r->page_token[0] && !rv_users_valid_name(r->page_token)) {
		snprintf(msg, msglen, "page_token is not one this server returned");
		return GRPC_STATUS_INVALID_ARGUMENT;
	}
	ls.resp = malloc(sizeof(*ls.resp));
	roomvpn__v1__list_users_response__init(ls.resp);
	ls.resp->users = calloc(ls.want, sizeof(*ls.resp->users));
	*resp = (ProtobufCMessage *)ls.resp;
	rv_key_user_by_name(after, r->page_token);
	if (rv_store_scan_prefix(ctx->ctl->store, RV_KEY_USER_BY_NAME_PREFIX, 3,
				 r->page_token[0] ? after : NULL,
				 r->page_token[0] ? strlen(after) : 0, list_cb, &ls) != 0 ||
	    ls.err) {
		snprintf(msg, msglen, "store error listing users");
		return GRPC_STATUS_INTERNAL;
	}
	return GRPC_STATUS_OK;
}

/* ---- Update / Delete ---------------------------------------------------- */

struct update_job {
	struct rv_rpc_ctx *ctx;
	char name[RV_USERNAME_MAX + 1];
	bool set_pw, set_admin, admin, set_disabled, disabled;
};

/* Applies an update; the hash (if any) is computed already. */
static grpc_status_code apply_update(struct update_job *j, const char *hash,
				     ProtobufCMessage **resp, char *msg, size_t msglen)
{
	struct rv_control *ctl = j->ctx->ctl;
	Roomvpn__V1__UserRecord *u;
	grpc_status_code st;
	uint64_t removed_id = 0;

	rv_id_lock();
	if ((st = load(ctl, j->name, &u, msg, msglen)) != GRPC_STATUS_OK)
		goto out;
	bool removed = j->set_disabled && j->disabled && !u->disabled;
	char *old_hash = u->password_hash;
	if (hash)
		u->password_hash = (char *)hash;
	if (j->set_admin)
		u->admin = j->admin;
	if (j->set_disabled)
		u->disabled = j->disabled;
	struct rv_store_batch *b = rv_store_batch_new();
	put_user(b, u);
	int rc = rv_store_batch_commit(ctl->store, b, true);
	rv_store_batch_free(b);
	u->password_hash = old_hash;
	if (rc != 0) {
		st = GRPC_STATUS_INTERNAL;
		snprintf(msg, msglen, "store error updating user %s", j->name);
	} else {
		*resp = (ProtobufCMessage *)user_msg(u);
		removed_id = removed ? u->id : 0;
	}
	rv_users_free(u);
out:
	rv_id_unlock();
	if (removed_id && ctl->on_user_removed) /* outside the lock: it may take it */
		ctl->on_user_removed(ctl, removed_id);
	return st;
}

/* On the pool, once the new password is hashed. */
static grpc_status_code update_step(struct rv_pwjob *j, ProtobufCMessage **resp, char *msg,
				    size_t msglen)
{
	struct update_job *u = j->arg;
	u->ctx = j->ctx;
	return apply_update(u, j->hash, resp, msg, msglen);
}

/* An admin may not lock themselves out. */
static grpc_status_code self_check(struct rv_rpc_ctx *ctx, const char *name, bool demote, char *msg,
				   size_t msglen)
{
	if (!demote || strcmp(ctx->who.username, name) != 0)
		return GRPC_STATUS_OK;
	snprintf(msg, msglen, "you cannot disable, demote or delete your own account (%s)", name);
	return GRPC_STATUS_FAILED_PRECONDITION;
}

grpc_status_code rv_users_update_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				     ProtobufCMessage **resp, char *msg, size_t msglen)
{
	const Roomvpn__V1__UpdateUserRequest *r = (const void *)req;
	struct update_job j = {.ctx = ctx};
	grpc_status_code st;

	snprintf(ctx->target, sizeof(ctx->target), "user:%.100s", r->username);
	j.set_pw = r->password_set_case == ROOMVPN__V1__UPDATE_USER_REQUEST__PASSWORD_SET_PASSWORD;
	j.set_admin = r->admin_set_case == ROOMVPN__V1__UPDATE_USER_REQUEST__ADMIN_SET_ADMIN;
	j.set_disabled =
	    r->disabled_set_case == ROOMVPN__V1__UPDATE_USER_REQUEST__DISABLED_SET_DISABLED;
	j.admin = r->admin;
	j.disabled = r->disabled;
	if ((st = check_name(r->username, msg, msglen)) != GRPC_STATUS_OK ||
	    (j.set_pw && (st = check_password(r->password, msg, msglen)) != GRPC_STATUS_OK) ||
	    (st = self_check(ctx, r->username,
			     (j.set_admin && !j.admin) || (j.set_disabled && j.disabled), msg,
			     msglen)) != GRPC_STATUS_OK)
		return st;
	snprintf(j.name, sizeof(j.name), "%s", r->username);
	if (!j.set_pw)
		return apply_update(&j, NULL, resp, msg, msglen);
	struct update_job *pj = malloc(sizeof(*pj));
	if (!pj)
		return GRPC_STATUS_RESOURCE_EXHAUSTED;
	*pj = j;
	struct rv_pwjob_args pa = {.kind = RV_PWJOB_HASH,
				   .password = r->password,
				   .arg = pj,
				   .free_arg = free,
				   .step = update_step};
	return rv_pwjob_start(ctx, &pa, resp, msg, msglen);
}

struct devscan {
	struct rv_store *s;
	struct rv_store_batch *b;
};

/* du/<user>/<device>: drop the index, the device and its current token. */
static int delete_device_cb(void *arg, const void *key, size_t klen, const void *v, size_t vl)
{
	struct devscan *d = arg;
	char dkey[RV_KEY_MAX];
	uint64_t dev;
	Roomvpn__V1__DeviceRecord *rec;
	(void)v, (void)vl;

	rv_store_batch_delete(d->b, key, klen);
	if (klen < 16 || rv_id_parse((const char *)key + klen - 16, 16, &dev) != 0)
		return 0;
	rv_key_device(dkey, dev);
	if (rv_store_get_msg(d->s, dkey, &roomvpn__v1__device_record__descriptor,
			     (ProtobufCMessage **)&rec) == 0) {
		if (rec->token_hash.len == 32)
			rv_token_batch_delete(d->b, rec->token_hash.data);
		roomvpn__v1__device_record__free_unpacked(rec, NULL);
	}
	rv_store_batch_delete(d->b, dkey, strlen(dkey));
	return 0;
}

grpc_status_code rv_users_delete_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				     ProtobufCMessage **resp, char *msg, size_t msglen)
{
	const Roomvpn__V1__DeleteUserRequest *r = (const void *)req;
	struct rv_control *ctl = ctx->ctl;
	Roomvpn__V1__UserRecord *u;
	char key[RV_KEY_MAX];
	grpc_status_code st;
	uint64_t removed_id = 0;

	snprintf(ctx->target, sizeof(ctx->target), "user:%.100s", r->username);
	if ((st = self_check(ctx, r->username, true, msg, msglen)) != GRPC_STATUS_OK)
		return st;
	rv_id_lock();
	if ((st = load(ctl, r->username, &u, msg, msglen)) != GRPC_STATUS_OK)
		goto out;
	struct devscan d = {ctl->store, rv_store_batch_new()};
	int rc = rv_store_scan_prefix(ctl->store, key, rv_key_user_device_prefix(key, u->id), NULL,
				      0, delete_device_cb, &d);
	user_key(u->id, key);
	rv_store_batch_delete(d.b, key, strlen(key));
	rv_store_batch_delete(d.b, key, rv_key_user_by_name(key, u->username));
	if (rc == 0)
		rc = rv_store_batch_commit(ctl->store, d.b, true);
	rv_store_batch_free(d.b);
	if (rc != 0) {
		st = GRPC_STATUS_INTERNAL;
		snprintf(msg, msglen, "store error deleting user %s", r->username);
	} else {
		atomic_fetch_sub(&n_users, 1);
		removed_id = u->id;
		Roomvpn__V1__Empty *e = malloc(sizeof(*e));
		roomvpn__v1__empty__init(e);
		*resp = (ProtobufCMessage *)e;
	}
	rv_users_free(u);
out:
	rv_id_unlock();
	if (removed_id && ctl->on_user_removed)
		ctl->on_user_removed(ctl, removed_id);
	return st;
}
