/* Room records read from the store (r/, rn/; docs/store.md), their public
 * view, and the small helpers every room handler (rooms.c, members.c)
 * answers with. */
#ifndef RV_ROOM_RECORDS_H
#define RV_ROOM_RECORDS_H

#include <stdbool.h>
#include <stdint.h>

#include "control.h"
#include "roomvpn/v1/room_store.pb-c.h"
#include "roomvpn/v1/rooms.pb-c.h"

#define RV_ROOM_NAME_MAX 63

struct rv_store;
struct rv_store_batch;

/* Load a room named as the API names it: its name, or "#<decimal id>"
 * (no name can start with '#'; a name is never read as an id). 0 and the
 * record (free with roomvpn__v1__room_record__free_unpacked), 1 absent, -1
 * on error. */
int rv_rooms_load(struct rv_store *s, const char *room, Roomvpn__V1__RoomRecord **out);
/* Load a room by its id (internal callers that hold one). Same returns. */
/* The id @room ("name" or "#<id>") names without reading the store: an id
 * reference, or a name looked up before. A hint only: check the record
 * read under it with rv_rooms_ref_matches. */
bool rv_rooms_id_hint(const char *room, uint64_t *id);
bool rv_rooms_ref_matches(const Roomvpn__V1__RoomRecord *r, const char *room);
int rv_rooms_load_id(struct rv_store *s, uint64_t id, Roomvpn__V1__RoomRecord **out);

/* Looks the room a request names up; OK and *out, or INVALID_ARGUMENT /
 * NOT_FOUND / INTERNAL with a message. Sets ctx->target to @room. */
/* The lock around a room record's read-modify-write (rooms.c and
 * room_rules.c). */
void rv_rooms_catalog_lock(void);
void rv_rooms_catalog_unlock(void);

grpc_status_code rv_rooms_find(struct rv_rpc_ctx *ctx, const char *room,
			       Roomvpn__V1__RoomRecord **out, char *msg, size_t msglen);
/* The public view of a room (NULL: out of memory); its key only for the
 * owner, admins and members (@caller_member: the caller's device is one). */
Roomvpn__V1__Room *rv_rooms_msg(struct rv_rpc_ctx *ctx, const Roomvpn__V1__RoomRecord *r,
				bool caller_member);

/* The answer to a Join of the caller's device at @addr (NULL: out of memory). */
Roomvpn__V1__JoinRoomResponse *rv_rooms_join_msg(struct rv_rpc_ctx *ctx,
						 const Roomvpn__V1__RoomRecord *r, uint32_t addr);

grpc_status_code rv_rooms_oom(char *msg, size_t msglen);
grpc_status_code rv_rooms_store_error(char *msg, size_t msglen);
grpc_status_code rv_rooms_empty_reply(ProtobufCMessage **resp, char *msg, size_t msglen);
char *rv_rooms_strdup(const char *s, bool *oom); /* "" for NULL; *oom on failure */
/* Packs @m into @b under @k: 0 or -1. */
int rv_rooms_batch_put_msg(struct rv_store_batch *b, const char *k, size_t kl,
			   const ProtobufCMessage *m);
bool rv_rooms_key_exists(struct rv_store *s, const char *k, size_t kl);

#endif
