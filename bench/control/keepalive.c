/* Keepalive streams (SessionService.Keepalive), all on the engine's one
 * completion queue: per stream a status batch, a send (Hello, then one
 * heartbeat at a time) and a receive kept armed. A heartbeat's seq is its
 * send time (monotonic ns), so its ack's latency needs no lookup. The
 * scheduler thread sends every device's heartbeat once per interval,
 * device i at i/N of it: O(1) per heartbeat, whatever N. */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/support/time.h>

#include "load.h"
#include "roomvpn/v1/session.pb-c.h"

#define KEEPALIVE_PATH	  "/roomvpn.v1.SessionService/Keepalive"
#define DEV_OF(t, member) ((struct rv_dev *)((char *)(t)-offsetof(struct rv_dev, member)))

struct rv_ka_stats rv_ka;

static struct {
	pthread_mutex_t lock;
	pthread_cond_t gone;
	unsigned live; /* streams whose call is not yet released */
} streams = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};

/* Take a reference for one more batch, unless the call is already gone. */
static bool hold(struct rv_dev *d)
{
	unsigned n = atomic_load(&d->ka_pending);

	while (n && !atomic_compare_exchange_weak(&d->ka_pending, &n, n + 1))
		;
	return n != 0;
}

/* The last batch over: the call goes. */
static void release(struct rv_dev *d)
{
	if (atomic_fetch_sub(&d->ka_pending, 1) != 1)
		return;
	grpc_call_unref(d->ka);
	d->ka = NULL;
	grpc_slice_unref(d->ka_details);
	grpc_metadata_array_destroy(&d->ka_init_md);
	grpc_metadata_array_destroy(&d->ka_trailing);
	if (d->ka_recv)
		grpc_byte_buffer_destroy(d->ka_recv);
	d->ka_recv = NULL;
	pthread_mutex_lock(&streams.lock);
	if (--streams.live == 0)
		pthread_cond_broadcast(&streams.gone);
	pthread_mutex_unlock(&streams.lock);
}

static bool start(struct rv_dev *d, grpc_op *ops, size_t n, struct rv_tag *t)
{
	if (!hold(d))
		return false;
	if (grpc_call_start_batch(d->ka, ops, n, t, NULL) != GRPC_CALL_OK) {
		release(d);
		return false;
	}
	return true;
}

static void send_heartbeat(struct rv_dev *d)
{
	Roomvpn__V1__KeepaliveRequest r = ROOMVPN__V1__KEEPALIVE_REQUEST__INIT;
	Roomvpn__V1__Heartbeat hb = ROOMVPN__V1__HEARTBEAT__INIT;
	grpc_op op;

	if (atomic_exchange(&d->send_busy, true)) {
		atomic_fetch_add(&rv_ka.skipped_busy, 1);
		return;
	}
	hb.seq = rv_now_ns();
	r.body_case = ROOMVPN__V1__KEEPALIVE_REQUEST__BODY_HEARTBEAT;
	r.heartbeat = &hb;
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_SEND_MESSAGE;
	op.data.send_message.send_message = d->ka_send = rv_grpc_pb_pack(&r.base);
	if (!start(d, &op, 1, &d->t_send)) {
		grpc_byte_buffer_destroy(d->ka_send);
		atomic_store(&d->send_busy, false);
		return;
	}
	atomic_fetch_add(&rv_ka.sent, 1);
}

static void arm_recv(struct rv_dev *d, bool with_md)
{
	grpc_op op[2];
	size_t n = 0;

	memset(op, 0, sizeof(op));
	if (with_md) {
		op[n].op = GRPC_OP_RECV_INITIAL_METADATA;
		op[n++].data.recv_initial_metadata.recv_initial_metadata = &d->ka_init_md;
	}
	op[n].op = GRPC_OP_RECV_MESSAGE;
	op[n++].data.recv_message.recv_message = &d->ka_recv;
	start(d, op, n, &d->t_recv);
}

static void on_send(struct rv_tag *t, bool ok)
{
	struct rv_dev *d = DEV_OF(t, t_send);

	(void)ok; /* a failed send: the status batch tells why */
	grpc_byte_buffer_destroy(d->ka_send);
	d->ka_send = NULL;
	atomic_store(&d->send_busy, false);
	release(d);
}

static void on_hello_sent(struct rv_tag *t, bool ok)
{
	struct rv_dev *d = DEV_OF(t, t_send);

	grpc_byte_buffer_destroy(d->ka_send);
	d->ka_send = NULL;
	rv_tag_set(&d->t_send, on_send); /* from now on: heartbeats */
	atomic_store(&d->send_busy, false);
	if (ok)
		send_heartbeat(d); /* the first: its ack says the tunnel is up */
	release(d);
}

