/* The Join of a device into a room (members.h; the rest of the members
 * is members.c's). Keys: docs/store.md.
 *
 * A Join reads the room (rooms.c) and, with the device claimed in its
 * room's state (room_state.h), the member key and the device's address
 * reservation; a new member's address comes from the room's bitmap in
 * memory (a full room reclaims a departed device's address); everything
 * is written in one synced batch. No lock is held across the store, so
 * concurrent Joins share RocksDB's group commit. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "clock.h"
#include "events.h"
#include "ipam.h"
#include "room_prefix6.h"
#include "members.h"
#include "members_internal.h"
#include "prefetch.h"
#include "pwjob.h"
#include "ratelimit.h"
#include "room_net.h"
#include "room_state.h"
#include "room_records.h"
#include "room_rules.h"
#include "store_keys.h"
#include "tunnels.h"

typedef Roomvpn__V1__RoomRecord RoomRecord;
typedef Roomvpn__V1__MemberRecord MemberRecord;

/* ---- addresses --------------------------------------------------------------- */

struct reclaim_scan {
	struct rv_store *s;
	struct rv_room_state *rs;
	uint64_t room;
	int rc;		 /* -1: a store error */
	uint32_t victim; /* reclaimable address (0: none) */
	uint64_t victim_dev;
};

/* ip/<room>/<addr hex> -> device id hex: the first address of a device
 * that is no longer a member and has no change in flight. */
static int reclaim_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct reclaim_scan *a = arg;
	uint32_t addr;
	uint64_t dev;
	if (rv_key_addr_parse(k, kl, &addr) < 0 || rv_key_parse_id(v, vl, &dev) < 0)
		return 0;
	if (rv_room_state_claimed_locked(a->rs, dev))
		return 0;
	int m = rv_members_is_member(a->s, a->room, dev);
	if (m < 0) {
		a->rc = -1;
		return 1;
	}
	if (m)
		return 0;
	a->victim = addr;
	a->victim_dev = dev;
	return 1;
}

/* A full room: the lowest address reserved for a device that left, its
 * old owner's ipd/ key deleted in @b. Room mutex held (no claim starts
 * until the batch is committed). 0, 1 if every address is a member's, -1. */
static int reclaim_addr(struct rv_store *s, struct rv_room_state *rs, uint64_t room,
			struct rv_store_batch *b, uint32_t *addr)
{
	struct reclaim_scan a = {.s = s, .rs = rs, .room = room};
	char p[RV_KEY_MAX], k[RV_KEY_MAX];
	if (rv_store_scan_prefix(s, p, rv_key_addr_prefix(p, room), NULL, 0, reclaim_cb, &a) < 0 ||
	    a.rc < 0)
		return -1;
	if (!a.victim)
		return 1;
	*addr = a.victim;
	rv_store_batch_delete(b, k, rv_key_device_addr(k, room, a.victim_dev));
	return 0;
}

/* ---- Join ------------------------------------------------------------------------ */

/* What a Join reads, in one round trip (docs/etcd.md): the room record and,
 * for the caller's device, its membership, the address an earlier Join kept
 * for it and the bans of its user and itself. */
enum { JR_ROOM, JR_MEMBER, JR_KEPT, JR_BAN_USER, JR_BAN_DEVICE, JR_N };

struct join_reads {
	RoomRecord *r; /* NULL: no such room (any more) */
	bool member;
	uint32_t member_addr;
	bool kept; /* ipd/: the address of an earlier Join (ip/ may have moved on) */
	uint32_t kept_addr;
	bool banned;
};

static void join_keys(char k[JR_N][RV_KEY_MAX], struct rv_store_read *rd, uint64_t room,
		      uint64_t user, uint64_t dev)
{
	size_t len[JR_N] = {
	    [JR_ROOM] = rv_key_room_by_id(k[JR_ROOM], room),
	    [JR_MEMBER] = rv_key_member(k[JR_MEMBER], room, dev),
	    [JR_KEPT] = rv_key_device_addr(k[JR_KEPT], room, dev),
	    [JR_BAN_USER] = rv_key_ban_user(k[JR_BAN_USER], room, user),
	    [JR_BAN_DEVICE] = rv_key_ban_device(k[JR_BAN_DEVICE], room, dev),
	};
	for (int i = 0; i < JR_N; i++)
		rd[i] = (struct rv_store_read){.key = k[i], .klen = len[i]};
}

