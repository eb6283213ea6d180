/* Metrics registry unit tests: exact totals under concurrent observers,
 * histogram bucketing, the bounded method table ("other"), and the
 * rendered exposition text (users/rooms/members counted from the store). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "store.h"
#include "tmpdir.h"

static const char *methods[] = {"/roomvpn.v1.RoomService/Create", "/roomvpn.v1.RoomService/Join",
				"/roomvpn.v1.AuthService/Login"};

struct worker {
	struct rv_control *ctl;
	int id;
};

#define PER_THREAD 20000
#define THREADS	   4

static void *observe(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < PER_THREAD; i++) {
		/* method i%3, status OK or NOT_FOUND, 0.2 ms or 2 s */
		w->ctl->on_rpc_done(w->ctl, methods[i % 3], i % 2 ? 0 : 5,
				    i % 4 < 2 ? 200000 : 2000000000ull);
		if (i % 10 == 0)
			w->ctl->on_login(w->ctl, i % 20 == 0);
	}
	return NULL;
}

/* The value of the sample line starting with @prefix (exact up to " "). */
static double value_of(const char *text, const char *prefix)
{
	size_t pl = strlen(prefix);
	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, prefix, pl) == 0 && p[pl] == ' ')
			return atof(p + pl + 1);
	fail_msg("no sample %s", prefix);
	return -1;
}

static void test_concurrent_totals(void **state)
{
	(void)state;
	struct rv_control ctl;
	memset(&ctl, 0, sizeof(ctl));
	assert_int_equal(rv_metrics_init(&ctl), 0);
	pthread_t t[THREADS];
	struct worker w[THREADS];
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){&ctl, i};
		assert_int_equal(pthread_create(&t[i], NULL, observe, &w[i]), 0);
	}
	ctl.on_stream(&ctl, 1);
	ctl.on_stream(&ctl, 1);
	ctl.on_stream(&ctl, -1);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);

	size_t len;
	char *text = rv_metrics_render(&ctl, &len);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	/* Per method: PER_THREAD/3 calls per thread (20000 = 3*6666 + 2). */
	double create = THREADS * 6667.0, join = THREADS * 6667.0, login = THREADS * 6666.0;
	assert_true(value_of(text, "roomvpn_control_rpc_duration_seconds_count{method=\""
				   "/roomvpn.v1.RoomService/Create\"}") == create);
	assert_true(value_of(text, "roomvpn_control_rpc_duration_seconds_count{method=\""
				   "/roomvpn.v1.RoomService/Join\"}") == join);
	assert_true(value_of(text, "roomvpn_control_rpc_duration_seconds_count{method=\""
				   "/roomvpn.v1.AuthService/Login\"}") == login);
	double ok = value_of(text, "roomvpn_control_rpcs_total{method=\"/roomvpn.v1.RoomService/"
				   "Create\",code=\"OK\"}");
	double nf = value_of(text, "roomvpn_control_rpcs_total{method=\"/roomvpn.v1.RoomService/"
				   "Create\",code=\"NOT_FOUND\"}");
	assert_true(ok + nf == create);
	/* Half the calls took 0.2 ms (<= 0.0005), half 2 s (<= 2.5, > 1). */
	double fast = value_of(text, "roomvpn_control_rpc_duration_seconds_bucket{method=\""
				     "/roomvpn.v1.AuthService/Login\",le=\"0.0005\"}");
	double le1 = value_of(text, "roomvpn_control_rpc_duration_seconds_bucket{method=\""
				    "/roomvpn.v1.AuthService/Login\",le=\"1\"}");
	double le25 = value_of(text, "roomvpn_control_rpc_duration_seconds_bucket{method=\""
				     "/roomvpn.v1.AuthService/Login\",le=\"2.5\"}");
	assert_true(fast == le1);
	assert_true(le25 == login);
	assert_true(fast > 0 && fast < login);
	assert_true(value_of(text, "roomvpn_control_logins_total{result=\"ok\"}") ==
		    THREADS * 1000.0);
	assert_true(value_of(text, "roomvpn_control_logins_total{result=\"failed\"}") ==
		    THREADS * 1000.0);
	assert_true(value_of(text, "roomvpn_control_open_streams") == 1);
	/* No store: the store gauges are left out rather than made up. */
	assert_null(strstr(text, "roomvpn_control_rooms "));
	free(text);
	rv_metrics_fini(&ctl);
	assert_null(ctl.metrics);
	assert_null(ctl.on_rpc_done);
}