static void on_event(struct rv_dev *d, const Roomvpn__V1__KeepaliveEvent *ev)
{
	uint64_t now = rv_now_ns();
	int want = DEV_BOOTSTRAPPED;

	switch (ev->body_case) {
	case ROOMVPN__V1__KEEPALIVE_EVENT__BODY_HEARTBEAT:
		if (ev->heartbeat->seq && ev->heartbeat->seq <= now)
			rv_hist_add(&rv_ka.lat, now - ev->heartbeat->seq);
		atomic_fetch_add(&d->acks, 1);
		atomic_fetch_add(&rv_ka.acked, 1);
		atomic_compare_exchange_strong(&d->state, &want, DEV_UP);
		break;
	case ROOMVPN__V1__KEEPALIVE_EVENT__BODY_KICK:
		d->kicked = true;
		atomic_fetch_add(&rv_ka.kicks, 1);
		break;
	case ROOMVPN__V1__KEEPALIVE_EVENT__BODY_REKEY:
		atomic_fetch_add(&rv_ka.rekeys,
				 1); /* not acted on: the bench has no data channel */
		break;
	case ROOMVPN__V1__KEEPALIVE_EVENT__BODY_CONFIG:
		atomic_fetch_add(&rv_ka.configs, 1);
		break;
	default:
		atomic_fetch_add(&rv_ka.recv_other, 1);
	}
}

/* A PresenceBatch (field 7, length-delimited: first byte 0x3a) is counted
 * and not unpacked: at 100,000 members the server sends thousands a second
 * of up to 64 changes each, and unpacking them would make the client, not
 * the server, what delays the heartbeat acks. */
static bool is_presence_batch(grpc_byte_buffer *b)
{
	grpc_byte_buffer_reader r;
	grpc_slice *first = NULL;
	bool yes = false;

	if (!grpc_byte_buffer_reader_init(&r, b))
		return false;
	if (grpc_byte_buffer_reader_peek(&r, &first) && GRPC_SLICE_LENGTH(*first))
		yes = GRPC_SLICE_START_PTR(*first)[0] ==
		      ((ROOMVPN__V1__KEEPALIVE_EVENT__BODY_PRESENCE_BATCH << 3) | 2);
	grpc_byte_buffer_reader_destroy(&r);
	return yes;
}

static void on_recv(struct rv_tag *t, bool ok)
{
	struct rv_dev *d = DEV_OF(t, t_recv);
	ProtobufCMessage *m = NULL;

	if (ok && d->ka_recv && is_presence_batch(d->ka_recv)) {
		grpc_byte_buffer_destroy(d->ka_recv);
		d->ka_recv = NULL;
		atomic_fetch_add(&rv_ka.recv_other, 1);
		arm_recv(d, false);
		release(d);
		return;
	}
	if (ok && d->ka_recv) {
		m = rv_grpc_pb_unpack(d->ka_recv, &roomvpn__v1__keepalive_event__descriptor);
		grpc_byte_buffer_destroy(d->ka_recv);
		d->ka_recv = NULL;
	}
	if (m) {
		on_event(d, (const void *)m);
		protobuf_c_message_free_unpacked(m, NULL);
		arm_recv(d, false);
	}
	release(d);
}

static void on_status(struct rv_tag *t, bool ok)
{
	struct rv_dev *d = DEV_OF(t, t_status);
	unsigned st = ok ? (unsigned)d->ka_status : GRPC_STATUS_UNKNOWN;

	atomic_store(&d->state, DEV_ENDED);
	if (st != GRPC_STATUS_OK && !atomic_exchange(&rv_ka.end_told, true))
		fprintf(stderr, "keepalive stream of device %u ended: status %u: %.*s\n", d->idx,
			st, (int)GRPC_SLICE_LENGTH(d->ka_details),
			(const char *)GRPC_SLICE_START_PTR(d->ka_details));
	atomic_fetch_add(&rv_ka.ended, 1);
	atomic_fetch_add(&rv_ka.ended_by_status[st < 17 ? st : GRPC_STATUS_UNKNOWN], 1);
	release(d);
}