/* The reads of the caller's device in @room: those the token check
 * prefetched, the others in one get_many. 0, or -1 on a store error. */
static int join_read(struct rv_rpc_ctx *ctx, uint64_t room, struct join_reads *jr)
{
	char k[JR_N][RV_KEY_MAX];
	struct rv_store_read rd[JR_N];
	int rc = 0;

	*jr = (struct join_reads){0};
	join_keys(k, rd, room, ctx->who.user_id, ctx->who.device_id);
	if (rv_prefetch_read(ctx->ctl->store, ctx->pre, rd, JR_N) < 0)
		return -1;
	if (rd[JR_ROOM].found &&
	    !(jr->r = roomvpn__v1__room_record__unpack(NULL, rd[JR_ROOM].vlen, rd[JR_ROOM].val)))
		rc = -1;
	if (rd[JR_MEMBER].found) {
		MemberRecord *mr =
		    roomvpn__v1__member_record__unpack(NULL, rd[JR_MEMBER].vlen, rd[JR_MEMBER].val);
		jr->member = true;
		jr->member_addr = mr ? mr->virtual_ip : 0;
		if (mr)
			roomvpn__v1__member_record__free_unpacked(mr, NULL);
		if (!jr->member_addr)
			rc = -1;
	}
	jr->kept = rd[JR_KEPT].found &&
		   rv_key_parse_addr(rd[JR_KEPT].val, rd[JR_KEPT].vlen, &jr->kept_addr) == 0;
	jr->banned = rd[JR_BAN_USER].found || (ctx->who.device_id && rd[JR_BAN_DEVICE].found);
	rv_store_reads_free(rd, JR_N);
	return rc;
}

static void join_reads_free(struct join_reads *jr)
{
	if (jr->r)
		roomvpn__v1__room_record__free_unpacked(jr->r, NULL);
	jr->r = NULL;
}

/* The claim the Join's prefetch took (prefetch.h). */
struct join_hold {
	struct rv_room_state *rs;
	uint64_t room, dev;
};

static void join_unhold(void *arg)
{
	struct join_hold *h = arg;
	rv_room_state_release(h->rs, h->dev);
	free(h);
}

void rv_members_join_prefetch(const struct rv_principal *who, const ProtobufCMessage *req,
			      struct rv_prefetch *p)
{
	const Roomvpn__V1__JoinRoomRequest *q = (const void *)req;
	char k[JR_N][RV_KEY_MAX];
	struct rv_store_read rd[JR_N];
	struct join_hold *h;
	uint64_t room;

	if (!who->device_id || !rv_rooms_id_hint(q->room, &room) || !(h = malloc(sizeof(*h))))
		return;
	/* claimed first: nothing of (room, device) changes here after the reads */
	if (rv_room_state_claim(room, who->device_id, &h->rs) != 0) {
		free(h);
		return;
	}
	h->room = room;
	h->dev = who->device_id;
	p->hold = h;
	p->unhold = join_unhold;
	join_keys(k, rd, room, who->user_id, who->device_id);
	for (int i = 0; i < JR_N; i++)
		rv_prefetch_add(p, rd[i].key, rd[i].klen);
}

/* Prefetched values hold only under the claim they were read in. */
static void drop_prefetch(struct rv_rpc_ctx *ctx)
{
	rv_prefetch_free(ctx->pre);
	ctx->pre = NULL;
}

/* The claim of (@room, caller's device): the prefetch's if it took this
 * one (its reads then stand), else a new one. 0, 1 room deleted, -1. */
static int join_claim(struct rv_rpc_ctx *ctx, uint64_t room, struct rv_room_state **rs)
{
	struct rv_prefetch *p = ctx->pre;
	struct join_hold *h = p && p->unhold == join_unhold ? p->hold : NULL;
	if (h && h->room == room && h->dev == ctx->who.device_id) {
		p->hold = NULL;
		*rs = h->rs;
		free(h);
		return 0;
	}
	drop_prefetch(ctx); /* none, or a stale name hint's: another room */
	return rv_room_state_claim(room, ctx->who.device_id, rs);
}

