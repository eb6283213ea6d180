/* The local tunnels' records in etcd (see replica.h): tun/<peer-id> ->
 * TunnelRecord under this replica's lease.
 *
 * The registry only queues peer-ids (rv_tunnels_record_ops, lock held, no
 * I/O); this module's thread takes up to RECORDS_PER_TXN of them, builds
 * each record from the registry as it is THEN (under the lock, so a queued
 * change is never older than the registry), and writes them in one Txn of
 * nested Txns, one per record, each with its own condition:
 *   claim    a new tunnel: put if the key is absent (no replica holds that
 *            peer-id); the registering thread waits for the answer
 *   changed  a local tunnel: put if the key is ours (our lease) or absent;
 *            a tunnel gone from the registry: delete if the key is ours
 *   force    a takeover, or every local tunnel after a new lease: put
 * An outer Txn without compares always succeeds; each nested Txn reports
 * its own outcome. A failed write is queued again after a second.
 *
 * While etcd is unreachable the queue (replica_queue.c) must not grow
 * with each re-key: a peer-id has at most one op queued, a newer one
 * merged into it (the record is read when written, so the last state
 * wins), and past 2 x max_tunnels + a batch, ops of new peer-ids are
 * refused, counted and logged; a refused claim fails its Bootstrap
 * (UNAVAILABLE). A refused
 * change waits for the tunnel's next change, or for the next lease (an
 * outage longer than its TTL), after which every local tunnel's record is
 * published again (republish). */
#include "replica.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "clock.h"
#include "etcd/etcd.h"
#include "log.h"
#include "replica_queue.h"
#include "store.h"
#include "store_keys.h"

/* Nested Txns of one write: the outer and each nested Txn's ops together
 * stay within etcd's --max-txn-ops (128). */
#define RECORDS_PER_TXN 100
/* Pending ops at most with max_tunnels = 0 (no limit): 2 x 1,000,000 + a
 * batch, as with the default max_tunnels. */
#define RECORDS_QUEUE_NO_LIMIT (2u * 1000000u + RECORDS_PER_TXN)

static struct {
	struct rv_control *ctl;
	struct rv_etcd *e;
	rv_replica_records_call_fn call; /* tests; NULL: rv_etcd_call */
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	struct rv_replica_queue q;
	bool stop, running;
	pthread_t thread;
} wr = {.mu = PTHREAD_MUTEX_INITIALIZER,
	.work = PTHREAD_COND_INITIALIZER,
	.done = PTHREAD_COND_INITIALIZER};

/* Queues @op (wr.mu held) and wakes the thread. */
static void push(struct rv_record_op op, bool again)
{
	if (rv_replica_queue_push(&wr.q, op, again))
		pthread_cond_signal(&wr.work);
}

static void changed(uint32_t peer_id)
{
	pthread_mutex_lock(&wr.mu);
	push((struct rv_record_op){.kind = RV_RECORD_CHANGED, .peer_id = peer_id}, false);
	pthread_mutex_unlock(&wr.mu);
}

void rv_replica_records_force(const struct rv_tunnel *t)
{
	struct rv_record_op op = {.kind = RV_RECORD_FORCE, .peer_id = t->peer_id};

	op.val = rv_replica_records_pack(t, &op.vlen);
	pthread_mutex_lock(&wr.mu);
	if (!op.val)
		rv_replica_queue_refuse(&wr.q, &op, "out of memory");
	else
		push(op, false);
	pthread_mutex_unlock(&wr.mu);
}

static int claim(uint32_t peer_id)
{
	struct rv_record_waiter w = {.rc = -1};

	pthread_mutex_lock(&wr.mu);
	push((struct rv_record_op){.kind = RV_RECORD_CLAIM, .peer_id = peer_id, .w = &w}, false);
	while (!w.done)
		pthread_cond_wait(&wr.done, &wr.mu);
	pthread_mutex_unlock(&wr.mu);
	return w.rc;
}

size_t rv_replica_records_queued(void)
{
	pthread_mutex_lock(&wr.mu);
	size_t n = wr.q.count;
	pthread_mutex_unlock(&wr.mu);
	return n;
}

uint64_t rv_replica_records_dropped(void)
{
	pthread_mutex_lock(&wr.mu);
	uint64_t n = wr.q.dropped;
	pthread_mutex_unlock(&wr.mu);
	return n;
}

void rv_replica_records_set_call(rv_replica_records_call_fn fn)
{
	wr.call = fn;
}

