/* Data-plane ownership by election on etcd (see dp_owner.h). One thread:
 * while not the owner it grants a lease and creates `dpowner` under it
 * with "absent" expected (one Txn); lost, it revokes that lease and waits
 * for the key's deletion (a watch), or a TTL, before it tries again. While
 * the owner it renews the lease every third of the TTL and moves its
 * deadline on; a renewal that finds the lease gone, or a deletion of the
 * key, ends its term at once. */
#include "dp_owner.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "etcd/etcd.h"
#include "log.h"

#define KEY	 "dpowner"
#define NS_PER_S 1000000000ull

static struct {
	bool on_etcd;
	_Atomic uint64_t until_ns; /* owner while now < until (monotonic); 0: not */
	_Atomic uint64_t fence, term;
	/* the thread and its wake-ups */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	bool running, stop, key_gone;
	char holder[256]; /* under mu */
	void (*_Atomic wake)(void);
	/* the thread's own */
	struct rv_etcd *e;
	struct rv_etcd_watch *watch;
	char me[256];
	int64_t ttl_s, lease;
} o = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

bool rv_dp_owner_is_me(void)
{
	return !o.on_etcd || rv_control_now_mono() < atomic_load(&o.until_ns);
}

uint64_t rv_dp_owner_fence(void)
{
	return o.on_etcd ? atomic_load(&o.fence) : 0;
}

uint64_t rv_dp_owner_term(void)
{
	return atomic_load(&o.term);
}

void rv_dp_owner_set_wake(void (*wake)(void))
{
	atomic_store(&o.wake, wake);
}

void rv_dp_owner_holder(char *out, size_t len)
{
	pthread_mutex_lock(&o.mu);
	snprintf(out, len, "%s", o.on_etcd ? o.holder : "this control plane (rocksdb)");
	pthread_mutex_unlock(&o.mu);
}

static void set_holder(const char *who, size_t n)
{
	pthread_mutex_lock(&o.mu);
	snprintf(o.holder, sizeof(o.holder), "%.*s", (int)n, who);
	pthread_mutex_unlock(&o.mu);
}

/* The lease grant (@elected) or renewal that started at @t0 left @ttl_s:
 * owner until four fifths of it (etcd counts from when it received the
 * request, later). A renewal does not undo a step-down that came
 * meanwhile (the key was deleted: until 0). A new term when it was not the
 * owner at @t0 (elected, or its term lapsed meanwhile and deltas were
 * dropped): the sync thread is woken for its Resync. */
static void hold_until(uint64_t t0, int64_t ttl_s, bool elected)
{
	uint64_t until = t0 + (uint64_t)ttl_s * NS_PER_S * 4 / 5;
	uint64_t was = atomic_load(&o.until_ns);
	do {
		if (!was && !elected)
			return;
	} while (!atomic_compare_exchange_weak(&o.until_ns, &was, until));
	if (was <= t0) {
		atomic_fetch_add(&o.term, 1);
		void (*wake)(void) = atomic_load(&o.wake);
		if (wake)
			wake();
	}
}

static void step_down(const char *why)
{
	if (!atomic_exchange(&o.until_ns, 0))
		return;
	rv_log(RV_LOG_WARN, "data-plane owner: no longer the owner (fence %llu): %s",
	       (unsigned long long)atomic_load(&o.fence), why);
}

/* The watch on `dpowner` (its own thread): a deletion wakes the election;
 * a deletion after our own creation ends our term. */
static void on_event(void *arg, enum rv_etcd_event_type type, const void *key, size_t klen,
		     const void *val, size_t vlen, int64_t revision)
{
	(void)arg;
	if (klen != strlen(KEY) || memcmp(key, KEY, klen) != 0)
		return;
	if (type == RV_ETCD_PUT) {
		set_holder(val, vlen);
		return;
	}
	if ((uint64_t)revision > atomic_load(&o.fence))
		step_down("key dpowner was deleted");
	pthread_mutex_lock(&o.mu);
	o.holder[0] = '\0';
	o.key_gone = true;
	pthread_cond_signal(&o.cv);
	pthread_mutex_unlock(&o.mu);
}

