/* Room bans (bans.h): ban/<room>/u<user> and ban/<room>/d<device>, each a
 * BanRecord (room_store.proto; docs/store.md). Ban stores the record, then
 * removes the matching members through members.c (the kick path), so a
 * Join racing the Ban either sees the ban or is removed by it. */
#include "bans.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "ban_records.h"
#include "members.h"
#include "room_records.h"
#include "room_state.h"
#include "store_keys.h"
#include "users.h"

typedef Roomvpn__V1__BanRecord BanRecord;

/* The ban key a Ban/Unban request names: OK, or INVALID_ARGUMENT /
 * NOT_FOUND (no such user). Fills @rec's user or device. */
static grpc_status_code ban_key(struct rv_rpc_ctx *ctx, uint64_t room, const char *username,
				uint64_t device_id, BanRecord *rec, char *k, size_t *kl, char *msg,
				size_t msglen)
{
	if (!username[0] == !device_id) {
		snprintf(msg, msglen, "name exactly one of a username and a device id to ban");
		return GRPC_STATUS_INVALID_ARGUMENT;
	}
	if (device_id) {
		rec->device_id = device_id;
		*kl = rv_key_ban_device(k, room, device_id);
		return GRPC_STATUS_OK;
	}
	Roomvpn__V1__UserRecord *u = NULL;
	int rc = rv_users_get_by_name(ctx->ctl->store, username, &u);
	if (rc != 0) {
		snprintf(msg, msglen, rc < 0 ? "store error" : "no user '%.63s'", username);
		return rc < 0 ? GRPC_STATUS_INTERNAL : GRPC_STATUS_NOT_FOUND;
	}
	rec->user_id = u->id;
	*kl = rv_key_ban_user(k, room, u->id);
	rv_users_free(u);
	return GRPC_STATUS_OK;
}

static void set_target(struct rv_rpc_ctx *ctx, const char *room, const char *username,
		       uint64_t device_id)
{
	if (username[0])
		snprintf(ctx->target, sizeof(ctx->target), "%.60s/user/%.60s", room, username);
	else
		snprintf(ctx->target, sizeof(ctx->target), "%.100s/device/%llu", room,
			 (unsigned long long)device_id);
}

/* Ban and Unban name the same thing: the room (*r, NULL when not found),
 * the audit target, and the ban key of the user or device in @k. */
static grpc_status_code ban_target(struct rv_rpc_ctx *ctx, const char *room, const char *username,
				   uint64_t device_id, Roomvpn__V1__RoomRecord **r, BanRecord *rec,
				   char *k, size_t *kl, char *msg, size_t msglen)
{
	grpc_status_code st = rv_rooms_find(ctx, room, r, msg, msglen);
	if (st != GRPC_STATUS_OK)
		return st;
	set_target(ctx, room, username, device_id);
	return ban_key(ctx, (*r)->id, username, device_id, rec, k, kl, msg, msglen);
}

grpc_status_code rv_bans_ban_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				 ProtobufCMessage **resp, char *msg, size_t msglen)
{
	const Roomvpn__V1__BanRequest *q = (const void *)req;
	Roomvpn__V1__RoomRecord *r = NULL;
	BanRecord rec = ROOMVPN__V1__BAN_RECORD__INIT;
	char k[RV_KEY_MAX];
	size_t kl = 0;

	grpc_status_code st =
	    ban_target(ctx, q->room, q->username, q->device_id, &r, &rec, k, &kl, msg, msglen);
	if (!r)
		return st;
	if (st != GRPC_STATUS_OK)
		goto out;
	if (rec.user_id && rec.user_id == r->owner_id) {
		snprintf(msg, msglen, "the owner of room '%s' cannot be banned from it", r->name);
		st = GRPC_STATUS_FAILED_PRECONDITION;
		goto out;
	}
	rec.username = (char *)q->username;
	rec.created_ns = rv_clock_real_ns();
	rec.created_by = ctx->who.username;
	struct rv_store_batch *b = rv_store_batch_new();
	if (!b || rv_rooms_batch_put_msg(b, k, kl, &rec.base) < 0)
		st = rv_rooms_oom(msg, msglen);
	else if (rv_store_batch_commit(ctx->ctl->store, b, true) < 0)
		st = rv_rooms_store_error(msg, msglen);
	rv_store_batch_free(b);
	/* the kick: its members go now (the ban is stored first) */
	if (st == GRPC_STATUS_OK &&
	    rv_members_remove(ctx->ctl, r->id, rec.user_id, rec.device_id) < 0)
		st = rv_rooms_store_error(msg, msglen);
out:
	roomvpn__v1__room_record__free_unpacked(r, NULL);
	return st == GRPC_STATUS_OK ? rv_rooms_empty_reply(resp, msg, msglen) : st;
}

