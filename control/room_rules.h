/* Access rules of a room (docs/rooms.md "Access rules"): the owner's text,
 * checked line by line and compiled to address rules for the data plane
 * (names resolved to the room's members' virtual IPs when set), stored with
 * the room (RoomRecord.rules_text / acl_rules) and pushed with it
 * (dp_sync.c: UpsertRoom.rules). */
#ifndef RV_CONTROL_ROOM_RULES_H
#define RV_CONTROL_ROOM_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <grpc/grpc.h>

#include "roomvpn/v1/room_store.pb-c.h"
#include "rpc.h"

#define RV_ROOM_RULES_MAX      1024 /* compiled rules (== RV_ST_RULES_MAX) */
#define RV_ROOM_RULES_TEXT_MAX 65536

/* A member as the rules see it. */
struct rv_rule_member {
	const char *user;
	uint32_t vip;
};

/* Compiles @text against the room's @members: 0 and *out (n_out records,
 * each and the array freed with free), or -1 and "line N: ..." in @msg.
 * A user no member has: an error when @strict (SetRules), else it matches
 * nothing (a recompile after the member left). */
int rv_room_rules_compile(const char *text, const struct rv_rule_member *members, size_t n_members,
			  bool strict, Roomvpn__V1__AclRuleRecord ***out, size_t *n_out, char *msg,
			  size_t msglen);

/* Room @room's membership changed (Join, Leave, Kick, ban, a device or user
 * removed): its stored rules text is compiled again against the members it
 * has now and, if that changes the address rules, stored and pushed to the
 * data plane (rv_events_room_rules_changed). Called with no lock held; a
 * room without rules or gone is left alone. */
void rv_room_rules_refresh(struct rv_control *ctl, uint64_t room);

grpc_status_code rv_rooms_set_rules_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
					ProtobufCMessage **resp, char *msg, size_t msglen);
grpc_status_code rv_rooms_get_rules_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
					ProtobufCMessage **resp, char *msg, size_t msglen);

#endif
