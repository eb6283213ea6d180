/* The async call engine: C channels (one TCP connection each: a local
 * subchannel pool per channel) and several callback completion queues
 * (Debian's libgrpc scans a queue's outstanding operations on every
 * completion, so 100,000 streams on one queue would make the client itself
 * the bottleneck). Every batch is tagged with a struct rv_tag whose fn runs
 * inline on the grpc thread that completed it: no hand-over to a queue's
 * own thread (with a thread per queue, most of the client's time at
 * 100,000 streams went to waking them). POLLERS threads wait on an empty
 * queue of the "next" kind: that is what makes grpc poll the connections
 * (its epoll engine has no background poller). No thread per call or
 * stream. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "load.h"

#define MAX_QUEUES 256
#define POLLERS	   2

static struct {
	grpc_completion_queue *cq[MAX_QUEUES];
	grpc_completion_queue_functor on_shutdown[MAX_QUEUES];
	grpc_completion_queue *poll_cq; /* never gets an operation */
	grpc_channel **ch;
	unsigned n_ch, n_cq, n_pollers;
	pthread_t pollers[POLLERS];
	atomic_uint next_cq; /* unary calls: round robin */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned shut; /* callback queues shut down (mu) */
} eng = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

uint64_t rv_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void tag_run(grpc_completion_queue_functor *f, int ok)
{
	struct rv_tag *t = (struct rv_tag *)f;
	t->fn(t, ok != 0);
}

void rv_tag_set(struct rv_tag *t, void (*fn)(struct rv_tag *t, bool ok))
{
	t->f.functor_run = tag_run;
	t->f.inlineable = 1;
	t->fn = fn;
}

static void queue_shut(grpc_completion_queue_functor *f, int ok)
{
	(void)f, (void)ok;
	pthread_mutex_lock(&eng.mu);
	eng.shut++;
	pthread_cond_signal(&eng.cv);
	pthread_mutex_unlock(&eng.mu);
}

