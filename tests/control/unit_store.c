/* Unit tests for the store (control/store.h). One list of contract tests
 * (round trip, prefix scan with paging, batch atomicity, expectations,
 * reopen, schema version) runs on each backend: RocksDB always, etcd with
 * --etcd (run under tests/control/etcd_cluster.py, which starts a 3-member
 * cluster and passes it in RV_ETCD_*). Then each backend's own: RocksDB's
 * private file modes and open errors; etcd's batch limit and its start-up
 * errors (unreachable, wrong certificates). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "etcd/etcd.h"
#include "store.h"
#include "tmpdir.h"

static bool on_etcd; /* --etcd: the contract tests run on RV_ETCD_ENDPOINTS */

struct fixture {
	char dir[64];
	struct rv_store *s;
};

static const char *env(const char *name)
{
	const char *v = getenv(name);
	if (!v || !v[0])
		fail_msg("%s is not set: run under tests/control/etcd_cluster.py", name);
	return v;
}

static struct rv_store_etcd_tls etcd_tls(void)
{
	return (struct rv_store_etcd_tls){env("RV_ETCD_CA"), env("RV_ETCD_CERT"),
					  env("RV_ETCD_KEY")};
}

/* Deletes every key of the cluster: each test starts from nothing. */
static void etcd_wipe(void)
{
	struct rv_etcd_config cfg = {env("RV_ETCD_ENDPOINTS"), env("RV_ETCD_CA"),
				     env("RV_ETCD_CERT"), env("RV_ETCD_KEY"), 0};
	Etcdserverpb__DeleteRangeRequest req = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
	ProtobufCMessage *m;
	struct rv_etcd *e;
	char err[512];
	static uint8_t zero = 0;

	if (rv_etcd_open(&cfg, &e, err, sizeof(err)) != 0)
		fail_msg("etcd: %s", err);
	req.key = (ProtobufCBinaryData){1, &zero};
	req.range_end = (ProtobufCBinaryData){1, &zero};
	if (rv_etcd_call(e, "/etcdserverpb.KV/DeleteRange", &req.base,
			 &etcdserverpb__delete_range_response__descriptor, &m, err,
			 sizeof(err)) != GRPC_STATUS_OK)
		fail_msg("etcd wipe: %s", err);
	protobuf_c_message_free_unpacked(m, NULL);
	rv_etcd_close(e);
}