grpc_status_code rv_bans_unban_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				   ProtobufCMessage **resp, char *msg, size_t msglen)
{
	const Roomvpn__V1__UnbanRequest *q = (const void *)req;
	Roomvpn__V1__RoomRecord *r = NULL;
	BanRecord rec = ROOMVPN__V1__BAN_RECORD__INIT;
	char k[RV_KEY_MAX];
	size_t kl = 0;

	grpc_status_code st =
	    ban_target(ctx, q->room, q->username, q->device_id, &r, &rec, k, &kl, msg, msglen);
	if (!r)
		return st;
	if (st == GRPC_STATUS_OK && !rv_rooms_key_exists(ctx->ctl->store, k, kl)) {
		snprintf(msg, msglen, "%s is not banned from room '%s'",
			 q->username[0] ? q->username : "this device", r->name);
		st = GRPC_STATUS_NOT_FOUND;
	} else if (st == GRPC_STATUS_OK && rv_store_delete(ctx->ctl->store, k, kl, true) < 0) {
		st = rv_rooms_store_error(msg, msglen);
	}
	roomvpn__v1__room_record__free_unpacked(r, NULL);
	return st == GRPC_STATUS_OK ? rv_rooms_empty_reply(resp, msg, msglen) : st;
}

struct ban_list {
	Roomvpn__V1__ListBansResponse *resp;
	const char *room;
	size_t cap;
	bool oom;
};

static int list_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct ban_list *bl = arg;
	Roomvpn__V1__ListBansResponse *r = bl->resp;
	(void)k;
	(void)kl;
	if (r->n_bans == bl->cap) {
		size_t cap = bl->cap ? bl->cap * 2 : 8;
		void *p = realloc(r->bans, cap * sizeof(*r->bans));
		if (!p)
			return bl->oom = true;
		r->bans = p;
		bl->cap = cap;
	}
	BanRecord *rec = roomvpn__v1__ban_record__unpack(NULL, vl, v);
	Roomvpn__V1__Ban *b = rec ? malloc(sizeof(*b)) : NULL;
	if (b) {
		roomvpn__v1__ban__init(b);
		b->room = rv_rooms_strdup(bl->room, &bl->oom);
		b->user_id = rec->user_id;
		b->username = rv_rooms_strdup(rec->username, &bl->oom);
		b->device_id = rec->device_id;
		b->created_unix = rec->created_ns / 1000000000ull;
		b->created_by = rv_rooms_strdup(rec->created_by, &bl->oom);
		r->bans[r->n_bans++] = b;
	} else if (rec) {
		bl->oom = true;
	}
	if (rec)
		roomvpn__v1__ban_record__free_unpacked(rec, NULL);
	return bl->oom;
}

grpc_status_code rv_bans_list_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				  ProtobufCMessage **resp, char *msg, size_t msglen)
{
	const Roomvpn__V1__ListBansRequest *q = (const void *)req;
	Roomvpn__V1__RoomRecord *r = NULL;
	char p[RV_KEY_MAX];

	grpc_status_code st = rv_rooms_find(ctx, q->room, &r, msg, msglen);
	if (st != GRPC_STATUS_OK)
		return st;
	size_t pl = rv_key_ban_prefix(p, r->id);
	struct ban_list bl = {.resp = malloc(sizeof(*bl.resp)), .room = r->name};
	if (!bl.resp) {
		roomvpn__v1__room_record__free_unpacked(r, NULL);
		return rv_rooms_oom(msg, msglen);
	}
	roomvpn__v1__list_bans_response__init(bl.resp);
	*resp = &bl.resp->base; /* the server frees it on any status */
	if (rv_store_scan_prefix(ctx->ctl->store, p, pl, NULL, 0, list_cb, &bl) < 0)
		st = rv_rooms_store_error(msg, msglen);
	else if (bl.oom)
		st = rv_rooms_oom(msg, msglen);
	roomvpn__v1__room_record__free_unpacked(r, NULL);
	return st;
}
