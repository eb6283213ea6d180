/* gRPC server: completion-queue threads and a state machine per call.
 *
 * Every call is a struct call. Its grpc batches carry a struct tag naming the
 * call and the step, so any CQ thread can advance any call:
 *   unary:   NEW -> RECV (decode, scope check, handler) -> SEND (status) -> free
 *   stream:  NEW -> CLOSE armed + RECV ... (on_message, re-armed), WRITE ...
 *            (one at a time, queued), STATUS; freed when no batch is pending.
 * A unary handler may return RV_RPC_PENDING and finish later from another
 * thread with rv_rpc_complete() (logins on the Argon2 pool). */
#include "server.h"
#include "clock.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth.h"
#include "listener.h"
#include "log.h"
#include "scope.h"
#include "tls.h"

enum step { STEP_NEW, STEP_RECV, STEP_SEND, STEP_WRITE, STEP_CLOSE, STEP_STATUS };

struct call;
struct tag {
	struct call *c;
	enum step step;
};

struct outmsg {
	struct outmsg *next;
	grpc_byte_buffer *buf;
};

struct call {
	struct rv_server *srv;
	grpc_call *call;
	grpc_call_details details;
	grpc_metadata_array md_in;
	const struct rv_method *m;
	struct rv_rpc_ctx ctx;
	char method[160];
	char peer[96];
	uint64_t t0;
	grpc_byte_buffer *recv_buf;
	int cancelled;
	grpc_slice status_details;
	grpc_metadata md_out[4];
	grpc_byte_buffer *send_buf;
	struct tag t_new, t_recv, t_send, t_write, t_close, t_status;
	/* streams only, under mu */
	pthread_mutex_t mu;
	/* held around on_message/on_end: a handler never sees them overlap, and
	 * nothing after on_end (may not be taken under mu) */
	pthread_mutex_t cb_mu;
	bool end_called, delivered;
	int refs; /* pending batches + the handler's reference */
	bool md_sent, writing, write_has_msg, finishing, status_sent, ended, authorized;
	grpc_status_code final_status;
	char final_msg[256];
	struct outmsg *q_head, *q_tail;
	struct call *s_prev, *s_next; /* open streams, under srv->mu */
};

struct rv_stream {
	struct call c; /* a stream is a call; rv_stream* == &call */
};

struct rv_server {
	struct rv_control *ctl;
	const struct rv_method *methods;
	size_t n_methods;
	grpc_server *server;
	grpc_completion_queue *cq;
	pthread_t *threads;
	unsigned n_threads;
	int port;
	atomic_bool stopping;
	atomic_bool cancelling; /* every call was cancelled: pending work is moot */
	atomic_long live_calls;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool shutdown_done;
	struct call *streams; /* open streams: finished first on stop */
	struct tag t_shutdown;
};

/* ---- call lifetime ------------------------------------------------------ */

static int request_one(struct rv_server *srv);

static struct call *call_new(struct rv_server *srv)
{
	struct call *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->srv = srv;
	grpc_call_details_init(&c->details);
	grpc_metadata_array_init(&c->md_in);
	pthread_mutex_init(&c->mu, NULL);
	pthread_mutex_init(&c->cb_mu, NULL);
	c->t_new = (struct tag){c, STEP_NEW};
	c->t_recv = (struct tag){c, STEP_RECV};
	c->t_send = (struct tag){c, STEP_SEND};
	c->t_write = (struct tag){c, STEP_WRITE};
	c->t_close = (struct tag){c, STEP_CLOSE};
	c->t_status = (struct tag){c, STEP_STATUS};
	c->status_details = grpc_empty_slice();
	c->ctx.ctl = srv->ctl;
	c->ctx.method = c->method;
	c->ctx.peer = c->peer;
	atomic_fetch_add(&srv->live_calls, 1);
	return c;
}

