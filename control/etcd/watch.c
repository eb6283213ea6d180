/* etcd watches: one bidirectional Watch stream per watch, driven by a
 * thread of its own on its own completion queue. The thread sends the
 * create request, then reads responses and hands each event to the
 * callback; when the stream breaks (member down, leader lost: the stream
 * carries "hasleader" so a member without a leader ends it) it reopens on
 * the next endpoint from the revision after the last event delivered.
 * Stopping cancels the current call under the lock. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "etcd/client.h"
#include "grpc_pb.h"

enum { TAG_SEND = 1, TAG_MD, TAG_RECV, TAG_STATUS };

struct rv_etcd_watch {
	struct rv_etcd *e;
	uint8_t *prefix, *end;
	size_t plen, elen;
	int64_t next_rev; /* watch from here after a reconnect (0: now) */
	rv_etcd_watch_cb cb;
	void *arg;
	pthread_t thread;
	grpc_completion_queue *cq;

	pthread_mutex_t lock; /* stop, call, created, failed */
	pthread_cond_t changed;
	bool stop, created, failed;
	bool cancelled; /* etcd cancelled the watch (compacted): no reopening */
	grpc_call *call;
	char err[256];
	gpr_timespec give_up; /* before its creation: members tried until then */
};

struct stream {
	unsigned outstanding;
	grpc_metadata md;
	grpc_metadata_array init_md, trailing;
	grpc_byte_buffer *send, *recv;
	grpc_status_code status;
	grpc_slice details;
};

static bool start_batch(grpc_call *call, struct stream *s, grpc_op *ops, size_t n, intptr_t tag)
{
	if (grpc_call_start_batch(call, ops, n, (void *)tag, NULL) != GRPC_CALL_OK)
		return false;
	s->outstanding++;
	return true;
}

static grpc_byte_buffer *create_request(struct rv_etcd_watch *w)
{
	Etcdserverpb__WatchCreateRequest cr = ETCDSERVERPB__WATCH_CREATE_REQUEST__INIT;
	Etcdserverpb__WatchRequest req = ETCDSERVERPB__WATCH_REQUEST__INIT;

	cr.key = (ProtobufCBinaryData){w->plen, w->prefix};
	cr.range_end = (ProtobufCBinaryData){w->elen, w->end};
	cr.start_revision = w->next_rev;
	req.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST;
	req.create_request = &cr;
	return rv_grpc_pb_pack(&req.base);
}

static void set_created(struct rv_etcd_watch *w, bool ok, const char *why)
{
	pthread_mutex_lock(&w->lock);
	if (!w->created && !w->failed) {
		w->created = ok;
		w->failed = !ok;
		if (!ok)
			snprintf(w->err, sizeof(w->err), "%s", why);
		pthread_cond_broadcast(&w->changed);
	}
	pthread_mutex_unlock(&w->lock);
}

/* Delivers the events of one response; false if the watch was cancelled. */
static bool deliver(struct rv_etcd_watch *w, const Etcdserverpb__WatchResponse *r)
{
	if (r->created)
		set_created(w, true, NULL);
	for (size_t i = 0; i < r->n_events; i++) {
		const Mvccpb__Event *ev = r->events[i];
		if (!ev->kv)
			continue;
		w->cb(w->arg,
		      ev->type == MVCCPB__EVENT__EVENT_TYPE__DELETE ? RV_ETCD_DELETE : RV_ETCD_PUT,
		      ev->kv->key.data, ev->kv->key.len, ev->kv->value.data, ev->kv->value.len,
		      ev->kv->mod_revision);
		w->next_rev = ev->kv->mod_revision + 1;
	}
	if (r->canceled) {
		char why[256];
		snprintf(why, sizeof(why), "etcd watch cancelled: %s (compact revision %lld)",
			 r->cancel_reason ? r->cancel_reason : "", (long long)r->compact_revision);
		set_created(w, false, why);
		fprintf(stderr, "roomvpn-control: %s\n", why);
		pthread_mutex_lock(&w->lock);
		w->cancelled = true;
		pthread_mutex_unlock(&w->lock);
		return false;
	}
	return true;
}

