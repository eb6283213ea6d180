/* etcd v3 client: one grpc channel per endpoint over mutual TLS, unary calls
 * with a deadline, failover to the next endpoint on UNAVAILABLE (a member
 * down, no leader yet, "leader changed"), which also covers an election:
 * the call is retried until a leader answers. etcd.h.
 * Completions: one completion queue per client, drained by POLLERS threads
 * that wake the calling thread (a semaphore on its stack). A queue per call
 * made every caller poll the connection itself, and 64 callers got less
 * than half the calls through that grpcio does (docs/etcd.md). */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "etcd/client.h"
#include "grpc_pb.h"

#define DEFAULT_TIMEOUT_MS 5000

/* The tag of a unary call: its caller waits on @done. */
struct rv_etcd_waiter {
	sem_t done;
	bool ok;
	grpc_call *call; /* while in e->live */
	struct rv_etcd_waiter *prev, *next;
};
#define waiter rv_etcd_waiter

#define SHUTDOWN_ATTEMPT_MS 1000 /* a call after rv_etcd_shutdown */

static void *poller_main(void *arg)
{
	struct rv_etcd *e = arg;
	for (;;) {
		grpc_event ev =
		    grpc_completion_queue_next(e->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			return NULL;
		if (ev.type != GRPC_OP_COMPLETE)
			continue;
		struct waiter *w = ev.tag;
		w->ok = ev.success;
		sem_post(&w->done);
	}
}

static void stop_pollers(struct rv_etcd *e, unsigned n)
{
	grpc_completion_queue_shutdown(e->cq);
	for (unsigned i = 0; i < n; i++)
		pthread_join(e->poller[i], NULL);
	grpc_completion_queue_destroy(e->cq);
}

static char *read_pem(const char *what, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	long len = -1;
	size_t n = 0;

	if (!f) {
		snprintf(err, errlen, "etcd %s %s: %s", what, path, strerror(errno));
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && len < (1 << 20) &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)len + 1)))
		n = fread(buf, 1, (size_t)len, f);
	fclose(f);
	if (!buf) {
		snprintf(err, errlen, "etcd %s %s: cannot read (over 1 MiB?)", what, path);
		return NULL;
	}
	buf[n] = '\0';
	if (!strstr(buf, "-----BEGIN ")) {
		snprintf(err, errlen, "etcd %s %s: not a PEM file", what, path);
		free(buf);
		return NULL;
	}
	return buf;
}

/* "https://host:port" -> "host:port" into @out. */
static int parse_endpoint(const char *ep, size_t len, char *out, size_t outlen, char *err,
			  size_t errlen)
{
	static const char scheme[] = "https://";
	if (len > 7 && !strncmp(ep, "http://", 7)) {
		snprintf(err, errlen,
			 "etcd endpoint '%.*s': plain http is refused, use https:// (mutual TLS)",
			 (int)len, ep);
		return -1;
	}
	if (len <= sizeof(scheme) - 1 || strncmp(ep, scheme, sizeof(scheme) - 1) ||
	    len - (sizeof(scheme) - 1) >= outlen) {
		snprintf(err, errlen, "etcd endpoint '%.*s': want https://host:port", (int)len, ep);
		return -1;
	}
	snprintf(out, outlen, "%.*s", (int)(len - (sizeof(scheme) - 1)), ep + sizeof(scheme) - 1);
	if (out[strlen(out) - 1] == '/')
		out[strlen(out) - 1] = '\0';
	if (!strchr(out, ':')) {
		snprintf(err, errlen, "etcd endpoint '%.*s': no port", (int)len, ep);
		return -1;
	}
	return 0;
}

static grpc_channel_credentials *credentials(const struct rv_etcd_config *cfg, char *err,
					     size_t errlen)
{
	char *ca = NULL, *cert = NULL, *key = NULL;
	grpc_channel_credentials *creds = NULL;

	if (!cfg->ca || !cfg->cert || !cfg->key || !cfg->ca[0] || !cfg->cert[0] || !cfg->key[0]) {
		snprintf(err, errlen, "etcd: etcd_ca, etcd_cert and etcd_key must all be set");
		return NULL;
	}
	if ((ca = read_pem("etcd_ca", cfg->ca, err, errlen)) &&
	    (cert = read_pem("etcd_cert", cfg->cert, err, errlen)) &&
	    (key = read_pem("etcd_key", cfg->key, err, errlen))) {
		grpc_ssl_pem_key_cert_pair pair = {.private_key = key, .cert_chain = cert};
		creds = grpc_ssl_credentials_create(ca, &pair, NULL, NULL);
		if (!creds)
			snprintf(err, errlen, "etcd: grpc refused the TLS credentials");
	}
	free(ca);
	free(cert);
	if (key) {
		memset(key, 0, strlen(key));
		free(key);
	}
	return creds;
}