static void call_free(struct call *c)
{
	struct outmsg *o;

	while ((o = c->q_head)) {
		c->q_head = o->next;
		grpc_byte_buffer_destroy(o->buf);
		free(o);
	}
	if (c->recv_buf)
		grpc_byte_buffer_destroy(c->recv_buf);
	if (c->send_buf)
		grpc_byte_buffer_destroy(c->send_buf);
	grpc_slice_unref(c->status_details);
	for (unsigned i = 0; i < c->ctx.n_md; i++) {
		grpc_slice_unref(c->md_out[i].key);
		grpc_slice_unref(c->md_out[i].value);
	}
	if (c->call)
		grpc_call_unref(c->call);
	grpc_call_details_destroy(&c->details);
	grpc_metadata_array_destroy(&c->md_in);
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->cb_mu);
	atomic_fetch_sub(&c->srv->live_calls, 1);
	free(c);
}

static void call_unref(struct call *c)
{
	pthread_mutex_lock(&c->mu);
	bool last = --c->refs == 0;
	pthread_mutex_unlock(&c->mu);
	if (last)
		call_free(c);
}

/* ---- helpers ------------------------------------------------------------ */

static const char *md_value(const grpc_metadata_array *md, const char *key, char *buf,
			    size_t buflen)
{
	for (size_t i = 0; i < md->count; i++) {
		if (grpc_slice_str_cmp(md->metadata[i].key, key) != 0)
			continue;
		size_t n = GRPC_SLICE_LENGTH(md->metadata[i].value);
		if (n >= buflen)
			n = buflen - 1;
		memcpy(buf, GRPC_SLICE_START_PTR(md->metadata[i].value), n);
		buf[n] = '\0';
		return buf;
	}
	return NULL;
}

/* The received message as one malloc'd buffer. */
static uint8_t *buffer_bytes(grpc_byte_buffer *bb, size_t *len)
{
	grpc_byte_buffer_reader r;
	if (!grpc_byte_buffer_reader_init(&r, bb))
		return NULL;
	grpc_slice s = grpc_byte_buffer_reader_readall(&r);
	grpc_byte_buffer_reader_destroy(&r);
	*len = GRPC_SLICE_LENGTH(s);
	uint8_t *out = malloc(*len ? *len : 1);
	if (out)
		memcpy(out, GRPC_SLICE_START_PTR(s), *len);
	grpc_slice_unref(s);
	return out;
}

static grpc_byte_buffer *pack(const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	grpc_slice s = grpc_slice_malloc(n);
	protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(s));
	grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	return bb;
}

static const struct rv_method *find_method(struct rv_server *srv, const char *path)
{
	for (size_t i = 0; i < srv->n_methods; i++)
		if (strcmp(srv->methods[i].path, path) == 0)
			return &srv->methods[i];
	return NULL;
}

static void start_batch(struct call *c, grpc_op *ops, size_t n, struct tag *t)
{
	grpc_call_error e = grpc_call_start_batch(c->call, ops, n, t, NULL);
	if (e != GRPC_CALL_OK) {
		/* Only a programming error gets here; the tag never completes. */
		rv_log(RV_LOG_ERROR, "grpc: start_batch on %s: %s", c->method,
		       grpc_call_error_to_string(e));
		abort();
	}
}

/* Initial metadata op carrying the handler's extra headers. */
static void initial_md_op(struct call *c, grpc_op *op)
{
	memset(op, 0, sizeof(*op));
	op->op = GRPC_OP_SEND_INITIAL_METADATA;
	for (unsigned i = 0; i < c->ctx.n_md && i < 4; i++) {
		c->md_out[i].key = grpc_slice_from_copied_string(c->ctx.md[i].key);
		c->md_out[i].value = grpc_slice_from_copied_string(c->ctx.md[i].value);
	}
	op->data.send_initial_metadata.count = c->ctx.n_md;
	op->data.send_initial_metadata.metadata = c->md_out;
}