void rv_ka_open(struct rv_dev *d, const char *room)
{
	Roomvpn__V1__KeepaliveRequest r = ROOMVPN__V1__KEEPALIVE_REQUEST__INIT;
	Roomvpn__V1__Hello h = ROOMVPN__V1__HELLO__INIT;
	grpc_op op[2];

	rv_tag_set(&d->t_send, on_hello_sent);
	rv_tag_set(&d->t_recv, on_recv);
	rv_tag_set(&d->t_status, on_status);
	d->ka_details = grpc_empty_slice();
	grpc_metadata_array_init(&d->ka_init_md);
	grpc_metadata_array_init(&d->ka_trailing);
	d->ka_md[0].key = grpc_slice_from_static_string("authorization");
	d->ka_md[0].value = d->bearer;
	d->ka = grpc_channel_create_call(rv_rpc_channel(d->idx), NULL, GRPC_PROPAGATE_DEFAULTS,
					 rv_rpc_cq(d->idx),
					 grpc_slice_from_static_string(KEEPALIVE_PATH), NULL,
					 gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	pthread_mutex_lock(&streams.lock);
	streams.live++;
	pthread_mutex_unlock(&streams.lock);
	atomic_store(&d->ka_pending, 1); /* the status batch's, taken below */

	memset(op, 0, sizeof(op));
	op[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	op[0].data.recv_status_on_client.trailing_metadata = &d->ka_trailing;
	op[0].data.recv_status_on_client.status = &d->ka_status;
	op[0].data.recv_status_on_client.status_details = &d->ka_details;
	if (grpc_call_start_batch(d->ka, op, 1, &d->t_status, NULL) != GRPC_CALL_OK) {
		atomic_store(&d->state, DEV_ENDED);
		release(d);
		return;
	}
	h.room = (char *)room;
	h.peer_id = d->peer_id;
	r.body_case = ROOMVPN__V1__KEEPALIVE_REQUEST__BODY_HELLO;
	r.hello = &h;
	memset(op, 0, sizeof(op));
	op[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	op[0].data.send_initial_metadata.count = 1;
	op[0].data.send_initial_metadata.metadata = d->ka_md;
	op[0].flags =
	    GRPC_INITIAL_METADATA_WAIT_FOR_READY; /* a reconnecting channel is no refusal */
	op[1].op = GRPC_OP_SEND_MESSAGE;
	op[1].data.send_message.send_message = d->ka_send = rv_grpc_pb_pack(&r.base);
	atomic_store(&d->send_busy, true);
	if (!start(d, op, 2, &d->t_send)) {
		grpc_byte_buffer_destroy(d->ka_send);
		d->ka_send = NULL;
		grpc_call_cancel(d->ka, NULL);
		return;
	}
	arm_recv(d, true);
}

/* ---- the heartbeat scheduler ---- */

static struct {
	pthread_t thread;
	atomic_bool stop, paused;
	struct rv_dev *devs;
	uint32_t n;
	uint64_t interval_ns;
} sched;

static void *sched_main(void *arg)
{
	uint64_t round_start = rv_now_ns();
	uint32_t cursor = 0;
	struct timespec nap = {0, 2000000}; /* 2 ms: the spread's granularity */

	(void)arg;
	while (!atomic_load(&sched.stop)) {
		uint64_t now = rv_now_ns();
		uint64_t due = (now - round_start) * sched.n / sched.interval_ns;

		if (due > sched.n)
			due = sched.n;
		while (cursor < due) {
			struct rv_dev *d = &sched.devs[cursor++];
			if (atomic_load(&d->state) == DEV_UP && !atomic_load(&sched.paused))
				send_heartbeat(d); /* (paused: this round's skipped) */
		}
		if (cursor == sched.n) {
			cursor = 0;
			round_start += sched.interval_ns;
		}
		nanosleep(&nap, NULL);
	}
	return NULL;
}

int rv_ka_sched_start(struct rv_dev *devs, uint32_t n, unsigned interval_ms)
{
	sched.devs = devs;
	sched.n = n;
	sched.interval_ns = (uint64_t)(interval_ms ? interval_ms : 1000) * 1000000ull;
	return pthread_create(&sched.thread, NULL, sched_main, NULL) ? -1 : 0;
}

bool rv_ka_sched_pause(bool on)
{
	atomic_store(&sched.paused, on);
	if (!on)
		return true;
	/* until every heartbeat sent has its ack, at most 5 s */
	struct timespec nap = {0, 1000000};
	for (unsigned ms = 0; ms < 5000; ms++) {
		if (atomic_load(&rv_ka.acked) + atomic_load(&rv_ka.ended) >=
		    atomic_load(&rv_ka.sent))
			return true;
		nanosleep(&nap, NULL);
	}
	return false;
}

void rv_ka_sched_stop(void)
{
	atomic_store(&sched.stop, true);
	pthread_join(sched.thread, NULL);
}

void rv_ka_close_all(struct rv_dev *devs, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		struct rv_dev *d = &devs[i];
		if (hold(d)) {
			grpc_call_cancel(d->ka, NULL);
			release(d);
		}
	}
	pthread_mutex_lock(&streams.lock);
	while (streams.live)
		pthread_cond_wait(&streams.gone, &streams.lock);
	pthread_mutex_unlock(&streams.lock);
}
