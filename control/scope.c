/* Scope check: public methods pass; everything else needs a valid session
 * token ("authorization: Bearer <token>"), then the method's scope. */
#include "scope.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "control.h"

const char *rv_scope_name(enum rv_scope s)
{
	switch (s) {
	case RV_SCOPE_PUBLIC:
		return "public";
	case RV_SCOPE_USER:
		return "user";
	case RV_SCOPE_ROOM_OWNER:
		return "room owner";
	case RV_SCOPE_ADMIN:
		return "admin";
	}
	return "?";
}

static grpc_status_code room_owner(struct rv_rpc_ctx *ctx, const struct rv_method *m,
				   const ProtobufCMessage *req, char *msg, size_t msglen)
{
	struct rv_control *ctl = ctx->ctl;
	const char *room = m->room_of ? m->room_of(req) : NULL;
	uint64_t owner = 0;

	if (ctx->who.admin)
		return GRPC_STATUS_OK;
	if (!room || !room[0]) {
		snprintf(msg, msglen, "%s needs a room in the request", m->path);
		return GRPC_STATUS_INVALID_ARGUMENT;
	}
	int rc = ctl->room_owner ? ctl->room_owner(ctl, room, &owner) : -1;
	if (rc == 1) {
		snprintf(msg, msglen, "no room %.100s", room);
		return GRPC_STATUS_NOT_FOUND;
	}
	if (rc == 0 && owner == ctx->who.user_id)
		return GRPC_STATUS_OK;
	snprintf(msg, msglen, "%s needs the owner of room %.100s or an admin", m->path, room);
	return GRPC_STATUS_PERMISSION_DENIED;
}

grpc_status_code rv_scope_check(struct rv_rpc_ctx *ctx, const struct rv_method *m,
				const char *authorization, const ProtobufCMessage *req, char *msg,
				size_t msglen)
{
	if (m->scope == RV_SCOPE_PUBLIC) {
		memset(&ctx->who, 0, sizeof(ctx->who));
		return GRPC_STATUS_OK;
	}
	if (ctx->who.authenticated) /* server.c resolved the token before parsing */
		goto scope;
	memset(&ctx->who, 0, sizeof(ctx->who));
	if (!authorization || !authorization[0]) {
		snprintf(msg, msglen,
			 "%s needs a session token: send metadata \"authorization: "
			 "Bearer <token>\" (from AuthService/Login)",
			 m->path);
		return GRPC_STATUS_UNAUTHENTICATED;
	}
	if (strncasecmp(authorization, "Bearer ", 7) != 0 || !authorization[7]) {
		snprintf(msg, msglen, "authorization metadata must be \"Bearer <session token>\"");
		return GRPC_STATUS_UNAUTHENTICATED;
	}
	grpc_status_code st = rv_auth_resolve(ctx->ctl, authorization + 7, &ctx->who, msg, msglen);
	if (st != GRPC_STATUS_OK)
		return st;
scope:
	switch (m->scope) {
	case RV_SCOPE_USER:
		return GRPC_STATUS_OK;
	case RV_SCOPE_ROOM_OWNER:
		return room_owner(ctx, m, req, msg, msglen);
	case RV_SCOPE_ADMIN:
		if (ctx->who.admin)
			return GRPC_STATUS_OK;
		snprintf(msg, msglen, "%s needs an admin; %s is not one", m->path,
			 ctx->who.username);
		return GRPC_STATUS_PERMISSION_DENIED;
	default:
		snprintf(msg, msglen, "%s has no valid scope", m->path);
		return GRPC_STATUS_INTERNAL;
	}
}