static void status_op(struct call *c, grpc_op *op, grpc_status_code st, const char *msg)
{
	memset(op, 0, sizeof(*op));
	op->op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	grpc_slice_unref(c->status_details);
	c->status_details = grpc_slice_from_copied_string(msg ? msg : "");
	op->data.send_status_from_server.status = st;
	op->data.send_status_from_server.status_details = &c->status_details;
}

static void record(struct call *c, grpc_status_code st, const char *msg)
{
	struct rv_control *ctl = c->srv->ctl;
	uint64_t dt = rv_clock_mono_ns() - c->t0;

	if (st != GRPC_STATUS_OK)
		rv_log(RV_LOG_DEBUG, "rpc %s from %s: status %d: %s", c->method, c->peer, st,
		       msg ? msg : "");
	if (ctl->on_rpc_done)
		ctl->on_rpc_done(ctl, c->m ? c->m->path : "unknown", st, dt);
	if (c->m && c->m->audit_action && ctl->audit_record) {
		struct rv_audit_event ev = {
		    .time_ns = rv_clock_real_ns(),
		    .actor = c->ctx.actor[0] ? c->ctx.actor : c->ctx.who.username,
		    .source = c->peer,
		    .action = c->m->audit_action,
		    .target = c->ctx.target,
		    .status = st,
		    .detail = st == GRPC_STATUS_OK ? "" : (msg ? msg : ""),
		};
		ctl->audit_record(ctl, &ev);
	}
}

/* ---- unary ------------------------------------------------------------- */

/* The last batch of a unary call: headers, response, status, close. */
static void unary_finish(struct call *c, grpc_status_code st, ProtobufCMessage *resp,
			 const char *msg)
{
	grpc_op ops[4];
	size_t n = 0;

	record(c, st, msg);
	initial_md_op(c, &ops[n++]);
	if (st == GRPC_STATUS_OK && resp) {
		c->send_buf = pack(resp);
		memset(&ops[n], 0, sizeof(ops[n]));
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n++].data.send_message.send_message = c->send_buf;
	}
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	status_op(c, &ops[n++], st, st == GRPC_STATUS_OK ? "" : msg);
	memset(&ops[n], 0, sizeof(ops[n]));
	ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;
	start_batch(c, ops, n, &c->t_send);
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
	unary_finish(c, status, resp, msg);
}

/* A protected method's bearer token, checked before the request is even
 * parsed. Every invalid token (missing, unknown, expired, revoked, its user
 * disabled or gone) gets the same answer, so a caller learns nothing about
 * tokens it does not hold. Fills c->ctx.who; the scope check after parsing
 * uses it (scope.c). */
