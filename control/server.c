/* gRPC server: completion queues (cfg.cq_count), each with its share of the
 * cfg.cq_threads threads and of the request slots, and a state machine per
 * call; a call lives on the queue whose slot it took.
 *
 * Every call is a struct call. Its grpc batches carry a struct tag naming the
 * call and the step, so any CQ thread can advance any call:
 *   unary:   NEW -> RECV (decode, scope check, handler) -> SEND (status) -> free
 *   stream:  NEW -> CLOSE armed + RECV ... (on_message, re-armed), WRITE ...
 *            (one at a time, queued), STATUS; freed when no batch is pending.
 * A unary handler may return RV_RPC_PENDING and finish later from another
 * thread with rv_rpc_complete() (logins on the Argon2 pool). */
#include "server.h"
#include "prefetch.h"
#include "server_call.h"
#include "clock.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <sched.h>
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

/* ---- call lifetime ------------------------------------------------------ */

static int request_one(struct rv_cq *q);

static struct call *call_new(struct rv_cq *q)
{
	struct rv_server *srv = q->srv;
	struct call *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->srv = srv;
	c->cq = q;
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
	c->t_post = (struct tag){c, STEP_POST};
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
	rv_prefetch_free(c->ctx.pre);
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->cb_mu);
	atomic_fetch_sub(&c->srv->live_calls, 1);
	free(c);
}

void rv_server_call_unref(struct call *c)
{
	pthread_mutex_lock(&c->mu);
	bool last = --c->refs == 0;
	pthread_mutex_unlock(&c->mu);
	if (last)
		call_free(c);
}

/* ---- helpers ------------------------------------------------------------ */

