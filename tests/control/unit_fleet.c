/* The fleet's registry without I/O: label constraints against a naive
 * model, `dataplane` lines, placement (least loaded UP data plane whose
 * labels match, never a drained or down one), DOWN after
 * dataplane_down_after, rooms and their grace. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "control.h"
#include "dp_link.h"
#include "fleet.h"
#include "fleet_config.h"

/* Naive model: split both on ',' and look each pair up. */
static bool naive_match(const char *labels, const char *constraint)
{
	char c[256], l[256], *save, *p;
	snprintf(c, sizeof(c), "%s", constraint);
	for (p = strtok_r(c, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		bool found = false;
		char *s2, *q;
		snprintf(l, sizeof(l), "%s", labels);
		for (q = strtok_r(l, ",", &s2); q && !found; q = strtok_r(NULL, ",", &s2))
			found = !strcmp(p, q);
		if (!found)
			return false;
	}
	return true;
}

static void test_labels(void **state)
{
	static const char *const sets[] = {
	    "", "site=a", "site=ab", "site=a,tier=x", "tier=x,site=a", "s=a", "site=b,tier=x"};
	(void)state;
	for (size_t i = 0; i < sizeof(sets) / sizeof(*sets); i++) {
		assert_true(rv_fleet_labels_valid(sets[i]));
		for (size_t j = 0; j < sizeof(sets) / sizeof(*sets); j++)
			assert_int_equal(rv_fleet_labels_match(sets[i], sets[j]),
					 naive_match(sets[i], sets[j]));
	}
	static const char *const bad[] = {"site", "site=",    "=a",    "a=b,",
					  ",a=b", "a=b,,c=d", "a b=c", "a=b=c"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		assert_false(rv_fleet_labels_valid(bad[i]));
}

static void test_config_lines(void **state)
{
	struct rv_control_config c;
	struct rv_control_dp out[RV_CTL_DP_MAX];
	char err[512];
	(void)state;

	rv_control_config_defaults(&c);
	assert_int_equal(rv_fleet_config_local(&c, out, RV_CTL_DP_MAX), 1); /* single host */
	assert_string_equal(out[0].name, "local");
	assert_string_equal(out[0].agent, "/run/roomvpn/dataplane.sock");
	snprintf(c.dp_listen, sizeof(c.dp_listen), "0.0.0.0:7444"); /* remote ones only */
	assert_int_equal(rv_fleet_config_local(&c, out, RV_CTL_DP_MAX), 0);
	c.dp_listen[0] = 0;
	assert_int_equal(rv_control_config_set(&c, "dataplane",
					       "a unix:/run/a.sock udp=10.0.0.1:1194 "
					       "tcp=10.0.0.1:443 labels=site=a",
					       err, sizeof(err)),
			 0);
	assert_int_equal(
	    rv_control_config_set(&c, "dataplane",
				  "b unix:/run/b.sock udp=10.0.0.2:1194 tcp=10.0.0.2:443", err,
				  sizeof(err)),
	    0);
	/* a dual-stack data plane: an IPv6 literal, or one endpoint per family */
	assert_int_equal(
	    rv_control_config_set(&c, "dataplane",
				  "v6 unix:/run/v6.sock udp=10.0.0.3:1194,[2001:db8::3]:1194 "
				  "tcp=[2001:db8::3]:443",
				  err, sizeof(err)),
	    0);
	assert_int_equal(rv_control_config_set(&c, "dataplane",
					       "bad unix:/run/bad.sock udp=10.0.0.4:1,10.0.0.5:1 "
					       "tcp=10.0.0.4:443",
					       err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "[IPv6]:port"));
	assert_int_equal(rv_fleet_config_local(&c, out, RV_CTL_DP_MAX), 3); /* only the lines */
	assert_string_equal(out[2].udp, "10.0.0.3:1194,[2001:db8::3]:1194");
	assert_string_equal(out[0].labels, "site=a");
	assert_string_equal(out[1].agent, "/run/b.sock");
	assert_int_equal(
	    rv_control_config_set(&c, "dataplane",
				  "a unix:/run/c.sock udp=10.0.0.1:1194 tcp=10.0.0.1:443", err,
				  sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "named twice"));
	assert_int_equal(
	    rv_control_config_set(&c, "dataplane_agent", "/run/x.sock", err, sizeof(err)), 0);
	assert_int_equal(rv_fleet_config_local(&c, out, RV_CTL_DP_MAX), 4); /* and the single one */
	assert_int_equal(rv_control_config_check(&c, err, sizeof(err)), 0);
	assert_int_equal(rv_control_config_set(&c, "dataplane_name", "a", err, sizeof(err)), 0);
	assert_int_equal(rv_control_config_check(&c, err, sizeof(err)), -1); /* name clash */
}

static struct rv_dp_link *link_of(const char *name, const char *labels, uint32_t max,
				  struct rv_control *ctl)
{
	struct rv_dp_info info = {.max_sessions = max};
	char err[256], path[64];
	snprintf(info.name, sizeof(info.name), "%s", name);
	snprintf(info.labels, sizeof(info.labels), "%s", labels);
	snprintf(info.udp_endpoint, sizeof(info.udp_endpoint), "10.0.0.1:1");
	snprintf(info.tcp_endpoint, sizeof(info.tcp_endpoint), "10.0.0.1:2");
	snprintf(path, sizeof(path), "/nonexistent/%s", name);
	struct rv_dp_link *l = rv_dp_link_local(path);
	assert_int_equal(rv_fleet_attach(ctl, &info, l, err, sizeof(err)), 0);
	return l;
}

static void test_placement(void **state)
{
	static struct rv_control ctl;
	char name[64], msg[256];
	(void)state;

	rv_control_config_defaults(&ctl.cfg);
	ctl.cfg.dp_down_after_ns = 1; /* any failed read: DOWN */
	struct rv_dp_link *l[3] = {link_of("a", "site=a", 100, &ctl),
				   link_of("b", "site=b", 1000, &ctl),
				   link_of("c", "site=b,gpu=1", 0, &ctl)};
	for (int i = 0; i < 3; i++)
		rv_fleet_heard(&ctl, i, true, 0, 0);
	rv_fleet_heard(&ctl, 0, true, 10, 0);  /* 10 % */
	rv_fleet_heard(&ctl, 1, true, 50, 0);  /* 5 % */
	rv_fleet_heard(&ctl, 2, true, 100, 0); /* 100 of a million */
	assert_int_equal(rv_fleet_pick("", -1, name, sizeof(name), msg, sizeof(msg)), 2);
	assert_int_equal(rv_fleet_pick("site=b", 2, name, sizeof(name), msg, sizeof(msg)), 1);
	assert_string_equal(name, "b");
	assert_int_equal(rv_fleet_pick("site=a", -1, name, sizeof(name), msg, sizeof(msg)), 0);
	assert_int_equal(rv_fleet_pick("site=z", -1, name, sizeof(name), msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "site=z"));
	/* equal load: fewer rooms first */
	rv_fleet_heard(&ctl, 0, true, 0, 0);
	rv_fleet_heard(&ctl, 1, true, 0, 0);
	rv_fleet_heard(&ctl, 2, true, 0, 0);
	rv_fleet_room_note(1, "a", -1);
	rv_fleet_room_note(2, "c", -1);
	assert_int_equal(rv_fleet_pick("", -1, name, sizeof(name), msg, sizeof(msg)), 1);
	/* drained and down ones take no room */
	struct rv_fleet_view v;
	assert_int_equal(rv_fleet_set_drain("b", true, &v), 0);
	assert_int_equal(v.state, RV_FLEET_DRAINED); /* no room on it */
	assert_int_equal(rv_fleet_set_drain("zz", true, &v), 1);
	assert_int_equal(rv_fleet_heard(&ctl, 2, false, 0, 0), RV_FLEET_WENT_DOWN);
	assert_int_equal(rv_fleet_state_of(2), RV_FLEET_DOWN);
	assert_int_equal(rv_fleet_pick("site=b", -1, name, sizeof(name), msg, sizeof(msg)), -1);
	assert_int_equal(rv_fleet_pick("", -1, name, sizeof(name), msg, sizeof(msg)), 0);
	assert_int_equal(rv_fleet_room_of_slot(2), 2);
	assert_int_equal(rv_fleet_heard(&ctl, 2, true, 0, 0), RV_FLEET_CAME_BACK);
	/* a moved room: its source until the grace ends */
	rv_fleet_room_note(2, "a", 2);
	assert_int_equal(rv_fleet_room_slot(2), 0);
	assert_int_equal(rv_fleet_room_source(2), 2);
	uint64_t due[4];
	int from[4];
	assert_int_equal(rv_fleet_grace_due(rv_control_now_mono(), due, from, 4), 0);
	assert_int_equal(rv_fleet_grace_due(UINT64_MAX, due, from, 4), 1);
	assert_int_equal(due[0], 2);
	assert_int_equal(from[0], 2);
	assert_int_equal(rv_fleet_room_source(2), -1);
	rv_fleet_room_note(2, "", -1); /* deleted */
	assert_int_equal(rv_fleet_room_slot(2), -1);
	size_t n = rv_fleet_list((struct rv_fleet_view[RV_FLEET_MAX]){0}, RV_FLEET_MAX);
	assert_int_equal(n, 3);
	for (int i = 0; i < 3; i++)
		rv_dp_link_unref(l[i]);
	rv_fleet_fini();
}

/* The room index against a naive array, under random notes and removals
 * (backward-shift deletion, the last room taking a removed one's place). */
static void test_room_index(void **state)
{
	static struct rv_control ctl;
	static int naive[5000];
	static const char *const names[] = {"x", "y", "z"};
	unsigned seed = 12345;
	(void)state;

	rv_control_config_defaults(&ctl.cfg);
	for (int i = 0; i < 3; i++)
		rv_dp_link_unref(link_of(names[i], "", 0, &ctl));
	for (int i = 0; i < 5000; i++)
		naive[i] = -1;
	for (int step = 0; step < 200000; step++) {
		seed = seed * 1103515245u + 12345u;
		uint64_t room = (seed >> 8) % 5000;
		int to = (int)((seed >> 20) % 4) - 1; /* -1: forget */
		rv_fleet_room_note(room * 0x10001 + 1, to < 0 ? "" : names[to], -1);
		naive[room] = to;
		if (step % 997 == 0) {
			unsigned per[3] = {0};
			for (uint64_t r = 0; r < 5000; r++) {
				assert_int_equal(rv_fleet_room_slot(r * 0x10001 + 1), naive[r]);
				if (naive[r] >= 0)
					per[naive[r]]++;
			}
			struct rv_fleet_view v[RV_FLEET_MAX];
			assert_int_equal(rv_fleet_list(v, RV_FLEET_MAX), 3);
			for (int i = 0; i < 3; i++)
				assert_int_equal(v[i].rooms, per[i]);
		}
	}
	rv_fleet_fini();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_labels),
	    cmocka_unit_test(test_config_lines),
	    cmocka_unit_test(test_placement),
	    cmocka_unit_test(test_room_index),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