static grpc_status_code authenticate(struct call *c, char *msg, size_t msglen)
{
	char auth[512], detail[256];

	memset(&c->ctx.who, 0, sizeof(c->ctx.who));
	if (c->m->scope == RV_SCOPE_PUBLIC)
		return GRPC_STATUS_OK;
	const char *hdr = md_value(&c->md_in, "authorization", auth, sizeof(auth));
	if (hdr && strncasecmp(hdr, "Bearer ", 7) == 0 && hdr[7]) {
		grpc_status_code st =
		    rv_auth_resolve(c->srv->ctl, hdr + 7, &c->ctx.who, detail, sizeof(detail));
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
 * error status. A stream checks all three on its first message only. */
static grpc_status_code decode_and_check(struct call *c, ProtobufCMessage **req, char *msg,
					 size_t msglen)
{
	size_t len = 0;
	uint8_t *bytes;
	grpc_status_code st;

	if (!c->authorized && (st = authenticate(c, msg, msglen)) != GRPC_STATUS_OK) {
		grpc_byte_buffer_destroy(c->recv_buf);
		c->recv_buf = NULL;
		return st;
	}
	bytes = buffer_bytes(c->recv_buf, &len);
	grpc_byte_buffer_destroy(c->recv_buf);
	c->recv_buf = NULL;
	if (!bytes) {
		snprintf(msg, msglen, "cannot read the request message");
		return GRPC_STATUS_INTERNAL;
	}
	*req = protobuf_c_message_unpack(c->m->req_desc, NULL, len, bytes);
	free(bytes);
	if (!*req) {
		snprintf(msg, msglen, "malformed request: %zu bytes are not a valid %s", len,
			 c->m->req_desc->name);
		return GRPC_STATUS_INVALID_ARGUMENT;
	}
	if (c->authorized)
		return GRPC_STATUS_OK;
	char auth[512];
	const char *hdr = md_value(&c->md_in, "authorization", auth, sizeof(auth));
	st = rv_scope_check(&c->ctx, c->m, hdr, *req, msg, msglen);
	if (st != GRPC_STATUS_OK) {
		protobuf_c_message_free_unpacked(*req, NULL);
		*req = NULL;
		return st;
	}
	c->authorized = true;
	return GRPC_STATUS_OK;
}

static void unary_received(struct call *c, bool ok)
{
	char msg[256] = "";
	ProtobufCMessage *req = NULL, *resp = NULL;
	grpc_status_code st;

	if (!ok) { /* cancelled (or the connection dropped) before the request */
		unary_finish(c, GRPC_STATUS_CANCELLED, NULL,
			     "call ended before its request arrived");
		return;
	}
	if (!c->recv_buf) {
		unary_finish(c, GRPC_STATUS_INVALID_ARGUMENT, NULL,
			     "no request message: a unary call needs exactly one");
		return;
	}
	st = decode_and_check(c, &req, msg, sizeof(msg));
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
	unary_finish(c, st, resp, msg);
}

/* ---- streams ------------------------------------------------------------ */

static void stream_recv(struct call *c)
{
	grpc_op op = {.op = GRPC_OP_RECV_MESSAGE};
	op.data.recv_message.recv_message = &c->recv_buf;
	c->refs++;
	start_batch(c, &op, 1, &c->t_recv);
}

/* Under c->mu: send the next queued message, or the status once drained. */
static void stream_pump(struct call *c)
{
	grpc_op ops[3];
	size_t n = 0;

	if (c->writing || c->status_sent || c->ended)
		return;
	if (!c->md_sent) {
		initial_md_op(c, &ops[n++]);
		c->md_sent = true;
	}
	if (c->q_head) {
		memset(&ops[n], 0, sizeof(ops[n]));
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n++].data.send_message.send_message = c->q_head->buf;
		c->writing = true;
		c->write_has_msg = true;
		c->refs++;
		start_batch(c, ops, n, &c->t_write);
		return;
	}
	if (!c->finishing) {
		if (n) { /* headers alone: flush them now */
			c->writing = true;
			c->write_has_msg = false;
			c->refs++;
			start_batch(c, ops, n, &c->t_write);
		}
		return;
	}
	status_op(c, &ops[n++], c->final_status, c->final_msg);
	c->status_sent = true;
	c->refs++;
	start_batch(c, ops, n, &c->t_status);
}

struct rv_rpc_ctx *rv_stream_ctx(struct rv_stream *s)
{
	return &s->c.ctx;
}

int rv_stream_send(struct rv_stream *s, const ProtobufCMessage *m)
{
	struct call *c = &s->c;
	struct outmsg *o = malloc(sizeof(*o));
	int rc = -1;

	if (!o)
		return -1;
	pthread_mutex_lock(&c->mu);
	if (!c->ended && !c->finishing) {
		o->next = NULL;
		o->buf = pack(m);
		if (c->q_tail)
			c->q_tail->next = o;
		else
			c->q_head = o;
		c->q_tail = o;
		o = NULL;
		stream_pump(c);
		rc = 0;
	}
	pthread_mutex_unlock(&c->mu);
	free(o);
	return rc;
}

void rv_stream_finish(struct rv_stream *s, grpc_status_code status, const char *msg)
{
	struct call *c = &s->c;

	pthread_mutex_lock(&c->mu);
	if (!c->finishing && !c->ended) {
		c->finishing = true;
		c->final_status = status;
		snprintf(c->final_msg, sizeof(c->final_msg), "%s", msg ? msg : "");
		record(c, status, msg);
		stream_pump(c);
	}
	pthread_mutex_unlock(&c->mu);
}

/* Hands one message (NULL: half-close) to the handler, unless on_end ran. */
static grpc_status_code deliver(struct call *c, const ProtobufCMessage *req, char *msg,
				size_t msglen)
{
	grpc_status_code st = GRPC_STATUS_OK;

	pthread_mutex_lock(&c->cb_mu);
	if (!c->end_called) {
		c->delivered = true;
		st = c->m->stream->on_message(&c->ctx, (struct rv_stream *)c, req, msg, msglen);
	}
	pthread_mutex_unlock(&c->cb_mu);
	return st;
}

static void stream_received(struct call *c, bool ok)
{
	char msg[256] = "";
	ProtobufCMessage *req = NULL;
	grpc_status_code st;

	if (!ok || !c->recv_buf) { /* half-close (or the call is gone) */
		if (ok && !c->m->stream->one_request && c->authorized) {
			st = deliver(c, NULL, msg, sizeof(msg));
			if (st != GRPC_STATUS_OK)
				rv_stream_finish((struct rv_stream *)c, st, msg);
		} else if (ok && !c->authorized) {
			rv_stream_finish((struct rv_stream *)c, GRPC_STATUS_INVALID_ARGUMENT,
					 "no request message");
		}
		return;
	}
	st = decode_and_check(c, &req, msg, sizeof(msg));
	if (st == GRPC_STATUS_OK) {
		st = deliver(c, req, msg, sizeof(msg));
		protobuf_c_message_free_unpacked(req, NULL);
	}
	if (st != GRPC_STATUS_OK) {
		rv_stream_finish((struct rv_stream *)c, st, msg);
		return;
	}
	if (!c->m->stream->one_request) {
		pthread_mutex_lock(&c->mu);
		if (!c->ended)
			stream_recv(c);
		pthread_mutex_unlock(&c->mu);
	}
}

/* Adds or removes an open stream from the server's list. */
static void stream_link(struct call *c, bool add)
{
	struct rv_server *srv = c->srv;

	pthread_mutex_lock(&srv->mu);
	if (add) {
		c->s_next = srv->streams;
		if (srv->streams)
			srv->streams->s_prev = c;
		srv->streams = c;
	} else {
		if (c->s_prev)
			c->s_prev->s_next = c->s_next;
		else
			srv->streams = c->s_next;
		if (c->s_next)
			c->s_next->s_prev = c->s_prev;
	}
	pthread_mutex_unlock(&srv->mu);
}

static void stream_start(struct call *c)
{
	struct rv_control *ctl = c->srv->ctl;
	grpc_op op = {.op = GRPC_OP_RECV_CLOSE_ON_SERVER};

	op.data.recv_close_on_server.cancelled = &c->cancelled;
	stream_link(c, true); /* before any event of the call can run */
	if (ctl->on_stream)
		ctl->on_stream(ctl, +1);
	pthread_mutex_lock(&c->mu);
	c->refs = 1; /* released when on_end has run */
	c->refs++;
	start_batch(c, &op, 1, &c->t_close);
	stream_recv(c);
	pthread_mutex_unlock(&c->mu);
}

static void stream_closed(struct call *c)
{
	struct rv_control *ctl = c->srv->ctl;

	pthread_mutex_lock(&c->mu);
	c->ended = true;
	bool was_finished = c->finishing;
	pthread_mutex_unlock(&c->mu);
	if (!was_finished)
		record(c, GRPC_STATUS_CANCELLED, "cancelled by the client");
	pthread_mutex_lock(&c->cb_mu);
	if (c->delivered) /* on_end only for a handler that saw a message */
		c->m->stream->on_end(&c->ctx, (struct rv_stream *)c, c->cancelled != 0);
	c->end_called = true;
	pthread_mutex_unlock(&c->cb_mu);
	if (ctl->on_stream)
		ctl->on_stream(ctl, -1);
	stream_link(c, false);
	call_unref(c); /* the handler's reference */
}

static void stream_event(struct call *c, enum step step, bool ok)
{
	switch (step) {
	case STEP_RECV:
		stream_received(c, ok);
		break;
	case STEP_WRITE:
		pthread_mutex_lock(&c->mu);
		c->writing = false;
		if (c->write_has_msg) { /* the batch carried the head of the queue */
			struct outmsg *o = c->q_head;
			c->q_head = o->next;
			if (!c->q_head)
				c->q_tail = NULL;
			grpc_byte_buffer_destroy(o->buf);
			free(o);
		}
		if (!ok)
			c->ended = true;
		stream_pump(c);
		pthread_mutex_unlock(&c->mu);
		break;
	case STEP_CLOSE:
		stream_closed(c);
		break;
	default:
		break;
	}
	call_unref(c); /* the batch's reference */
}

/* ---- new calls ---------------------------------------------------------- */

static void call_started(struct call *c)
{
	char *peer = grpc_call_get_peer(c->call);
	char *path = grpc_slice_to_c_string(c->details.method);

	snprintf(c->peer, sizeof(c->peer), "%s", peer ? peer : "?");
	snprintf(c->method, sizeof(c->method), "%s", path ? path : "?");
	gpr_free(peer);
	gpr_free(path);
	c->t0 = rv_clock_mono_ns();
	c->m = find_method(c->srv, c->method);
	if (!c->m) {
		char msg[256];
		snprintf(msg, sizeof(msg), "unknown method %.200s", c->method);
		unary_finish(c, GRPC_STATUS_UNIMPLEMENTED, NULL, msg);
		return;
	}
	if (c->m->stream) {
		stream_start(c);
		return;
	}
	grpc_op op = {.op = GRPC_OP_RECV_MESSAGE};
	op.data.recv_message.recv_message = &c->recv_buf;
	start_batch(c, &op, 1, &c->t_recv);
}

static void handle_event(struct rv_server *srv, struct tag *t, bool ok)
{
	struct call *c = t->c;

	if (t == &srv->t_shutdown) {
		pthread_mutex_lock(&srv->mu);
		srv->shutdown_done = true;
		pthread_cond_broadcast(&srv->cv);
		pthread_mutex_unlock(&srv->mu);
		return;
	}
	if (t->step == STEP_NEW) {
		if (!ok) { /* the server is shutting down */
			call_free(c);
			return;
		}
		if (!atomic_load(&srv->stopping))
			request_one(srv);
		call_started(c);
		return;
	}
	if (c->m && c->m->stream) {
		stream_event(c, t->step, ok);
		return;
	}
	if (t->step == STEP_RECV)
		unary_received(c, ok);
	else if (t->step == STEP_SEND)
		call_free(c);
}

static void *cq_thread(void *arg)
{
	struct rv_server *srv = arg;

	for (;;) {
		grpc_event ev =
		    grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (ev.type == GRPC_OP_COMPLETE)
			handle_event(srv, ev.tag, ev.success != 0);
	}
	return NULL;
}

static int request_one(struct rv_server *srv)
{
	struct call *c = call_new(srv);
	if (!c)
		return -1;
	grpc_call_error e = grpc_server_request_call(srv->server, &c->call, &c->details, &c->md_in,
						     srv->cq, srv->cq, &c->t_new);
	if (e != GRPC_CALL_OK) {
		rv_log(RV_LOG_ERROR, "grpc: request_call: %s", grpc_call_error_to_string(e));
		call_free(c);
		return -1;
	}
	return 0;
}

/* ---- start / stop ------------------------------------------------------- */

static int bind_tls(struct rv_server *srv, char *err, size_t errlen)
{
	struct rv_control *ctl = srv->ctl;
	char *cert = NULL, *key = NULL;

	if (rv_tls_load(ctl, &cert, &key, err, errlen) != 0)
		return -1;
	grpc_ssl_pem_key_cert_pair pair = {.private_key = key, .cert_chain = cert};
	grpc_server_credentials *creds = grpc_ssl_server_credentials_create_ex(
	    NULL, &pair, 1, GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE, NULL);
	rv_tls_free_pem(key);
	free(cert);
	if (!creds) {
		snprintf(err, errlen, "TLS: the certificate or key was refused by grpc");
		return -1;
	}
	srv->port = grpc_server_add_http2_port(srv->server, ctl->cfg.listen, creds);
	grpc_server_credentials_release(creds);
	if (srv->port <= 0) {
		snprintf(err, errlen, "cannot listen on %s (listen): address in use or invalid",
			 ctl->cfg.listen);
		return -1;
	}
	return 0;
}

/* A duration as a grpc integer arg in ms (0 stays "off" for grpc: INT_MAX). */
static int ms_arg(uint64_t ns)
{
	uint64_t ms = ns / 1000000ull;
	return ms == 0 || ms > INT32_MAX ? INT32_MAX : (int)ms;
}

static grpc_server *create_server(const struct rv_control_config *cfg)
{
	grpc_arg args[5] = {
	    {.type = GRPC_ARG_INTEGER,
	     .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
	     .value.integer = (int)cfg->max_message_bytes},
	    {.type = GRPC_ARG_INTEGER,
	     .key = GRPC_ARG_MAX_SEND_MESSAGE_LENGTH,
	     .value.integer = 16 * 1024 * 1024},
	    {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_ALLOW_REUSEPORT, .value.integer = 0},
	    /* TLS must be done this soon after the connect */
	    {.type = GRPC_ARG_INTEGER,
	     .key = GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
	     .value.integer = ms_arg(cfg->handshake_timeout_ns)},
	    /* a connection without calls for this long gets GOAWAY and is closed */
	    {.type = GRPC_ARG_INTEGER,
	     .key = GRPC_ARG_MAX_CONNECTION_IDLE_MS,
	     .value.integer = ms_arg(cfg->idle_timeout_ns)},
	};
	grpc_channel_args ca = {.num_args = 5, .args = args};
	return grpc_server_create(&ca, NULL);
}

int rv_server_start(struct rv_control *ctl, const struct rv_method *methods, size_t n_methods,
		    char *err, size_t errlen)
{
	struct rv_server *srv = calloc(1, sizeof(*srv));
	if (!srv) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	srv->ctl = ctl;
	srv->methods = methods;
	srv->n_methods = n_methods;
	srv->t_shutdown = (struct tag){NULL, STEP_NEW};
	pthread_mutex_init(&srv->mu, NULL);
	pthread_cond_init(&srv->cv, NULL);
	grpc_init();
	srv->server = create_server(&ctl->cfg);
	srv->cq = grpc_completion_queue_create_for_next(NULL);
	grpc_server_register_completion_queue(srv->server, srv->cq, NULL);
	if (bind_tls(srv, err, errlen) != 0)
		goto err_server;
	grpc_server_start(srv->server);
	if (rv_listener_watch(srv->port, ctl->cfg.max_connections) != 0) {
		snprintf(err, errlen, "cannot find the listening socket of port %d", srv->port);
		goto err_started;
	}
	for (unsigned i = 0; i < ctl->cfg.request_slots; i++)
		if (request_one(srv) != 0) {
			snprintf(err, errlen, "cannot post request slots");
			goto err_started;
		}
	srv->threads = calloc(ctl->cfg.cq_threads, sizeof(pthread_t));
	for (unsigned i = 0; srv->threads && i < ctl->cfg.cq_threads; i++) {
		if (pthread_create(&srv->threads[i], NULL, cq_thread, srv) != 0)
			break;
		srv->n_threads++;
	}
	if (srv->n_threads != ctl->cfg.cq_threads) {
		snprintf(err, errlen, "cannot start completion-queue threads");
		goto err_started;
	}
	ctl->server = srv;
	return 0;

err_started:
	ctl->server = srv;
	rv_server_stop(srv, 0);
	return -1;
err_server:
	grpc_server_shutdown_and_notify(srv->server, srv->cq, &srv->t_shutdown);
	grpc_completion_queue_shutdown(srv->cq);
	while (grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
	       GRPC_QUEUE_SHUTDOWN)
		;
	grpc_server_destroy(srv->server);
	grpc_completion_queue_destroy(srv->cq);
	free(srv);
	grpc_shutdown();
	return -1;
}

int rv_server_port(const struct rv_server *s)
{
	return s->port;
}

static bool wait_shutdown(struct rv_server *srv, unsigned ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&srv->mu);
	while (!srv->shutdown_done)
		if (pthread_cond_timedwait(&srv->cv, &srv->mu, &ts) != 0)
			break;
	bool done = srv->shutdown_done;
	pthread_mutex_unlock(&srv->mu);
	return done;
}

