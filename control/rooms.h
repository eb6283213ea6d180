/* Rooms: the RoomService handlers and room records in the store (r/, rn/,
 * rs/; docs/store.md). rooms.c owns rooms (Create, Update, Delete, Get,
 * List); members.c owns members and their addresses (m/, ip/, ipd/: Join,
 * Leave, Kick, ListMembers). Create, Update and Delete hold the catalog
 * lock from their checks to their (synced) batch, so two Creates can't take
 * the same name or subnet; member changes take only their room's state
 * (room_state.h), so two Joins can't take the same address. */
#ifndef RV_ROOMS_H
#define RV_ROOMS_H

#include <stdbool.h>
#include <stdint.h>

#include "control.h"
#include "members.h"
#include "room_records.h"
#include "roomvpn/v1/room_store.pb-c.h"
#include "roomvpn/v1/rooms.pb-c.h"

#define RV_ROOM_KEY_LEN	      32
#define RV_ROOM_MTU_MIN	      576
#define RV_ROOM_MTU_MAX	      9000
#define RV_ROOM_KEEPALIVE_MAX 3600

/* Sets up IPAM from cfg.ipam_pool/ipam_room_prefix (ctl->ipam) and the
 * room_owner and on_user_removed hooks. 0, or -1 with a message naming the
 * bad key in @err. */
int rv_rooms_init(struct rv_control *ctl, char *err, size_t errlen);
void rv_rooms_fini(struct rv_control *ctl);

/* 1-63 chars of [A-Za-z0-9._-], the first a letter or digit. */
bool rv_rooms_valid_name(const char *name);

/* RV_SCOPE_ROOM_OWNER extractor: the `room` field of every room request. */
const char *rv_rooms_room_of(const ProtobufCMessage *req);

/* RoomService handlers (rows in methods.c): Create, Update, Delete, Get and
 * List here; Join, Leave, Kick and ListMembers in members.h. */
grpc_status_code rv_rooms_create_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				     ProtobufCMessage **resp, char *msg, size_t msglen);
grpc_status_code rv_rooms_update_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				     ProtobufCMessage **resp, char *msg, size_t msglen);
grpc_status_code rv_rooms_delete_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				     ProtobufCMessage **resp, char *msg, size_t msglen);
/* The public view of @r for the caller (the room key for members too);
 * NULL when out of memory. */
Roomvpn__V1__Room *rv_rooms_view(struct rv_rpc_ctx *ctx, const Roomvpn__V1__RoomRecord *r);

/* Get and List: room_list.c. */
grpc_status_code rv_rooms_get_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				  ProtobufCMessage **resp, char *msg, size_t msglen);
grpc_status_code rv_rooms_list_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				   ProtobufCMessage **resp, char *msg, size_t msglen);

#endif
