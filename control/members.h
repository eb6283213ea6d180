/* Members of rooms and their virtual IPs (m/, ip/, ipd/; docs/store.md)
 * and the RoomService handlers Join, Leave, Kick and ListMembers.
 * A Join reads the room and the device's membership and writes one synced
 * batch; member changes of different devices never wait for each other. */
#ifndef RV_MEMBERS_H
#define RV_MEMBERS_H

#include <stdint.h>

#include "control.h"
#include "roomvpn/v1/room_store.pb-c.h"
#include "roomvpn/v1/rooms.pb-c.h"
#include "store.h"

/* 1 if @dev is a member of @room, 0 if not, -1 on a store error. */
int rv_members_is_member(struct rv_store *s, uint64_t room, uint64_t dev);

/* (room, device) memberships a change removed, reported through
 * ctl->on_member_removed once the change is stored. */
struct rv_members_removed {
	uint64_t (*v)[2];
	size_t n, cap;
};
void rv_members_removed_report(struct rv_control *ctl, struct rv_members_removed *rm);

/* Every member and address key of room @room into @b (a room Delete; the
 * room is retired in room_state.h first); the members also into @rm. 0 or -1. */
int rv_members_delete_room(struct rv_store *s, uint64_t room, struct rv_store_batch *b,
			   struct rv_members_removed *rm);

/* Removes the memberships matching @room, @user_id and @device_id (0:
 * any; at least one of the last two set) in one synced batch and reports
 * them (their tunnels end with a Kick). 0 or -1 on a store error. */
int rv_members_remove(struct rv_control *ctl, uint64_t room, uint64_t user_id, uint64_t device_id);

/* Joins the caller's device into @r without a room password (an invite
 * was checked); bans still apply. Answers as Join. */
grpc_status_code rv_members_join_checked(struct rv_rpc_ctx *ctx, const Roomvpn__V1__RoomRecord *r,
					 ProtobufCMessage **resp, char *msg, size_t msglen);

/* Sets ctl->on_user_removed (a deleted or disabled user's devices leave
 * every room); rv_members_fini clears it. */
void rv_members_init(struct rv_control *ctl);
void rv_members_fini(struct rv_control *ctl);

/* Join's prefetch (prefetch.h): when the room's id is known without a
 * read (rv_rooms_id_hint), claims the caller's device in it and adds the
 * room, membership, kept address and ban keys, so that a Join makes one
 * read round trip and one write (docs/etcd.md). */
struct rv_prefetch;
void rv_members_join_prefetch(const struct rv_principal *who, const ProtobufCMessage *req,
			      struct rv_prefetch *p);

grpc_status_code rv_rooms_join_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				   ProtobufCMessage **resp, char *msg, size_t msglen);
grpc_status_code rv_rooms_leave_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				    ProtobufCMessage **resp, char *msg, size_t msglen);
grpc_status_code rv_rooms_list_members_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
					   ProtobufCMessage **resp, char *msg, size_t msglen);
grpc_status_code rv_rooms_kick_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				   ProtobufCMessage **resp, char *msg, size_t msglen);

#endif
