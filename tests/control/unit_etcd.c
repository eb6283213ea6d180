/* Unit tests for the etcd client (control/etcd/) against the 3-member TLS
 * cluster of tests/control/etcd_cluster.py (RV_ETCD_*): leases (grant,
 * keep-alive thread, revoke, loss reported), watches (events in order,
 * replay from a revision), and kill -9 of the leader during writes: the
 * writes resume after the election, every acknowledged one is read back,
 * and a watch sees each exactly once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "etcd/etcd.h"
#include "store.h"

static const char *env(const char *name)
{
	const char *v = getenv(name);
	if (!v || !v[0])
		fail_msg("%s is not set: run under tests/control/etcd_cluster.py", name);
	return v;
}

static struct rv_etcd *connect_cluster(void)
{
	struct rv_etcd_config cfg = {env("RV_ETCD_ENDPOINTS"), env("RV_ETCD_CA"),
				     env("RV_ETCD_CERT"), env("RV_ETCD_KEY"), 0};
	struct rv_etcd *e;
	char err[1024];
	if (rv_etcd_open(&cfg, &e, err, sizeof(err)) != 0)
		fail_msg("etcd: %s", err);
	return e;
}

static void put(struct rv_etcd *e, const char *k, const char *v, int64_t lease)
{
	Etcdserverpb__PutRequest req = ETCDSERVERPB__PUT_REQUEST__INIT;
	ProtobufCMessage *m;
	char err[512];
	req.key = (ProtobufCBinaryData){strlen(k), (uint8_t *)k};
	req.value = (ProtobufCBinaryData){strlen(v), (uint8_t *)v};
	req.lease = lease;
	if (rv_etcd_call(e, "/etcdserverpb.KV/Put", &req.base,
			 &etcdserverpb__put_response__descriptor, &m, err,
			 sizeof(err)) != GRPC_STATUS_OK)
		fail_msg("put %s: %s", k, err);
	protobuf_c_message_free_unpacked(m, NULL);
}

static void del(struct rv_etcd *e, const char *k)
{
	Etcdserverpb__DeleteRangeRequest req = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
	ProtobufCMessage *m;
	char err[512];
	req.key = (ProtobufCBinaryData){strlen(k), (uint8_t *)k};
	if (rv_etcd_call(e, "/etcdserverpb.KV/DeleteRange", &req.base,
			 &etcdserverpb__delete_range_response__descriptor, &m, err,
			 sizeof(err)) != GRPC_STATUS_OK)
		fail_msg("delete %s: %s", k, err);
	protobuf_c_message_free_unpacked(m, NULL);
}

/* Deletes every key: the store opens on an empty cluster. */
static void wipe(struct rv_etcd *e)
{
	Etcdserverpb__DeleteRangeRequest req = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
	ProtobufCMessage *m;
	static uint8_t zero = 0;
	char err[512];
	req.key = (ProtobufCBinaryData){1, &zero};
	req.range_end = (ProtobufCBinaryData){1, &zero};
	if (rv_etcd_call(e, "/etcdserverpb.KV/DeleteRange", &req.base,
			 &etcdserverpb__delete_range_response__descriptor, &m, err,
			 sizeof(err)) != GRPC_STATUS_OK)
		fail_msg("wipe: %s", err);
	protobuf_c_message_free_unpacked(m, NULL);
}

/* 1 present, 0 absent. */
static int present(struct rv_etcd *e, const char *k)
{
	Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
	ProtobufCMessage *m;
	char err[512];
	req.key = (ProtobufCBinaryData){strlen(k), (uint8_t *)k};
	if (rv_etcd_call(e, "/etcdserverpb.KV/Range", &req.base,
			 &etcdserverpb__range_response__descriptor, &m, err,
			 sizeof(err)) != GRPC_STATUS_OK)
		fail_msg("get %s: %s", k, err);
	int n = (int)((Etcdserverpb__RangeResponse *)m)->n_kvs;
	protobuf_c_message_free_unpacked(m, NULL);
	return n;
}

/* ---- events gathered from callbacks, waited on with a condition ---- */

#define MAX_EVENTS 4096

struct events {
	pthread_mutex_t lock;
	pthread_cond_t more;
	int n;
	enum rv_etcd_event_type type[MAX_EVENTS];
	char key[MAX_EVENTS][24];
	int64_t rev[MAX_EVENTS];
	int lost; /* lease-lost callbacks */
};

static void events_init(struct events *ev)
{
	memset(ev, 0, sizeof(*ev));
	pthread_mutex_init(&ev->lock, NULL);
	pthread_cond_init(&ev->more, NULL);
}

static void on_event(void *arg, enum rv_etcd_event_type type, const void *key, size_t klen,
		     const void *val, size_t vlen, int64_t revision)
{
	struct events *ev = arg;
	(void)val, (void)vlen;
	pthread_mutex_lock(&ev->lock);
	if (ev->n < MAX_EVENTS) {
		ev->type[ev->n] = type;
		snprintf(ev->key[ev->n], sizeof(ev->key[0]), "%.*s", (int)klen, (const char *)key);
		ev->rev[ev->n] = revision;
		ev->n++;
	}
	pthread_cond_broadcast(&ev->more);
	pthread_mutex_unlock(&ev->lock);
}

