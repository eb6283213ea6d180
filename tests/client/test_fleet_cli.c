/* The client's side of the fleet (issue 11) without a server: the
 * `--placement k=v[,k=v]` syntax of `rooms create|update` against a table
 * of good and bad inputs, and the JSON of `admin dataplanes --json`
 * (FleetService's Dataplane through pbjson: labels, a map, as one object;
 * the 64-bit time as a string; the state by name). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cli.h"
#include "pbjson.h"
#include "roomvpn/v1/fleet.pb-c.h"

static void test_placement_good(void **state)
{
	static const char *good[] = {"site=fra1", "site=fra1,tier=a", "a.b/c=x-y_z",
				     ("k0=1,k1=1,k2=1,k3=1,k4=1,k5=1,k6=1,k7=1,k8=1,k9=1,ka=1,kb=1,"
				      "kc=1,kd=1,ke=1,kf=1")};
	char err[200];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		err[0] = '\0';
		if (rv_cli_placement_check(good[i], err, sizeof(err)) != 0)
			fail_msg("'%s' refused: %s", good[i], err);
	}
}

static void test_placement_bad(void **state)
{
	static const struct {
		const char *in, *why;
	} bad[] = {
	    {"", "empty"},
	    {"site", "not key=value"},
	    {"=fra1", "empty key"},
	    {"site=", "empty value"},
	    {"site=fra 1", "character ' '"},
	    {"site=fra1,", "not key=value"},
	    {"site=a,,tier=b", "not key=value"},
	    {"site=a,site=b", "given twice"},
	    {"site=a=b", "character '='"},
	    {"k0=1,k1=1,k2=1,k3=1,k4=1,k5=1,k6=1,k7=1,k8=1,k9=1,ka=1,kb=1,kc=1,kd=1,ke=1,kf=1,kg=1",
	     "more than 16"},
	};
	char err[200];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (rv_cli_placement_check(bad[i].in, err, sizeof(err)) == 0)
			fail_msg("'%s' accepted", bad[i].in);
		if (!strstr(err, bad[i].why))
			fail_msg("'%s': message '%s' does not say '%s'", bad[i].in, err,
				 bad[i].why);
	}
}

static void test_dataplane_json(void **state)
{
	Roomvpn__V1__Dataplane d = ROOMVPN__V1__DATAPLANE__INIT;
	Roomvpn__V1__Dataplane__LabelsEntry l0 = ROOMVPN__V1__DATAPLANE__LABELS_ENTRY__INIT,
					    l1 = ROOMVPN__V1__DATAPLANE__LABELS_ENTRY__INIT;
	Roomvpn__V1__Dataplane__LabelsEntry *labels[] = {&l0, &l1};
	Roomvpn__V1__Dataplane *dps[] = {&d};
	Roomvpn__V1__ListDataplanesResponse r = ROOMVPN__V1__LIST_DATAPLANES_RESPONSE__INIT;
	struct json_object *o, *a, *x, *v;

	(void)state;
	d.name = "dp-fra1";
	d.state = ROOMVPN__V1__DATAPLANE_STATE__DATAPLANE_STATE_DRAINING;
	d.udp_endpoint = "192.0.2.1:1194";
	l0.key = "site", l0.value = "fra1";
	l1.key = "tier", l1.value = "a";
	d.n_labels = 2;
	d.labels = labels;
	d.last_heard_unix_ms = 1765080000123;
	d.sessions = 7;
	d.drops = 9;
	r.n_dataplanes = 1;
	r.dataplanes = dps;
	o = rv_pbjson_object(&r.base);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "dataplanes", &a));
	assert_int_equal(json_object_array_length(a), 1);
	x = json_object_array_get_idx(a, 0);
	assert_true(json_object_object_get_ex(x, "labels", &v));
	assert_true(json_object_is_type(v, json_type_object));
	assert_string_equal(json_object_get_string(json_object_object_get(v, "site")), "fra1");
	assert_string_equal(json_object_get_string(json_object_object_get(v, "tier")), "a");
	assert_true(json_object_object_get_ex(x, "last_heard_unix_ms", &v));
	assert_true(json_object_is_type(v, json_type_string));
	assert_string_equal(json_object_get_string(v), "1765080000123");
	assert_string_equal(json_object_get_string(json_object_object_get(x, "state")),
			    "DATAPLANE_STATE_DRAINING");
	assert_true(json_object_is_type(json_object_object_get(x, "sessions"), json_type_int));
	assert_string_equal(json_object_get_string(json_object_object_get(x, "drops")), "9");
	assert_string_equal(json_object_get_string(json_object_object_get(x, "tcp_endpoint")), "");
	json_object_put(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_placement_good),
	    cmocka_unit_test(test_placement_bad),
	    cmocka_unit_test(test_dataplane_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