/* The room @ref names with the caller's reads in it, claimed: first under
 * the id hint (prefetched: no round trip), else through the name index. */
static grpc_status_code join_prepare(struct rv_rpc_ctx *ctx, const char *ref,
				     struct rv_room_state **rs, struct join_reads *jr, char *msg,
				     size_t msglen)
{
	RoomRecord *r = NULL;
	uint64_t id;

	*jr = (struct join_reads){0};
	snprintf(ctx->target, sizeof(ctx->target), "%s", ref);
	if (ref[0] && rv_rooms_id_hint(ref, &id)) {
		int rc = join_claim(ctx, id, rs);
		if (rc < 0)
			return rv_rooms_oom(msg, msglen);
		if (rc == 0 && join_read(ctx, id, jr) < 0) {
			rv_room_state_release(*rs, ctx->who.device_id);
			join_reads_free(jr);
			return rv_rooms_store_error(msg, msglen);
		}
		if (rc == 0 && jr->r && rv_rooms_ref_matches(jr->r, ref))
			return GRPC_STATUS_OK;
		if (rc == 0)
			rv_room_state_release(*rs, ctx->who.device_id);
		join_reads_free(jr);
	}
	for (;;) {
		grpc_status_code st = rv_rooms_find(ctx, ref, &r, msg, msglen);
		if (st != GRPC_STATUS_OK)
			return st;
		int rc = join_claim(ctx, r->id, rs);
		if (rc != 0) {
			st = rv_members_room_gone(r, rc, msg, msglen);
			roomvpn__v1__room_record__free_unpacked(r, NULL);
			return st;
		}
		rc = join_read(ctx, r->id, jr);
		roomvpn__v1__room_record__free_unpacked(r, NULL);
		if (rc == 0 && jr->r)
			return GRPC_STATUS_OK;
		rv_room_state_release(*rs, ctx->who.device_id);
		join_reads_free(jr);
		if (rc < 0)
			return rv_rooms_store_error(msg, msglen);
		/* deleted since the index was read: look again (not found then) */
	}
}

/* After a conflict: is the caller a member now (another replica's Join),
 * and does @addr belong to someone else? 0, or -1 on a store error. */
static int after_conflict(struct rv_store *s, uint64_t room, uint64_t dev, uint32_t addr,
			  bool *member, uint32_t *member_addr, bool *addr_taken)
{
	char km[RV_KEY_MAX], ka[RV_KEY_MAX];
	struct rv_store_read rd[2] = {{.key = km, .klen = rv_key_member(km, room, dev)},
				      {.key = ka, .klen = rv_key_addr(ka, room, addr)}};
	if (rv_store_get_many(s, rd, 2) < 0)
		return -1;
	*member = rd[0].found;
	*member_addr = 0;
	if (rd[0].found) {
		MemberRecord *mr = roomvpn__v1__member_record__unpack(NULL, rd[0].vlen, rd[0].val);
		*member_addr = mr ? mr->virtual_ip : 0;
		if (mr)
			roomvpn__v1__member_record__free_unpacked(mr, NULL);
	}
	uint64_t owner = 0;
	*addr_taken =
	    rd[1].found && !(rv_key_parse_id(rd[1].val, rd[1].vlen, &owner) == 0 && owner == dev);
	rv_store_reads_free(rd, 2);
	return *member && !*member_addr ? -1 : 0;
}

/* One attempt at the member's batch: its record, its address (the one kept
 * from an earlier Join if @kept, else a new one from the bitmap, else a
 * reclaimed one) and the Join's audit record. On a shared store (several
 * replicas) the batch expects the member key and a new address absent and
 * a kept address still the device's: 0 written, RV_STORE_CONFLICT, 1 the
 * room is full, -1 an error. *fresh: the address came from the bitmap. */