int rv_etcd_open(const struct rv_etcd_config *cfg, struct rv_etcd **out, char *err, size_t errlen)
{
	struct rv_etcd *e = calloc(1, sizeof(*e));
	grpc_channel_credentials *creds;
	const char *p = cfg->endpoints;

	if (!e) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	e->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
	pthread_mutex_init(&e->live_mu, NULL);
	while (p && *p) {
		size_t len = strcspn(p, ",");
		if (e->n == RV_ETCD_MAX_ENDPOINTS) {
			snprintf(err, errlen, "etcd: more than %d endpoints",
				 RV_ETCD_MAX_ENDPOINTS);
			goto err_free;
		}
		if (parse_endpoint(p, len, e->target[e->n], sizeof(e->target[0]), err, errlen))
			goto err_free;
		e->n++;
		p += len + (p[len] == ',');
	}
	if (e->n == 0) {
		snprintf(err, errlen, "etcd: no endpoint (want etcd:https://h1:2379,...)");
		goto err_free;
	}
	grpc_init();
	creds = credentials(cfg, err, errlen);
	if (!creds)
		goto err_grpc;
	for (unsigned i = 0; i < e->n; i++)
		e->ch[i] = grpc_channel_create(e->target[i], creds, NULL);
	grpc_channel_credentials_release(creds);
	e->cq = grpc_completion_queue_create_for_next(NULL);
	unsigned started = 0;
	while (started < RV_ETCD_POLLERS &&
	       pthread_create(&e->poller[started], NULL, poller_main, e) == 0)
		started++;
	if (started < RV_ETCD_POLLERS) {
		snprintf(err, errlen, "etcd: cannot start the client's threads");
		stop_pollers(e, started);
		goto err_channels;
	}

	/* Some member must answer now: a clear error at start-up rather than at
	 * the first RPC. The whole list is tried, once. */
	char first[512] = "";
	for (unsigned i = 0; i < e->n; i++) {
		uint64_t member, leader;
		char why[256];
		if (rv_etcd_status(e, i, &member, &leader, why, sizeof(why)) == 0) {
			atomic_store(&e->cur, i);
			*out = e;
			return 0;
		}
		if (!first[0])
			snprintf(first, sizeof(first), "%s", why);
	}
	snprintf(err, errlen,
		 "etcd: no endpoint of %s answered (%s); check that etcd runs and that "
		 "etcd_ca, etcd_cert and etcd_key match its certificates",
		 cfg->endpoints, first);
	stop_pollers(e, RV_ETCD_POLLERS);
err_channels:
	for (unsigned i = 0; i < e->n; i++)
		grpc_channel_destroy(e->ch[i]);
err_grpc:
	grpc_shutdown();
err_free:
	free(e);
	return -1;
}

void rv_etcd_shutdown(struct rv_etcd *e)
{
	if (!e)
		return;
	pthread_mutex_lock(&e->live_mu);
	atomic_store(&e->closing, true);
	for (struct waiter *w = e->live; w; w = w->next)
		grpc_call_cancel(w->call, NULL);
	pthread_mutex_unlock(&e->live_mu);
}

void rv_etcd_close(struct rv_etcd *e)
{
	if (!e)
		return;
	for (unsigned i = 0; i < e->n; i++)
		grpc_channel_destroy(e->ch[i]);
	stop_pollers(e, RV_ETCD_POLLERS);
	pthread_mutex_destroy(&e->live_mu);
	free(e);
	grpc_shutdown();
}

unsigned rv_etcd_endpoint_count(const struct rv_etcd *e)
{
	return e->n;
}