/* One stream on endpoint @i, until it ends. */
static void run_stream(struct rv_etcd_watch *w, unsigned i)
{
	struct stream s = {0};
	grpc_op ops[2];

	pthread_mutex_lock(&w->lock);
	if (w->stop) {
		pthread_mutex_unlock(&w->lock);
		return;
	}
	w->call =
	    grpc_channel_create_call(w->e->ch[i], NULL, GRPC_PROPAGATE_DEFAULTS, w->cq,
				     grpc_slice_from_static_string("/etcdserverpb.Watch/Watch"),
				     NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	pthread_mutex_unlock(&w->lock);

	grpc_metadata_array_init(&s.init_md);
	grpc_metadata_array_init(&s.trailing);
	s.details = grpc_empty_slice();
	s.md.key = grpc_slice_from_static_string("hasleader");
	s.md.value = grpc_slice_from_static_string("true");
	s.send = create_request(w);

	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[0].data.send_initial_metadata.count = 1;
	ops[0].data.send_initial_metadata.metadata = &s.md;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = s.send;
	bool ok = start_batch(w->call, &s, ops, 2, TAG_SEND);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[0].data.recv_status_on_client.trailing_metadata = &s.trailing;
	ops[0].data.recv_status_on_client.status = &s.status;
	ops[0].data.recv_status_on_client.status_details = &s.details;
	ok = ok && start_batch(w->call, &s, ops, 1, TAG_STATUS);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[0].data.recv_initial_metadata.recv_initial_metadata = &s.init_md;
	ops[1].op = GRPC_OP_RECV_MESSAGE;
	ops[1].data.recv_message.recv_message = &s.recv;
	ok = ok && start_batch(w->call, &s, ops, 2, TAG_RECV);
	if (!ok)
		grpc_call_cancel(w->call, NULL);

	/* Drain every batch started, whatever happens: the call and the
	 * buffers are freed only when none is outstanding. */
	bool reading = ok;
	while (s.outstanding > 0) {
		grpc_event ev =
		    grpc_completion_queue_next(w->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		if (ev.type != GRPC_OP_COMPLETE)
			break;
		s.outstanding--;
		if ((intptr_t)ev.tag != TAG_RECV)
			continue;
		ProtobufCMessage *m =
		    ev.success && s.recv
			? rv_grpc_pb_unpack(s.recv, &etcdserverpb__watch_response__descriptor)
			: NULL;
		if (s.recv)
			grpc_byte_buffer_destroy(s.recv);
		s.recv = NULL;
		reading = m && deliver(w, (Etcdserverpb__WatchResponse *)m);
		if (m)
			protobuf_c_message_free_unpacked(m, NULL);
		memset(ops, 0, sizeof(ops));
		ops[0].op = GRPC_OP_RECV_MESSAGE;
		ops[0].data.recv_message.recv_message = &s.recv;
		if (!reading || !start_batch(w->call, &s, ops, 1, TAG_RECV))
			grpc_call_cancel(w->call, NULL);
	}
	if (s.status != GRPC_STATUS_OK) {
		char why[384];
		snprintf(why, sizeof(why), "etcd watch on %s: %.*s (grpc status %d)",
			 w->e->target[i], (int)GRPC_SLICE_LENGTH(s.details),
			 (const char *)GRPC_SLICE_START_PTR(s.details), (int)s.status);
		/* Not created yet: a member down or mid-election is ridden out
		 * on the others, as the client's calls do, until give_up. */
		if (s.status != GRPC_STATUS_UNAVAILABLE ||
		    gpr_time_cmp(gpr_now(GPR_CLOCK_MONOTONIC), w->give_up) > 0)
			set_created(w, false, why);
	}
	pthread_mutex_lock(&w->lock);
	grpc_call_unref(w->call);
	w->call = NULL;
	pthread_mutex_unlock(&w->lock);
	grpc_byte_buffer_destroy(s.send);
	grpc_slice_unref(s.details);
	grpc_metadata_array_destroy(&s.init_md);
	grpc_metadata_array_destroy(&s.trailing);
}

static void *watch_main(void *arg)
{
	struct rv_etcd_watch *w = arg;
	unsigned i = atomic_load(&w->e->cur);

	for (unsigned round = 0;; round++, i = (i + 1) % w->e->n) {
		run_stream(w, i);
		pthread_mutex_lock(&w->lock);
		bool done = w->stop || w->failed || w->cancelled;
		pthread_mutex_unlock(&w->lock);
		if (done)
			break;
		/* Broken stream: the next member, after a short pause per round. */
		struct timespec ts = {0, 50 * 1000000L};
		if ((round + 1) % w->e->n == 0)
			nanosleep(&ts, NULL);
	}
	return NULL;
}

struct rv_etcd_watch *rv_etcd_watch_start(struct rv_etcd *e, const void *prefix, size_t plen,
					  int64_t start_revision, rv_etcd_watch_cb cb, void *arg,
					  char *err, size_t errlen)
{
	struct rv_etcd_watch *w = calloc(1, sizeof(*w));

	if (!w || !(w->prefix = malloc(plen ? plen : 1)) || !(w->end = malloc(plen ? plen : 1))) {
		snprintf(err, errlen, "out of memory");
		goto err_free;
	}
	memcpy(w->prefix, prefix, plen);
	w->plen = plen;
	w->elen = rv_etcd_prefix_end(prefix, plen, w->end);
	w->e = e;
	w->next_rev = start_revision;
	w->cb = cb;
	w->arg = arg;
	w->cq = grpc_completion_queue_create_for_next(NULL);
	w->give_up = rv_etcd_deadline(RV_ETCD_RETRY_BUDGET_MS);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->changed, NULL);
	if (pthread_create(&w->thread, NULL, watch_main, w) != 0) {
		snprintf(err, errlen, "etcd watch: cannot start its thread");
		goto err_cq;
	}
	/* Wait for the first stream's answer (created, or refused). */
	pthread_mutex_lock(&w->lock);
	while (!w->created && !w->failed)
		pthread_cond_wait(&w->changed, &w->lock);
	bool failed = w->failed;
	pthread_mutex_unlock(&w->lock);
	if (failed) {
		snprintf(err, errlen, "%s", w->err);
		rv_etcd_watch_stop(w);
		return NULL;
	}
	return w;

err_cq:
	grpc_completion_queue_shutdown(w->cq);
	grpc_completion_queue_destroy(w->cq);
err_free:
	if (w) {
		free(w->prefix);
		free(w->end);
	}
	free(w);
	return NULL;
}

void rv_etcd_watch_stop(struct rv_etcd_watch *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	if (w->call)
		grpc_call_cancel(w->call, NULL);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	grpc_completion_queue_shutdown(w->cq);
	while (grpc_completion_queue_next(w->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
	       GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(w->cq);
	pthread_cond_destroy(&w->changed);
	pthread_mutex_destroy(&w->lock);
	free(w->prefix);
	free(w->end);
	free(w);
}