void rv_server_stop(struct rv_server *srv, unsigned grace_ms)
{
	if (!srv)
		return;
	atomic_store(&srv->stopping, true);
	rv_listener_unwatch();
	grpc_server_shutdown_and_notify(srv->server, srv->cq, &srv->t_shutdown);
	/* Streams never end by themselves: finish them now. A stream stays in
	 * the list (and alive) until its close event, which takes srv->mu. */
	pthread_mutex_lock(&srv->mu);
	for (struct call *c = srv->streams; c; c = c->s_next)
		rv_stream_finish((struct rv_stream *)c, GRPC_STATUS_UNAVAILABLE,
				 "server shutting down");
	pthread_mutex_unlock(&srv->mu);
	if (srv->n_threads && !wait_shutdown(srv, grace_ms)) {
		rv_log(RV_LOG_WARN, "grpc: %ld call(s) still running after %u ms, cancelling",
		       atomic_load(&srv->live_calls), grace_ms);
		atomic_store(&srv->cancelling, true);
		grpc_server_cancel_all_calls(srv->server);
		wait_shutdown(srv, 10000);
	}
	/* Cancelled calls count as done for grpc, but calls handed to the
	 * password pool still complete from there (the pool is stopped after
	 * the server): the CQ threads must run until the last one is freed. */
	for (unsigned ms = 0; srv->n_threads && atomic_load(&srv->live_calls) > 0; ms += 10) {
		if (ms && ms % 5000 == 0)
			rv_log(RV_LOG_WARN, "grpc: waiting for %ld call(s) to finish",
			       atomic_load(&srv->live_calls));
		nanosleep(&(struct timespec){0, 10000000L}, NULL);
	}
	if (!srv->n_threads) {
		grpc_server_cancel_all_calls(srv->server);
	}
	grpc_completion_queue_shutdown(srv->cq);
	for (unsigned i = 0; i < srv->n_threads; i++)
		pthread_join(srv->threads[i], NULL);
	if (!srv->n_threads) /* no thread ran: drain here */
		cq_thread(srv);
	grpc_server_destroy(srv->server);
	grpc_completion_queue_destroy(srv->cq);
	free(srv->threads);
	srv->ctl->server = NULL;
	pthread_mutex_destroy(&srv->mu);
	pthread_cond_destroy(&srv->cv);
	free(srv);
	grpc_shutdown();
}
