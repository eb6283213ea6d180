/* Members of rooms (members.h): Leave, Kick, a deleted room's and a
 * removed user's memberships. Keys: docs/store.md. The Join is
 * members_join.c's, ListMembers member_list.c's. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ban_records.h"
#include "invite_records.h"
#include "log.h"
#include "members.h"
#include "members_internal.h"
#include "room_state.h"
#include "room_records.h"
#include "room_rules.h"
#include "store_keys.h"

typedef Roomvpn__V1__RoomRecord RoomRecord;
typedef Roomvpn__V1__MemberRecord MemberRecord;

int rv_members_is_member(struct rv_store *s, uint64_t room, uint64_t dev)
{
	char k[RV_KEY_MAX];
	void *v = NULL;
	size_t vl;
	if (!dev)
		return 0;
	int rc = rv_store_get(s, k, rv_key_member(k, room, dev), &v, &vl);
	free(v);
	return rc < 0 ? -1 : rc == 0;
}

/* ---- removed memberships --------------------------------------------------- */

static void removed_add(struct rv_members_removed *rm, uint64_t room, uint64_t dev)
{
	if (rm->n == rm->cap) {
		size_t cap = rm->cap ? rm->cap * 2 : 16;
		void *p = realloc(rm->v, cap * sizeof(*rm->v));
		if (!p) {
			rv_log(RV_LOG_WARN,
			       "rooms: out of memory: a removed member's tunnel stays");
			return;
		}
		rm->v = p;
		rm->cap = cap;
	}
	rm->v[rm->n][0] = room;
	rm->v[rm->n][1] = dev;
	rm->n++;
}

void rv_members_removed_report(struct rv_control *ctl, struct rv_members_removed *rm)
{
	for (size_t i = 0; ctl->on_member_removed && i < rm->n; i++)
		ctl->on_member_removed(ctl, rm->v[i][0], rm->v[i][1]);
	for (size_t i = 0; i < rm->n; i++) /* once a room: names resolve anew */
		if (i == 0 || rm->v[i][0] != rm->v[i - 1][0])
			rv_room_rules_refresh(ctl, rm->v[i][0]);
	free(rm->v);
	*rm = (struct rv_members_removed){0};
}

struct del_scan {
	struct rv_store_batch *b;
	struct rv_members_removed *rm; /* member keys go here too (NULL: not members) */
};

static int batch_delete_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct del_scan *d = arg;
	uint64_t room, dev;
	(void)v;
	(void)vl;
	rv_store_batch_delete(d->b, k, kl);
	if (d->rm && rv_key_member_parse(k, kl, &room, &dev) == 0)
		removed_add(d->rm, room, dev);
	return 0;
}

int rv_members_delete_room(struct rv_store *s, uint64_t room, struct rv_store_batch *b,
			   struct rv_members_removed *rm)
{
	char p[RV_KEY_MAX];
	size_t (*prefix[])(char *, uint64_t) = {rv_key_member_prefix, rv_key_addr_prefix,
						rv_key_device_addr_prefix};
	for (size_t i = 0; i < 3; i++) {
		struct del_scan d = {b, i == 0 ? rm : NULL};
		if (rv_store_scan_prefix(s, p, prefix[i](p, room), NULL, 0, batch_delete_cb, &d) <
		    0)
			return -1;
	}
	return rv_invite_records_delete_room(s, room, b) < 0 ||
		       rv_ban_records_delete_room(s, room, b) < 0
		   ? -1
		   : 0;
}

/* ---- shared with the Join (members_internal.h) ------------------------------------ */

grpc_status_code rv_members_room_gone(const RoomRecord *r, int rc, char *msg, size_t msglen)
{
	if (rc < 0)
		return rv_rooms_oom(msg, msglen);
	snprintf(msg, msglen, "room '%s' not found", r->name);
	return GRPC_STATUS_NOT_FOUND;
}

bool rv_members_has_rules(const RoomRecord *r)
{
	return r->rules_text && r->rules_text[0];
}

/* ---- Leave / Kick ---------------------------------------------------------------- */

/* Removes device @dev from room @room_name, with the device claimed. */
static grpc_status_code remove_member(struct rv_rpc_ctx *ctx, const char *room_name, uint64_t dev,
				      const char *not_member_fmt, char *msg, size_t msglen)
{
	struct rv_store *s = ctx->ctl->store;
	struct rv_room_state *rs = NULL;
	RoomRecord *r = NULL;
	char k[RV_KEY_MAX];

	grpc_status_code st = rv_rooms_find(ctx, room_name, &r, msg, msglen);
	if (st != GRPC_STATUS_OK)
		return st;
	int rc = rv_room_state_claim(r->id, dev, &rs);
	if (rc != 0) {
		st = rv_members_room_gone(r, rc, msg, msglen);
		goto out;
	}
	size_t kl = rv_key_member(k, r->id, dev);
	if (!rv_rooms_key_exists(s, k, kl)) {
		snprintf(msg, msglen, not_member_fmt, (unsigned long long)dev, r->name);
		st = GRPC_STATUS_NOT_FOUND;
	} else if (rv_store_delete(s, k, kl, true) < 0) {
		st = rv_rooms_store_error(msg, msglen);
	} else {
		rv_room_state_members_add(rs, -1);
	}
	rv_room_state_release(rs, dev);
	if (st == GRPC_STATUS_OK && ctx->ctl->on_member_removed)
		ctx->ctl->on_member_removed(ctx->ctl, r->id, dev);
	if (st == GRPC_STATUS_OK && rv_members_has_rules(r)) /* its names match it no more */
		rv_room_rules_refresh(ctx->ctl, r->id);
out:
	roomvpn__v1__room_record__free_unpacked(r, NULL);
	return st;
}

