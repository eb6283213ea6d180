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
 * While etcd is unreachable the queue must not grow with each re-key:
 * a peer-id has at most one op queued, a newer one merged into it (the
 * record is read when written, so the last state wins), and past
 * 2 x max_tunnels + a batch ops of new peer-ids are refused, counted and
 * logged; a refused claim fails its Bootstrap (UNAVAILABLE). A refused
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
#include "store.h"
#include "store_keys.h"

/* Nested Txns of one write: the outer and each nested Txn's ops together
 * stay within etcd's --max-txn-ops (128). */
#define RECORDS_PER_TXN 100
/* Pending ops at most with max_tunnels = 0 (no limit): 2 x 1,000,000 + a
 * batch, as with the default max_tunnels. */
#define RECORDS_QUEUE_NO_LIMIT (2u * 1000000u + RECORDS_PER_TXN)
/* A full queue is logged at most once per interval. */
#define RECORDS_DROP_LOG_NS (10ull * 1000000000ull)

/* CLAIM     a new tunnel: put if absent; a thread waits for the answer
 * CHANGED   put as the registry holds the tunnel then, if ours or absent;
 *           a gone tunnel: delete if ours
 * FORCE     put the record as it was when queued, unconditionally
 * FORCE_NOW a FORCE then a CHANGED: put as the registry holds the tunnel
 *           then, unconditionally; a gone tunnel: delete if ours */
enum kind { NONE, CLAIM, CHANGED, FORCE, FORCE_NOW };

struct waiter {
	int rc;
	bool done;
};

struct op {
	enum kind kind; /* NONE: an empty slot of wr.tab */
	uint32_t peer_id;
	struct waiter *w; /* CLAIM */
	uint8_t *val;	  /* FORCE: the record as it was when queued */
	size_t vlen;
};

static void op_free(struct op *op)
{
	if (op->val) {
		OPENSSL_cleanse(op->val, op->vlen);
		free(op->val);
		op->val = NULL;
	}
}

/* At most one pending op per peer-id: a newer op for a queued peer-id is
 * merged into the queued one (combine), which keeps its place. So the
 * queue holds at most one op per tunnel (and per gone tunnel whose delete
 * waits); past wr.max a new peer-id's op is refused, counted and logged. */
static struct {
	struct rv_control *ctl;
	struct rv_etcd *e;
	rv_replica_records_call_fn call; /* tests; NULL: rv_etcd_call */
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	uint32_t *fifo; /* the queued peer-ids in order: fifo[head..n) */
	size_t head, n, cap;
	struct op *tab; /* their ops, open addressing by peer-id */
	size_t tab_size, count, max;
	uint64_t dropped, dropped_logged, logged_ns;
	bool stop, running;
	pthread_t thread;
} wr = {.mu = PTHREAD_MUTEX_INITIALIZER,
	.work = PTHREAD_COND_INITIALIZER,
	.done = PTHREAD_COND_INITIALIZER};

static size_t slot_hash(uint32_t peer_id)
{
	return (size_t)(peer_id * 2654435761u) & (wr.tab_size - 1);
}

/* The slot of @peer_id's op, or the empty slot where it would go. */
static struct op *slot(uint32_t peer_id)
{
	size_t i = slot_hash(peer_id);
	while (wr.tab[i].kind != NONE && wr.tab[i].peer_id != peer_id)
		i = (i + 1) & (wr.tab_size - 1);
	return &wr.tab[i];
}

/* Room for one more op: the table at most half full. */
static bool tab_reserve(void)
{
	if (wr.tab_size && 2 * (wr.count + 1) <= wr.tab_size)
		return true;
	struct op *old = wr.tab;
	size_t old_size = wr.tab_size, size = old_size ? old_size * 2 : 1024;
	struct op *tab = calloc(size, sizeof(*tab));
	if (!tab)
		return false;
	wr.tab = tab;
	wr.tab_size = size;
	for (size_t i = 0; i < old_size; i++)
		if (old[i].kind != NONE)
			*slot(old[i].peer_id) = old[i];
	free(old);
	return true;
}

/* Empties @s, moving back the ops of its probe run (no tombstones). */
static void tab_remove(struct op *s)
{
	size_t mask = wr.tab_size - 1, i = (size_t)(s - wr.tab), j = i;

	s->kind = NONE;
	wr.count--;
	for (;;) {
		j = (j + 1) & mask;
		if (wr.tab[j].kind == NONE)
			return;
		size_t home = slot_hash(wr.tab[j].peer_id);
		/* wr.tab[j] may move to i unless its home lies in (i, j] */
		if (i <= j ? (home > i && home <= j) : (home > i || home <= j))
			continue;
		wr.tab[i] = wr.tab[j];
		wr.tab[j].kind = NONE;
		i = j;
	}
}