gpr_timespec rv_etcd_deadline(uint32_t ms)
{
	return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

/* One attempt on endpoint @i; the pollers wake us when it completes. */
static grpc_status_code call_once(struct rv_etcd *e, unsigned i, const char *path,
				  grpc_byte_buffer *req, grpc_byte_buffer **resp, char *err,
				  size_t errlen)
{
	struct waiter w = {.ok = false};
	bool closing = atomic_load(&e->closing);
	grpc_call *call = grpc_channel_create_call(
	    e->ch[i], NULL, GRPC_PROPAGATE_DEFAULTS, e->cq, grpc_slice_from_static_string(path),
	    NULL, rv_etcd_deadline(closing ? SHUTDOWN_ATTEMPT_MS : e->timeout_ms), NULL);
	grpc_metadata_array init_md, trailing;
	grpc_status_code status = GRPC_STATUS_INTERNAL;
	grpc_slice details = grpc_empty_slice();
	grpc_op ops[6];

	grpc_metadata_array_init(&init_md);
	grpc_metadata_array_init(&trailing);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = req;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &init_md;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = resp;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &trailing;
	ops[5].data.recv_status_on_client.status = &status;
	ops[5].data.recv_status_on_client.status_details = &details;
	sem_init(&w.done, 0, 0);
	w.call = call;
	pthread_mutex_lock(&e->live_mu); /* rv_etcd_shutdown may cancel it */
	w.next = e->live;
	if (e->live)
		e->live->prev = &w;
	e->live = &w;
	pthread_mutex_unlock(&e->live_mu);
	if (grpc_call_start_batch(call, ops, 6, &w, NULL) != GRPC_CALL_OK) {
		snprintf(err, errlen, "grpc refused the call");
	} else {
		if (!closing && atomic_load(&e->closing))
			grpc_call_cancel(call, NULL); /* shut down while it was being made */
		while (sem_wait(&w.done) != 0)	      /* EINTR */
			;
		if (!w.ok)
			status = GRPC_STATUS_INTERNAL;
		if (status != GRPC_STATUS_OK)
			snprintf(err, errlen, "%s on %s: %.*s (grpc status %d)", path, e->target[i],
				 (int)GRPC_SLICE_LENGTH(details),
				 (const char *)GRPC_SLICE_START_PTR(details), (int)status);
	}
	pthread_mutex_lock(&e->live_mu);
	if (w.prev)
		w.prev->next = w.next;
	else
		e->live = w.next;
	if (w.next)
		w.next->prev = w.prev;
	pthread_mutex_unlock(&e->live_mu);
	grpc_slice_unref(details);
	grpc_metadata_array_destroy(&init_md);
	grpc_metadata_array_destroy(&trailing);
	grpc_call_unref(call);
	sem_destroy(&w.done);
	return status;
}

static grpc_status_code call_on(struct rv_etcd *e, unsigned i, const char *path,
				const ProtobufCMessage *req,
				const ProtobufCMessageDescriptor *resp_desc,
				ProtobufCMessage **resp, char *err, size_t errlen)
{
	grpc_byte_buffer *in = rv_grpc_pb_pack(req), *outb = NULL;
	grpc_status_code st = call_once(e, i, path, in, &outb, err, errlen);

	grpc_byte_buffer_destroy(in);
	*resp = NULL;
	if (st == GRPC_STATUS_OK) {
		*resp = rv_grpc_pb_unpack(outb, resp_desc);
		if (!*resp) {
			st = GRPC_STATUS_INTERNAL;
			snprintf(err, errlen, "%s on %s: malformed reply", path, e->target[i]);
		}
	}
	if (outb)
		grpc_byte_buffer_destroy(outb);
	return st;
}

/* The statuses worth another endpoint: the member is down or unreachable,
 * has no leader, or lost it during the call (etcd answers UNAVAILABLE for
 * "leader changed", "no leader" and "request timed out"). */
static bool retryable(grpc_status_code st)
{
	return st == GRPC_STATUS_UNAVAILABLE || st == GRPC_STATUS_DEADLINE_EXCEEDED;
}

static void backoff(unsigned round)
{
	unsigned ms = round < 10 ? 20u * (round + 1) : 200u;
	struct timespec ts = {0, (long)ms * 1000000L};
	nanosleep(&ts, NULL);
}

grpc_status_code rv_etcd_call(struct rv_etcd *e, const char *path, const ProtobufCMessage *req,
			      const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
			      char *err, size_t errlen)
{
	gpr_timespec give_up = rv_etcd_deadline(RV_ETCD_RETRY_BUDGET_MS);
	unsigned start = atomic_load_explicit(&e->cur, memory_order_relaxed);
	grpc_status_code st;

	for (unsigned attempt = 0;; attempt++) {
		unsigned i = (start + attempt) % e->n;
		st = call_on(e, i, path, req, resp_desc, resp, err, errlen);
		if (st == GRPC_STATUS_OK) {
			if (i != start)
				atomic_store_explicit(&e->cur, i, memory_order_relaxed);
			return st;
		}
		if (!retryable(st) || gpr_time_cmp(gpr_now(GPR_CLOCK_MONOTONIC), give_up) > 0 ||
		    atomic_load(&e->closing))
			return st;
		/* A whole round failed: an election is under way; wait a little. */
		if ((attempt + 1) % e->n == 0)
			backoff((attempt + 1) / e->n - 1);
	}
}

int rv_etcd_status(struct rv_etcd *e, unsigned i, uint64_t *member, uint64_t *leader, char *err,
		   size_t errlen)
{
	Etcdserverpb__StatusRequest req = ETCDSERVERPB__STATUS_REQUEST__INIT;
	ProtobufCMessage *m;

	if (i >= e->n) {
		snprintf(err, errlen, "etcd: no endpoint %u", i);
		return -1;
	}
	if (call_on(e, i, "/etcdserverpb.Maintenance/Status", &req.base,
		    &etcdserverpb__status_response__descriptor, &m, err, errlen) != GRPC_STATUS_OK)
		return -1;
	Etcdserverpb__StatusResponse *r = (Etcdserverpb__StatusResponse *)m;
	*member = r->header ? r->header->member_id : 0;
	*leader = r->leader;
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

size_t rv_etcd_prefix_end(const void *prefix, size_t plen, uint8_t *out)
{
	const uint8_t *p = prefix;
	for (size_t n = plen; n > 0; n--) {
		if (p[n - 1] != 0xff) {
			memcpy(out, p, n - 1);
			out[n - 1] = (uint8_t)(p[n - 1] + 1);
			return n;
		}
	}
	out[0] = 0;
	return 1;
}