static const struct rv_tunnels_record_ops record_ops = {.changed = changed,
							.claim = claim,
							.fetch = rv_replica_mirror_fetch,
							.take_over = rv_replica_mirror_take_over};

void rv_replica_records_wake(void)
{
	pthread_mutex_lock(&wr.mu);
	pthread_cond_signal(&wr.work);
	pthread_mutex_unlock(&wr.mu);
}

uint8_t *rv_replica_records_pack(const struct rv_tunnel *t, size_t *len)
{
	Roomvpn__V1__TunnelRecord r = ROOMVPN__V1__TUNNEL_RECORD__INIT;
	uint64_t now = rv_control_now_mono(), age = now > t->created_ns ? now - t->created_ns : 0;

	r.room = t->room_id;
	r.device = t->device;
	r.user = t->user;
	r.peer_id = t->peer_id;
	r.replica = wr.ctl->cfg.replica_id;
	r.created_unix_ms = (rv_control_now_real() - age) / 1000000u;
	if (t->keyed) {
		r.vip = t->vip;
		if (t->has_vip6)
			r.vip6 = (ProtobufCBinaryData){sizeof(t->vip6), (uint8_t *)t->vip6};
		r.suite = t->suite;
		r.key_id = t->push_key_id;
		r.key = (ProtobufCBinaryData){sizeof(t->km), (uint8_t *)&t->km};
	}
	*len = roomvpn__v1__tunnel_record__get_packed_size(&r);
	uint8_t *buf = malloc(*len ? *len : 1);
	if (buf)
		roomvpn__v1__tunnel_record__pack(&r, buf);
	return buf;
}

/* ---- One write --------------------------------------------------------- */

/* A nested Txn: if (cmp) then act [else fallback]. */
struct nested {
	Etcdserverpb__RequestOp outer;
	Etcdserverpb__TxnRequest txn, fb_txn;
	Etcdserverpb__Compare cmp, fb_cmp, *cmps[1], *fb_cmps[1];
	Etcdserverpb__RequestOp act, fb_op, fb_act, *acts[1], *fbs[1], *fb_acts[1];
	Etcdserverpb__PutRequest put;
	Etcdserverpb__DeleteRangeRequest del;
	char key[RV_KEY_TUNNEL_LEN];
	uint8_t *val; /* the record (key material: wiped) */
	size_t vlen;
	bool skip;	   /* nothing to write (a foreign tunnel's, a gone tunnel's claim) */
	bool then_changed; /* a takeover then an End: the put now, the delete next */
};

static ProtobufCBinaryData bin(const void *p, size_t n)
{
	return (ProtobufCBinaryData){n, (uint8_t *)p};
}

static void compare(Etcdserverpb__Compare *c, const char *key, bool lease, int64_t value)
{
	etcdserverpb__compare__init(c);
	c->key = bin(key, RV_KEY_TUNNEL_LEN);
	c->result = ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL;
	if (lease) {
		c->target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__LEASE;
		c->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_LEASE;
		c->lease = value;
	} else { /* absent: version 0 */
		c->target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__VERSION;
		c->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VERSION;
		c->version = value;
	}
}

static void txn_op(Etcdserverpb__RequestOp *op, Etcdserverpb__TxnRequest *t)
{
	etcdserverpb__request_op__init(op);
	op->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN;
	op->request_txn = t;
}