static bool fifo_push(uint32_t peer_id)
{
	if (wr.head && wr.head == wr.n)
		wr.head = wr.n = 0;
	if (wr.n == wr.cap) {
		if (wr.head) { /* reuse the consumed front */
			memmove(wr.fifo, wr.fifo + wr.head, (wr.n - wr.head) * sizeof(*wr.fifo));
			wr.n -= wr.head;
			wr.head = 0;
		}
		if (wr.n == wr.cap) {
			size_t cap = wr.cap ? wr.cap * 2 : 1024;
			uint32_t *q = realloc(wr.fifo, cap * sizeof(*q));
			if (!q)
				return false;
			wr.fifo = q;
			wr.cap = cap;
		}
	}
	wr.fifo[wr.n++] = peer_id;
	return true;
}

/* The one op with the effect of @first then @then (same peer-id; the
 * other's value freed). false: two claims, @then is refused. A claim
 * absorbs what follows it (it writes the tunnel as it is then, under the
 * lease of then) and replaces what precedes it. */
static bool combine(struct op *first, struct op *then, struct op *out)
{
	struct op keep = *then;

	if (first->kind == CLAIM && then->kind == CLAIM)
		return false;
	if (first->kind == CLAIM) {
		keep = *first;
		op_free(then);
	} else if (then->kind == CLAIM || then->kind == FORCE ||
		   (first->kind == CHANGED && then->kind == CHANGED)) {
		op_free(first);
	} else { /* a FORCE before a CHANGED, or a FORCE_NOW either side */
		op_free(first);
		op_free(then);
		keep.kind = FORCE_NOW;
		keep.val = NULL;
		keep.vlen = 0;
	}
	*out = keep;
	return true;
}

/* A refused op (wr.mu held): counted, logged at most once per interval,
 * its waiter answered -1. */
static void refuse(struct op *op, const char *why)
{
	uint64_t now = rv_control_now_mono();

	wr.dropped++;
	if (op->w) {
		op->w->rc = -1;
		op->w->done = true;
	}
	op_free(op);
	if (wr.logged_ns && now - wr.logged_ns < RECORDS_DROP_LOG_NS)
		return;
	rv_log(RV_LOG_WARN,
	       "tunnel records: %s (%zu pending, at most %zu): %llu record change(s) refused "
	       "since the last report (roomvpn_control_replica_records_dropped_total); "
	       "after a new lease every tunnel is published again",
	       why, wr.count, wr.max, (unsigned long long)(wr.dropped - wr.dropped_logged));
	wr.logged_ns = now;
	wr.dropped_logged = wr.dropped;
}

/* Queues @op or merges it into the queued op of its peer-id (wr.mu held);
 * @again: a failed write's op, older than a queued one, may pass wr.max by
 * the batch it came from. false: refused (refuse() called). */
static bool push(struct op op, bool again)
{
	struct op *s = wr.tab_size ? slot(op.peer_id) : NULL;

	if (s && s->kind != NONE) {
		bool ok = again ? combine(&op, s, s) : combine(s, &op, s);
		if (!ok)
			refuse(&op, "a second claim of a queued peer-id");
		return ok;
	}
	if (!again && wr.count >= wr.max) {
		refuse(&op, "queue full, etcd unreachable or slow");
		return false;
	}
	if (!tab_reserve() || !fifo_push(op.peer_id)) {
		refuse(&op, "out of memory");
		return false;
	}
	*slot(op.peer_id) = op;
	wr.count++;
	pthread_cond_signal(&wr.work);
	return true;
}

static void changed(uint32_t peer_id)
{
	pthread_mutex_lock(&wr.mu);
	push((struct op){.kind = CHANGED, .peer_id = peer_id}, false);
	pthread_mutex_unlock(&wr.mu);
}

void rv_replica_records_force(const struct rv_tunnel *t)
{
	struct op op = {.kind = FORCE, .peer_id = t->peer_id};

	op.val = rv_replica_records_pack(t, &op.vlen);
	pthread_mutex_lock(&wr.mu);
	if (!op.val)
		refuse(&op, "out of memory");
	else
		push(op, false);
	pthread_mutex_unlock(&wr.mu);
}

static int claim(uint32_t peer_id)
{
	struct waiter w = {.rc = -1};

	pthread_mutex_lock(&wr.mu);
	push((struct op){.kind = CLAIM, .peer_id = peer_id, .w = &w}, false);
	while (!w.done)
		pthread_cond_wait(&wr.done, &wr.mu);
	pthread_mutex_unlock(&wr.mu);
	return w.rc;
}

size_t rv_replica_records_queued(void)
{
	pthread_mutex_lock(&wr.mu);
	size_t n = wr.count;
	pthread_mutex_unlock(&wr.mu);
	return n;
}

