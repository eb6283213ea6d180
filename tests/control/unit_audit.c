/* Audit log unit tests: records round-trip through the store, paging walks
 * every record exactly once in order, filters (actor, action, time range)
 * and bad page tokens; retention; refused logins in aggregate. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "audit_refused.h"
#include "clock.h"
#include "store.h"
#include "tmpdir.h"

struct fixture {
	char dir[64];
	struct rv_control ctl;
};

static const char *actors[] = {"alice", "bob", "carol"};
static const char *actions[] = {"rooms.create", "rooms.join", "users.create", "auth.login"};

/* 250 events at t = 1000 + 10*i ns, actor i%3, action i%4, status i%5. */
static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];
	snprintf(f->dir, sizeof(f->dir), "/tmp/rv-unit-audit-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(rv_store_open(f->dir, &f->ctl.store, err, sizeof(err)), 0);
	assert_int_equal(rv_audit_init(&f->ctl), 0);
	assert_non_null(f->ctl.audit_record);
	for (int i = 0; i < 250; i++) {
		char target[32];
		snprintf(target, sizeof(target), "t%d", i);
		struct rv_audit_event ev = {
		    .time_ns = 1000 + 10 * (uint64_t)i,
		    .actor = actors[i % 3],
		    .source = "ipv4:127.0.0.1:4000",
		    .action = actions[i % 4],
		    .target = target,
		    .status = i % 5,
		    .detail = i % 5 ? "failed" : "",
		};
		f->ctl.audit_record(&f->ctl, &ev);
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	rv_audit_fini(&f->ctl);
	rv_store_close(f->ctl.store);
	rv_test_tmpdir_remove(f->dir);
	free(f);
	return 0;
}

/* Pages through everything matching @flt with @page_size; returns the
 * number of records and checks order and per-page sizes. Collects the
 * targets' numbers into @seen (may be NULL). */
static int walk(struct fixture *f, const struct rv_audit_filter *flt, uint32_t page_size, int *seen)
{
	char token[64] = "";
	int total = 0;
	uint64_t last_t = 0;
	for (int pages = 0; pages < 1000; pages++) {
		Roomvpn__V1__AuditRecord **recs;
		size_t n;
		char next[64];
		assert_int_equal(rv_audit_list(f->ctl.audit, flt, page_size, token, &recs, &n, next,
					       sizeof(next)),
				 0);
		if (next[0])
			assert_int_equal(n, page_size);
		for (size_t i = 0; i < n; i++) {
			assert_true(recs[i]->time_unix_ns > last_t);
			last_t = recs[i]->time_unix_ns;
			if (seen)
				seen[total] = atoi(recs[i]->target + 1);
			total++;
		}
		rv_audit_page_free(recs, n);
		if (!next[0])
			return total;
		snprintf(token, sizeof(token), "%s", next);
	}
	fail_msg("paging did not end");
	return -1;
}

static void test_round_trip(void **state)
{
	struct fixture *f = *state;
	struct rv_audit_filter all = {0};
	Roomvpn__V1__AuditRecord **recs;
	size_t n;
	char next[64];
	assert_int_equal(rv_audit_list(f->ctl.audit, &all, 3, "", &recs, &n, next, sizeof(next)),
			 0);
	assert_int_equal(n, 3);
	assert_int_equal(recs[1]->time_unix_ns, 1010);
	assert_string_equal(recs[1]->actor, "bob");
	assert_string_equal(recs[1]->action, "rooms.join");
	assert_string_equal(recs[1]->target, "t1");
	assert_string_equal(recs[1]->source, "ipv4:127.0.0.1:4000");
	assert_int_equal(recs[1]->status, 1);
	assert_string_equal(recs[1]->detail, "failed");
	assert_true(next[0] != '\0');
	rv_audit_page_free(recs, n);
}

static void test_paging(void **state)
{
	struct fixture *f = *state;
	struct rv_audit_filter all = {0};
	static int seen[300];
	uint32_t sizes[] = {1, 7, 50, 249, 250, 251, 1000};
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		memset(seen, -1, sizeof(seen));
		assert_int_equal(walk(f, &all, sizes[s], seen), 250);
		for (int i = 0; i < 250; i++)
			assert_int_equal(seen[i], i);
	}
	/* page_size 0 means the default (100). */
	Roomvpn__V1__AuditRecord **recs;
	size_t n;
	char next[64];
	assert_int_equal(rv_audit_list(f->ctl.audit, &all, 0, NULL, &recs, &n, next, sizeof(next)),
			 0);
	assert_int_equal(n, 100);
	rv_audit_page_free(recs, n);
}

static void test_filters(void **state)
{
	struct fixture *f = *state;
	static int seen[300];
	struct rv_audit_filter by_actor = {.actor = "bob"};
	assert_int_equal(walk(f, &by_actor, 10, seen), 83); /* i%3==1, i<250 */
	for (int k = 0; k < 83; k++)
		assert_int_equal(seen[k] % 3, 1);

	struct rv_audit_filter by_action = {.action = "rooms.join"};
	assert_int_equal(walk(f, &by_action, 9, NULL), 63); /* i%4==1 */
	struct rv_audit_filter by_prefix = {.action = "rooms."};
	assert_int_equal(walk(f, &by_prefix, 9, NULL), 126);
	struct rv_audit_filter no_prefix = {.action = "rooms"};
	assert_int_equal(walk(f, &no_prefix, 9, NULL), 0);

	/* [1100, 1500): i = 10 .. 49 */
	struct rv_audit_filter range = {.since_ns = 1100, .until_ns = 1500};
	assert_int_equal(walk(f, &range, 6, seen), 40);
	assert_int_equal(seen[0], 10);
	assert_int_equal(seen[39], 49);
	struct rv_audit_filter since = {.since_ns = 1101};
	assert_int_equal(walk(f, &since, 100, seen), 239);
	assert_int_equal(seen[0], 11);

	struct rv_audit_filter combo = {.actor = "alice", .action = "auth.login", .until_ns = 2000};
	/* i%3==0 and i%4==3 -> i%12==3, i<100: 3,15,...,99 */
	assert_int_equal(walk(f, &combo, 2, seen), 9);
	assert_int_equal(seen[8], 99);
}