static void test_method_table_is_bounded(void **state)
{
	(void)state;
	struct rv_control ctl;
	memset(&ctl, 0, sizeof(ctl));
	assert_int_equal(rv_metrics_init(&ctl), 0);
	char name[64];
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "/made.up.Service/M%d", i);
		rv_metrics_rpc_observe(ctl.metrics, name, 12, 0.001);
	}
	rv_metrics_rpc_observe(ctl.metrics, NULL, 99, 0.001);	/* bad status: UNKNOWN */
	rv_metrics_rpc_observe(ctl.metrics, "/a\"b", 4, 0.001); /* needs escaping: other */
	rv_metrics_rpc_observe(ctl.metrics, "/a\nb", 4, 0.001);
	size_t len;
	char *text = rv_metrics_render(&ctl, &len);
	assert_non_null(text);
	/* 63 methods of their own, the other 137 (+1 NULL) under "other". */
	assert_true(value_of(text, "roomvpn_control_rpcs_total{method=\"/made.up.Service/M62\","
				   "code=\"UNIMPLEMENTED\"}") == 1);
	assert_null(strstr(text, "/made.up.Service/M63\""));
	assert_true(value_of(text, "roomvpn_control_rpcs_total{method=\"other\",code="
				   "\"UNIMPLEMENTED\"}") == 137);
	assert_true(value_of(text, "roomvpn_control_rpcs_total{method=\"other\",code="
				   "\"UNKNOWN\"}") == 1);
	assert_true(value_of(text, "roomvpn_control_rpcs_total{method=\"other\",code="
				   "\"DEADLINE_EXCEEDED\"}") == 2);
	free(text);
	rv_metrics_fini(&ctl);
}

static void test_store_gauges(void **state)
{
	(void)state;
	struct rv_control ctl;
	char dir[64] = "/tmp/rv-unit-metrics-XXXXXX", err[256];
	memset(&ctl, 0, sizeof(ctl));
	assert_non_null(mkdtemp(dir));
	assert_int_equal(rv_store_open(dir, &ctl.store, err, sizeof(err)), 0);
	const char *keys[] = {"u/1",	     "u/2",   "un/a",  "r/1",	"rn/x",
			      "rs/0a580000", "m/1/1", "m/1/2", "m/2/7", "meta/next/user"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		assert_int_equal(rv_store_put(ctl.store, keys[i], strlen(keys[i]), "", 0, false),
				 0);
	assert_int_equal(rv_metrics_init(&ctl), 0);
	size_t len;
	char *text = rv_metrics_render(&ctl, &len);
	assert_non_null(text);
	assert_true(value_of(text, "roomvpn_control_users") == 2);
	assert_true(value_of(text, "roomvpn_control_rooms") == 1);
	assert_true(value_of(text, "roomvpn_control_room_members") == 3);
	free(text);
	rv_metrics_fini(&ctl);
	rv_store_close(ctl.store);
	rv_test_tmpdir_remove(dir);
}

static void test_bad_listen(void **state)
{
	(void)state;
	struct rv_control ctl;
	char err[256] = "";
	memset(&ctl, 0, sizeof(ctl));
	assert_int_equal(rv_metrics_init(&ctl), 0);
	assert_int_equal(rv_metrics_start(&ctl, err, sizeof(err)), 0); /* disabled */
	assert_int_equal(rv_metrics_port(ctl.metrics), 0);
	const char *bad[] = {"localhost:9443", "127.0.0.1", "127.0.0.1:99999", "[::1:9443"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(ctl.cfg.metrics_listen, sizeof(ctl.cfg.metrics_listen), "%s", bad[i]);
		assert_int_equal(rv_metrics_start(&ctl, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "metrics_listen"));
	}
	/* A good address but no certificate to serve. */
	snprintf(ctl.cfg.metrics_listen, sizeof(ctl.cfg.metrics_listen), "127.0.0.1:0");
	snprintf(ctl.cfg.state_dir, sizeof(ctl.cfg.state_dir), "/nonexistent-rv");
	assert_int_equal(rv_metrics_start(&ctl, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent-rv/tls/server.crt"));
	rv_metrics_fini(&ctl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_concurrent_totals),
	    cmocka_unit_test(test_method_table_is_bounded),
	    cmocka_unit_test(test_store_gauges),
	    cmocka_unit_test(test_bad_listen),
	};
	return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