/* Opens the fixture's store on the backend under test. */
static int open_store(struct fixture *f, struct rv_store **s, char *err, size_t errlen)
{
	if (!on_etcd)
		return rv_store_open(f->dir, s, err, errlen);
	char uri[1100];
	struct rv_store_etcd_tls tls = etcd_tls();
	snprintf(uri, sizeof(uri), "etcd:%s", env("RV_ETCD_ENDPOINTS"));
	return rv_store_open_uri(uri, &tls, s, err, errlen);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[1024];
	snprintf(f->dir, sizeof(f->dir), "/tmp/rv-unit-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	if (on_etcd)
		etcd_wipe();
	if (open_store(f, &f->s, err, sizeof(err)) != 0)
		fail_msg("open: %s", err);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	rv_store_close(f->s);
	rv_test_tmpdir_remove(f->dir);
	free(f);
	return 0;
}

static void put_str(struct rv_store *s, const char *k, const char *v)
{
	assert_int_equal(rv_store_put(s, k, strlen(k), v, strlen(v), true), 0);
}

/* Asserts @k holds @want (NULL: absent). */
static void expect(struct rv_store *s, const char *k, const char *want)
{
	void *v = NULL;
	size_t vl = 0;
	int rc = rv_store_get(s, k, strlen(k), &v, &vl);
	if (!want) {
		assert_int_equal(rc, 1);
		return;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(vl, strlen(want));
	assert_memory_equal(v, want, vl);
	free(v);
}

static void test_round_trip(void **state)
{
	struct fixture *f = *state;
	expect(f->s, "k/1", NULL);
	put_str(f->s, "k/1", "one");
	expect(f->s, "k/1", "one");
	put_str(f->s, "k/1", "uno");
	expect(f->s, "k/1", "uno");
	/* Binary keys and empty values are fine. */
	const char bk[3] = {'b', 0, 1};
	assert_int_equal(rv_store_put(f->s, bk, 3, "", 0, false), 0);
	void *v;
	size_t vl = 99;
	assert_int_equal(rv_store_get(f->s, bk, 3, &v, &vl), 0);
	assert_int_equal(vl, 0);
	free(v);
	assert_int_equal(rv_store_delete(f->s, "k/1", 3, true), 0);
	expect(f->s, "k/1", NULL);
	/* Deleting an absent key is not an error. */
	assert_int_equal(rv_store_delete(f->s, "k/1", 3, true), 0);
}

struct collect {
	char keys[16][32];
	int n;
	int stop_after;
};

static int collect_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct collect *c = arg;
	(void)v;
	(void)vl;
	assert_true(kl < sizeof(c->keys[0]));
	memcpy(c->keys[c->n], k, kl);
	c->keys[c->n][kl] = '\0';
	c->n++;
	return c->stop_after && c->n >= c->stop_after;
}

static void test_scan(void **state)
{
	struct fixture *f = *state;
	put_str(f->s, "m/2/b", "x");
	put_str(f->s, "m/1/b", "x");
	put_str(f->s, "m/1/a", "x");
	put_str(f->s, "m/10/a", "x");
	put_str(f->s, "m", "x");
	put_str(f->s, "n/1", "x");

	struct collect c = {0};
	assert_int_equal(rv_store_scan_prefix(f->s, "m/1/", 4, NULL, 0, collect_cb, &c), 0);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.keys[0], "m/1/a");
	assert_string_equal(c.keys[1], "m/1/b");

	memset(&c, 0, sizeof(c));
	assert_int_equal(rv_store_scan_prefix(f->s, "m/", 2, NULL, 0, collect_cb, &c), 0);
	assert_int_equal(c.n, 4);
	assert_string_equal(c.keys[2], "m/10/a");
	assert_string_equal(c.keys[3], "m/2/b");

	/* Paging: start after a key, stop early. */
	memset(&c, 0, sizeof(c));
	c.stop_after = 2;
	assert_int_equal(rv_store_scan_prefix(f->s, "m/", 2, "m/1/a", 5, collect_cb, &c), 0);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.keys[0], "m/1/b");
	assert_string_equal(c.keys[1], "m/10/a");
	/* start_after before the prefix starts at the prefix; past it: nothing. */
	memset(&c, 0, sizeof(c));
	assert_int_equal(rv_store_scan_prefix(f->s, "m/2", 3, "a", 1, collect_cb, &c), 0);
	assert_int_equal(c.n, 1);
	memset(&c, 0, sizeof(c));
	assert_int_equal(rv_store_scan_prefix(f->s, "m/", 2, "m/3", 3, collect_cb, &c), 0);
	assert_int_equal(c.n, 0);
	uint64_t cnt = 99;
	assert_int_equal(rv_store_count_prefix(f->s, "m/", 2, &cnt), 0);
	assert_int_equal(cnt, 4);
	assert_int_equal(rv_store_count_prefix(f->s, "m/1/", 4, &cnt), 0);
	assert_int_equal(cnt, 2);
	assert_int_equal(rv_store_count_prefix(f->s, "q/", 2, &cnt), 0);
	assert_int_equal(cnt, 0);
	/* Empty prefix range. */
	memset(&c, 0, sizeof(c));
	assert_int_equal(rv_store_scan_prefix(f->s, "zz", 2, NULL, 0, collect_cb, &c), 0);
	assert_int_equal(c.n, 0);
}