static void test_bad_token(void **state)
{
	struct fixture *f = *state;
	struct rv_audit_filter all = {0};
	Roomvpn__V1__AuditRecord **recs;
	size_t n;
	char next[64];
	const char *bad[] = {"x", "a/zz", "a/0000000000000000/0000000g",
			     "u/0000000000000001/00000000", "a/00000000000000000/0000000"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(
		    rv_audit_list(f->ctl.audit, &all, 5, bad[i], &recs, &n, next, sizeof(next)),
		    -2);
}

static void test_survives_reopen(void **state)
{
	struct fixture *f = *state;
	char err[256];
	rv_audit_fini(&f->ctl);
	rv_store_close(f->ctl.store);
	assert_int_equal(rv_store_open(f->dir, &f->ctl.store, err, sizeof(err)), 0);
	assert_int_equal(rv_audit_init(&f->ctl), 0);
	struct rv_audit_filter all = {0};
	assert_int_equal(walk(f, &all, 100, NULL), 250);
}

static void test_prune_by_age_and_count(void **state)
{
	struct fixture *f = *state;
	struct rv_audit_filter all = {0};
	/* 250 records at 1000 + 10 * i: the first 100 are older than 2000 */
	assert_int_equal(rv_audit_prune(f->ctl.audit, 2000, 0), 100);
	assert_int_equal(walk(f, &all, 1000, NULL), 150);
	assert_int_equal(rv_audit_prune(f->ctl.audit, 0, 50), 100);
	assert_int_equal(walk(f, &all, 1000, NULL), 50);
	struct rv_audit_filter early = {.until_ns = 1000 + 10 * 200};
	assert_int_equal(walk(f, &early, 1000, NULL), 0);
	assert_int_equal(rv_audit_prune(f->ctl.audit, 0, 0), 0);
}

/* Sums the attempts the auth.login refusals of @f stand for. */
static unsigned refused_attempts(struct fixture *f, int *records)
{
	struct rv_audit_filter flt = {.action = "auth.login"};
	Roomvpn__V1__AuditRecord **recs;
	size_t n;
	char next[64];
	unsigned sum = 0;
	assert_int_equal(rv_audit_list(f->ctl.audit, &flt, 1000, "", &recs, &n, next, sizeof(next)),
			 0);
	*records = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned c;
		if (recs[i]->status == 0)
			continue;
		(*records)++;
		sum += sscanf(recs[i]->detail, "%u refused logins", &c) == 1 ? c : 1;
	}
	rv_audit_page_free(recs, n);
	return sum;
}

static void refuse(struct fixture *f, uint64_t t, const char *actor, int port)
{
	char src[64];
	snprintf(src, sizeof(src), "ipv4:10.0.0.1:%d", port);
	struct rv_audit_event ev = {
	    t, actor, src, "auth.login", "user:x", 16, "invalid username or password"};
	f->ctl.audit_record(&f->ctl, &ev);
}

/* Event times are the wall clock's, as in the server: the audit thread
 * flushes aggregates that expired by the wall clock (every
 * min(interval, 1 s)), so events stamped far in its past (1,000 ns) were
 * flushed mid-test whenever it woke, splitting the counts. */
static void test_refused_logins_aggregated(void **state)
{
	const uint64_t interval = 60ull * 1000000000ull; /* not reached by the wall clock here */
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256], user[32];
	int records;
	snprintf(f->dir, sizeof(f->dir), "/tmp/rv-unit-audit-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(rv_store_open(f->dir, &f->ctl.store, err, sizeof(err)), 0);
	f->ctl.cfg.audit_refused_interval_ns = interval;
	assert_int_equal(rv_audit_init(&f->ctl), 0);
	*state = f; /* teardown's from here, also when an assertion fails */
	uint64_t t0 = rv_clock_real_ns();

	/* 500 refusals of one (address, user) in one interval: one record */
	for (int i = 0; i < 500; i++)
		refuse(f, t0 + (uint64_t)i, "victim", 4000 + i);
	assert_int_equal(refused_attempts(f, &records), 1);
	assert_int_equal(records, 1);
	/* the next interval writes the count, then starts again */
	refuse(f, t0 + 2 * interval, "victim", 5000);
	assert_int_equal(refused_attempts(f, &records), 501);
	assert_int_equal(records, 3);
	/* 100 user names from one address: a bounded number of pairs */
	for (int i = 0; i < 100; i++) {
		snprintf(user, sizeof(user), "ghost%d", i);
		refuse(f, t0 + 4 * interval + (uint64_t)i, user, 6000);
	}
	rv_audit_fini(&f->ctl); /* writes what is still counted */
	assert_int_equal(rv_audit_init(&f->ctl), 0);
	assert_int_equal(refused_attempts(f, &records), 601);
	assert_true(records <= 3 + 1 + RV_AUDIT_REFUSED_PAIRS + 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_paging, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_filters, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_token, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_survives_reopen, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_prune_by_age_and_count, setup, teardown),
	    cmocka_unit_test_teardown(test_refused_logins_aggregated, teardown),
	};
	return cmocka_run_group_tests_name("audit", tests, NULL, NULL);
}
