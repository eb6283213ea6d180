/* Unary calls: NEW -> RECV (decode, authenticate, scope check, handler) ->
 * SEND (status) -> free; a handler may answer later with rv_rpc_complete()
 * (server_call.h). */
#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "listener.h"
#include "scope.h"
#include "server_call.h"
#include "grpc_pb.h"

/* ---- unary ------------------------------------------------------------- */

/* The last batch of a unary call: headers, response, status, close. */
void rv_server_unary_finish(struct call *c, grpc_status_code st, ProtobufCMessage *resp,
			    const char *msg)
{
	grpc_op ops[4];
	size_t n = 0;

	rv_server_record(c, st, msg);
	rv_server_initial_md_op(c, &ops[n++]);
	if (st == GRPC_STATUS_OK && resp) {
		c->send_buf = rv_grpc_pb_pack(resp);
		memset(&ops[n], 0, sizeof(ops[n]));
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n++].data.send_message.send_message = c->send_buf;
	}
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	rv_server_status_op(c, &ops[n++], st, st == GRPC_STATUS_OK ? "" : msg);
	memset(&ops[n], 0, sizeof(ops[n]));
	ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;
	rv_server_start_batch(c, ops, n, &c->t_send);
}

bool rv_rpc_abandoned(const struct rv_rpc_ctx *ctx)
{
	const struct call *c =
	    (const struct call *)((const char *)ctx - offsetof(struct call, ctx));
	return atomic_load(&c->srv->cancelling);
}

void rv_rpc_complete(struct rv_rpc_ctx *ctx, grpc_status_code status, ProtobufCMessage *resp,
		     const char *msg)
{
	struct call *c = (struct call *)((char *)ctx - offsetof(struct call, ctx));
	rv_server_unary_finish(c, status, resp, msg);
}

/* A protected method's bearer token, checked before the request is even
 * parsed. Every invalid token (missing, unknown, expired, revoked, its user
 * disabled or gone) gets the same answer, so a caller learns nothing about
 * tokens it does not hold. Fills c->ctx.who; the scope check after parsing
 * uses it (scope.c). With @req (a method with a prefetch function, its
 * request parsed), the keys the handler reads come in the same round trip
 * (prefetch.h) into c->ctx.pre. */
static grpc_status_code authenticate(struct call *c, const ProtobufCMessage *req, char *msg,
				     size_t msglen)
{
	char auth[512], detail[256];

	memset(&c->ctx.who, 0, sizeof(c->ctx.who));
	if (c->m->scope == RV_SCOPE_PUBLIC)
		return GRPC_STATUS_OK;
	const char *hdr = rv_server_md_value(&c->md_in, "authorization", auth, sizeof(auth));
	if (hdr && strncasecmp(hdr, "Bearer ", 7) == 0 && hdr[7]) {
		grpc_status_code st = rv_auth_resolve_with(
		    c->srv->ctl, hdr + 7, &c->ctx.who, req ? c->m->prefetch : NULL, req,
		    req ? &c->ctx.pre : NULL, detail, sizeof(detail));
		if (st == GRPC_STATUS_OK) {
			rv_listener_authenticated(c->peer);
			return st;
		}
		if (st != GRPC_STATUS_UNAUTHENTICATED) { /* the store failed, not the token */
			snprintf(msg, msglen, "%s", detail);
			return st;
		}
		memset(&c->ctx.who, 0, sizeof(c->ctx.who));
	}
	snprintf(msg, msglen,
		 "%s needs a valid session token (this one is missing, unknown, expired or "
		 "revoked): send metadata \"authorization: Bearer <token>\" from "
		 "AuthService/Login",
		 c->m->path);
	return GRPC_STATUS_UNAUTHENTICATED;
}

/* Token check, then the request's decoding, then the scope check; OK or an
 * error status. A stream checks all three on its first message only. A
 * method with a prefetch function is decoded first and its token checked
 * with its reads; the answers stay those of the order above (a bad token
 * and a malformed request: the token's). */
grpc_status_code rv_server_decode_and_check(struct call *c, ProtobufCMessage **req, char *msg,
					    size_t msglen)
{
	bool prefetch = !c->authorized && c->m->prefetch && c->m->scope != RV_SCOPE_PUBLIC;
	size_t len = 0;
	uint8_t *bytes;
	grpc_status_code st;

	if (!c->authorized && !prefetch &&
	    (st = authenticate(c, NULL, msg, msglen)) != GRPC_STATUS_OK) {
		grpc_byte_buffer_destroy(c->recv_buf);
		c->recv_buf = NULL;
		return st;
	}
	bytes = rv_server_buffer_bytes(c->recv_buf, &len);
	grpc_byte_buffer_destroy(c->recv_buf);
	c->recv_buf = NULL;
	bool readable = bytes != NULL;
	*req = bytes ? protobuf_c_message_unpack(c->m->req_desc, NULL, len, bytes) : NULL;
	free(bytes);
	if (prefetch && (st = authenticate(c, *req, msg, msglen)) != GRPC_STATUS_OK) {
		if (*req)
			protobuf_c_message_free_unpacked(*req, NULL);
		*req = NULL;
		return st;
	}
	if (!readable) {
		snprintf(msg, msglen, "cannot read the request message");
		return GRPC_STATUS_INTERNAL;
	}
	if (!*req) {
		snprintf(msg, msglen, "malformed request: %zu bytes are not a valid %s", len,
			 c->m->req_desc->name);
		return GRPC_STATUS_INVALID_ARGUMENT;
	}
	if (c->authorized)
		return GRPC_STATUS_OK;
	char auth[512];
	const char *hdr = rv_server_md_value(&c->md_in, "authorization", auth, sizeof(auth));
	st = rv_scope_check(&c->ctx, c->m, hdr, *req, msg, msglen);
	if (st != GRPC_STATUS_OK) {
		protobuf_c_message_free_unpacked(*req, NULL);
		*req = NULL;
		return st;
	}
	c->authorized = true;
	return GRPC_STATUS_OK;
}

void rv_server_unary_received(struct call *c, bool ok)
{
	char msg[256] = "";
	ProtobufCMessage *req = NULL, *resp = NULL;
	grpc_status_code st;

	if (!ok) { /* cancelled (or the connection dropped) before the request */
		rv_server_unary_finish(c, GRPC_STATUS_CANCELLED, NULL,
				       "call ended before its request arrived");
		return;
	}
	if (!c->recv_buf) {
		rv_server_unary_finish(c, GRPC_STATUS_INVALID_ARGUMENT, NULL,
				       "no request message: a unary call needs exactly one");
		return;
	}
	st = rv_server_decode_and_check(c, &req, msg, sizeof(msg));
	if (st == GRPC_STATUS_OK) {
		st = c->m->handler(&c->ctx, req, &resp, msg, sizeof(msg));
		if (st == GRPC_STATUS_OK && !resp) {
			st = GRPC_STATUS_INTERNAL;
			snprintf(msg, sizeof(msg), "handler of %s returned no response", c->method);
		}
	}
	if (req)
		protobuf_c_message_free_unpacked(req, NULL);
	if (st == RV_RPC_PENDING)
		return;
	if (st != GRPC_STATUS_OK && resp) {
		protobuf_c_message_free_unpacked(resp, NULL);
		resp = NULL;
	}
	rv_server_unary_finish(c, st, resp, msg);
}
