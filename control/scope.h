/* The one scope check ("interceptor") run before every handler. */
#ifndef RV_SCOPE_H
#define RV_SCOPE_H

#include <stddef.h>

#include "rpc.h"

/* Checks that the caller may run @m: resolves the bearer token of
 * @authorization (the metadata value, NULL if absent) into ctx->who and
 * compares the scope. OK, or UNAUTHENTICATED / PERMISSION_DENIED /
 * NOT_FOUND (room-owner methods naming an unknown room) with a message. */
grpc_status_code rv_scope_check(struct rv_rpc_ctx *ctx, const struct rv_method *m,
				const char *authorization, const ProtobufCMessage *req, char *msg,
				size_t msglen);
const char *rv_scope_name(enum rv_scope s);

#endif
