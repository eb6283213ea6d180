/* Managed routes of a room (dataplane/room_routes.c) without DPDK: what a
 * route set may hold (each refusal with its reason, nothing changed), the
 * longest-prefix match against a deliberately naive model over random
 * sets, and the relay's two questions through the real tables: where does
 * a packet for a routed destination go, and whose packets may carry a
 * source from a routed subnet. The calling thread is the writer; the
 * readers' look-ups run on it too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "dp_tables.h"
#include "room_routes.h"
#include "session_table.h"

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (b) << 16 | (c) << 8 | (d))

static char err[256];

static struct rv_st_room room(uint32_t id)
{
	return (struct rv_st_room){.room_id = id, .subnet = IP(10, 77, 0, 0), .prefix_len = 24};
}

static void add_route(struct rv_st_room *r, uint32_t target, uint8_t plen, uint32_t via)
{
	r->routes[r->n_routes++] = (struct rv_st_route){target, plen, via};
}

static void test_refusals(void **state)
{
	(void)state;
	struct {
		uint32_t target;
		uint8_t plen;
		uint32_t via;
		const char *why;
	} bad[] = {
	    {IP(192, 168, 77, 0), 0, IP(10, 77, 0, 5), "prefix length"},
	    {IP(192, 168, 77, 0), 33, IP(10, 77, 0, 5), "prefix length"},
	    {IP(192, 168, 77, 1), 24, IP(10, 77, 0, 5), "host bits"},
	    {IP(10, 77, 0, 128), 25, IP(10, 77, 0, 5), "overlaps the room's subnet"},
	    {IP(10, 0, 0, 0), 8, IP(10, 77, 0, 5), "overlaps the room's subnet"},
	    {IP(192, 168, 77, 0), 24, IP(10, 78, 0, 5), "via is not a host"},
	    {IP(192, 168, 77, 0), 24, IP(10, 77, 0, 0), "via is not a host"},
	    {IP(192, 168, 77, 0), 24, IP(10, 77, 0, 255), "via is not a host"},
	};
	struct rv_dp_routes *rt;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct rv_st_room r = room(1);
		add_route(&r, bad[i].target, bad[i].plen, bad[i].via);
		assert_int_equal(rv_dp_routes_build(&r, &rt, err, sizeof(err)), -1);
		if (!strstr(err, bad[i].why))
			fail_msg("case %zu: '%s' lacks '%s'", i, err, bad[i].why);
		assert_null(rt);
	}
	struct rv_st_room r = room(1);
	add_route(&r, IP(192, 168, 77, 0), 24, IP(10, 77, 0, 5));
	add_route(&r, IP(192, 168, 77, 0), 24, IP(10, 77, 0, 6));
	assert_int_equal(rv_dp_routes_build(&r, &rt, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "the same target twice"));
	r.n_routes = RV_ST_ROUTES_MAX + 1;
	assert_int_equal(rv_dp_routes_build(&r, &rt, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "at most 16"));
	r = room(1);
	assert_int_equal(rv_dp_routes_build(&r, &rt, err, sizeof(err)), 0);
	assert_null(rt); /* no routes: no set */
}

/* The naive model: every route, the longest match wins. */
static uint32_t naive_via(const struct rv_st_room *r, uint32_t addr)
{
	int best = -1;
	uint32_t via = 0;
	for (unsigned i = 0; i < r->n_routes; i++) {
		uint32_t m = ~0u << (32 - r->routes[i].prefix_len);
		if ((addr & m) == r->routes[i].target && r->routes[i].prefix_len > best) {
			best = r->routes[i].prefix_len;
			via = r->routes[i].via;
		}
	}
	return via;
}

static void test_lpm_random(void **state)
{
	(void)state;
	srand(7);
	for (int round = 0; round < 300; round++) {
		struct rv_st_room r = room(1);
		/* nested prefixes inside 192.168/16 so that matches overlap a lot */
		unsigned n = 1 + (unsigned)rand() % RV_ST_ROUTES_MAX;
		while (r.n_routes < n) {
			uint8_t plen = (uint8_t)(16 + rand() % 17);
			uint32_t t = (IP(192, 168, 0, 0) | ((uint32_t)rand() & 0x0303u)) &
				     (~0u << (32 - plen));
			bool dup = false;
			for (unsigned i = 0; i < r.n_routes; i++)
				dup |= r.routes[i].target == t && r.routes[i].prefix_len == plen;
			if (!dup)
				add_route(&r, t, plen, IP(10, 77, 0, 2 + rand() % 250));
		}
		struct rv_dp_routes *rt;
		assert_int_equal(rv_dp_routes_build(&r, &rt, err, sizeof(err)), 0);
		for (int k = 0; k < 500; k++) {
			uint32_t a = IP(192, 168, 0, 0) | ((uint32_t)rand() & 0x0707u);
			if (k % 5 == 0)
				a = (uint32_t)rand(); /* mostly outside every route */
			assert_int_equal(rv_dp_routes_via(rt, a), naive_via(&r, a));
		}
		rv_dp_routes_free(rt);
	}
}

static struct rv_st_session sess(uint32_t peer, uint32_t room_id, uint32_t vip)
{
	struct rv_st_session s = {.peer_id = peer,
				  .room_id = room_id,
				  .vip = vip,
				  .cipher = RV_CIPHER_AES_256_GCM,
				  .key_direction = 1};
	memset(&s.key, 0xA5, sizeof(s.key));
	return s;
}