static void test_batch(void **state)
{
	struct fixture *f = *state;
	put_str(f->s, "old", "1");

	struct rv_store_batch *b = rv_store_batch_new();
	assert_non_null(b);
	rv_store_batch_put(b, "a", 1, "A", 1);
	rv_store_batch_put(b, "b", 1, "B", 1);
	rv_store_batch_delete(b, "old", 3);
	/* Nothing is visible before the commit. */
	expect(f->s, "a", NULL);
	expect(f->s, "old", "1");
	assert_int_equal(rv_store_batch_commit(f->s, b, true), 0);
	rv_store_batch_free(b);
	expect(f->s, "a", "A");
	expect(f->s, "b", "B");
	expect(f->s, "old", NULL);

	/* A batch dropped without commit changes nothing. */
	b = rv_store_batch_new();
	rv_store_batch_put(b, "c", 1, "C", 1);
	rv_store_batch_delete(b, "a", 1);
	rv_store_batch_free(b);
	expect(f->s, "c", NULL);
	expect(f->s, "a", "A");

	/* Later operations in one batch win over earlier ones on the same key. */
	b = rv_store_batch_new();
	rv_store_batch_put(b, "d", 1, "1", 1);
	rv_store_batch_delete(b, "d", 1);
	rv_store_batch_put(b, "e", 1, "1", 1);
	rv_store_batch_put(b, "e", 1, "2", 1);
	assert_int_equal(rv_store_batch_commit(f->s, b, false), 0);
	rv_store_batch_free(b);
	expect(f->s, "d", NULL);
	expect(f->s, "e", "2");
}

static void test_reopen(void **state)
{
	struct fixture *f = *state;
	char err[256];
	put_str(f->s, "r/1", "room");
	struct rv_store_batch *b = rv_store_batch_new();
	rv_store_batch_put(b, "m/1/7", 5, "member", 6);
	assert_int_equal(rv_store_batch_commit(f->s, b, true), 0);
	rv_store_batch_free(b);
	rv_store_close(f->s);
	f->s = NULL;
	assert_int_equal(open_store(f, &f->s, err, sizeof(err)), 0);
	expect(f->s, "r/1", "room");
	expect(f->s, "m/1/7", "member");
	expect(f->s, "meta/schema", "1");
}

