/* Self-service (devices.h): the caller's password and devices. Device
 * records and tokens stay auth.c's (rv_auth_device_update); this module
 * lists (du/<user>/ with the running tunnels of tunnels_status.c) and
 * ends a revoked device's memberships (members.c's removal path). */
#include "devices.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "ipam.h"
#include "members.h"
#include "password.h"
#include "pwjob.h"
#include "ratelimit.h"
#include "room_records.h"
#include "roomvpn/v1/auth.pb-c.h"
#include "roomvpn/v1/auth_store.pb-c.h"
#include "store_keys.h"
#include "tokens.h"
#include "tunnels.h"
#include "users.h"

#define NS 1000000000ull

/* ---- the caller's devices ----------------------------------------------------- */

struct dev_ids {
	uint64_t *v;
	size_t n, cap;
	bool oom;
};

static int ids_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct dev_ids *ids = arg;
	uint64_t id;
	(void)v;
	(void)vl;
	if (kl < 16 || rv_key_parse_id((const char *)k + kl - 16, 16, &id) < 0)
		return 0;
	if (ids->n == ids->cap) {
		size_t cap = ids->cap ? ids->cap * 2 : 8;
		void *p = realloc(ids->v, cap * sizeof(*ids->v));
		if (!p)
			return ids->oom = true;
		ids->v = p;
		ids->cap = cap;
	}
	ids->v[ids->n++] = id;
	return 0;
}

/* The ids of @user's devices (du/<user>/). 0 or -1. */
static int device_ids(struct rv_store *s, uint64_t user, struct dev_ids *ids)
{
	char p[RV_KEY_MAX];
	int rc =
	    rv_store_scan_prefix(s, p, rv_key_user_device_prefix(p, user), NULL, 0, ids_cb, ids);
	return rc < 0 || ids->oom ? -1 : 0;
}

/* Revokes device @dev and ends its memberships (its tunnels). 0, 1 none such, -1. */
static int revoke(struct rv_control *ctl, uint64_t user, uint64_t dev)
{
	int rc = rv_auth_device_update(ctl, user, dev, NULL, true);
	if (rc == 0)
		rc = rv_members_remove(ctl, 0, user, dev);
	return rc;
}

/* ---- ChangePassword ------------------------------------------------------------- */

/* On the pool, once the old password was checked. */
static grpc_status_code passwd_step(struct rv_pwjob *j, ProtobufCMessage **resp, char *msg,
				    size_t msglen)
{
	const Roomvpn__V1__ChangePasswordRequest *q = (const void *)j->req;
	struct rv_control *ctl = j->ctx->ctl;
	const struct rv_principal *who = &j->ctx->who;
	Roomvpn__V1__UserRecord *u = NULL;
	char hash[RV_PASSWORD_ENCODED], key[RV_KEY_MAX];
	struct dev_ids ids = {0};

	if (j->verdict < 0) /* refused by the limiter: its message */
		return GRPC_STATUS_RESOURCE_EXHAUSTED;
	if (j->verdict > 0) {
		snprintf(msg, msglen, "the old password is wrong");
		return GRPC_STATUS_PERMISSION_DENIED;
	}
	if (rv_password_hash(&ctl->cfg, q->new_password, hash, sizeof(hash), msg, msglen) != 0)
		return GRPC_STATUS_INTERNAL;
	grpc_status_code st = GRPC_STATUS_OK;
	rv_id_lock(); /* as users.c's Update: one writer of u/ at a time */
	int rc = rv_users_get_by_id(ctl->store, who->user_id, &u);
	if (rc == 0) {
		char *old = u->password_hash;
		struct rv_store_batch *b = rv_store_batch_new();
		u->password_hash = hash;
		rv_key_user(key, u->id);
		rc = b && rv_store_put_msg(b, key, &u->base) == 0
			 ? rv_store_batch_commit(ctl->store, b, true)
			 : -1;
		rv_store_batch_free(b);
		u->password_hash = old;
	}
	rv_id_unlock();
	rv_users_free(u);
	if (rc != 0 || device_ids(ctl->store, who->user_id, &ids) < 0) {
		snprintf(msg, msglen, "store error changing the password");
		st = GRPC_STATUS_INTERNAL;
	}
	/* every other device: its tokens and tunnels end */
	for (size_t i = 0; st == GRPC_STATUS_OK && i < ids.n; i++)
		if (ids.v[i] != who->device_id && revoke(ctl, who->user_id, ids.v[i]) < 0)
			st = rv_rooms_store_error(msg, msglen);
	free(ids.v);
	return st == GRPC_STATUS_OK ? rv_rooms_empty_reply(resp, msg, msglen) : st;
}

