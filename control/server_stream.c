/* Streaming calls: CLOSE armed + RECV ... (on_message, re-armed), WRITE ...
 * (one at a time, queued), STATUS; freed when no batch is pending
 * (server_call.h). */
#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server_call.h"
#include "grpc_pb.h"

/* ---- streams ------------------------------------------------------------ */

static void stream_recv(struct call *c)
{
	grpc_op op = {.op = GRPC_OP_RECV_MESSAGE};
	op.data.recv_message.recv_message = &c->recv_buf;
	c->refs++;
	rv_server_start_batch(c, &op, 1, &c->t_recv);
}

/* Under c->mu: send the next queued message, or the status once drained. */
static void stream_pump(struct call *c)
{
	grpc_op ops[3];
	size_t n = 0;

	if (c->writing || c->status_sent || c->ended)
		return;
	if (!c->md_sent) {
		rv_server_initial_md_op(c, &ops[n++]);
		c->md_sent = true;
	}
	if (c->q_head) {
		memset(&ops[n], 0, sizeof(ops[n]));
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n++].data.send_message.send_message = c->q_head->buf;
		c->writing = true;
		c->write_has_msg = true;
		c->refs++;
		rv_server_start_batch(c, ops, n, &c->t_write);
		return;
	}
	if (!c->finishing) {
		if (n) { /* headers alone: flush them now */
			c->writing = true;
			c->write_has_msg = false;
			c->refs++;
			rv_server_start_batch(c, ops, n, &c->t_write);
		}
		return;
	}
	rv_server_status_op(c, &ops[n++], c->final_status, c->final_msg);
	c->status_sent = true;
	c->refs++;
	rv_server_start_batch(c, ops, n, &c->t_status);
}

struct rv_rpc_ctx *rv_stream_ctx(struct rv_stream *s)
{
	return &s->c.ctx;
}

void rv_stream_hold(struct rv_stream *s)
{
	pthread_mutex_lock(&s->c.mu);
	s->c.refs++;
	pthread_mutex_unlock(&s->c.mu);
}

void rv_stream_release(struct rv_stream *s)
{
	rv_server_call_unref(&s->c);
}

/* An empty batch completes at once on the call's queue: @fn runs there. */
void rv_stream_post(struct rv_stream *s, void (*fn)(void *arg), void *arg)
{
	struct call *c = &s->c;

	pthread_mutex_lock(&c->mu);
	c->post_fn = fn;
	c->post_arg = arg;
	c->refs++;
	rv_server_start_batch(c, NULL, 0, &c->t_post);
	pthread_mutex_unlock(&c->mu);
}

/* Queue @buf (taken) on @c; a client that stops reading while messages
 * keep coming has its stream ended instead of an ever longer queue. */
static int stream_queue(struct call *c, grpc_byte_buffer *buf)
{
	struct outmsg *o = buf ? malloc(sizeof(*o)) : NULL;
	int rc = -1;

	pthread_mutex_lock(&c->mu);
	if (o && !c->ended && !c->finishing && c->q_len >= RV_STREAM_QUEUE_MAX) {
		c->finishing = true;
		c->final_status = GRPC_STATUS_RESOURCE_EXHAUSTED;
		snprintf(c->final_msg, sizeof(c->final_msg),
			 "%u messages wait for the client to read them: stream ended",
			 RV_STREAM_QUEUE_MAX);
		rv_server_record(c, c->final_status, c->final_msg);
		stream_pump(c);
	} else if (o && !c->ended && !c->finishing) {
		o->next = NULL;
		o->buf = buf;
		if (c->q_tail)
			c->q_tail->next = o;
		else
			c->q_head = o;
		c->q_tail = o;
		c->q_len++;
		o = NULL, buf = NULL;
		stream_pump(c);
		rc = 0;
	}
	pthread_mutex_unlock(&c->mu);
	free(o);
	if (buf)
		grpc_byte_buffer_destroy(buf);
	return rc;
}

int rv_stream_send(struct rv_stream *s, const ProtobufCMessage *m)
{
	return stream_queue(&s->c, rv_grpc_pb_pack(m));
}

int rv_stream_send_packed(struct rv_stream *s, struct grpc_byte_buffer *buf)
{
	return stream_queue(&s->c, grpc_byte_buffer_copy(buf)); /* shares the slices */
}

void rv_stream_finish(struct rv_stream *s, grpc_status_code status, const char *msg)
{
	struct call *c = &s->c;

	pthread_mutex_lock(&c->mu);
	if (!c->finishing && !c->ended) {
		c->finishing = true;
		c->final_status = status;
		snprintf(c->final_msg, sizeof(c->final_msg), "%s", msg ? msg : "");
		rv_server_record(c, status, msg);
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
	st = rv_server_decode_and_check(c, &req, msg, sizeof(msg));
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

void rv_server_stream_start(struct call *c)
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
	rv_server_start_batch(c, &op, 1, &c->t_close);
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
		rv_server_record(c, GRPC_STATUS_CANCELLED, "cancelled by the client");
	pthread_mutex_lock(&c->cb_mu);
	if (c->delivered) /* on_end only for a handler that saw a message */
		c->m->stream->on_end(&c->ctx, (struct rv_stream *)c, c->cancelled != 0);
	c->end_called = true;
	pthread_mutex_unlock(&c->cb_mu);
	if (ctl->on_stream)
		ctl->on_stream(ctl, -1);
	stream_link(c, false);
	rv_server_call_unref(c); /* the handler's reference */
}

void rv_server_stream_event(struct call *c, enum step step, bool ok)
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
			c->q_len--;
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
	case STEP_POST:
		c->post_fn(c->post_arg);
		break;
	default:
		break;
	}
	rv_server_call_unref(c); /* the batch's reference */
}