uint64_t rv_replica_records_dropped(void)
{
	pthread_mutex_lock(&wr.mu);
	uint64_t n = wr.dropped;
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
	bool skip; /* nothing to write (a foreign tunnel's, a gone tunnel's claim) */
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
static void build(struct nested *x, const struct op *op, int64_t lease)
{
	struct rv_tunnel *t = rv_tunnels_find(op->peer_id);
	bool local = t && !t->foreign;

	memset(x, 0, sizeof(*x));
	rv_key_tunnel(x->key, op->peer_id);
	if (op->kind == FORCE) { /* as queued, whatever the registry holds now */
		local = true;
	} else if ((op->kind == CLAIM && !local) || (t && t->foreign) ||
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
	if (!local) { /* gone: delete if ours */
		etcdserverpb__delete_range_request__init(&x->del);
		x->del.key = bin(x->key, sizeof(x->key));
		x->act.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
		x->act.request_delete_range = &x->del;
		compare(&x->cmp, x->key, true, lease);
	} else {
		etcdserverpb__put_request__init(&x->put);
		x->put.key = bin(x->key, sizeof(x->key));
		x->put.value = op->kind == FORCE ? bin(op->val, op->vlen) : bin(x->val, x->vlen);
		x->put.lease = lease;
		x->act.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
		x->act.request_put = &x->put;
		compare(&x->cmp, x->key, op->kind == CHANGED, op->kind == CHANGED ? lease : 0);
	}
	if (op->kind != FORCE && !(op->kind == FORCE_NOW && local)) {
		x->cmps[0] = &x->cmp;
		x->txn.n_compare = 1;
		x->txn.compare = x->cmps;
	}
	if (op->kind == CHANGED && local) { /* else: put if absent */
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
static int write_ops(const struct op *v, size_t n, int *rc)
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
		rc[i] = v[i].kind == CLAIM && x[i].skip ? -1 : 0;
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
		if (x[i].skip || v[i].kind != CLAIM)
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

/* Take up to RECORDS_PER_TXN ops from the front (wr.mu held); their
 * peer-ids are distinct (one op per queued peer-id). */
static size_t take(struct op *out)
{
	size_t k = 0;

	while (wr.head < wr.n && k < RECORDS_PER_TXN) {
		struct op *s = slot(wr.fifo[wr.head++]);
		out[k++] = *s;
		tab_remove(s);
	}
	return k;
}

static void wait_ms(unsigned ms)
{
	struct timespec ts = rv_clock_deadline(CLOCK_REALTIME, ms * 1000000ull);
	while (!wr.stop && pthread_cond_timedwait(&wr.work, &wr.mu, &ts) != ETIMEDOUT)
		;
}

static void *writer_main(void *arg)
{
	static struct op batch[RECORDS_PER_TXN];
	int rc[RECORDS_PER_TXN];
	(void)arg;

	pthread_mutex_lock(&wr.mu);
	while (!wr.stop) {
		pthread_mutex_unlock(&wr.mu);
		if (rv_replica_lease_renew_if_lost())
			republish();
		pthread_mutex_lock(&wr.mu);
		size_t n = take(batch);
		if (!n) {
			pthread_cond_wait(&wr.work, &wr.mu);
			continue;
		}
		pthread_mutex_unlock(&wr.mu);
		int ret = write_ops(batch, n, rc);
		pthread_mutex_lock(&wr.mu);
		for (size_t i = 0; i < n; i++) {
			if (batch[i].w) {
				batch[i].w->rc = ret < 0 ? -1 : rc[i];
				batch[i].w->done = true;
			} else if (ret < 0) { /* again after the pause */
				push(batch[i], true);
			} else {
				op_free(&batch[i]);
			}
		}
		pthread_cond_broadcast(&wr.done);
		if (ret < 0)
			wait_ms(1000);
	}
	/* claims still queued are answered (failed) */
	while (wr.head < wr.n) {
		struct op *s = slot(wr.fifo[wr.head++]);
		if (s->w)
			s->w->done = true;
		op_free(s);
		tab_remove(s);
	}
	pthread_cond_broadcast(&wr.done);
	pthread_mutex_unlock(&wr.mu);
	return NULL;
}

int rv_replica_records_start(struct rv_control *ctl, struct rv_etcd *e, char *err, size_t errlen)
{
	wr.ctl = ctl;
	wr.e = e;
	wr.stop = false;
	wr.max = ctl->cfg.max_tunnels ? 2 * (size_t)ctl->cfg.max_tunnels + RECORDS_PER_TXN
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
	free(wr.fifo);
	wr.fifo = NULL;
	wr.head = wr.n = wr.cap = 0;
	free(wr.tab);
	wr.tab = NULL;
	wr.tab_size = wr.count = 0;
}