/* One Txn: create `dpowner` under @lease if absent, else read it. 1 won
 * (*@rev its revision), 0 held by another (*@rev the Txn's revision), -1
 * failed. */
static int try_create(int64_t lease, int64_t *rev, char *err, size_t errlen)
{
	Etcdserverpb__Compare cmp = ETCDSERVERPB__COMPARE__INIT, *cmpp = &cmp;
	Etcdserverpb__PutRequest put = ETCDSERVERPB__PUT_REQUEST__INIT;
	Etcdserverpb__RangeRequest get = ETCDSERVERPB__RANGE_REQUEST__INIT;
	Etcdserverpb__RequestOp yes = ETCDSERVERPB__REQUEST_OP__INIT, *yesp = &yes;
	Etcdserverpb__RequestOp no = ETCDSERVERPB__REQUEST_OP__INIT, *nop = &no;
	Etcdserverpb__TxnRequest txn = ETCDSERVERPB__TXN_REQUEST__INIT;
	ProtobufCBinaryData key = {strlen(KEY), (uint8_t *)KEY};
	ProtobufCMessage *m;

	cmp.key = key;
	cmp.result = ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL;
	cmp.target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__VERSION;
	cmp.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VERSION;
	cmp.version = 0; /* absent */
	put.key = key;
	put.value = (ProtobufCBinaryData){strlen(o.me), (uint8_t *)o.me};
	put.lease = lease;
	yes.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
	yes.request_put = &put;
	get.key = key;
	no.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
	no.request_range = &get;
	txn.n_compare = 1;
	txn.compare = &cmpp;
	txn.n_success = 1;
	txn.success = &yesp;
	txn.n_failure = 1;
	txn.failure = &nop;
	if (rv_etcd_call(o.e, "/etcdserverpb.KV/Txn", &txn.base,
			 &etcdserverpb__txn_response__descriptor, &m, err,
			 errlen) != GRPC_STATUS_OK)
		return -1;
	Etcdserverpb__TxnResponse *r = (Etcdserverpb__TxnResponse *)m;
	int won = r->succeeded ? 1 : 0;
	*rev = r->header ? r->header->revision : 0;
	if (!won && r->n_responses && r->responses[0]->response_range &&
	    r->responses[0]->response_range->n_kvs) {
		Mvccpb__KeyValue *kv = r->responses[0]->response_range->kvs[0];
		set_holder((const char *)kv->value.data, kv->value.len);
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return won;
}

/* Wait up to @ns, or until woken (stop, the key deleted). */
static void nap(uint64_t ns)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t t = (uint64_t)ts.tv_nsec + ns;
	ts.tv_sec += (time_t)(t / NS_PER_S);
	ts.tv_nsec = (long)(t % NS_PER_S);
	pthread_mutex_lock(&o.mu);
	while (!o.stop && !o.key_gone && pthread_cond_timedwait(&o.cv, &o.mu, &ts) == 0)
		;
	o.key_gone = false;
	pthread_mutex_unlock(&o.mu);
}

/* Not the owner: one attempt. */
static void campaign(void)
{
	char err[256];
	int64_t rev = 0;
	uint64_t t0 = rv_control_now_mono();

	/* a fresh lease every attempt: its whole TTL counts from t0 (one of a
	 * term ended by the key's deletion goes first) */
	if (o.lease)
		rv_etcd_lease_revoke(o.e, o.lease, err, sizeof(err));
	o.lease = 0;
	if (rv_etcd_lease_grant(o.e, o.ttl_s, &o.lease, err, sizeof(err)) < 0) {
		rv_log(RV_LOG_WARN, "data-plane owner: lease grant: %s", err);
		o.lease = 0;
		nap(NS_PER_S);
		return;
	}
	int won = try_create(o.lease, &rev, err, sizeof(err));
	if (won == 1) {
		atomic_store(&o.fence, (uint64_t)rev);
		set_holder(o.me, strlen(o.me));
		hold_until(t0, o.ttl_s, true);
		rv_log(RV_LOG_INFO,
		       "data-plane owner: elected as %s, fence %lld (lease %llx, %llds)", o.me,
		       (long long)rev, (unsigned long long)o.lease, (long long)o.ttl_s);
		return;
	}
	if (won < 0)
		rv_log(RV_LOG_WARN, "data-plane owner: election: %s", err);
	/* lost (or failed: the lease may be gone already): no lease of ours
	 * lingers beyond its TTL, a fresh one next time */
	if (o.lease)
		rv_etcd_lease_revoke(o.e, o.lease, err, sizeof(err));
	o.lease = 0;
	nap(won < 0 ? NS_PER_S : (uint64_t)o.ttl_s * NS_PER_S);
}