grpc_status_code rv_devices_passwd_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				       ProtobufCMessage **resp, char *msg, size_t msglen)
{
	const Roomvpn__V1__ChangePasswordRequest *q = (const void *)req;
	Roomvpn__V1__UserRecord *u = NULL;
	char user[80], addr[64];

	snprintf(ctx->target, sizeof(ctx->target), "user:%s", ctx->who.username);
	size_t nl = strlen(q->new_password);
	if (!q->old_password[0] || strlen(q->old_password) > RV_PASSWORD_MAX ||
	    nl < RV_PASSWORD_MIN || nl > RV_PASSWORD_MAX) {
		snprintf(msg, msglen, "the old password is required; the new one is %d to %d bytes",
			 RV_PASSWORD_MIN, RV_PASSWORD_MAX);
		return GRPC_STATUS_INVALID_ARGUMENT;
	}
	int rc = rv_users_get_by_id(ctx->ctl->store, ctx->who.user_id, &u);
	if (rc != 0) {
		snprintf(msg, msglen, "store error reading the user");
		return GRPC_STATUS_INTERNAL;
	}
	/* a guess of the old password counts as a failed login of the user */
	snprintf(user, sizeof(user), "%s", ctx->who.username);
	rv_ratelimit_addr_of_peer(ctx->peer ? ctx->peer : "", addr, sizeof(addr));
	grpc_status_code st = rv_ratelimit_admit(ctx->ctl->ratelimit, user, addr, "failed logins",
						 "user", msg, msglen);
	if (st != GRPC_STATUS_OK) {
		rv_users_free(u);
		return st;
	}
	struct rv_pwjob_args a = {.kind = RV_PWJOB_VERIFY,
				  .password = q->old_password,
				  .encoded = u->password_hash,
				  .req = req,
				  .step = passwd_step};
	if (ctx->ctl->ratelimit) {
		a.limit_user = user;
		a.limit_addr = addr;
		a.limit_what = "failed logins";
		a.limit_who = "user";
	}
	st = rv_pwjob_start(ctx, &a, resp, msg, msglen);
	rv_users_free(u);
	return st;
}

/* ---- ListDevices ------------------------------------------------------------------ */

static Roomvpn__V1__DeviceTunnel *tunnel_msg(const struct rv_tunnel_status *t, bool *oom)
{
	Roomvpn__V1__DeviceTunnel *m = malloc(sizeof(*m));
	char ip[20];
	if (!m) {
		*oom = true;
		return NULL;
	}
	roomvpn__v1__device_tunnel__init(m);
	m->room = rv_rooms_strdup(t->room, oom);
	rv_ipam_format_addr(t->vip, ip, sizeof(ip));
	m->virtual_ip = rv_rooms_strdup(ip, oom);
	m->up = t->up;
	m->last_seen_unix_ms = t->last_seen_unix_ms;
	m->address = rv_rooms_strdup(t->outer, oom);
	return m;
}

