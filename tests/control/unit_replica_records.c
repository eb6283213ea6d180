/* The tunnel-records writer (replica_records.c) while etcd is unreachable,
 * against a fake etcd Txn (rv_replica_records_set_call) that can freeze
 * like a SIGSTOPped cluster: 100,000 re-keys of 10 tunnels leave at most
 * one queued op per tunnel; past the cap (2 x max_tunnels + a batch) new
 * peer-ids' changes are refused and counted, and a Bootstrap's claim is
 * answered UNAVAILABLE instead of waiting; when etcd is back, the last
 * state of every tunnel is written, at most 100 distinct peer-ids a Txn.
 * Also: the queue against a naive model, and merged ops that keep the
 * effect of the two in turn (a takeover then an End still deletes the
 * other replica's record). The fake evaluates each Txn's compares on its
 * own keys, as etcd does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "etcd/etcd.h"
#include "replica.h"
#include "store_keys.h"
#include "tunnels.h"

#define TUNNELS	  10
#define REKEYS	  100000
#define GONE	  1000
#define ROOM	  7
#define PER_TXN	  100
#define QUEUE_MAX (2 * (TUNNELS + 1) + PER_TXN) /* max_tunnels = TUNNELS + 1 */

enum mode { UP, FROZEN };

/* The fake etcd: per peer-id, the last record put (its km marker) or a
 * delete; FROZEN: a call blocks until the test thaws it, then fails. */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	enum mode mode;
	bool thaw;
	unsigned blocked; /* calls that blocked */
	unsigned calls, max_ops;
	bool dup_in_txn; /* a Txn named a peer-id twice */
	uint32_t put_peer[TUNNELS];
	uint32_t put_marker[TUNNELS]; /* last put per registered tunnel */
	uint8_t put_key_id[TUNNELS];
	unsigned deletes;
	uint32_t *deleted; /* every delete's peer-id, when set */
	size_t n_deleted;
} fk = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static uint32_t ids[TUNNELS];

/* The fake's tun/ keys: present or not, under which lease (fk.mu held). */
static struct kv {
	uint32_t peer;
	bool present;
	int64_t lease;
} kv[8192];
static size_t n_kv;

static struct kv *kv_of(uint32_t peer)
{
	for (size_t i = 0; i < n_kv; i++)
		if (kv[i].peer == peer)
			return &kv[i];
	assert_true(n_kv < sizeof(kv) / sizeof(kv[0]));
	kv[n_kv].peer = peer;
	return &kv[n_kv++];
}

static int tunnel_index(uint32_t peer_id)
{
	for (int i = 0; i < TUNNELS; i++)
		if (ids[i] == peer_id)
			return i;
	return -1;
}

static uint32_t key_peer(ProtobufCBinaryData k)
{
	assert_int_equal(k.len, RV_KEY_TUNNEL_LEN);
	return (uint32_t)k.data[4] << 24 | (uint32_t)k.data[5] << 16 | (uint32_t)k.data[6] << 8 |
	       k.data[7];
}

/* Notes every nested Txn's put or delete (fk.mu held). */
static void note(const Etcdserverpb__TxnRequest *t)
{
	uint32_t seen[PER_TXN + 1];

	if (t->n_success > fk.max_ops)
		fk.max_ops = (unsigned)t->n_success;
	for (size_t i = 0; i < t->n_success && i <= PER_TXN; i++) {
		const Etcdserverpb__TxnRequest *n = t->success[i]->request_txn;
		const Etcdserverpb__RequestOp *a = n->success[0];
		uint32_t peer = a->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT
				    ? key_peer(a->request_put->key)
				    : key_peer(a->request_delete_range->key);
		for (size_t j = 0; j < i; j++)
			fk.dup_in_txn |= seen[j] == peer;
		seen[i] = peer;
		if (a->request_case != ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT) {
			if (fk.deleted)
				fk.deleted[fk.n_deleted++] = peer;
			fk.deletes++;
			continue;
		}
		int x = tunnel_index(peer);
		Roomvpn__V1__TunnelRecord *r = roomvpn__v1__tunnel_record__unpack(
		    NULL, a->request_put->value.len, a->request_put->value.data);
		assert_non_null(r);
		if (x >= 0 && r->key.len >= 4) {
			fk.put_peer[x] = peer;
			memcpy(&fk.put_marker[x], r->key.data, 4);
			fk.put_key_id[x] = (uint8_t)r->key_id;
		}
		roomvpn__v1__tunnel_record__free_unpacked(r, NULL);
	}
}

