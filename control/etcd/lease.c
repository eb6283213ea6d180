/* etcd leases: grant, revoke, keep-alive. A keep-alive is one message on
 * the LeaseKeepAlive stream; each renewal opens the stream, sends one
 * request, half-closes and reads the one answer, so it goes through the
 * same failover as every unary call (client.c). The keep-alive thread
 * renews every interval and reports a lost lease once. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "etcd/client.h"

int rv_etcd_lease_grant(struct rv_etcd *e, int64_t ttl_s, int64_t *id, char *err, size_t errlen)
{
	Etcdserverpb__LeaseGrantRequest req = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
	ProtobufCMessage *m;

	req.ttl = ttl_s;
	if (rv_etcd_call(e, "/etcdserverpb.Lease/LeaseGrant", &req.base,
			 &etcdserverpb__lease_grant_response__descriptor, &m, err,
			 errlen) != GRPC_STATUS_OK)
		return -1;
	Etcdserverpb__LeaseGrantResponse *r = (Etcdserverpb__LeaseGrantResponse *)m;
	int rc = 0;
	if (r->error && r->error[0]) {
		snprintf(err, errlen, "etcd lease grant: %s", r->error);
		rc = -1;
	}
	*id = r->id;
	protobuf_c_message_free_unpacked(m, NULL);
	return rc;
}

int rv_etcd_lease_revoke(struct rv_etcd *e, int64_t id, char *err, size_t errlen)
{
	Etcdserverpb__LeaseRevokeRequest req = ETCDSERVERPB__LEASE_REVOKE_REQUEST__INIT;
	ProtobufCMessage *m;

	req.id = id;
	if (rv_etcd_call(e, "/etcdserverpb.Lease/LeaseRevoke", &req.base,
			 &etcdserverpb__lease_revoke_response__descriptor, &m, err,
			 errlen) != GRPC_STATUS_OK)
		return -1;
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

int rv_etcd_lease_keepalive_once(struct rv_etcd *e, int64_t id, int64_t *ttl_s, char *err,
				 size_t errlen)
{
	Etcdserverpb__LeaseKeepAliveRequest req = ETCDSERVERPB__LEASE_KEEP_ALIVE_REQUEST__INIT;
	ProtobufCMessage *m;

	req.id = id;
	if (rv_etcd_call(e, "/etcdserverpb.Lease/LeaseKeepAlive", &req.base,
			 &etcdserverpb__lease_keep_alive_response__descriptor, &m, err,
			 errlen) != GRPC_STATUS_OK)
		return -1;
	*ttl_s = ((Etcdserverpb__LeaseKeepAliveResponse *)m)->ttl;
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

struct rv_etcd_keepalive {
	struct rv_etcd *e;
	int64_t id, ttl_s;
	uint32_t interval_ms;
	rv_etcd_lease_lost_cb on_lost;
	void *arg;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;	   /* under lock */
	uint64_t renewals; /* under lock */
};

static struct timespec after_ms(uint32_t ms)
{
	return rv_clock_deadline(CLOCK_MONOTONIC, ms * 1000000ull);
}

static void *keepalive_main(void *arg)
{
	struct rv_etcd_keepalive *k = arg;
	struct timespec last_ok, now;
	bool lost = false;

	clock_gettime(CLOCK_MONOTONIC, &last_ok);
	pthread_mutex_lock(&k->lock);
	while (!k->stop && !lost) {
		pthread_mutex_unlock(&k->lock);
		int64_t ttl = 0;
		char err[256];
		int rc = rv_etcd_lease_keepalive_once(k->e, k->id, &ttl, err, sizeof(err));
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (rc == 0 && ttl > 0)
			last_ok = now;
		/* Gone (TTL 0) or unrenewed for a whole TTL: the keys are gone too. */
		lost = (rc == 0 && ttl <= 0) || now.tv_sec - last_ok.tv_sec >= k->ttl_s;
		pthread_mutex_lock(&k->lock);
		if (rc == 0 && ttl > 0)
			k->renewals++;
		pthread_cond_broadcast(&k->wake);
		if (!lost && !k->stop) {
			struct timespec until = after_ms(k->interval_ms);
			pthread_cond_timedwait(&k->wake, &k->lock, &until);
		}
	}
	pthread_mutex_unlock(&k->lock);
	if (lost && k->on_lost)
		k->on_lost(k->arg, k->id);
	return NULL;
}

struct rv_etcd_keepalive *rv_etcd_keepalive_start(struct rv_etcd *e, int64_t id, int64_t ttl_s,
						  uint32_t interval_ms,
						  rv_etcd_lease_lost_cb on_lost, void *arg)
{
	struct rv_etcd_keepalive *k = calloc(1, sizeof(*k));
	pthread_condattr_t ca;

	if (!k)
		return NULL;
	*k = (struct rv_etcd_keepalive){.e = e,
					.id = id,
					.ttl_s = ttl_s,
					.interval_ms = interval_ms,
					.on_lost = on_lost,
					.arg = arg};
	pthread_mutex_init(&k->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&k->wake, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&k->thread, NULL, keepalive_main, k) != 0) {
		pthread_cond_destroy(&k->wake);
		pthread_mutex_destroy(&k->lock);
		free(k);
		return NULL;
	}
	return k;
}

uint64_t rv_etcd_keepalive_renewals(struct rv_etcd_keepalive *k)
{
	pthread_mutex_lock(&k->lock);
	uint64_t n = k->renewals;
	pthread_mutex_unlock(&k->lock);
	return n;
}

bool rv_etcd_keepalive_wait(struct rv_etcd_keepalive *k, uint64_t n, uint32_t timeout_ms)
{
	struct timespec until = after_ms(timeout_ms);
	int rc = 0;
	pthread_mutex_lock(&k->lock);
	while (k->renewals < n && rc == 0)
		rc = pthread_cond_timedwait(&k->wake, &k->lock, &until);
	bool ok = k->renewals >= n;
	pthread_mutex_unlock(&k->lock);
	return ok;
}

void rv_etcd_keepalive_stop(struct rv_etcd_keepalive *k)
{
	if (!k)
		return;
	pthread_mutex_lock(&k->lock);
	k->stop = true;
	pthread_cond_broadcast(&k->wake);
	pthread_mutex_unlock(&k->lock);
	pthread_join(k->thread, NULL);
	pthread_cond_destroy(&k->wake);
	pthread_mutex_destroy(&k->lock);
	free(k);
}
