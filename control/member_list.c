/* RoomService.ListMembers: a room's members with their virtual IPs and
 * presence (online, RTT, last seen: the tunnel registry and the data
 * plane's cached figures). The owner, an admin or a member may list them. */
#include <stdio.h>
#include <stdlib.h>

#include "ipam.h"
#include "room_prefix6.h"
#include "members.h"
#include "rooms.h"
#include "store_keys.h"
#include "tunnels.h"

typedef Roomvpn__V1__RoomRecord RoomRecord;
typedef Roomvpn__V1__MemberRecord MemberRecord;

struct members {
	Roomvpn__V1__ListMembersResponse *resp;
	const RoomRecord *room;
	size_t cap;
	bool oom;
};

static Roomvpn__V1__Member *member_msg(const RoomRecord *r, const MemberRecord *mr, bool *oom)
{
	Roomvpn__V1__Member *m = malloc(sizeof(*m));
	struct rv_tunnel_status ts;
	char buf[20];
	if (!m) {
		*oom = true;
		return NULL;
	}
	roomvpn__v1__member__init(m);
	m->device_id = mr->device_id;
	m->user_id = mr->user_id;
	m->username = rv_rooms_strdup(mr->username, oom);
	rv_ipam_format_addr(mr->virtual_ip, buf, sizeof(buf));
	m->virtual_ip = rv_rooms_strdup(buf, oom);
	char sub6[64], vip6[46], srv6[46];
	rv_room_prefix6_text(r, mr->virtual_ip, sub6, vip6, srv6);
	if (mr->vip6.len == 16 && sub6[0]) /* stored at Join (older members: derived) */
		rv_ipam6_format_addr(mr->vip6.data, vip6, sizeof(vip6));
	m->virtual_ip6 = rv_rooms_strdup(vip6, oom);
	m->joined_unix = mr->joined_ns / 1000000000ull;
	/* presence from the registry and the data plane's cached figures */
	if (rv_tunnels_status_of(r->id, mr->device_id, &ts)) {
		m->online = ts.up;
		m->rtt_us = (uint32_t)ts.rtt_us;
		m->last_seen_unix_ms = ts.last_seen_unix_ms;
	}
	return m;
}

static int members_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct members *ms = arg;
	Roomvpn__V1__ListMembersResponse *r = ms->resp;
	(void)k;
	(void)kl;
	if (r->n_members == ms->cap) {
		size_t cap = ms->cap ? ms->cap * 2 : 16;
		void *p = realloc(r->members, cap * sizeof(*r->members));
		if (!p) {
			ms->oom = true;
			return 1;
		}
		r->members = p;
		ms->cap = cap;
	}
	MemberRecord *mr = roomvpn__v1__member_record__unpack(NULL, vl, v);
	if (!mr)
		return 0;
	Roomvpn__V1__Member *m = member_msg(ms->room, mr, &ms->oom);
	roomvpn__v1__member_record__free_unpacked(mr, NULL);
	if (m)
		r->members[r->n_members++] = m;
	return ms->oom;
}

grpc_status_code rv_rooms_list_members_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
					   ProtobufCMessage **resp, char *msg, size_t msglen)
{
	const Roomvpn__V1__ListMembersRequest *q = (const void *)req;
	RoomRecord *r = NULL;
	char p[RV_KEY_MAX];

	grpc_status_code st = rv_rooms_find(ctx, q->room, &r, msg, msglen);
	if (st != GRPC_STATUS_OK)
		return st;
	/* scope: the owner, an admin, or a member (this device is in the room) */
	bool allowed = ctx->who.admin || ctx->who.user_id == r->owner_id ||
		       rv_members_is_member(ctx->ctl->store, r->id, ctx->who.device_id) == 1;
	size_t pl = rv_key_member_prefix(p, r->id);
	if (!allowed) {
		roomvpn__v1__room_record__free_unpacked(r, NULL);
		snprintf(msg, msglen,
			 "only the owner, an admin or a member may list the members of %s",
			 q->room);
		return GRPC_STATUS_PERMISSION_DENIED;
	}
	struct members ms = {.resp = malloc(sizeof(*ms.resp)), .room = r};
	if (!ms.resp) {
		roomvpn__v1__room_record__free_unpacked(r, NULL);
		return rv_rooms_oom(msg, msglen);
	}
	roomvpn__v1__list_members_response__init(ms.resp);
	*resp = &ms.resp->base; /* the server frees it on any status */
	int rc = rv_store_scan_prefix(ctx->ctl->store, p, pl, NULL, 0, members_cb, &ms);
	roomvpn__v1__room_record__free_unpacked(r, NULL);
	if (rc < 0)
		return rv_rooms_store_error(msg, msglen);
	return ms.oom ? rv_rooms_oom(msg, msglen) : GRPC_STATUS_OK;
}
