/* Rooms and their members: the RoomService handlers and the room/member
 * records in the store (r/, rn/, rs/, m/, ip/, ipd/; docs/store.md).
 * Every change holds the rooms lock from its checks to its (synced) batch,
 * so two Creates can't take the same name or subnet and two Joins can't
 * take the same address. */
#ifndef RV_ROOMS_H
#define RV_ROOMS_H

#include <stdbool.h>
#include <stdint.h>

#include "control.h"
#include "roomvpn/v1/room_store.pb-c.h"
#include "roomvpn/v1/rooms.pb-c.h"

#define RV_ROOM_NAME_MAX      63
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

/* Load a room named as the API names it: its name, or "#<decimal id>"
 * (no name can start with '#'; a name is never read as an id). 0 and the
 * record (free with roomvpn__v1__room_record__free_unpacked), 1 absent, -1
 * on error. */
int rv_rooms_load(struct rv_store *s, const char *room, Roomvpn__V1__RoomRecord **out);
/* Load a room by its id (internal callers that hold one). Same returns. */
int rv_rooms_load_id(struct rv_store *s, uint64_t id, Roomvpn__V1__RoomRecord **out);

/* RV_SCOPE_ROOM_OWNER extractor: the `room` field of every room request. */
const char *rv_rooms_room_of(const ProtobufCMessage *req);

/* RoomService handlers (rows in methods.c). */
grpc_status_code rv_rooms_create_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				     ProtobufCMessage **resp, char *msg, size_t msglen);
grpc_status_code rv_rooms_update_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				     ProtobufCMessage **resp, char *msg, size_t msglen);
grpc_status_code rv_rooms_delete_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				     ProtobufCMessage **resp, char *msg, size_t msglen);
grpc_status_code rv_rooms_get_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				  ProtobufCMessage **resp, char *msg, size_t msglen);
grpc_status_code rv_rooms_list_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				   ProtobufCMessage **resp, char *msg, size_t msglen);
grpc_status_code rv_rooms_join_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				   ProtobufCMessage **resp, char *msg, size_t msglen);
grpc_status_code rv_rooms_leave_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				    ProtobufCMessage **resp, char *msg, size_t msglen);
grpc_status_code rv_rooms_list_members_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
					   ProtobufCMessage **resp, char *msg, size_t msglen);
grpc_status_code rv_rooms_kick_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
				   ProtobufCMessage **resp, char *msg, size_t msglen);

#endif