static void test_schema_newer(void **state)
{
	struct fixture *f = *state;
	char err[1024] = "";
	put_str(f->s, "meta/schema", "2");
	rv_store_close(f->s);
	f->s = NULL;
	assert_int_equal(open_store(f, &f->s, err, sizeof(err)), -1);
	assert_null(f->s);
	assert_non_null(strstr(err, "schema version '2'"));
	assert_non_null(strstr(err, "understands version 1"));
	/* Data without a version key is refused too. */
	struct rv_store *s2;
	if (on_etcd)
		etcd_wipe();
	else
		rv_test_tmpdir_remove(f->dir);
	assert_int_equal(open_store(f, &s2, err, sizeof(err)), 0);
	put_str(s2, "u/1", "x");
	assert_int_equal(rv_store_delete(s2, "meta/schema", 11, true), 0);
	rv_store_close(s2);
	assert_int_equal(open_store(f, &s2, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no schema version"));
	/* Restore so that teardown can close a store. */
	if (on_etcd)
		etcd_wipe();
	else
		rv_test_tmpdir_remove(f->dir);
	assert_int_equal(open_store(f, &f->s, err, sizeof(err)), 0);
}

static void test_schema_mismatch(void **state)
{
	struct fixture *f = *state;
	char err[256] = "";
	put_str(f->s, "meta/schema", "2");
	rv_store_close(f->s);
	f->s = NULL;
	assert_int_equal(rv_store_open(f->dir, &f->s, err, sizeof(err)), -1);
	assert_null(f->s);
	assert_non_null(strstr(err, "schema version '2'"));
	assert_non_null(strstr(err, "understands version 1"));

	/* Data without a version key is refused too. */
	char dir2[64] = "/tmp/rv-unit-store-XXXXXX";
	struct rv_store *s2;
	assert_non_null(mkdtemp(dir2));
	assert_int_equal(rv_store_open(dir2, &s2, err, sizeof(err)), 0);
	put_str(s2, "u/1", "x");
	assert_int_equal(rv_store_delete(s2, "meta/schema", 11, true), 0);
	rv_store_close(s2);
	assert_int_equal(rv_store_open(dir2, &s2, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no schema version"));
	rv_test_tmpdir_remove(dir2);

	/* Restore so that teardown can close a store. */
	f->s = NULL;
	char dir3[64] = "/tmp/rv-unit-store-XXXXXX";
	assert_non_null(mkdtemp(dir3));
	assert_int_equal(rv_store_open(dir3, &f->s, err, sizeof(err)), 0);
	rv_test_tmpdir_remove(f->dir);
	memcpy(f->dir, dir3, sizeof(dir3));
}

/* Every file under @path is 0600 and every directory 0700; counts files. */
static void expect_private(const char *path, int *files)
{
	struct stat st;
	assert_int_equal(lstat(path, &st), 0);
	if (!S_ISDIR(st.st_mode)) {
		if ((st.st_mode & 07777) != 0600)
			fail_msg("%s has mode %04o, want 0600", path, st.st_mode & 07777);
		(*files)++;
		return;
	}
	if ((st.st_mode & 07777) != 0700)
		fail_msg("directory %s has mode %04o, want 0700", path, st.st_mode & 07777);
	DIR *d = opendir(path);
	assert_non_null(d);
	for (struct dirent *e; (e = readdir(d));) {
		char sub[512];
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		expect_private(sub, files);
	}
	closedir(d);
}

/* Expectations: the batch commits only if each holds; else nothing. */
static void test_expect(void **state)
{
	struct fixture *f = *state;
	put_str(f->s, "c/1", "v1");

	struct rv_store_batch *b = rv_store_batch_new();
	rv_store_batch_expect(b, "c/1", 3, "v1", 2);
	rv_store_batch_expect(b, "c/2", 3, NULL, 0); /* absent */
	rv_store_batch_put(b, "c/1", 3, "v2", 2);
	rv_store_batch_put(b, "c/2", 3, "new", 3);
	assert_int_equal(rv_store_batch_commit(f->s, b, true), 0);
	rv_store_batch_free(b);
	expect(f->s, "c/1", "v2");
	expect(f->s, "c/2", "new");

	/* A stale value: conflict, nothing written. */
	b = rv_store_batch_new();
	rv_store_batch_expect(b, "c/1", 3, "v1", 2);
	rv_store_batch_put(b, "c/1", 3, "v3", 2);
	rv_store_batch_put(b, "c/3", 3, "x", 1);
	assert_int_equal(rv_store_batch_commit(f->s, b, true), RV_STORE_CONFLICT);
	rv_store_batch_free(b);
	expect(f->s, "c/1", "v2");
	expect(f->s, "c/3", NULL);

	/* "Absent" of a present key: conflict; a prefix of the value is not it. */
	b = rv_store_batch_new();
	rv_store_batch_expect(b, "c/2", 3, NULL, 0);
	rv_store_batch_delete(b, "c/1", 3);
	assert_int_equal(rv_store_batch_commit(f->s, b, true), RV_STORE_CONFLICT);
	rv_store_batch_free(b);
	b = rv_store_batch_new();
	rv_store_batch_expect(b, "c/2", 3, "ne", 2);
	rv_store_batch_delete(b, "c/1", 3);
	assert_int_equal(rv_store_batch_commit(f->s, b, true), RV_STORE_CONFLICT);
	rv_store_batch_free(b);
	expect(f->s, "c/1", "v2");
	/* An empty value is a value, not absence. */
	put_str(f->s, "c/4", "");
	b = rv_store_batch_new();
	rv_store_batch_expect(b, "c/4", 3, NULL, 0);
	assert_int_equal(rv_store_batch_commit(f->s, b, true), RV_STORE_CONFLICT);
	rv_store_batch_free(b);
	b = rv_store_batch_new();
	rv_store_batch_expect(b, "c/4", 3, "", 0);
	rv_store_batch_delete(b, "c/4", 3);
	assert_int_equal(rv_store_batch_commit(f->s, b, true), 0);
	rv_store_batch_free(b);
	expect(f->s, "c/4", NULL);
}

/* Compare-and-swap under contention: THREADS threads each add ROUNDS to
 * one counter with read, expect-the-value-read, write; conflicts retry.
 * Any lost update (a check and its write not atomic) shows in the total. */
#define CAS_THREADS 4
#define CAS_ROUNDS  50

struct cas_arg {
	struct rv_store *s;
	int conflicts;
};

static void *cas_main(void *p)
{
	struct cas_arg *a = p;
	for (int i = 0; i < CAS_ROUNDS;) {
		void *v = NULL;
		size_t vl = 0;
		char cur[32] = "0", next[32];
		int rc = rv_store_get(a->s, "ctr", 3, &v, &vl);
		if (rc < 0)
			return (void *)1;
		if (rc == 0) {
			snprintf(cur, sizeof(cur), "%.*s", (int)vl, (char *)v);
			free(v);
		}
		snprintf(next, sizeof(next), "%ld", strtol(cur, NULL, 10) + 1);
		struct rv_store_batch *b = rv_store_batch_new();
		rv_store_batch_expect(b, "ctr", 3, rc == 0 ? cur : NULL, strlen(cur));
		rv_store_batch_put(b, "ctr", 3, next, strlen(next));
		rc = rv_store_batch_commit(a->s, b, true);
		rv_store_batch_free(b);
		if (rc == RV_STORE_CONFLICT)
			a->conflicts++;
		else if (rc != 0)
			return (void *)1;
		else
			i++;
	}
	return NULL;
}

static void test_expect_contended(void **state)
{
	struct fixture *f = *state;
	pthread_t t[CAS_THREADS];
	struct cas_arg a[CAS_THREADS];
	char want[16];

	for (int i = 0; i < CAS_THREADS; i++) {
		a[i] = (struct cas_arg){f->s, 0};
		assert_int_equal(pthread_create(&t[i], NULL, cas_main, &a[i]), 0);
	}
	for (int i = 0; i < CAS_THREADS; i++) {
		void *rc;
		pthread_join(t[i], &rc);
		assert_null(rc);
	}
	snprintf(want, sizeof(want), "%d", CAS_THREADS * CAS_ROUNDS);
	expect(f->s, "ctr", want);
}

static int count_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)v, (void)vl;
	char *last = ((char **)arg)[0];
	int *n = (int *)((char **)arg)[1];
	char key[32];
	assert_true(kl < sizeof(key));
	memcpy(key, k, kl);
	key[kl] = '\0';
	if (last[0])
		assert_true(strcmp(last, key) < 0); /* strictly increasing: no repeat */
	strcpy(last, key);
	(*n)++;
	return 0;
}

/* More keys than one page of the etcd backend's Range (256): the scan
 * pages through them all, in order, once each, from anywhere. */
static void test_scan_many(void **state)
{
	struct fixture *f = *state;
	enum { N = 700 };
	for (int i = 0; i < N; i += 100) {
		struct rv_store_batch *b = rv_store_batch_new();
		for (int j = i; j < i + 100; j++) {
			char k[32];
			snprintf(k, sizeof(k), "p/%04d", j);
			rv_store_batch_put(b, k, strlen(k), "v", 1);
		}
		assert_int_equal(rv_store_batch_commit(f->s, b, false), 0);
		rv_store_batch_free(b);
	}
	put_str(f->s, "q/0", "after");
	char last[32] = "";
	int n = 0;
	char *arg[2] = {last, (char *)&n};
	assert_int_equal(rv_store_scan_prefix(f->s, "p/", 2, NULL, 0, count_cb, arg), 0);
	assert_int_equal(n, N);
	assert_string_equal(last, "p/0699");
	last[0] = '\0';
	n = 0;
	assert_int_equal(rv_store_scan_prefix(f->s, "p/", 2, "p/0255", 6, count_cb, arg), 0);
	assert_int_equal(n, N - 256);
	uint64_t cnt = 0;
	assert_int_equal(rv_store_count_prefix(f->s, "p/", 2, &cnt), 0);
	assert_int_equal(cnt, N);
	/* The whole store: the schema key, N, and q/0. */
	last[0] = '\0';
	n = 0;
	assert_int_equal(rv_store_scan_prefix(f->s, "", 0, NULL, 0, count_cb, arg), 0);
	assert_int_equal(n, N + 2);
	assert_int_equal(rv_store_count_prefix(f->s, "", 0, &cnt), 0);
	assert_int_equal(cnt, N + 2);
}

/* store copy: into an empty store, checked by count and checksum; a
 * non-empty destination is refused without force. */
static void test_copy(void **state)
{
	struct fixture *f = *state;
	char dir[64] = "/tmp/rv-unit-store-copy-XXXXXX", err[512], sha[65], sha2[65];
	struct rv_store *to;
	uint64_t n, n2;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(rv_store_open(dir, &to, err, sizeof(err)), 0);
	put_str(f->s, "a/1", "one");
	put_str(f->s, "a/2", "");
	put_str(f->s, "b", "two");
	assert_int_equal(rv_store_copy(f->s, to, false, &n, sha, err, sizeof(err)), 0);
	assert_int_equal(n, 4); /* with meta/schema */
	assert_int_equal(rv_store_checksum(to, &n2, sha2), 0);
	assert_int_equal(n2, 4);
	assert_string_equal(sha, sha2);
	expect(to, "a/2", "");
	put_str(to, "extra", "x");
	assert_int_equal(rv_store_copy(f->s, to, false, &n, sha, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not empty"));
	assert_int_equal(rv_store_copy(f->s, to, true, &n, sha, err, sizeof(err)), 0);
	expect(to, "extra", NULL);
	rv_store_close(to);
	rv_test_tmpdir_remove(dir);
}

/* etcd: a Txn carries at most RV_STORE_BATCH_MAX writes; a larger batch is
 * refused whole (nothing written), never split. */
static void test_etcd_batch_limit(void **state)
{
	struct fixture *f = *state;
	struct rv_store_batch *b = rv_store_batch_new();
	for (int i = 0; i <= RV_STORE_BATCH_MAX; i++) {
		char k[32];
		snprintf(k, sizeof(k), "l/%04d", i);
		rv_store_batch_put(b, k, strlen(k), "v", 1);
	}
	assert_int_equal(rv_store_batch_commit(f->s, b, true), -1);
	rv_store_batch_free(b);
	uint64_t cnt = 99;
	assert_int_equal(rv_store_count_prefix(f->s, "l/", 2, &cnt), 0);
	assert_int_equal(cnt, 0);
	/* The limit itself passes, repeats of a key counted once. */
	b = rv_store_batch_new();
	for (int i = 0; i < RV_STORE_BATCH_MAX; i++) {
		char k[32];
		snprintf(k, sizeof(k), "l/%04d", i);
		rv_store_batch_put(b, k, strlen(k), "v", 1);
		rv_store_batch_put(b, k, strlen(k), "w", 1);
	}
	assert_int_equal(rv_store_batch_commit(f->s, b, true), 0);
	rv_store_batch_free(b);
	assert_int_equal(rv_store_count_prefix(f->s, "l/", 2, &cnt), 0);
	assert_int_equal(cnt, RV_STORE_BATCH_MAX);
	expect(f->s, "l/0000", "w");
}

/* etcd start-up errors: clear, and fast enough. */
static void test_etcd_open_errors(void **state)
{
	(void)state;
	struct rv_store *s = NULL;
	char err[1600], uri[1100];
	struct rv_store_etcd_tls tls = etcd_tls();

	/* Nobody listens there (a port of ours, closed). */
	assert_int_equal(rv_store_open_uri("etcd:https://127.0.0.1:1", &tls, &s, err, sizeof(err)),
			 -1);
	assert_null(s);
	assert_non_null(strstr(err, "no endpoint of https://127.0.0.1:1 answered"));
	/* Plain http, no certificates. */
	assert_int_equal(
	    rv_store_open_uri("etcd:http://127.0.0.1:2379", &tls, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "plain http is refused"));
	struct rv_store_etcd_tls none = {0};
	snprintf(uri, sizeof(uri), "etcd:%s", env("RV_ETCD_ENDPOINTS"));
	assert_int_equal(rv_store_open_uri(uri, &none, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "etcd_ca, etcd_cert and etcd_key must all be set"));
	/* A client certificate etcd does not trust, and a CA that did not sign etcd. */
	struct rv_store_etcd_tls bad = {env("RV_ETCD_CA"), env("RV_ETCD_BAD_CERT"),
					env("RV_ETCD_BAD_KEY")};
	assert_int_equal(rv_store_open_uri(uri, &bad, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "answered"));
	assert_non_null(strstr(err, "etcd_cert"));
	struct rv_store_etcd_tls bad_ca = {env("RV_ETCD_BAD_CA"), env("RV_ETCD_CERT"),
					   env("RV_ETCD_KEY")};
	assert_int_equal(rv_store_open_uri(uri, &bad_ca, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "answered"));
	struct rv_store_etcd_tls missing = {"/no/such/ca.crt", env("RV_ETCD_CERT"),
					    env("RV_ETCD_KEY")};
	assert_int_equal(rv_store_open_uri(uri, &missing, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "etcd_ca /no/such/ca.crt"));
	assert_null(s);
}

static void test_file_modes_under_umask_022(void **state)
{
	char dir[64], db[96], err[256];
	struct rv_store *s;
	int files = 0;
	(void)state;

	umask(022);
	snprintf(dir, sizeof(dir), "/tmp/rv-unit-store-modes-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(db, sizeof(db), "%s/db", dir);
	/* open, write, reopen (new WAL, MANIFEST, SST from the flush) */
	for (int round = 0; round < 2; round++) {
		assert_int_equal(rv_store_open(db, &s, err, sizeof(err)), 0);
		for (int i = 0; i < 100; i++) {
			char k[32];
			snprintf(k, sizeof(k), "k/%d/%d", round, i);
			put_str(s, k, "value");
		}
		rv_store_close(s);
	}
	umask(022); /* what exists now must stay private; a later file too */
	assert_int_equal(rv_store_open(db, &s, err, sizeof(err)), 0);
	put_str(s, "k/last", "value");
	expect_private(db, &files);
	assert_true(files >= 4); /* CURRENT, MANIFEST, a WAL, OPTIONS, LOG... */
	rv_store_close(s);
	rv_test_tmpdir_remove(dir);
}

static void test_open_error(void **state)
{
	(void)state;
	struct rv_store *s = NULL;
	char err[256] = "";
	assert_int_equal(rv_store_open("/proc/no/such/dir", &s, err, sizeof(err)), -1);
	assert_null(s);
	assert_non_null(strstr(err, "cannot open store /proc/no/such/dir"));
}

/* get_many: values in the order asked, absent keys, an empty value, one
 * get in the counters, no keys, and more than a Txn carries refused. */
static void test_get_many(void **state)
{
	struct fixture *f = *state;
	struct rv_store_read r[4] = {{.key = "gm/b", .klen = 4},
				     {.key = "gm/none", .klen = 7},
				     {.key = "gm/a", .klen = 4},
				     {.key = "gm/empty", .klen = 8}};
	struct rv_store_ops a, b;
	put_str(f->s, "gm/a", "alpha");
	put_str(f->s, "gm/b", "beta");
	put_str(f->s, "gm/empty", "");
	rv_store_ops(f->s, &a);
	assert_int_equal(rv_store_get_many(f->s, r, 4), 0);
	rv_store_ops(f->s, &b);
	assert_int_equal(b.gets - a.gets, 1);
	assert_true(r[0].found && r[0].vlen == 4 && !memcmp(r[0].val, "beta", 4));
	assert_false(r[1].found);
	assert_null(r[1].val);
	assert_true(r[2].found && r[2].vlen == 5 && !memcmp(r[2].val, "alpha", 5));
	assert_true(r[3].found && r[3].vlen == 0);
	rv_store_reads_free(r, 4);
	assert_null(r[0].val);
	assert_int_equal(rv_store_get_many(f->s, r, 0), 0);
	struct rv_store_read *many = calloc(RV_STORE_BATCH_MAX + 1, sizeof(*many));
	assert_non_null(many);
	for (int i = 0; i <= RV_STORE_BATCH_MAX; i++)
		many[i] = (struct rv_store_read){.key = "gm/a", .klen = 4};
	assert_int_equal(rv_store_get_many(f->s, many, RV_STORE_BATCH_MAX + 1), -1);
	assert_int_equal(rv_store_get_many(f->s, many, RV_STORE_BATCH_MAX), 0);
	assert_true(many[RV_STORE_BATCH_MAX - 1].found);
	rv_store_reads_free(many, RV_STORE_BATCH_MAX);
	free(many);
}

/* get_many reads one snapshot: a writer moves two keys together in
 * batches; no read of both ever sees them apart (separate gets would). */
struct pair_writer {
	struct rv_store *s;
	atomic_bool stop;
	atomic_long commits;
	int fails;
};

static void *pair_writer_main(void *p)
{
	struct pair_writer *w = p;
	for (long i = 1; !atomic_load(&w->stop); i++) {
		char v[32];
		int n = snprintf(v, sizeof(v), "%ld", i);
		struct rv_store_batch *b = rv_store_batch_new();
		rv_store_batch_put(b, "pair/x", 6, v, (size_t)n);
		rv_store_batch_put(b, "pair/y", 6, v, (size_t)n);
		w->fails += rv_store_batch_commit(w->s, b, false) != 0;
		atomic_fetch_add(&w->commits, 1);
		rv_store_batch_free(b);
	}
	return NULL;
}

static void test_get_many_snapshot(void **state)
{
	struct fixture *f = *state;
	struct pair_writer w = {.s = f->s};
	pthread_t t;
	int apart = 0, reads = 0;
	assert_int_equal(pthread_create(&t, NULL, pair_writer_main, &w), 0);
	while (atomic_load(&w.commits) == 0) /* the writer is under way */
		sched_yield();
	long first = atomic_load(&w.commits);
	/* reads for as long as 100 batches go in meanwhile */
	while (atomic_load(&w.commits) - first < 100 || reads < 100) {
		struct rv_store_read r[2] = {{.key = "pair/x", .klen = 6},
					     {.key = "pair/y", .klen = 6}};
		assert_int_equal(rv_store_get_many(f->s, r, 2), 0);
		if (r[0].found != r[1].found || r[0].vlen != r[1].vlen ||
		    (r[0].found && memcmp(r[0].val, r[1].val, r[0].vlen)))
			apart++;
		reads++;
		rv_store_reads_free(r, 2);
	}
	atomic_store(&w.stop, true);
	pthread_join(t, NULL);
	assert_int_equal(w.fails, 0);
	assert_int_equal(apart, 0);
}

#define CONTRACT(t) cmocka_unit_test_setup_teardown(t, setup, teardown)

int main(int argc, char **argv)
{
	const struct CMUnitTest contract[] = {
	    CONTRACT(test_round_trip),
	    CONTRACT(test_scan),
	    CONTRACT(test_scan_many),
	    CONTRACT(test_batch),
	    CONTRACT(test_expect),
	    CONTRACT(test_expect_contended),
	    CONTRACT(test_reopen),
	    CONTRACT(test_schema_newer),
	    CONTRACT(test_copy),
	    CONTRACT(test_get_many),
	    CONTRACT(test_get_many_snapshot),
	};
	const struct CMUnitTest rocksdb_only[] = {
	    CONTRACT(test_schema_mismatch),
	    cmocka_unit_test(test_open_error),
	    cmocka_unit_test(test_file_modes_under_umask_022),
	};
	const struct CMUnitTest etcd_only[] = {
	    CONTRACT(test_etcd_batch_limit),
	    cmocka_unit_test(test_etcd_open_errors),
	};

	if (argc > 1 && !strcmp(argv[1], "--etcd")) {
		on_etcd = true;
		int rc =
		    cmocka_run_group_tests_name("store contract on etcd", contract, NULL, NULL);
		return rc | cmocka_run_group_tests_name("store etcd", etcd_only, NULL, NULL);
	}
	int rc = cmocka_run_group_tests_name("store contract on rocksdb", contract, NULL, NULL);
	return rc | cmocka_run_group_tests_name("store rocksdb", rocksdb_only, NULL, NULL);
}