const char *rv_server_md_value(const grpc_metadata_array *md, const char *key, char *buf,
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
uint8_t *rv_server_buffer_bytes(grpc_byte_buffer *bb, size_t *len)
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

static const struct rv_method *find_method(struct rv_server *srv, const char *path)
{
	for (size_t i = 0; i < srv->n_methods; i++)
		if (strcmp(srv->methods[i].path, path) == 0)
			return &srv->methods[i];
	return NULL;
}

void rv_server_start_batch(struct call *c, grpc_op *ops, size_t n, struct tag *t)
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
void rv_server_initial_md_op(struct call *c, grpc_op *op)
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

void rv_server_status_op(struct call *c, grpc_op *op, grpc_status_code st, const char *msg)
{
	memset(op, 0, sizeof(*op));
	op->op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	grpc_slice_unref(c->status_details);
	c->status_details = grpc_slice_from_copied_string(msg ? msg : "");
	op->data.send_status_from_server.status = st;
	op->data.send_status_from_server.status_details = &c->status_details;
}

void rv_server_record(struct call *c, grpc_status_code st, const char *msg)
{
	struct rv_control *ctl = c->srv->ctl;
	uint64_t dt = rv_clock_mono_ns() - c->t0;

	if (st != GRPC_STATUS_OK)
		rv_log(RV_LOG_DEBUG, "rpc %s from %s: status %d: %s", c->method, c->peer, st,
		       msg ? msg : "");
	if (ctl->on_rpc_done)
		ctl->on_rpc_done(ctl, c->m ? c->m->path : "unknown", st, dt);
	/* (unless the handler wrote its record in its own batch) */
	if (c->m && c->m->audit_action && ctl->audit_record && !c->ctx.audited) {
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

/* ---- new calls ---------------------------------------------------------- */

static void call_started(struct call *c)
{
	char *peer = grpc_call_get_peer(c->call);
	char *path = grpc_slice_to_c_string(c->details.method);

	rv_listener_peer_text(peer ? peer : "?", c->peer, sizeof(c->peer));
	snprintf(c->method, sizeof(c->method), "%s", path ? path : "?");
	gpr_free(peer);
	gpr_free(path);
	c->t0 = rv_clock_mono_ns();
	c->m = find_method(c->srv, c->method);
	c->ctx.audit_action = c->m ? c->m->audit_action : NULL;
	if (!c->m) {
		char msg[256];
		snprintf(msg, sizeof(msg), "unknown method %.200s", c->method);
		rv_server_unary_finish(c, GRPC_STATUS_UNIMPLEMENTED, NULL, msg);
		return;
	}
	if (c->m->stream) {
		rv_server_stream_start(c);
		return;
	}
	grpc_op op = {.op = GRPC_OP_RECV_MESSAGE};
	op.data.recv_message.recv_message = &c->recv_buf;
	rv_server_start_batch(c, &op, 1, &c->t_recv);
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
			request_one(c->cq); /* the slot refilled on the same queue */
		call_started(c);
		return;
	}
	if (c->m && c->m->stream) {
		rv_server_stream_event(c, t->step, ok);
		return;
	}
	if (t->step == STEP_RECV)
		rv_server_unary_received(c, ok);
	else if (t->step == STEP_SEND)
		call_free(c);
}

/* The completion-queue threads run as SCHED_BATCH: a thread that grpc's
 * poller wakes for a completion (every completion but those of the
 * poller's own queue) then does not preempt the poller, which goes on
 * reading the connections and hands out more completions before the
 * scheduler switches (at 100,000 keepalive streams the poller spent a
 * quarter of its time switched out by the threads it had just woken, and
 * heartbeat acks queued behind it for seconds). */
static void batch_policy(void)
{
	struct sched_param p = {.sched_priority = 0};
	int rc = pthread_setschedparam(pthread_self(), SCHED_BATCH, &p);
	if (rc != 0)
		rv_log(RV_LOG_DEBUG, "completion-queue thread: SCHED_BATCH refused: %s",
		       strerror(rc));
}

static void *cq_thread(void *arg)
{
	pthread_setname_np(pthread_self(), "rv-cq"); /* top -H, perf */
	struct rv_cq *q = arg;
	struct rv_server *srv = q->srv;

	batch_policy();
	for (;;) {
		grpc_event ev =
		    grpc_completion_queue_next(q->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (ev.type == GRPC_OP_COMPLETE)
			handle_event(srv, ev.tag, ev.success != 0);
	}
	return NULL;
}

/* A slot for one new call on queue @q: the call's events all complete on
 * @q, so calls spread over the queues as their slots are taken. */
static int request_one(struct rv_cq *q)
{
	struct call *c = call_new(q);
	if (!c)
		return -1;
	grpc_call_error e = grpc_server_request_call(q->srv->server, &c->call, &c->details,
						     &c->md_in, q->cq, q->cq, &c->t_new);
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

/* cfg.cq_count queues (at most one per thread), registered with the server. */
static int create_cqs(struct rv_server *srv, const struct rv_control_config *cfg)
{
	unsigned n = cfg->cq_count ? cfg->cq_count : 1;

	if (n > cfg->cq_threads)
		n = cfg->cq_threads ? cfg->cq_threads : 1;
	if (!(srv->cqs = calloc(n, sizeof(*srv->cqs))))
		return -1;
	for (unsigned k = 0; k < n; k++) {
		srv->cqs[k].srv = srv;
		srv->cqs[k].cq = grpc_completion_queue_create_for_next(NULL);
		grpc_server_register_completion_queue(srv->server, srv->cqs[k].cq, NULL);
		srv->n_cqs++;
	}
	return 0;
}

/* @total threads split over the queues (the first ones get the remainder). */
static int start_threads(struct rv_server *srv, unsigned total)
{
	for (unsigned k = 0; k < srv->n_cqs; k++) {
		struct rv_cq *q = &srv->cqs[k];
		unsigned want = total / srv->n_cqs + (k < total % srv->n_cqs);
		if (!(q->threads = calloc(want, sizeof(pthread_t))))
			return -1;
		for (unsigned i = 0; i < want; i++) {
			if (pthread_create(&q->threads[i], NULL, cq_thread, q) != 0)
				return -1;
			q->n_threads++;
			srv->n_threads++;
		}
	}
	return 0;
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
	if (create_cqs(srv, &ctl->cfg) != 0) {
		snprintf(err, errlen, "out of memory");
		goto err_server;
	}
	if (bind_tls(srv, err, errlen) != 0)
		goto err_server;
	grpc_server_start(srv->server);
	if (rv_listener_watch(srv->port, ctl->cfg.max_connections) != 0) {
		snprintf(err, errlen, "cannot find the listening socket of port %d", srv->port);
		goto err_started;
	}
	unsigned slots = (ctl->cfg.request_slots + srv->n_cqs - 1) / srv->n_cqs;
	for (unsigned k = 0; k < srv->n_cqs; k++)
		for (unsigned i = 0; i < slots; i++)
			if (request_one(&srv->cqs[k]) != 0) {
				snprintf(err, errlen, "cannot post request slots");
				goto err_started;
			}
	if (start_threads(srv, ctl->cfg.cq_threads) != 0) {
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
	if (srv->n_cqs)
		grpc_server_shutdown_and_notify(srv->server, srv->cqs[0].cq, &srv->t_shutdown);
	for (unsigned k = 0; k < srv->n_cqs; k++) {
		grpc_completion_queue_shutdown(srv->cqs[k].cq);
		while (grpc_completion_queue_next(srv->cqs[k].cq,
						  gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
			   .type != GRPC_QUEUE_SHUTDOWN)
			;
	}
	grpc_server_destroy(srv->server);
	for (unsigned k = 0; k < srv->n_cqs; k++)
		grpc_completion_queue_destroy(srv->cqs[k].cq);
	free(srv->cqs);
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
	struct timespec ts = rv_clock_deadline(CLOCK_REALTIME, ms * 1000000ull);
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
	grpc_server_shutdown_and_notify(srv->server, srv->cqs[0].cq, &srv->t_shutdown);
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
	for (unsigned k = 0; k < srv->n_cqs; k++)
		grpc_completion_queue_shutdown(srv->cqs[k].cq);
	for (unsigned k = 0; k < srv->n_cqs; k++) {
		struct rv_cq *q = &srv->cqs[k];
		for (unsigned i = 0; i < q->n_threads; i++)
			pthread_join(q->threads[i], NULL);
		if (!q->n_threads) /* no thread ran: drain here */
			cq_thread(q);
	}
	grpc_server_destroy(srv->server);
	for (unsigned k = 0; k < srv->n_cqs; k++) {
		grpc_completion_queue_destroy(srv->cqs[k].cq);
		free(srv->cqs[k].threads);
	}
	free(srv->cqs);
	srv->ctl->server = NULL;
	pthread_mutex_destroy(&srv->mu);
	pthread_cond_destroy(&srv->cv);
	free(srv);
	grpc_shutdown();
}