static int add_member_once(struct rv_rpc_ctx *ctx, struct rv_room_state *rs, const RoomRecord *r,
			   bool kept, uint32_t *addr, bool *fresh)
{
	struct rv_store *s = ctx->ctl->store;
	struct rv_cidr net = {r->subnet_addr, (uint8_t)r->subnet_prefix};
	uint64_t dev = ctx->who.device_id;
	bool shared = rv_store_shared(s), reclaiming = false;
	MemberRecord mr = ROOMVPN__V1__MEMBER_RECORD__INIT;
	char k[RV_KEY_MAX], v[20];
	int rc = 0;

	*fresh = false;
	struct rv_store_batch *b = rv_store_batch_new();
	if (!b)
		return -1;
	if (kept) { /* still this device's: ip/ may have been reclaimed for another */
		rv_store_batch_expect(b, k, rv_key_addr(k, r->id, *addr), v,
				      rv_key_id_value(v, dev));
	} else {
		rc = rv_room_state_addr_get(rs, s, r->id, &net, addr);
		*fresh = rc == 0;
		if (rc == 1) { /* full: held until the batch is in (room_state.h) */
			rv_room_state_lock(rs);
			reclaiming = true;
			rc = reclaim_addr(s, rs, r->id, b, addr);
		}
		if (rc == 0 && shared)
			rv_store_batch_expect(b, k, rv_key_addr(k, r->id, *addr), NULL, 0);
		if (rc == 0) {
			rv_store_batch_put(b, k, rv_key_device_addr(k, r->id, dev), v,
					   rv_key_addr_value(v, *addr));
			rv_store_batch_put(b, k, rv_key_addr(k, r->id, *addr), v,
					   rv_key_id_value(v, dev));
		}
	}
	if (rc == 0 && shared)
		rv_store_batch_expect(b, k, rv_key_member(k, r->id, dev), NULL, 0);
	if (rc == 0) {
		mr.device_id = dev;
		mr.user_id = ctx->who.user_id;
		mr.username = ctx->who.username;
		mr.virtual_ip = *addr;
		uint8_t vip6[16]; /* mirrors the IPv4 address (ipam6.h): same batch */
		if (rv_room_prefix6_vip6(r, *addr, vip6)) {
			mr.vip6.data = vip6;
			mr.vip6.len = sizeof(vip6);
		}
		mr.joined_ns = rv_clock_real_ns();
		rc = rv_rooms_batch_put_msg(b, k, rv_key_member(k, r->id, dev), &mr.base) < 0 ||
			     rv_audit_batch_add(ctx, b) < 0
			 ? -1
			 : rv_store_batch_commit(s, b, true);
	}
	if (reclaiming)
		rv_room_state_unlock(rs);
	rv_store_batch_free(b);
	return rc;
}

/* Writes the member record of the caller's device (claimed in @rs) and,
 * unless it keeps one, a new address, in one synced batch with the audit
 * record; on a shared store retried on a conflict (another replica took
 * the address, or joined this device first: then *added stays false and
 * @addr is that membership's). */
static grpc_status_code add_member(struct rv_rpc_ctx *ctx, struct rv_room_state *rs,
				   const RoomRecord *r, const struct join_reads *jr, uint32_t *addr,
				   bool *added, char *msg, size_t msglen)
{
	struct rv_cidr net = {r->subnet_addr, (uint8_t)r->subnet_prefix};
	bool kept = jr->kept;

	for (int attempt = 0; attempt < 16; attempt++) {
		bool fresh, member, taken;
		uint32_t member_addr;
		if (kept)
			*addr = jr->kept_addr;
		int rc = add_member_once(ctx, rs, r, kept, addr, &fresh);
		if (rc == 0) {
			ctx->audited = true;
			rv_room_state_members_add(rs, 1);
			*added = true;
			return GRPC_STATUS_OK;
		}
		if (rc == 1) {
			char sn[24];
			rv_ipam_format_cidr(&net, sn, sizeof(sn));
			snprintf(msg, msglen,
				 "room '%s' is full: all %u device addresses of %s are in use",
				 r->name, rv_ipam_hosts_capacity(&net), sn);
			return GRPC_STATUS_RESOURCE_EXHAUSTED;
		}
		if (rc == RV_STORE_CONFLICT &&
		    after_conflict(ctx->ctl->store, r->id, ctx->who.device_id, *addr, &member,
				   &member_addr, &taken) == 0) {
			if (fresh && !taken) /* not the address's fault: give it back */
				rv_room_state_addr_put(rs, *addr);
			if (member) { /* joined meanwhile (another replica) */
				*addr = member_addr;
				return GRPC_STATUS_OK;
			}
			/* a taken fresh address stays taken in the bitmap; another
			 * replica's: learn all of theirs at once */
			if (!(fresh && taken) ||
			    rv_room_state_addr_refresh(rs, ctx->ctl->store, r->id, &net) == 0) {
				kept = kept && !taken;
				continue;
			}
			fresh = false;
		}
		if (fresh)
			rv_room_state_addr_put(rs, *addr);
		rv_log(RV_LOG_ERROR,
		       "rooms: Join of device %" PRIu64 " into '%s': store error (%s)",
		       ctx->who.device_id, r->name,
		       rc == RV_STORE_CONFLICT ? "re-reading after a conflict" : "writing");
		return rv_rooms_store_error(msg, msglen);
	}
	rv_log(RV_LOG_ERROR, "rooms: Join of device %" PRIu64 " into '%s': 16 conflicts in a row",
	       ctx->who.device_id, r->name);
	return rv_rooms_store_error(msg, msglen);
}