static void on_lost(void *arg, int64_t id)
{
	struct events *ev = arg;
	(void)id;
	pthread_mutex_lock(&ev->lock);
	ev->lost++;
	pthread_cond_broadcast(&ev->more);
	pthread_mutex_unlock(&ev->lock);
}

/* Waits until @ev holds @n events (or @lost lease losses), 20 s at most. */
static void wait_for(struct events *ev, int n, int lost)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 20;
	pthread_mutex_lock(&ev->lock);
	while ((ev->n < n || ev->lost < lost) &&
	       pthread_cond_timedwait(&ev->more, &ev->lock, &until) == 0)
		;
	int got = ev->n, got_lost = ev->lost;
	pthread_mutex_unlock(&ev->lock);
	if (got < n || got_lost < lost)
		fail_msg("waited 20 s for %d events / %d losses, got %d / %d", n, lost, got,
			 got_lost);
}

static void test_lease(void **state)
{
	(void)state;
	struct rv_etcd *e = connect_cluster();
	struct events ev;
	char err[512];
	int64_t id, ttl;

	events_init(&ev);
	assert_int_equal(rv_etcd_lease_grant(e, 3, &id, err, sizeof(err)), 0);
	assert_true(id != 0);
	put(e, "lease/a", "1", id);
	struct rv_etcd_keepalive *k = rv_etcd_keepalive_start(e, id, 3, 200, on_lost, &ev);
	assert_non_null(k);
	assert_true(rv_etcd_keepalive_wait(k, 3, 10000));
	assert_int_equal(rv_etcd_lease_keepalive_once(e, id, &ttl, err, sizeof(err)), 0);
	assert_true(ttl > 0 && ttl <= 3);
	assert_int_equal(present(e, "lease/a"), 1);

	/* Revoked: its keys go, the keep-alive finds it gone and says so once. */
	assert_int_equal(rv_etcd_lease_revoke(e, id, err, sizeof(err)), 0);
	assert_int_equal(present(e, "lease/a"), 0);
	wait_for(&ev, 0, 1);
	assert_int_equal(rv_etcd_lease_keepalive_once(e, id, &ttl, err, sizeof(err)), 0);
	assert_int_equal(ttl, 0);
	rv_etcd_keepalive_stop(k);
	assert_int_equal(ev.lost, 1);
	rv_etcd_close(e);
}

static void test_watch(void **state)
{
	(void)state;
	struct rv_etcd *e = connect_cluster();
	struct events ev, replay;
	char err[512];

	events_init(&ev);
	struct rv_etcd_watch *w =
	    rv_etcd_watch_start(e, "w/", 2, 0, on_event, &ev, err, sizeof(err));
	if (!w)
		fail_msg("watch: %s", err);
	put(e, "w/1", "a", 0);
	put(e, "x/1", "outside the prefix", 0);
	put(e, "w/2", "b", 0);
	del(e, "w/1");
	put(e, "w", "not under w/ either", 0);
	wait_for(&ev, 3, 0);
	rv_etcd_watch_stop(w);
	assert_int_equal(ev.n, 3);
	assert_string_equal(ev.key[0], "w/1");
	assert_int_equal(ev.type[0], RV_ETCD_PUT);
	assert_string_equal(ev.key[1], "w/2");
	assert_string_equal(ev.key[2], "w/1");
	assert_int_equal(ev.type[2], RV_ETCD_DELETE);
	assert_true(ev.rev[0] < ev.rev[1] && ev.rev[1] < ev.rev[2]);

	/* From a past revision: the same history again. */
	events_init(&replay);
	w = rv_etcd_watch_start(e, "w/", 2, ev.rev[0], on_event, &replay, err, sizeof(err));
	assert_non_null(w);
	wait_for(&replay, 3, 0);
	rv_etcd_watch_stop(w);
	assert_int_equal(replay.rev[0], ev.rev[0]);
	assert_int_equal(replay.rev[2], ev.rev[2]);
	rv_etcd_close(e);
}

/* kill -9 of the leader after KILL_AFTER acknowledged writes; TOTAL in all. */
#define KILL_AFTER 100
#define TOTAL	   300

/* The index of the member that is the leader now. */
static unsigned find_leader(struct rv_etcd *e)
{
	char err[512];
	for (int round = 0; round < 200; round++) {
		for (unsigned i = 0; i < rv_etcd_endpoint_count(e); i++) {
			uint64_t member, leader;
			if (rv_etcd_status(e, i, &member, &leader, err, sizeof(err)) == 0 &&
			    member == leader)
				return i;
		}
		struct timespec ts = {0, 50 * 1000000L}; /* an election under way */
		nanosleep(&ts, NULL);
	}
	fail_msg("no member says it is the leader");
	return 0;
}

