/* Unit tests for the RocksDB store (control/store_rocksdb.c): round trip,
 * prefix scan with paging, batch atomicity, reopen, schema version checks,
 * private file modes under umask 022. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
#include "tmpdir.h"

struct fixture {
	char dir[64];
	struct rv_store *s;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];
	snprintf(f->dir, sizeof(f->dir), "/tmp/rv-unit-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(rv_store_open(f->dir, &f->s, err, sizeof(err)), 0);
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
	assert_int_equal(rv_store_open(f->dir, &f->s, err, sizeof(err)), 0);
	expect(f->s, "r/1", "room");
	expect(f->s, "m/1/7", "member");
	expect(f->s, "meta/schema", "1");
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_scan, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_batch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_schema_mismatch, setup, teardown),
	    cmocka_unit_test(test_open_error),
	    cmocka_unit_test(test_file_modes_under_umask_022),
	};
	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