grpc_status_code rv_rooms_leave_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				    ProtobufCMessage **resp, char *msg, size_t msglen)
{
	const Roomvpn__V1__LeaveRoomRequest *q = (const void *)req;
	grpc_status_code st = remove_member(ctx, q->room, ctx->who.device_id,
					    "this device (%llu) is not in room '%s'", msg, msglen);
	return st == GRPC_STATUS_OK ? rv_rooms_empty_reply(resp, msg, msglen) : st;
}

grpc_status_code rv_rooms_kick_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				   ProtobufCMessage **resp, char *msg, size_t msglen)
{
	const Roomvpn__V1__KickRequest *q = (const void *)req;
	grpc_status_code st = remove_member(ctx, q->room, q->device_id,
					    "device %llu is not in room '%s'", msg, msglen);
	snprintf(ctx->target, sizeof(ctx->target), "%.100s/device/%llu", q->room,
		 (unsigned long long)q->device_id);
	return st == GRPC_STATUS_OK ? rv_rooms_empty_reply(resp, msg, msglen) : st;
}

/* ---- removing matching memberships ----------------------------------------------- */

struct match_members {
	struct rv_members_removed found; /* the matching memberships */
	uint64_t user_id, device_id;	 /* 0: any */
};

static int match_members_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct match_members *mm = arg;
	uint64_t room, dev;
	MemberRecord *mr = roomvpn__v1__member_record__unpack(NULL, vl, v);
	if (mr && (!mm->user_id || mr->user_id == mm->user_id) &&
	    (!mm->device_id || mr->device_id == mm->device_id) &&
	    rv_key_member_parse(k, kl, &room, &dev) == 0)
		removed_add(&mm->found, room, dev);
	if (mr)
		roomvpn__v1__member_record__free_unpacked(mr, NULL);
	return 0;
}

/* One batch, each membership claimed while it is written. */
int rv_members_remove(struct rv_control *ctl, uint64_t room, uint64_t user_id, uint64_t device_id)
{
	struct match_members mm = {.user_id = user_id, .device_id = device_id};
	struct rv_members_removed rm = {0};
	struct rv_room_state **held = NULL;
	struct rv_store_batch *b = rv_store_batch_new();
	char k[RV_KEY_MAX], p[RV_KEY_MAX];
	size_t n = 0, pl = room ? rv_key_member_prefix(p, room) : 2;
	int ret = 0;

	if (!room)
		memcpy(p, RV_KEY_MEMBER_PREFIX, 3);
	if (!b || rv_store_scan_prefix(ctl->store, p, pl, NULL, 0, match_members_cb, &mm) < 0)
		goto fail;
	held = calloc(mm.found.n ? mm.found.n : 1, sizeof(*held));
	if (!held)
		goto fail;
	for (; n < mm.found.n; n++) {
		uint64_t rid = mm.found.v[n][0], dev = mm.found.v[n][1];
		if (rv_room_state_claim(rid, dev, &held[n]) != 0) {
			held[n] = NULL; /* the room is being deleted with its members */
			continue;
		}
		rv_store_batch_delete(b, k, rv_key_member(k, rid, dev));
		removed_add(&rm, rid, dev);
	}
	if (rm.n && rv_store_batch_commit(ctl->store, b, true) < 0) {
		rm.n = 0;
		goto fail;
	}
	goto out;
fail:
	ret = -1;
	rv_log(RV_LOG_ERROR,
	       "rooms: cannot remove the memberships of user %" PRIu64 " device %" PRIu64, user_id,
	       device_id);
out:
	for (size_t i = 0; i < n; i++) {
		if (!held[i])
			continue;
		rv_room_state_members_forget(mm.found.v[i][0]);
		rv_room_state_release(held[i], mm.found.v[i][1]);
	}
	free(held);
	free(mm.found.v);
	if (rm.n)
		rv_log(RV_LOG_INFO, "rooms: %zu membership(s) of user %" PRIu64 " removed", rm.n,
		       user_id);
	rv_members_removed_report(ctl, &rm);
	rv_store_batch_free(b);
	return ret;
}

/* A deleted or disabled user's devices leave every room. */
static void hook_user_removed(struct rv_control *ctl, uint64_t user_id)
{
	rv_members_remove(ctl, 0, user_id, 0);
}

void rv_members_init(struct rv_control *ctl)
{
	ctl->on_user_removed = hook_user_removed;
}

void rv_members_fini(struct rv_control *ctl)
{
	ctl->on_user_removed = NULL;
}