static int setup(void **state)
{
	(void)state;
	struct rv_st_params p = {.max_sessions = 64, .n_workers = 1, .default_grace_ns = 1000};
	assert_int_equal(rv_st_init(&p, err, sizeof(err)), 0);
	assert_int_equal(rv_st_writer_register(), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	struct rv_st_counts c;
	rv_st_writer_idle();
	for (int i = 0; i < 5000; i++) {
		rv_st_counts(&c);
		if (!c.pending_frees)
			break;
		usleep(1000);
	}
	rv_st_writer_unregister();
	rv_st_fini();
	return 0;
}

static struct rv_dp_room *room_of(uint32_t peer)
{
	return rv_dp_find_peer(rv_dp_root, peer)->room;
}

static void routes_cb(void *arg, const struct rv_st_room_info *r)
{
	if (r->room.room_id == 1)
		*(unsigned *)arg = r->room.n_routes;
}

static void test_relay_questions(void **state)
{
	(void)state;
	struct rv_st_room r = room(1), other = room(2);
	add_route(&r, IP(192, 168, 0, 0), 16, IP(10, 77, 0, 12));
	add_route(&r, IP(192, 168, 77, 0), 24, IP(10, 77, 0, 11));
	add_route(&r, IP(172, 16, 0, 0), 12, IP(10, 77, 0, 99)); /* nobody there */
	assert_int_equal(rv_st_room_upsert(&r, err, sizeof(err)), 0);
	assert_int_equal(rv_st_room_upsert(&other, err, sizeof(err)), 0);
	struct rv_st_session s[] = {sess(1, 1, IP(10, 77, 0, 11)), sess(2, 1, IP(10, 77, 0, 12)),
				    sess(3, 2, IP(10, 77, 0, 11))};
	for (int i = 0; i < 3; i++)
		assert_int_equal(rv_st_session_upsert(&s[i], err, sizeof(err)), 0);
	struct rv_dp_tables *t = rv_dp_root;
	struct rv_dp_room *lan = room_of(1);
	assert_ptr_equal(rv_dp_route_next_hop(t, lan, IP(192, 168, 77, 9)), rv_dp_find_peer(t, 1));
	assert_ptr_equal(rv_dp_route_next_hop(t, lan, IP(192, 168, 5, 9)), rv_dp_find_peer(t, 2));
	assert_null(rv_dp_route_next_hop(t, lan, IP(172, 16, 1, 1))); /* via not a member */
	assert_null(rv_dp_route_next_hop(t, lan, IP(8, 8, 8, 8)));
	assert_null(rv_dp_route_next_hop(t, room_of(3), IP(192, 168, 77, 9))); /* other room */
	/* return traffic: only from the route's via */
	assert_true(rv_dp_route_src_ok(lan, IP(192, 168, 77, 9), IP(10, 77, 0, 11)));
	assert_false(rv_dp_route_src_ok(lan, IP(192, 168, 77, 9), IP(10, 77, 0, 12)));
	assert_true(rv_dp_route_src_ok(lan, IP(192, 168, 5, 9), IP(10, 77, 0, 12)));
	assert_false(rv_dp_route_src_ok(lan, IP(8, 8, 8, 8), IP(10, 77, 0, 12)));
	assert_false(rv_dp_route_src_ok(room_of(3), IP(192, 168, 77, 9), IP(10, 77, 0, 11)));
	unsigned listed = 0;
	rv_st_room_foreach(routes_cb, &listed);
	assert_int_equal(listed, 3);

	/* a refused upsert keeps the old set; an accepted one replaces it whole */
	struct rv_st_room bad = room(1);
	add_route(&bad, IP(10, 77, 0, 0), 25, IP(10, 77, 0, 11));
	assert_int_equal(rv_st_room_upsert(&bad, err, sizeof(err)), -1);
	assert_ptr_equal(rv_dp_route_next_hop(t, lan, IP(192, 168, 77, 9)), rv_dp_find_peer(t, 1));
	struct rv_st_room fewer = room(1);
	add_route(&fewer, IP(192, 168, 77, 0), 24, IP(10, 77, 0, 12));
	assert_int_equal(rv_st_room_upsert(&fewer, err, sizeof(err)), 0);
	assert_ptr_equal(rv_dp_route_next_hop(t, lan, IP(192, 168, 77, 9)), rv_dp_find_peer(t, 2));
	assert_null(rv_dp_route_next_hop(t, lan, IP(192, 168, 5, 9)));
	assert_false(rv_dp_route_src_ok(lan, IP(192, 168, 77, 9), IP(10, 77, 0, 11)));

	/* a resync carries the routes into the new tables */
	struct rv_st_batch *b = rv_st_batch_new(err, sizeof(err));
	assert_non_null(b);
	assert_int_equal(rv_st_batch_room(b, &r, err, sizeof(err)), 0);
	assert_int_equal(rv_st_batch_session(b, &s[0], err, sizeof(err)), 0);
	assert_int_equal(rv_st_batch_commit(b, err, sizeof(err)), 0);
	t = rv_dp_root;
	assert_ptr_equal(rv_dp_route_next_hop(t, room_of(1), IP(192, 168, 77, 9)),
			 rv_dp_find_peer(t, 1));
	assert_null(rv_dp_route_next_hop(t, room_of(1), IP(192, 168, 5, 9))); /* via 12 gone */
	/* no routes at all: nothing is routed, nothing else accepted */
	struct rv_st_room none = room(1);
	assert_int_equal(rv_st_room_upsert(&none, err, sizeof(err)), 0);
	assert_null(rv_dp_route_next_hop(t, room_of(1), IP(192, 168, 77, 9)));
	assert_false(rv_dp_route_src_ok(room_of(1), IP(192, 168, 77, 9), IP(10, 77, 0, 11)));
	rv_st_room_delete(1, err, sizeof(err));
	rv_st_writer_idle();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_lpm_random),
	    cmocka_unit_test_setup_teardown(test_relay_questions, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