/* Fill @x for @op from the registry (lock held). */
static void build(struct nested *x, const struct rv_record_op *op, int64_t lease)
{
	struct rv_tunnel *t = rv_tunnels_find(op->peer_id);
	bool local = t && !t->foreign, foreign = t && t->foreign;
	bool force = op->kind == RV_RECORD_FORCE || op->kind == RV_RECORD_FORCE_NOW;
	/* the record as queued, whatever the registry holds now */
	bool as_queued =
	    op->kind == RV_RECORD_FORCE || (op->kind == RV_RECORD_FORCE_NOW && (foreign || !t));

	memset(x, 0, sizeof(*x));
	/* A takeover merged with the End that followed it: the other replicas
	 * must see the takeover (a put naming this replica: they drop their
	 * copy) before the delete, or the one that held it keeps it (a delete
	 * alone reads as its lease lapsing). Two writes, in that order. */
	x->then_changed = op->kind == RV_RECORD_FORCE_NOW && !t;
	rv_key_tunnel(x->key, op->peer_id);
	if (as_queued) {
		local = true;
	} else if ((op->kind == RV_RECORD_CLAIM && !local) || foreign ||
		   (local && !(x->val = rv_replica_records_pack(t, &x->vlen)))) {
		x->skip = true;
		return;
	}
	etcdserverpb__txn_request__init(&x->txn);
	txn_op(&x->outer, &x->txn);
	etcdserverpb__request_op__init(&x->act);
	x->acts[0] = &x->act;
	x->txn.n_success = 1;
	x->txn.success = x->acts;
	if (!local) { /* gone: delete if ours (forced: whoever's) */
		etcdserverpb__delete_range_request__init(&x->del);
		x->del.key = bin(x->key, sizeof(x->key));
		x->act.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
		x->act.request_delete_range = &x->del;
		compare(&x->cmp, x->key, true, lease);
	} else {
		etcdserverpb__put_request__init(&x->put);
		x->put.key = bin(x->key, sizeof(x->key));
		x->put.value = as_queued ? bin(op->val, op->vlen) : bin(x->val, x->vlen);
		x->put.lease = lease;
		x->act.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
		x->act.request_put = &x->put;
		compare(&x->cmp, x->key, op->kind == RV_RECORD_CHANGED,
			op->kind == RV_RECORD_CHANGED ? lease : 0);
	}
	if (!force) {
		x->cmps[0] = &x->cmp;
		x->txn.n_compare = 1;
		x->txn.compare = x->cmps;
	}
	if (op->kind == RV_RECORD_CHANGED && local) { /* else: put if absent */
		etcdserverpb__txn_request__init(&x->fb_txn);
		txn_op(&x->fb_op, &x->fb_txn);
		x->fbs[0] = &x->fb_op;
		x->txn.n_failure = 1;
		x->txn.failure = x->fbs;
		compare(&x->fb_cmp, x->key, false, 0);
		x->fb_cmps[0] = &x->fb_cmp;
		x->fb_txn.n_compare = 1;
		x->fb_txn.compare = x->fb_cmps;
		x->fb_act = x->act;
		x->fb_acts[0] = &x->fb_act;
		x->fb_txn.n_success = 1;
		x->fb_txn.success = x->fb_acts;
	}
}

/* Writes ops @v[0..n) (their peer-ids distinct); rc per op into @rc: 0, or
 * RV_STORE_CONFLICT (a claim's key existed). -1: the write failed. */
static int write_ops(const struct rv_record_op *v, size_t n, int *rc, bool *then_changed)
{
	struct nested *x = calloc(n, sizeof(*x));
	Etcdserverpb__RequestOp **outer = calloc(n, sizeof(*outer));
	Etcdserverpb__TxnRequest txn = ETCDSERVERPB__TXN_REQUEST__INIT;
	int64_t lease = rv_replica_lease();
	size_t *at = calloc(n, sizeof(*at));
	int ret = -1;
	char err[256];

	if (!x || !outer || !at)
		goto out;
	rv_tunnels_lock();
	for (size_t i = 0; i < n; i++) {
		build(&x[i], &v[i], lease);
		then_changed[i] = x[i].then_changed;
		rc[i] = v[i].kind == RV_RECORD_CLAIM && x[i].skip ? -1 : 0;
		at[i] = txn.n_success;
		if (!x[i].skip)
			outer[txn.n_success++] = &x[i].outer;
	}
	rv_tunnels_unlock();
	ret = 0;
	if (!txn.n_success)
		goto out;
	txn.success = outer;
	ProtobufCMessage *m;
	if ((wr.call ? wr.call : rv_etcd_call)(wr.e, "/etcdserverpb.KV/Txn", &txn.base,
					       &etcdserverpb__txn_response__descriptor, &m, err,
					       sizeof(err)) != GRPC_STATUS_OK) {
		rv_log(RV_LOG_WARN, "tunnel records: writing %zu records: %s", txn.n_success, err);
		if (strstr(err, "lease not found"))
			rv_replica_lease_gone(); /* re-granted, everything published again */
		ret = -1;
		goto out;
	}
	Etcdserverpb__TxnResponse *r = (Etcdserverpb__TxnResponse *)m;
	for (size_t i = 0; i < n; i++) {
		if (x[i].skip || v[i].kind != RV_RECORD_CLAIM)
			continue;
		Etcdserverpb__ResponseOp *o = at[i] < r->n_responses ? r->responses[at[i]] : NULL;
		bool ok = o &&
			  o->response_case == ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_TXN &&
			  o->response_txn->succeeded;
		rc[i] = ok ? 0 : RV_STORE_CONFLICT;
	}
	protobuf_c_message_free_unpacked(m, NULL);
out:
	for (size_t i = 0; x && i < n; i++)
		if (x[i].val) {
			OPENSSL_cleanse(x[i].val, x[i].vlen);
			free(x[i].val);
		}
	free(x);
	free(outer);
	free(at);
	return ret;
}

