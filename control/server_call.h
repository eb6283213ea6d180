/* The gRPC server's calls, shared by server.c (threads, new calls, start
 * and stop), server_unary.c and server_stream.c. Private to those three. */
#ifndef RV_SERVER_CALL_H
#define RV_SERVER_CALL_H

#include <grpc/grpc.h>
#include <pthread.h>
#include <stdatomic.h>

#include "server.h"

enum step { STEP_NEW, STEP_RECV, STEP_SEND, STEP_WRITE, STEP_CLOSE, STEP_STATUS, STEP_POST };

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
	struct rv_cq *cq; /* the queue it was requested on: all its batches complete there */
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
	struct tag t_new, t_recv, t_send, t_write, t_close, t_status, t_post;
	void (*post_fn)(void *arg); /* rv_stream_post: one at a time */
	void *post_arg;
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
	unsigned q_len;		      /* queued messages, at most RV_STREAM_QUEUE_MAX */
	struct call *s_prev, *s_next; /* open streams, under srv->mu */
};

struct rv_stream {
	struct call c; /* a stream is a call; rv_stream* == &call */
};

/* One completion queue and the threads that serve it. */
struct rv_cq {
	struct rv_server *srv;
	grpc_completion_queue *cq;
	pthread_t *threads;
	unsigned n_threads;
};

struct rv_server {
	struct rv_control *ctl;
	const struct rv_method *methods;
	size_t n_methods;
	grpc_server *server;
	struct rv_cq *cqs;
	unsigned n_cqs, n_threads; /* n_threads: over all queues */
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

void rv_server_call_unref(struct call *c);
const char *rv_server_md_value(const grpc_metadata_array *md, const char *key, char *buf,
			       size_t buflen);
uint8_t *rv_server_buffer_bytes(grpc_byte_buffer *bb, size_t *len);
void rv_server_start_batch(struct call *c, grpc_op *ops, size_t n, struct tag *t);
void rv_server_initial_md_op(struct call *c, grpc_op *op);
void rv_server_status_op(struct call *c, grpc_op *op, grpc_status_code st, const char *msg);
void rv_server_record(struct call *c, grpc_status_code st, const char *msg);
void rv_server_unary_finish(struct call *c, grpc_status_code st, ProtobufCMessage *resp,
			    const char *msg);
grpc_status_code rv_server_decode_and_check(struct call *c, ProtobufCMessage **req, char *msg,
					    size_t msglen);
void rv_server_unary_received(struct call *c, bool ok);
void rv_server_stream_start(struct call *c);
void rv_server_stream_event(struct call *c, enum step step, bool ok);

#endif