/* The owner: one renewal, then a third of the TTL. */
static void renew(void)
{
	char err[256];
	int64_t left = 0;
	uint64_t t0 = rv_control_now_mono();

	if (rv_etcd_lease_keepalive_once(o.e, o.lease, &left, err, sizeof(err)) < 0) {
		rv_log(RV_LOG_WARN, "data-plane owner: lease renewal: %s", err);
	} else if (left <= 0) {
		step_down("its lease expired");
		o.lease = 0;
		return;
	} else {
		hold_until(t0, left < o.ttl_s ? left : o.ttl_s, false);
	}
	nap((uint64_t)o.ttl_s * NS_PER_S / 3);
}

static void *owner_main(void *arg)
{
	pthread_setname_np(pthread_self(), "rv-dp-owner"); /* top -H, perf */
	(void)arg;
	pthread_mutex_lock(&o.mu);
	while (!o.stop) {
		pthread_mutex_unlock(&o.mu);
		if (atomic_load(&o.until_ns) && o.lease)
			renew();
		else
			campaign();
		pthread_mutex_lock(&o.mu);
	}
	pthread_mutex_unlock(&o.mu);
	return NULL;
}

void rv_dp_owner_init(const struct rv_control *ctl)
{
	o.on_etcd = !strncmp(ctl->cfg.store, "etcd:", 5);
	atomic_store(&o.until_ns, 0);
	atomic_store(&o.fence, 0);
}

int rv_dp_owner_start(const struct rv_control *ctl, const char *replica_id, char *err,
		      size_t errlen)
{
	struct rv_etcd_config cfg = {.endpoints = ctl->cfg.store + 5,
				     .ca = ctl->cfg.etcd_ca,
				     .cert = ctl->cfg.etcd_cert,
				     .key = ctl->cfg.etcd_key};

	if (!o.on_etcd)
		return 0;
	snprintf(o.me, sizeof(o.me), "%s", replica_id);
	o.ttl_s = ctl->cfg.dp_owner_ttl_s;
	o.stop = o.key_gone = false;
	if (rv_etcd_open(&cfg, &o.e, err, errlen) < 0)
		return -1;
	o.watch = rv_etcd_watch_start(o.e, KEY, strlen(KEY), 0, on_event, NULL, err, errlen);
	if (!o.watch)
		goto err_close;
	if (pthread_create(&o.thread, NULL, owner_main, NULL) != 0) {
		snprintf(err, errlen, "data-plane owner: cannot start its thread");
		goto err_watch;
	}
	o.running = true;
	return 0;
err_watch:
	rv_etcd_watch_stop(o.watch);
	o.watch = NULL;
err_close:
	rv_etcd_close(o.e);
	o.e = NULL;
	return -1;
}

void rv_dp_owner_stop(void)
{
	char err[256];

	if (!o.running)
		return;
	pthread_mutex_lock(&o.mu);
	o.stop = true;
	pthread_cond_signal(&o.cv);
	pthread_mutex_unlock(&o.mu);
	rv_etcd_shutdown(o.e); /* its call in flight ends now, the revoke below gets 1 s */
	pthread_join(o.thread, NULL);
	o.running = false;
	atomic_store(&o.until_ns, 0); /* no request is sent after this */
	rv_etcd_watch_stop(o.watch);
	o.watch = NULL;
	/* the key goes with the lease: the next owner need not wait a TTL */
	if (o.lease && rv_etcd_lease_revoke(o.e, o.lease, err, sizeof(err)) < 0)
		rv_log(RV_LOG_WARN, "data-plane owner: lease revoke: %s", err);
	o.lease = 0;
	rv_etcd_close(o.e);
	o.e = NULL;
}
