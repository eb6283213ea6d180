/* Unit tests for the store's schema version and checkpoint
 * (control/store_rocksdb.c): a newer schema is refused with a message that
 * says what to do, a garbled one too; the current version opens and keeps
 * its data; a checkpoint taken while the store is open is a complete,
 * openable store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "tmpdir.h"

static void put_str(struct rv_store *s, const char *k, const char *v)
{
	assert_int_equal(rv_store_put(s, k, strlen(k), v, strlen(v), true), 0);
}

static char *get_str(struct rv_store *s, const char *k)
{
	void *v = NULL;
	size_t vl = 0;
	if (rv_store_get(s, k, strlen(k), &v, &vl) != 0)
		return NULL;
	char *out = calloc(1, vl + 1);
	memcpy(out, v, vl);
	free(v);
	return out;
}

/* A store in a new temporary directory with the schema key set to @version. */
static void make_store(char *dir, size_t len, const char *version)
{
	struct rv_store *s;
	char err[256];
	snprintf(dir, len, "/tmp/rv-unit-schema-XXXXXX");
	assert_non_null(mkdtemp(dir));
	assert_int_equal(rv_store_open(dir, &s, err, sizeof(err)), 0);
	put_str(s, "user/x", "data");
	put_str(s, "meta/schema", version);
	rv_store_close(s);
}

static void test_newer_refused(void **state)
{
	(void)state;
	char dir[64], err[512], v[16];
	struct rv_store *s = NULL;
	snprintf(v, sizeof(v), "%d", rv_store_schema_version() + 1);
	make_store(dir, sizeof(dir), v);
	assert_int_equal(rv_store_open(dir, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "written by a newer roomvpn-control"));
	assert_non_null(strstr(err, "restore the backup taken before the upgrade"));
	rv_test_tmpdir_remove(dir);
}

static void test_garbled_refused(void **state)
{
	(void)state;
	char dir[64], err[512];
	struct rv_store *s = NULL;
	make_store(dir, sizeof(dir), "one");
	assert_int_equal(rv_store_open(dir, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is not a number"));
	rv_test_tmpdir_remove(dir);
}

/* Version 1 is what every store written so far carries. */
static void test_current_opens(void **state)
{
	(void)state;
	char dir[64], err[512];
	struct rv_store *s = NULL;
	make_store(dir, sizeof(dir), "1");
	assert_int_equal(rv_store_open(dir, &s, err, sizeof(err)), 0);
	char *v = get_str(s, "user/x");
	assert_string_equal(v, "data");
	free(v);
	rv_store_close(s);
	rv_test_tmpdir_remove(dir);
}

static void test_checkpoint(void **state)
{
	(void)state;
	char dir[64], cp[96], err[512];
	struct rv_store *s, *c;
	make_store(dir, sizeof(dir), "1");
	assert_int_equal(rv_store_open(dir, &s, err, sizeof(err)), 0);
	put_str(s, "user/y", "unflushed"); /* in the memtable and WAL only */
	snprintf(cp, sizeof(cp), "%s/cp", dir);
	assert_int_equal(rv_store_checkpoint(s, cp, err, sizeof(err)), 0);
	assert_int_equal(rv_store_checkpoint(s, cp, err, sizeof(err)), -1); /* exists */
	put_str(s, "user/z", "after");
	assert_int_equal(rv_store_open(cp, &c, err, sizeof(err)), 0);
	char *y = get_str(c, "user/y"), *z = get_str(c, "user/z"), *m = get_str(c, "meta/schema");
	assert_string_equal(y, "unflushed");
	assert_null(z);
	assert_string_equal(m, "1");
	free(y);
	free(m);
	rv_store_close(c);
	rv_store_close(s);
	rv_test_tmpdir_remove(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_newer_refused),
	    cmocka_unit_test(test_garbled_refused),
	    cmocka_unit_test(test_current_opens),
	    cmocka_unit_test(test_checkpoint),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