/* The Join of the caller's device into @r, claimed in @rs (released here)
 * with @jr read under the claim. Unless @pw_checked, a non-member of a room
 * with a password stops with PERMISSION_DENIED and *need_pw set. A banned
 * user or device is refused (bans.h). */
static grpc_status_code join_claimed(struct rv_rpc_ctx *ctx, struct rv_room_state *rs,
				     const RoomRecord *r, const struct join_reads *jr,
				     bool pw_checked, bool *need_pw, ProtobufCMessage **resp,
				     char *msg, size_t msglen)
{
	uint64_t dev = ctx->who.device_id;
	uint32_t addr = jr->member_addr;
	bool added = false;
	grpc_status_code st = GRPC_STATUS_OK;

	if (!jr->member && jr->banned) {
		snprintf(msg, msglen, "you are banned from room '%s': ask its owner", r->name);
		st = GRPC_STATUS_PERMISSION_DENIED;
	} else if (!jr->member && !pw_checked && r->password_hash && r->password_hash[0]) {
		*need_pw = true;
		snprintf(msg, msglen, "room '%s' needs a password", r->name);
		st = GRPC_STATUS_PERMISSION_DENIED;
	} else if (!jr->member) {
		st = add_member(ctx, rs, r, jr, &addr, &added, msg, msglen);
	} /* else already a member: the same answer again */
	rv_room_state_release(rs, dev);
	drop_prefetch(ctx);
	if (added && rv_members_has_rules(r)) /* its user's names match it */
		rv_room_rules_refresh(ctx->ctl, r->id);
	if (added)
		rv_events_presence(ctx->ctl, r->id, dev, ctx->who.username,
				   ROOMVPN__V1__PRESENCE__STATE__JOINED);
	if (st == GRPC_STATUS_OK) {
		Roomvpn__V1__JoinRoomResponse *m = rv_rooms_join_msg(ctx, r, addr);
		st = m ? GRPC_STATUS_OK : rv_rooms_oom(msg, msglen);
		if (m)
			*resp = &m->base;
	}
	return st;
}

/* The Join of the caller's device into @r (found already): claims, reads,
 * joins. */
static grpc_status_code join_room(struct rv_rpc_ctx *ctx, const RoomRecord *r, bool pw_checked,
				  bool *need_pw, ProtobufCMessage **resp, char *msg, size_t msglen)
{
	struct rv_room_state *rs;
	struct join_reads jr;

	int rc = join_claim(ctx, r->id, &rs);
	if (rc != 0)
		return rv_members_room_gone(r, rc, msg, msglen);
	rc = join_read(ctx, r->id, &jr);
	if (rc < 0 || !jr.r) {
		rv_room_state_release(rs, ctx->who.device_id);
		join_reads_free(&jr);
		return rc < 0 ? rv_rooms_store_error(msg, msglen)
			      : rv_members_room_gone(r, 1, msg, msglen);
	}
	grpc_status_code st =
	    join_claimed(ctx, rs, jr.r, &jr, pw_checked, need_pw, resp, msg, msglen);
	join_reads_free(&jr);
	return st;
}

grpc_status_code rv_members_join_checked(struct rv_rpc_ctx *ctx, const RoomRecord *r,
					 ProtobufCMessage **resp, char *msg, size_t msglen)
{
	bool need_pw = false;
	if (!ctx->who.device_id) {
		snprintf(msg, msglen, "this session has no device: log in with a device name");
		return GRPC_STATUS_FAILED_PRECONDITION;
	}
	return join_room(ctx, r, true, &need_pw, resp, msg, msglen);
}