/* Etcd's Txn on the fake's keys: the compares (lease equal, version 0 =
 * absent), then the success or failure ops (puts, deletes, nested Txns).
 * Whether the compares held. */
static bool apply_txn(const Etcdserverpb__TxnRequest *t)
{
	bool ok = true;
	for (size_t i = 0; i < t->n_compare; i++) {
		const Etcdserverpb__Compare *c = t->compare[i];
		struct kv *k = kv_of(key_peer(c->key));
		assert_int_equal(c->result, ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL);
		if (c->target == ETCDSERVERPB__COMPARE__COMPARE_TARGET__LEASE)
			ok &= k->present && k->lease == c->lease;
		else
			ok &= c->target == ETCDSERVERPB__COMPARE__COMPARE_TARGET__VERSION &&
			      c->version == 0 && !k->present;
	}
	size_t n = ok ? t->n_success : t->n_failure;
	Etcdserverpb__RequestOp **ops = ok ? t->success : t->failure;
	for (size_t i = 0; i < n; i++) {
		const Etcdserverpb__RequestOp *a = ops[i];
		if (a->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN) {
			apply_txn(a->request_txn);
		} else if (a->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT) {
			struct kv *k = kv_of(key_peer(a->request_put->key));
			k->present = true;
			k->lease = a->request_put->lease;
		} else {
			kv_of(key_peer(a->request_delete_range->key))->present = false;
		}
	}
	return ok;
}

static grpc_status_code fake_call(struct rv_etcd *e, const char *path, const ProtobufCMessage *req,
				  const ProtobufCMessageDescriptor *resp_desc,
				  ProtobufCMessage **resp, char *err, size_t errlen)
{
	const Etcdserverpb__TxnRequest *t = (const void *)req;
	(void)e;
	assert_string_equal(path, "/etcdserverpb.KV/Txn");

	pthread_mutex_lock(&fk.mu);
	fk.calls++;
	if (fk.mode == FROZEN) {
		fk.blocked++;
		pthread_cond_broadcast(&fk.cv);
		while (!fk.thaw)
			pthread_cond_wait(&fk.cv, &fk.mu);
		fk.thaw = false;
		pthread_mutex_unlock(&fk.mu);
		snprintf(err, errlen, "etcd unreachable (test)");
		return GRPC_STATUS_UNAVAILABLE;
	}
	note(t);

	/* each nested Txn's outcome, packed and unpacked so that the caller
	 * frees it as etcd's */
	Etcdserverpb__TxnResponse r = ETCDSERVERPB__TXN_RESPONSE__INIT;
	Etcdserverpb__ResponseOp *ops = calloc(t->n_success, sizeof(*ops)),
				 **opv = calloc(t->n_success, sizeof(*opv));
	Etcdserverpb__TxnResponse *nested = calloc(t->n_success, sizeof(*nested));
	assert_true(ops && opv && nested);
	assert_int_equal(t->n_compare, 0);
	r.succeeded = true;
	for (size_t i = 0; i < t->n_success; i++) {
		assert_int_equal(t->success[i]->request_case,
				 ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN);
		etcdserverpb__txn_response__init(&nested[i]);
		nested[i].succeeded = apply_txn(t->success[i]->request_txn);
		etcdserverpb__response_op__init(&ops[i]);
		ops[i].response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_TXN;
		ops[i].response_txn = &nested[i];
		opv[i] = &ops[i];
	}
	pthread_cond_broadcast(&fk.cv);
	pthread_mutex_unlock(&fk.mu);
	r.n_responses = t->n_success;
	r.responses = opv;
	size_t len = etcdserverpb__txn_response__get_packed_size(&r);
	uint8_t *buf = malloc(len ? len : 1);
	etcdserverpb__txn_response__pack(&r, buf);
	*resp = protobuf_c_message_unpack(resp_desc, NULL, len, buf);
	free(buf);
	free(ops);
	free(opv);
	free(nested);
	return *resp ? GRPC_STATUS_OK : GRPC_STATUS_INTERNAL;
}