/* ---- The thread -------------------------------------------------------- */

static void republish_one(struct rv_tunnel *t, void *arg)
{
	(void)arg;
	if (!t->foreign && t->peer_id)
		rv_replica_records_force(t);
}

/* After a new lease: every local tunnel's record again (lock held while
 * queueing only). */
static void republish(void)
{
	rv_tunnels_lock();
	rv_tunnels_each(republish_one, NULL);
	size_t n = rv_tunnels_count();
	rv_tunnels_unlock();
	rv_log(RV_LOG_INFO,
	       "tunnel records: publishing this replica's tunnels again (%zu in the "
	       "registry)",
	       n);
}

static void wait_ms(unsigned ms)
{
	struct timespec ts = rv_clock_deadline(CLOCK_REALTIME, ms * 1000000ull);
	while (!wr.stop && pthread_cond_timedwait(&wr.work, &wr.mu, &ts) != ETIMEDOUT)
		;
}

static void *writer_main(void *arg)
{
	pthread_setname_np(pthread_self(), "rv-replica-wr"); /* top -H, perf */
	static struct rv_record_op batch[RECORDS_PER_TXN];
	int rc[RECORDS_PER_TXN];
	bool then_changed[RECORDS_PER_TXN];
	(void)arg;

	pthread_mutex_lock(&wr.mu);
	while (!wr.stop) {
		pthread_mutex_unlock(&wr.mu);
		if (rv_replica_lease_renew_if_lost())
			republish();
		pthread_mutex_lock(&wr.mu);
		size_t n = rv_replica_queue_take(&wr.q, batch, RECORDS_PER_TXN);
		if (!n) {
			pthread_cond_wait(&wr.work, &wr.mu);
			continue;
		}
		pthread_mutex_unlock(&wr.mu);
		int ret = write_ops(batch, n, rc, then_changed);
		pthread_mutex_lock(&wr.mu);
		for (size_t i = 0; i < n; i++) {
			if (batch[i].w) {
				batch[i].w->rc = ret < 0 ? -1 : rc[i];
				batch[i].w->done = true;
			} else if (ret < 0) { /* again after the pause */
				push(batch[i], true);
			} else {
				uint32_t peer_id = batch[i].peer_id;
				rv_replica_queue_op_free(&batch[i]);
				if (then_changed[i]) /* the End's delete, in the next write */
					push((struct rv_record_op){.kind = RV_RECORD_CHANGED,
								   .peer_id = peer_id},
					     true);
			}
		}
		pthread_cond_broadcast(&wr.done);
		if (ret < 0)
			wait_ms(1000);
	}
	rv_replica_queue_clear(&wr.q); /* claims still queued: answered -1 */
	pthread_cond_broadcast(&wr.done);
	pthread_mutex_unlock(&wr.mu);
	return NULL;
}

int rv_replica_records_start(struct rv_control *ctl, struct rv_etcd *e, char *err, size_t errlen)
{
	wr.ctl = ctl;
	wr.e = e;
	wr.stop = false;
	wr.q.max = ctl->cfg.max_tunnels ? 2 * (size_t)ctl->cfg.max_tunnels + RECORDS_PER_TXN
					: RECORDS_QUEUE_NO_LIMIT;
	if (pthread_create(&wr.thread, NULL, writer_main, NULL) != 0) {
		snprintf(err, errlen, "cannot start the tunnel records thread");
		return -1;
	}
	wr.running = true;
	rv_tunnels_set_record_ops(&record_ops);
	return 0;
}

void rv_replica_records_stop(void)
{
	if (!wr.running)
		return;
	rv_tunnels_lock();
	rv_tunnels_set_record_ops(NULL);
	rv_tunnels_unlock();
	pthread_mutex_lock(&wr.mu);
	wr.stop = true;
	pthread_cond_broadcast(&wr.work);
	pthread_mutex_unlock(&wr.mu);
	pthread_join(wr.thread, NULL);
	wr.running = false;
}