static void *poller_main(void *arg)
{
	/* as the server's queue threads (control/server.c): the poller that
	 * wakes the other is not preempted by it */
	struct sched_param p = {.sched_priority = 0};
	(void)pthread_setschedparam(pthread_self(), SCHED_BATCH, &p);
	(void)arg;
	for (;;) {
		grpc_event ev = grpc_completion_queue_next(
		    eng.poll_cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			return NULL;
	}
}

static char *slurp(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;

	if (!f) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	buf = calloc(1, 1 << 20);
	n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
	fclose(f);
	if (!n) {
		snprintf(err, errlen, "cannot read %s (empty?)", path);
		free(buf);
		return NULL;
	}
	return buf;
}

int rv_rpc_start(const struct rv_rpc_opts *o, char *err, size_t errlen)
{
	grpc_arg arg[5] = {
	    {.type = GRPC_ARG_INTEGER,
	     .key = GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL,
	     .value.integer = 1},
	    {.type = GRPC_ARG_INTEGER,
	     .key = GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
	     .value.integer = 100},
	    {.type = GRPC_ARG_INTEGER,
	     .key = GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
	     .value.integer = 1000},
	    {.type = GRPC_ARG_INTEGER,
	     .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
	     .value.integer = 16 << 20},
	};
	grpc_channel_args args = {4, arg};
	grpc_channel_credentials *creds;
	char *roots = slurp(o->ca_file, err, errlen);

	if (!roots)
		return -1;
	if (o->tls_name && o->tls_name[0]) {
		arg[4].type = GRPC_ARG_STRING;
		arg[4].key = GRPC_SSL_TARGET_NAME_OVERRIDE_ARG;
		arg[4].value.string = (char *)o->tls_name;
		args.num_args = 5;
	}
	grpc_init();
	creds = grpc_ssl_credentials_create(roots, NULL, NULL, NULL);
	free(roots);
	eng.n_ch = o->connections ? o->connections : 1;
	eng.ch = calloc(eng.n_ch + 1, sizeof(*eng.ch)); /* + the admin's own */
	if (!eng.ch) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* "a:1,b:2": connection i goes to the (i mod n)-th (control replicas) */
	char targets[1024], *each[16], *save = NULL;
	unsigned n_targets = 0;
	snprintf(targets, sizeof(targets), "%s", o->server);
	for (char *t = strtok_r(targets, ",", &save); t && n_targets < 16;
	     t = strtok_r(NULL, ",", &save))
		each[n_targets++] = t;
	if (!n_targets) {
		snprintf(err, errlen, "--server: no address");
		return -1;
	}
	for (unsigned i = 0; i <= eng.n_ch; i++)
		eng.ch[i] = grpc_channel_create(each[i % n_targets], creds, &args);
	grpc_channel_credentials_release(creds);
	unsigned want = o->threads > MAX_QUEUES ? MAX_QUEUES : o->threads;
	for (; eng.n_cq < want; eng.n_cq++) {
		eng.on_shutdown[eng.n_cq].functor_run = queue_shut;
		eng.cq[eng.n_cq] =
		    grpc_completion_queue_create_for_callback(&eng.on_shutdown[eng.n_cq], NULL);
	}
	eng.poll_cq = grpc_completion_queue_create_for_next(NULL);
	for (; want && eng.n_pollers < POLLERS; eng.n_pollers++)
		if (pthread_create(&eng.pollers[eng.n_pollers], NULL, poller_main, NULL) != 0) {
			snprintf(err, errlen, "cannot start a grpc poller thread");
			return -1;
		}
	return 0;
}

/* Every call must be over (rv_ka_close_all, phases finished) before this. */
void rv_rpc_stop(void)
{
	for (unsigned i = 0; i < eng.n_cq; i++)
		grpc_completion_queue_shutdown(eng.cq[i]);
	pthread_mutex_lock(&eng.mu);
	while (eng.shut < eng.n_cq) /* the pollers finish them */
		pthread_cond_wait(&eng.cv, &eng.mu);
	pthread_mutex_unlock(&eng.mu);
	for (unsigned i = 0; i < eng.n_cq; i++)
		grpc_completion_queue_destroy(eng.cq[i]);
	grpc_completion_queue_shutdown(eng.poll_cq);
	for (unsigned i = 0; i < eng.n_pollers; i++)
		pthread_join(eng.pollers[i], NULL);
	grpc_completion_queue_destroy(eng.poll_cq);
	for (unsigned i = 0; i <= eng.n_ch; i++)
		grpc_channel_destroy(eng.ch[i]);
	free(eng.ch);
	grpc_shutdown();
}

grpc_completion_queue *rv_rpc_cq(unsigned i)
{
	return eng.cq[i % eng.n_cq];
}

grpc_channel *rv_rpc_channel(unsigned i)
{
	return eng.ch[i == RV_RPC_ADMIN_CONN ? eng.n_ch : i % eng.n_ch];
}

/* The tag is the first member of this wrapper, so a completion finds its call. */
struct unary {
	struct rv_tag tag;
	struct rv_call *c;
};

static void unary_done(struct rv_tag *t, bool ok)
{
	struct unary *u = (struct unary *)t;
	struct rv_call *c = u->c;
	ProtobufCMessage *resp = NULL;
	char details[512];
	grpc_status_code st = ok ? c->status : GRPC_STATUS_UNAVAILABLE;

	snprintf(details, sizeof(details), "%.*s", (int)GRPC_SLICE_LENGTH(c->details),
		 (const char *)GRPC_SLICE_START_PTR(c->details));
	if (st == GRPC_STATUS_OK && !(resp = rv_grpc_pb_unpack(c->resp, c->resp_desc))) {
		st = GRPC_STATUS_INTERNAL;
		snprintf(details, sizeof(details), "malformed or missing reply");
	}
	grpc_call_unref(c->call);
	grpc_slice_unref(c->details);
	grpc_metadata_array_destroy(&c->init_md);
	grpc_metadata_array_destroy(&c->trailing);
	grpc_byte_buffer_destroy(c->req);
	if (c->resp)
		grpc_byte_buffer_destroy(c->resp);
	free(u);
	c->done(c, st, details, resp);
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
}

/* The call's batch on @cq (a callback queue, or the caller's own). */
static struct unary *start_unary(struct rv_call *c, unsigned conn, const char *path,
				 grpc_slice bearer, const ProtobufCMessage *req,
				 const ProtobufCMessageDescriptor *resp_desc, gpr_timespec deadline,
				 grpc_completion_queue *cq)
{
	struct unary *u = calloc(1, sizeof(*u));
	grpc_op ops[6];

	if (!u)
		return NULL;
	rv_tag_set(&u->tag, unary_done);
	u->c = c;
	c->resp_desc = resp_desc;
	c->resp = NULL;
	c->status = GRPC_STATUS_UNKNOWN;
	c->details = grpc_empty_slice();
	c->req = rv_grpc_pb_pack(req);
	grpc_metadata_array_init(&c->init_md);
	grpc_metadata_array_init(&c->trailing);
	c->md[0].key = grpc_slice_from_static_string("authorization");
	c->md[0].value = bearer;
	c->started_ns = rv_now_ns();
	c->call =
	    grpc_channel_create_call(rv_rpc_channel(conn), NULL, GRPC_PROPAGATE_DEFAULTS, cq,
				     grpc_slice_from_static_string(path), NULL, deadline, NULL);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[0].data.send_initial_metadata.count = GRPC_SLICE_LENGTH(bearer) ? 1 : 0;
	ops[0].data.send_initial_metadata.metadata = c->md;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = c->req;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &c->init_md;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &c->resp;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &c->trailing;
	ops[5].data.recv_status_on_client.status = &c->status;
	ops[5].data.recv_status_on_client.status_details = &c->details;
	if (grpc_call_start_batch(c->call, ops, 6, &u->tag, NULL) != GRPC_CALL_OK) {
		grpc_call_unref(c->call);
		grpc_byte_buffer_destroy(c->req);
		grpc_metadata_array_destroy(&c->init_md);
		grpc_metadata_array_destroy(&c->trailing);
		free(u);
		return NULL;
	}
	return u;
}

static gpr_timespec deadline_in(unsigned timeout_ms)
{
	return gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
			    gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
}

int rv_rpc_unary(struct rv_call *c, unsigned conn, const char *path, grpc_slice bearer,
		 const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
		 unsigned timeout_ms)
{
	grpc_completion_queue *cq = rv_rpc_cq(atomic_fetch_add(&eng.next_cq, 1));
	return start_unary(c, conn, path, bearer, req, resp_desc, deadline_in(timeout_ms), cq) ? 0
											       : -1;
}

int rv_rpc_unary_wait(struct rv_call *c, unsigned conn, const char *path, grpc_slice bearer,
		      const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
		      unsigned timeout_ms)
{
	grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
	gpr_timespec deadline = deadline_in(timeout_ms);
	struct unary *u = start_unary(c, conn, path, bearer, req, resp_desc, deadline, cq);
	int rc = -1;

	if (u) { /* the call has the deadline: it completes by then */
		grpc_event ev = grpc_completion_queue_pluck(
		    cq, &u->tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		unary_done(&u->tag, ev.type == GRPC_OP_COMPLETE && ev.success);
		rc = 0;
	}
	grpc_completion_queue_shutdown(cq);
	while (
	    grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
	    GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(cq);
	return rc;
}

/* ---- one synchronous call on the admin's connection ---- */
struct sync_call {
	struct rv_call c;
	grpc_status_code st;
	char details[256];
	ProtobufCMessage *resp;
};

static void sync_done(struct rv_call *c, grpc_status_code st, const char *details,
		      ProtobufCMessage *resp)
{
	struct sync_call *s = c->arg; /* on the caller's thread (rv_rpc_unary_wait) */
	s->st = st;
	snprintf(s->details, sizeof(s->details), "%s", details);
	if (resp) { /* kept: the engine frees its copy */
		size_t len = protobuf_c_message_get_packed_size(resp);
		uint8_t *buf = malloc(len ? len : 1);
		if (buf) {
			protobuf_c_message_pack(resp, buf);
			s->resp = protobuf_c_message_unpack(resp->descriptor, NULL, len, buf);
			free(buf);
		}
	}
}

grpc_status_code rv_rpc_call_sync(const char *path, grpc_slice bearer, const ProtobufCMessage *req,
				  const ProtobufCMessageDescriptor *d, ProtobufCMessage **resp,
				  char *details, size_t dlen)
{
	struct sync_call s = {0};

	s.c.arg = &s;
	s.c.done = sync_done;
	if (rv_rpc_unary_wait(&s.c, RV_RPC_ADMIN_CONN, path, bearer, req, d, 30000) < 0) {
		snprintf(details, dlen, "grpc refused the call");
		return GRPC_STATUS_INTERNAL;
	}
	snprintf(details, dlen, "%s", s.details);
	if (resp)
		*resp = s.resp;
	else if (s.resp)
		protobuf_c_message_free_unpacked(s.resp, NULL);
	return s.st;
}