/* The public view of device @id with its tunnels from @ts (NULL: skip it). */
static Roomvpn__V1__Device *device_msg(struct rv_rpc_ctx *ctx, uint64_t id,
				       const struct rv_tunnel_status *ts, int n_ts, bool *oom)
{
	Roomvpn__V1__DeviceRecord *d = NULL;
	char key[RV_KEY_MAX];
	rv_key_device(key, id);
	if (rv_store_get_msg(ctx->ctl->store, key, &roomvpn__v1__device_record__descriptor,
			     (ProtobufCMessage **)&d) != 0)
		return NULL;
	Roomvpn__V1__Device *m = d->revoked ? NULL : malloc(sizeof(*m));
	if (m) {
		roomvpn__v1__device__init(m);
		m->id = id;
		m->name = rv_rooms_strdup(d->name, oom);
		m->created_unix = d->created_ns / NS;
		m->expires_unix = d->expires_ns / NS;
		m->current = id == ctx->who.device_id;
		m->tunnels = calloc(n_ts > 0 ? (size_t)n_ts : 1, sizeof(*m->tunnels));
		*oom |= !m->tunnels;
		for (int i = 0; m->tunnels && i < n_ts; i++) {
			if (ts[i].device_id != id)
				continue;
			Roomvpn__V1__DeviceTunnel *t = tunnel_msg(&ts[i], oom);
			if (t)
				m->tunnels[m->n_tunnels++] = t;
			if (ts[i].last_seen_unix_ms > m->last_seen_unix_ms)
				m->last_seen_unix_ms = ts[i].last_seen_unix_ms;
		}
	} else if (!d->revoked) {
		*oom = true;
	}
	roomvpn__v1__device_record__free_unpacked(d, NULL);
	return m;
}

grpc_status_code rv_devices_list_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				     ProtobufCMessage **resp, char *msg, size_t msglen)
{
	struct dev_ids ids = {0};
	struct rv_tunnel_status *ts = NULL;
	bool dp_ok, oom = false;
	(void)req;

	if (device_ids(ctx->ctl->store, ctx->who.user_id, &ids) < 0) {
		free(ids.v);
		return rv_rooms_store_error(msg, msglen);
	}
	int n_ts = rv_tunnels_status(false, ctx->who.user_id, &ts, &dp_ok);
	Roomvpn__V1__ListDevicesResponse *r = malloc(sizeof(*r));
	if (r) {
		roomvpn__v1__list_devices_response__init(r);
		*resp = &r->base; /* the server frees it on any status */
		r->devices = calloc(ids.n ? ids.n : 1, sizeof(*r->devices));
	}
	for (size_t i = 0; r && r->devices && i < ids.n; i++) {
		Roomvpn__V1__Device *m = device_msg(ctx, ids.v[i], ts, n_ts, &oom);
		if (m)
			r->devices[r->n_devices++] = m;
	}
	free(ts);
	free(ids.v);
	return r && r->devices && !oom ? GRPC_STATUS_OK : rv_rooms_oom(msg, msglen);
}

/* ---- RenameDevice / RevokeDevice -------------------------------------------------- */

static grpc_status_code not_yours(uint64_t dev, int rc, char *msg, size_t msglen)
{
	if (rc < 0)
		return rv_rooms_store_error(msg, msglen);
	snprintf(msg, msglen, "you have no device %llu (or it is revoked)",
		 (unsigned long long)dev);
	return GRPC_STATUS_NOT_FOUND;
}

grpc_status_code rv_devices_rename_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				       ProtobufCMessage **resp, char *msg, size_t msglen)
{
	const Roomvpn__V1__RenameDeviceRequest *q = (const void *)req;
	bool oom = false;
	snprintf(ctx->target, sizeof(ctx->target), "device:%llu", (unsigned long long)q->device_id);
	if (!q->name[0] || strlen(q->name) > 63) {
		snprintf(msg, msglen, "a device name is 1 to 63 bytes");
		return GRPC_STATUS_INVALID_ARGUMENT;
	}
	int rc = rv_auth_device_update(ctx->ctl, ctx->who.user_id, q->device_id, q->name, false);
	if (rc != 0)
		return not_yours(q->device_id, rc, msg, msglen);
	Roomvpn__V1__Device *m = device_msg(ctx, q->device_id, NULL, 0, &oom);
	if (!m)
		return rv_rooms_oom(msg, msglen);
	*resp = &m->base;
	return oom ? rv_rooms_oom(msg, msglen) : GRPC_STATUS_OK;
}

grpc_status_code rv_devices_revoke_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				       ProtobufCMessage **resp, char *msg, size_t msglen)
{
	const Roomvpn__V1__RevokeDeviceRequest *q = (const void *)req;
	snprintf(ctx->target, sizeof(ctx->target), "device:%llu", (unsigned long long)q->device_id);
	int rc = revoke(ctx->ctl, ctx->who.user_id, q->device_id);
	if (rc != 0)
		return not_yours(q->device_id, rc, msg, msglen);
	return rv_rooms_empty_reply(resp, msg, msglen);
}