/* Room-password guesses are limited like logins (ratelimit.c), per user and
 * room ("room/<name>/<user>": names have no '/') and per source address. */
static void limiter_key(const struct rv_rpc_ctx *ctx, char *key, size_t len, char *addr,
			size_t addrlen)
{
	snprintf(key, len, "room/%.63s/%.63s", ctx->target, ctx->who.username);
	rv_ratelimit_addr_of_peer(ctx->peer ? ctx->peer : "", addr, addrlen);
}

/* After the room password was checked on the pool. */
static grpc_status_code join_pw_step(struct rv_pwjob *j, ProtobufCMessage **resp, char *msg,
				     size_t msglen)
{
	const Roomvpn__V1__JoinRoomRequest *q = (const void *)j->req;
	RoomRecord *r = NULL;
	bool need_pw = false;
	if (j->verdict < 0) /* refused by the limiter: its message */
		return GRPC_STATUS_RESOURCE_EXHAUSTED;
	if (j->verdict > 0) {
		snprintf(msg, msglen, "wrong room password");
		return GRPC_STATUS_PERMISSION_DENIED;
	}
	grpc_status_code st = rv_rooms_find(j->ctx, q->room, &r, msg, msglen);
	if (st == GRPC_STATUS_OK)
		st = join_room(j->ctx, r, true, &need_pw, resp, msg, msglen);
	if (r)
		roomvpn__v1__room_record__free_unpacked(r, NULL);
	return st;
}

/* Checks the room password on the pool (a guess of the limiter), then joins. */
static grpc_status_code join_with_password(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
					   const RoomRecord *r, ProtobufCMessage **resp, char *msg,
					   size_t msglen)
{
	const Roomvpn__V1__JoinRoomRequest *q = (const void *)req;
	char key[140], addr[64];
	if (!q->password[0])
		return GRPC_STATUS_PERMISSION_DENIED; /* join_room's message */
	/* The canonical name keys the guess limiter (not "name" vs "id"). */
	snprintf(ctx->target, sizeof(ctx->target), "%s", r->name);
	limiter_key(ctx, key, sizeof(key), addr, sizeof(addr));
	grpc_status_code st = rv_ratelimit_admit(
	    ctx->ctl->ratelimit, key, addr, "wrong room passwords", "user and room", msg, msglen);
	if (st != GRPC_STATUS_OK)
		return st;
	struct rv_pwjob_args a = {.kind = RV_PWJOB_VERIFY,
				  .password = q->password,
				  .encoded = r->password_hash,
				  .req = req,
				  .step = join_pw_step};
	if (ctx->ctl->ratelimit) {
		a.limit_user = key;
		a.limit_addr = addr;
		a.limit_what = "wrong room passwords";
		a.limit_who = "user and room";
	}
	return rv_pwjob_start(ctx, &a, resp, msg, msglen);
}

grpc_status_code rv_rooms_join_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				   ProtobufCMessage **resp, char *msg, size_t msglen)
{
	const Roomvpn__V1__JoinRoomRequest *q = (const void *)req;
	struct rv_room_state *rs;
	struct join_reads jr;
	bool need_pw = false;

	if (!ctx->who.device_id) {
		snprintf(ctx->target, sizeof(ctx->target), "%s", q->room);
		snprintf(msg, msglen, "this session has no device: log in with a device name");
		return GRPC_STATUS_FAILED_PRECONDITION;
	}
	if (!q->room[0]) {
		snprintf(ctx->target, sizeof(ctx->target), "%s", q->room);
		snprintf(msg, msglen, "room is required (a room name, or #<id>)");
		return GRPC_STATUS_INVALID_ARGUMENT;
	}
	grpc_status_code st = join_prepare(ctx, q->room, &rs, &jr, msg, msglen);
	if (st != GRPC_STATUS_OK)
		return st;
	st = join_claimed(ctx, rs, jr.r, &jr, false, &need_pw, resp, msg, msglen);
	if (need_pw)
		st = join_with_password(ctx, req, jr.r, resp, msg, msglen);
	join_reads_free(&jr);
	return st;
}