/* Waits for @cond (fk.mu held) at most 30 s: a hung writer fails the test
 * instead of the test hanging. */
#define WAIT_FOR(cond)                                                                             \
	do {                                                                                       \
		struct timespec ts_ = rv_clock_deadline(CLOCK_REALTIME, 30000000000ull);           \
		while (!(cond))                                                                    \
			if (pthread_cond_timedwait(&fk.cv, &fk.mu, &ts_) != 0)                     \
				fail_msg("timed out waiting for: %s", #cond);                      \
	} while (0)

/* Every tunnel's last put carries its last re-key (fk.mu held). */
static bool last_states_written(void)
{
	for (int x = 0; x < TUNNELS; x++)
		if (fk.put_peer[x] != ids[x] || fk.put_marker[x] != (uint32_t)(REKEYS + x))
			return false;
	return true;
}

static grpc_status_code reg(struct rv_control *ctl, uint64_t dev, uint32_t *id, char *msg,
			    size_t msglen)
{
	Roomvpn__V1__RoomRecord r = ROOMVPN__V1__ROOM_RECORD__INIT;
	uint32_t old;

	r.id = ROOM;
	r.name = "lan";
	r.subnet_addr = 0x0A580000u;
	r.subnet_prefix = 24;
	return rv_tunnels_register(ctl, &r, dev, dev, id, &old, msg, msglen);
}

/* A tunnel of @peer_id that came and went: its record's delete queued. */
static void gone_change(uint32_t peer_id)
{
	Roomvpn__V1__RoomRecord r = ROOMVPN__V1__ROOM_RECORD__INIT;

	r.id = ROOM + 1;
	r.name = "churn";
	rv_tunnels_lock();
	struct rv_tunnel *t = rv_tunnels_add(&r, peer_id, peer_id, peer_id);
	assert_non_null(t);
	rv_tunnels_remove(t);
	rv_tunnels_unlock();
}

/* Tunnel @x's key as of re-key @i: key-id and a marker in the key. */
static void rekey(int x, uint32_t i)
{
	struct rv_key_material km;
	memset(&km, 0, sizeof(km));
	memcpy(&km, &i, sizeof(i));
	struct rv_tunnel_keys k = {.vip = 0x0A580002u + (uint32_t)x,
				   .suite = RV_CIPHER_AES_256_GCM,
				   .key_id = (uint8_t)i,
				   .km = &km};
	rv_tunnels_set_key(ids[x], &k);
}

static void test_outage(void **state)
{
	static struct rv_control ctl;
	char err[256], msg[256];
	(void)state;

	snprintf(ctl.cfg.replica_id, sizeof(ctl.cfg.replica_id), "replica-test");
	ctl.cfg.max_tunnels = TUNNELS + 1; /* room for the claim refused below */
	rv_replica_records_set_call(fake_call);
	assert_int_equal(rv_replica_records_start(&ctl, NULL, err, sizeof(err)), 0);

	/* etcd up: 10 tunnels claimed and keyed */
	for (int x = 0; x < TUNNELS; x++) {
		assert_int_equal(reg(&ctl, 100 + (uint64_t)x, &ids[x], msg, sizeof(msg)),
				 GRPC_STATUS_OK);
		rekey(x, (uint32_t)x);
	}

	/* etcd frozen: the writer blocks on its first write */
	pthread_mutex_lock(&fk.mu);
	fk.mode = FROZEN;
	pthread_mutex_unlock(&fk.mu);
	for (uint32_t i = 0; i < REKEYS; i++)
		rekey((int)(i % TUNNELS), i);
	assert_in_range(rv_replica_records_queued(), 1, TUNNELS);
	pthread_mutex_lock(&fk.mu);
	WAIT_FOR(fk.blocked == 1);
	pthread_mutex_unlock(&fk.mu);
	/* the last state of each, queued after the writer blocked */
	for (uint32_t i = REKEYS; i < REKEYS + TUNNELS; i++)
		rekey((int)(i % TUNNELS), i);
	assert_int_equal(rv_replica_records_queued(), TUNNELS);
	assert_int_equal(rv_replica_records_dropped(), 0);

	/* churn of gone tunnels (each a delete to queue) up to the cap */
	uint32_t gone = 0x00F00000u;
	for (unsigned i = 0; i < GONE; i++, gone++) {
		while (rv_tunnels_find(gone))
			gone++;
		gone_change(gone);
	}
	assert_int_equal(rv_replica_records_queued(), QUEUE_MAX);
	assert_int_equal(rv_replica_records_dropped(), GONE - (QUEUE_MAX - TUNNELS));

	/* a Bootstrap now: its claim is refused at once (UNAVAILABLE), and the
	 * delete of its tunnel too */
	uint32_t id;
	uint64_t dropped = rv_replica_records_dropped();
	assert_int_equal(reg(&ctl, 999, &id, msg, sizeof(msg)), GRPC_STATUS_UNAVAILABLE);
	assert_non_null(strstr(msg, "etcd"));
	assert_int_equal(rv_replica_records_dropped(), dropped + 2);
	assert_int_equal(rv_replica_records_queued(), QUEUE_MAX);

	/* etcd back: the blocked write fails, is queued again behind the newer
	 * ops of its peer-ids, and everything is written */
	pthread_mutex_lock(&fk.mu);
	fk.mode = UP;
	fk.thaw = true;
	pthread_cond_broadcast(&fk.cv);
	WAIT_FOR(fk.deletes >= QUEUE_MAX - TUNNELS && last_states_written());
	for (int x = 0; x < TUNNELS; x++)
		assert_int_equal(fk.put_key_id[x], (uint8_t)(REKEYS + x));
	assert_in_range(fk.max_ops, 1, PER_TXN);
	assert_false(fk.dup_in_txn);
	pthread_mutex_unlock(&fk.mu);

	rv_replica_records_stop();
	assert_int_equal(rv_replica_records_queued(), 0);
	rv_tunnels_clear();
	rv_replica_records_set_call(NULL);
}

/* A takeover then an End while etcd is frozen (events.c: a client ends,
 * through this replica, a tunnel another replica published): the FORCE and
 * the CHANGED merge, and the other replica's record is still deleted; a
 * republished tunnel re-keyed meanwhile is written as re-keyed. */
static void test_takeover_then_end(void **state)
{
	static struct rv_control ctl;
	Roomvpn__V1__RoomRecord r = ROOMVPN__V1__ROOM_RECORD__INIT;
	const uint32_t taken = 0x00A00001u, kept = 0x00A00002u, primer = 0x00A00003u;
	char err[256];
	(void)state;

	r.id = ROOM + 2;
	r.name = "taken";
	snprintf(ctl.cfg.replica_id, sizeof(ctl.cfg.replica_id), "replica-test");
	ctl.cfg.max_tunnels = 16;
	pthread_mutex_lock(&fk.mu);
	fk.mode = FROZEN;
	fk.blocked = 0;
	*kv_of(taken) = (struct kv){.peer = taken, .present = true, .lease = 777}; /* another's */
	pthread_mutex_unlock(&fk.mu);
	rv_replica_records_set_call(fake_call);
	assert_int_equal(rv_replica_records_start(&ctl, NULL, err, sizeof(err)), 0);
	gone_change(primer);
	pthread_mutex_lock(&fk.mu);
	WAIT_FOR(fk.blocked == 1);
	pthread_mutex_unlock(&fk.mu);

	rv_tunnels_lock();
	struct rv_tunnel *t = rv_tunnels_add(&r, 1, 1, taken);
	struct rv_tunnel *k = rv_tunnels_add(&r, 2, 2, kept);
	assert_true(t && k);
	t->foreign = true;
	rv_tunnels_take_over(t); /* ours now: FORCE */
	rv_tunnels_remove(t);	 /* ended: CHANGED */
	rv_replica_records_force(k);
	rv_tunnels_unlock();
	ids[0] = kept;
	rekey(0, 4242); /* CHANGED after the FORCE */
	assert_int_equal(rv_replica_records_queued(), 2);

	pthread_mutex_lock(&fk.mu);
	fk.mode = UP;
	fk.thaw = true;
	pthread_cond_broadcast(&fk.cv);
	WAIT_FOR(!kv_of(taken)->present && fk.put_peer[0] == kept && fk.put_marker[0] == 4242);
	assert_true(kv_of(kept)->present);
	pthread_mutex_unlock(&fk.mu);
	rv_replica_records_stop();
	rv_tunnels_clear();
	rv_replica_records_set_call(NULL);
}

static int by_value(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* The queue against a naive model: thousands of peer-ids (the index grows
 * and wraps), each changed 1-3 times in random order while etcd is frozen:
 * one queued op per distinct peer-id; once etcd is back, each written
 * exactly once. */
static void test_many_peer_ids(void **state)
{
	enum { POOL = 3000 };
	static struct rv_control ctl;
	static uint32_t pool[POOL], pushes[3 * POOL], want[POOL + 1];
	size_t n_push = 0;
	char err[256];
	(void)state;

	srand(7);
	for (size_t i = 0; i < POOL; i++) { /* distinct, spread over the id space */
		pool[i] = (uint32_t)(i + 1) * 5521u + ((uint32_t)rand() & 0xF) * 0x100000u;
		for (unsigned k = 0, n = 1 + (unsigned)rand() % 3; k < n; k++)
			pushes[n_push++] = pool[i];
	}
	for (size_t i = n_push - 1; i > 0; i--) { /* shuffled */
		size_t j = (size_t)rand() % (i + 1);
		uint32_t t = pushes[i];
		pushes[i] = pushes[j];
		pushes[j] = t;
	}

	ctl.cfg.max_tunnels = POOL; /* cap 2 x POOL + 100: nothing refused */
	snprintf(ctl.cfg.replica_id, sizeof(ctl.cfg.replica_id), "replica-test");
	pthread_mutex_lock(&fk.mu);
	fk.mode = FROZEN;
	fk.blocked = 0;
	fk.deleted = calloc(4 * POOL, sizeof(*fk.deleted));
	fk.n_deleted = 0;
	pthread_mutex_unlock(&fk.mu);
	rv_replica_records_set_call(fake_call);
	assert_int_equal(rv_replica_records_start(&ctl, NULL, err, sizeof(err)), 0);
	uint64_t dropped = rv_replica_records_dropped();

	uint32_t primer = 0x00FFFFFEu; /* the write in flight when etcd froze */
	gone_change(primer);
	pthread_mutex_lock(&fk.mu);
	WAIT_FOR(fk.blocked == 1);
	pthread_mutex_unlock(&fk.mu);
	for (size_t i = 0; i < n_push; i++)
		gone_change(pushes[i]);
	assert_int_equal(rv_replica_records_queued(), POOL);
	assert_int_equal(rv_replica_records_dropped(), dropped);

	pthread_mutex_lock(&fk.mu);
	fk.mode = UP;
	fk.thaw = true;
	pthread_cond_broadcast(&fk.cv);
	WAIT_FOR(fk.n_deleted >= POOL + 1);
	pthread_mutex_unlock(&fk.mu);
	rv_replica_records_stop();

	memcpy(want, pool, sizeof(pool));
	want[POOL] = primer;
	qsort(want, POOL + 1, sizeof(*want), by_value);
	qsort(fk.deleted, fk.n_deleted, sizeof(*fk.deleted), by_value);
	assert_int_equal(fk.n_deleted, POOL + 1);
	assert_memory_equal(fk.deleted, want, sizeof(want));
	assert_false(fk.dup_in_txn);
	free(fk.deleted);
	fk.deleted = NULL;
	rv_replica_records_set_call(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_outage),
	    cmocka_unit_test(test_many_peer_ids),
	    cmocka_unit_test(test_takeover_then_end),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
