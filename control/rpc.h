/* The control plane's RPC contract: every method is one row of the dispatch
 * table (methods.c) naming its handler and the scope it needs; server.c runs
 * the one scope check (the "interceptor") before any handler.
 * Handlers run on the server's worker threads and must not block for long
 * (password hashing goes to the Argon2 pool). */
#ifndef RV_RPC_H
#define RV_RPC_H

#include <grpc/status.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rv_control; /* the server's state: store, config, metrics, ... */

enum rv_scope {
	RV_SCOPE_PUBLIC,     /* no token needed (Login, Refresh, grpc.health) */
	RV_SCOPE_USER,	     /* any logged-in, enabled user */
	RV_SCOPE_ROOM_OWNER, /* the owner of the room named in the request, or an admin */
	RV_SCOPE_ADMIN,	     /* admins only */
};

/* Who is calling, filled in by the scope check from the bearer token. */
struct rv_principal {
	bool authenticated;
	uint64_t user_id;
	char username[64];
	bool admin;
	uint64_t device_id;
};

struct rv_prefetch; /* prefetch.h */

struct rv_rpc_ctx {
	struct rv_control *ctl;
	const char *method; /* "/roomvpn.v1.RoomService/Create" */
	const char *peer;   /* source address as grpc reports it */
	struct rv_principal who;
	/* For the audit log: who acted ("" : who.username) and on what; set by
	 * handlers (Login sets actor to the attempted username). */
	char actor[64];
	char target[128];
	/* The method's audit action (NULL: not audited). A handler that wrote
	 * its success record into its own batch (rv_audit_batch_add) sets
	 * @audited once that batch is in; the server then writes no other. */
	const char *audit_action;
	bool audited;
	/* Keys the method's prefetch function asked for, read with the token
	 * check (prefetch.h); NULL if none. Freed with the call. */
	struct rv_prefetch *pre;
	/* Extra initial metadata a handler wants sent (Login/Refresh put the
	 * session token here): up to 4 key/value pairs, static or ctx-owned. */
	unsigned n_md;
	struct {
		char key[32];
		char value[128];
	} md[4];
};

/* A unary handler: fill *resp (allocated with protobuf-c, freed by the
 * server) and return GRPC_STATUS_OK, or return an error status with a clear
 * message in @msg. */
typedef grpc_status_code (*rv_unary_fn)(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
					ProtobufCMessage **resp, char *msg, size_t msglen);

/* A unary handler that hands its work to another thread (the Argon2 pool)
 * returns RV_RPC_PENDING; that thread later calls rv_rpc_complete() exactly
 * once, with a response (taken over by the server) or an error status. */
#define RV_RPC_PENDING ((grpc_status_code)-1)
void rv_rpc_complete(struct rv_rpc_ctx *ctx, grpc_status_code status, ProtobufCMessage *resp,
		     const char *msg);
/* True once the server has cancelled every call (shutdown past its grace
 * period): pending work should skip the expensive part and complete with
 * UNAVAILABLE at once. */
bool rv_rpc_abandoned(const struct rv_rpc_ctx *ctx);

/* Streaming calls (server-streaming and bidirectional). The server reads
 * client messages and hands each to on_message; the handler writes with
 * rv_stream_send() from any thread, and ends the call with
 * rv_stream_finish(). on_end runs exactly once when the call is over (status
 * sent, or the client cancelled or went away) if on_message ever ran; after
 * it returns the stream must not be touched again. on_message and on_end of
 * one stream never run at the same time (other threads may still call
 * rv_stream_send/finish: they return quietly once the stream is over). */
struct rv_stream;
struct rv_stream_ops {
	/* One client message; NULL when the client half-closed. A status other
	 * than OK finishes the call with it. */
	grpc_status_code (*on_message)(struct rv_rpc_ctx *ctx, struct rv_stream *s,
				       const ProtobufCMessage *req, char *msg, size_t msglen);
	void (*on_end)(struct rv_rpc_ctx *ctx, struct rv_stream *s, bool cancelled);
	bool one_request; /* server-streaming: exactly one request message */
};
/* Queue one message; 0, or -1 if the stream is already over. Thread-safe.
 * At RV_STREAM_QUEUE_MAX messages waiting for a client that does not read,
 * the stream ends with RESOURCE_EXHAUSTED instead (-1). */
#define RV_STREAM_QUEUE_MAX 1024
struct grpc_byte_buffer;
int rv_stream_send(struct rv_stream *s, const ProtobufCMessage *m);
/* The same with a message packed once for many streams (rv_grpc_pb_pack):
 * @buf stays the caller's; its slices are shared, not copied. */
int rv_stream_send_packed(struct rv_stream *s, struct grpc_byte_buffer *buf);
/* Send the final status after the queued messages; later calls are ignored. */
void rv_stream_finish(struct rv_stream *s, grpc_status_code status, const char *msg);
struct rv_rpc_ctx *rv_stream_ctx(struct rv_stream *s);
/* Keep @s (and its ctx) allocated past on_end, for a handler that answers
 * later from another thread: take it in on_message, drop it once done with
 * the stream. Send/finish on a held stream whose call is over return quietly. */
void rv_stream_hold(struct rv_stream *s);
void rv_stream_release(struct rv_stream *s);
/* Run @fn(@arg) soon on one of the server's threads (the stream's queue),
 * for work finished on another thread that answers on @s: sending there
 * keeps gRPC's write work off that thread. @s must be held or in
 * on_message; one post per stream at a time. */
void rv_stream_post(struct rv_stream *s, void (*fn)(void *arg), void *arg);

/* Adds the keys a handler will read to @p, from the request and the
 * caller's ids (who->user_id, who->device_id; nothing else of @who is known
 * yet): prefetch.h. */
typedef void (*rv_prefetch_fn)(const struct rv_principal *who, const ProtobufCMessage *req,
			       struct rv_prefetch *p);

/* For RV_SCOPE_ROOM_OWNER: pulls the room id/name out of the request. */
typedef const char *(*rv_room_of_fn)(const ProtobufCMessage *req);

struct rv_method {
	const char *path;
	enum rv_scope scope;
	const ProtobufCMessageDescriptor *req_desc;
	rv_unary_fn handler;		    /* NULL for streaming methods */
	rv_room_of_fn room_of;		    /* only for RV_SCOPE_ROOM_OWNER */
	const char *audit_action;	    /* non-NULL: the call is recorded in the audit log */
	const struct rv_stream_ops *stream; /* streaming methods (handler NULL) */
	rv_prefetch_fn prefetch;	    /* unary methods only; NULL: none */
};

#endif
