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

/* Looks the room a request names up; OK and *out, or INVALID_ARGUMENT /
 * NOT_FOUND / INTERNAL with a message. Sets ctx->target to @room. */
grpc_status_code rv_rooms_find(struct rv_rpc_ctx *ctx, const char *room,
			       Roomvpn__V1__RoomRecord **out, char *msg, size_t msglen);
/* The public view of a room (NULL: out of memory); its key only for the
 * owner, admins and members. @caller_member: whether the caller's device is
 * a member, -1 to look it up. */
Roomvpn__V1__Room *rv_rooms_msg(struct rv_rpc_ctx *ctx, const Roomvpn__V1__RoomRecord *r,
				int caller_member);

/* Small helpers of the room handlers. */
grpc_status_code rv_rooms_oom(char *msg, size_t msglen);
grpc_status_code rv_rooms_store_error(char *msg, size_t msglen);
grpc_status_code rv_rooms_empty_reply(ProtobufCMessage **resp, char *msg, size_t msglen);
char *rv_rooms_strdup(const char *s, bool *oom); /* "" for NULL; *oom on failure */
struct rv_store_batch;
int rv_rooms_batch_put_msg(struct rv_store_batch *b, const char *k, size_t kl,
			   const ProtobufCMessage *m); /* packs @m under @k: 0 or -1 */
bool rv_rooms_key_exists(struct rv_store *s, const char *k, size_t kl);

/* RoomService handlers (rows in methods.c): Create, Update, Delete, Get and
 * List in rooms.c; Join, Leave, Kick and ListMembers in members.c. */
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