/* Until process @pid is gone or a zombie (not ours to reap). */
static void wait_dead(const char *pid)
{
	char path[64], st[256];
	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	for (int i = 0; i < 2000; i++) {
		FILE *f = fopen(path, "r");
		char *paren = f && fgets(st, sizeof(st), f) ? strrchr(st, ')') : NULL;
		if (f)
			fclose(f);
		if (!paren || paren[1] == '\0' || paren[2] == 'Z')
			return;
		struct timespec ts = {0, 1000000L};
		nanosleep(&ts, NULL);
	}
	fail_msg("etcd member %s still running after SIGKILL", pid);
}

/* @i-th item of the comma-separated env @name into @out. */
static void nth(const char *name, unsigned i, char *out, size_t len)
{
	const char *p = env(name);
	for (unsigned k = 0; k < i && p; k++)
		p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL;
	assert_non_null(p);
	snprintf(out, len, "%.*s", (int)strcspn(p, ","), p);
}

static void test_leader_kill(void **state)
{
	(void)state;
	struct rv_store_etcd_tls tls = {env("RV_ETCD_CA"), env("RV_ETCD_CERT"), env("RV_ETCD_KEY")};
	struct rv_etcd *probe = connect_cluster(), *e;
	struct rv_store *s;
	struct events ev, ev2;
	char uri[1100], err[1024], pid[32];
	int acked = 0, failed = 0;

	/* The leader's endpoint first: the store and the watch start on the
	 * member about to die, so they must fail over, not just wait. */
	unsigned leader = find_leader(probe), n = rv_etcd_endpoint_count(probe);
	wipe(probe);
	nth("RV_ETCD_PIDS", leader, pid, sizeof(pid));
	int len = snprintf(uri, sizeof(uri), "etcd:");
	for (unsigned k = 0; k < n; k++) {
		char ep[256];
		nth("RV_ETCD_ENDPOINTS", (leader + k) % n, ep, sizeof(ep));
		len += snprintf(uri + len, sizeof(uri) - (size_t)len, "%s%s", k ? "," : "", ep);
	}
	if (rv_store_open_uri(uri, &tls, &s, err, sizeof(err)) != 0)
		fail_msg("open: %s", err);
	struct rv_etcd_config cfg = {uri + 5, tls.ca, tls.cert, tls.key, 0};
	assert_int_equal(rv_etcd_open(&cfg, &e, err, sizeof(err)), 0);
	events_init(&ev);
	events_init(&ev2);
	struct rv_etcd_watch *w = rv_etcd_watch_start(e, "k/", 2, 0, on_event, &ev, err,
						      sizeof(err)),
			     *w2 = NULL;
	assert_non_null(w);
	for (int i = 0; i < TOTAL; i++) {
		char k[32];
		snprintf(k, sizeof(k), "k/%06d", i);
		if (i == KILL_AFTER) {
			print_message("killing the leader, member %u (pid %s)\n", leader, pid);
			assert_int_equal(kill((pid_t)atoi(pid), SIGKILL), 0);
			wait_dead(pid);
			/* A watch started now begins on the dead member (the client
			 * has not noticed yet): it must be created on another. */
			w2 = rv_etcd_watch_start(e, "k/", 2, 0, on_event, &ev2, err, sizeof(err));
			if (!w2)
				fail_msg("a watch started with a member down: %s", err);
		}
		if (rv_store_put(s, k, strlen(k), k, strlen(k), true) == 0)
			acked++;
		else
			failed++;
	}
	/* The client's failover rides out the election: no write failed. */
	assert_int_equal(failed, 0);
	assert_int_equal(acked, TOTAL);
	uint64_t cnt = 0;
	assert_int_equal(rv_store_count_prefix(s, "k/", 2, &cnt), 0);
	assert_int_equal(cnt, TOTAL);
	for (int i = 0; i < TOTAL; i++) {
		char k[32];
		void *v;
		size_t vl;
		snprintf(k, sizeof(k), "k/%06d", i);
		assert_int_equal(rv_store_get(s, k, strlen(k), &v, &vl), 0);
		assert_int_equal(vl, strlen(k));
		assert_memory_equal(v, k, vl);
		free(v);
	}
	/* A new leader among the two left. */
	assert_int_not_equal(find_leader(probe), leader);
	/* The watch saw every write once, in order, across the election. */
	wait_for(&ev, TOTAL, 0);
	rv_etcd_watch_stop(w);
	assert_int_equal(ev.n, TOTAL);
	/* ... and the one started with the member down, every write after it */
	wait_for(&ev2, TOTAL - KILL_AFTER, 0);
	rv_etcd_watch_stop(w2);
	assert_int_equal(ev2.n, TOTAL - KILL_AFTER);
	for (int i = 0; i < TOTAL; i++) {
		char k[32];
		snprintf(k, sizeof(k), "k/%06d", i);
		assert_string_equal(ev.key[i], k);
	}
	rv_store_close(s);
	rv_etcd_close(e);
	rv_etcd_close(probe);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lease), cmocka_unit_test(test_watch),
	    cmocka_unit_test(test_leader_kill), /* last: the cluster is down a member after */
	};
	return cmocka_run_group_tests_name("etcd", tests, NULL, NULL);
}
