/* A room's IPv6 side without DPDK (dataplane/room_routes6.c, inner6.c and
 * the vip6 index of session_table.c): what a prefix6 and a routes6 set may
 * hold (each refusal with its reason), the routes6 longest-prefix match
 * against a deliberately naive model over random sets, the vip6 index
 * through the real tables (unique per room, inside prefix6, follows
 * replacement, deletion, prefix changes and resync), and the header chain
 * reader on hand-made packets. The calling thread is the writer; the
 * readers' look-ups run on it too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "dp_tables.h"
#include "inner6.h"
#include "room_routes.h"
#include "session_table.h"

static char err[256];

static void a6(uint8_t *a, const char *s)
{
	assert_int_equal(inet_pton(AF_INET6, s, a), 1);
}

static struct rv_st_room room(uint32_t id)
{
	struct rv_st_room r = {
	    .room_id = id, .subnet = 0x0A4D0000u, .prefix_len = 24, .prefix6_len = 64};
	a6(r.prefix6, "fd00:77::");
	return r;
}

static void add_route(struct rv_st_room *r, const char *target, uint8_t plen, const char *via)
{
	struct rv_st_route6 *x = &r->routes6[r->n_routes6++];
	a6(x->target, target);
	x->prefix_len = plen;
	a6(x->via, via);
}

static void test_refusals(void **state)
{
	(void)state;
	struct {
		const char *target;
		uint8_t plen;
		const char *via, *why;
	} bad[] = {
	    {"2001:db8::", 0, "fd00:77::5", "prefix length"},
	    {"2001:db8::", 129, "fd00:77::5", "prefix length"},
	    {"2001:db8::1", 64, "fd00:77::5", "host bits"},
	    {"fd00:77::8000:0:0:0", 65, "fd00:77::5", "overlaps the room's prefix6"},
	    {"fd00::", 16, "fd00:77::5", "overlaps the room's prefix6"},
	    {"2001:db8::", 64, "fd00:78::5", "via is not a host"},
	    {"2001:db8::", 64, "fd00:77::", "via is not a host"},
	};
	struct rv_dp_routes6 *rt;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct rv_st_room r = room(1);
		add_route(&r, bad[i].target, bad[i].plen, bad[i].via);
		assert_int_equal(rv_dp_routes6_build(&r, &rt, err, sizeof(err)), -1);
		if (!strstr(err, bad[i].why))
			fail_msg("case %zu: '%s' lacks '%s'", i, err, bad[i].why);
		assert_null(rt);
	}
	struct rv_st_room r = room(1);
	add_route(&r, "2001:db8::", 64, "fd00:77::5");
	add_route(&r, "2001:db8::", 64, "fd00:77::6");
	assert_int_equal(rv_dp_routes6_build(&r, &rt, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "the same target twice"));
	r.n_routes6 = RV_ST_ROUTES_MAX + 1;
	assert_int_equal(rv_dp_routes6_build(&r, &rt, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "at most 16"));
	r = room(1);
	r.prefix6_len = 0;
	memset(r.prefix6, 0, 16);
	add_route(&r, "2001:db8::", 64, "fd00:77::5");
	assert_int_equal(rv_dp_routes6_build(&r, &rt, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no prefix6"));
	/* the prefix itself */
	struct {
		const char *p;
		uint8_t plen;
		const char *why;
	} badp[] = {{"fd00:77::", 47, "48..120"},
		    {"fd00:77::", 121, "48..120"},
		    {"fd00:77::1", 64, "host bits"},
		    {"fd00:77::", 0, "without prefix6_len"}};
	for (size_t i = 0; i < sizeof(badp) / sizeof(badp[0]); i++) {
		r = room(1);
		a6(r.prefix6, badp[i].p);
		r.prefix6_len = badp[i].plen;
		assert_int_equal(rv_dp_prefix6_check(&r, err, sizeof(err)), -1);
		if (!strstr(err, badp[i].why))
			fail_msg("prefix case %zu: '%s' lacks '%s'", i, err, badp[i].why);
	}
	r = room(1);
	assert_int_equal(rv_dp_prefix6_check(&r, err, sizeof(err)), 0);
	assert_int_equal(rv_dp_routes6_build(&r, &rt, err, sizeof(err)), 0);
	assert_null(rt); /* no routes: no set */
}

/* The naive model: bit by bit over every route, the longest match wins. */
static const uint8_t *naive_via(const struct rv_st_room *r, const uint8_t *a)
{
	int best = -1;
	const uint8_t *via = NULL;
	for (unsigned i = 0; i < r->n_routes6; i++) {
		const struct rv_st_route6 *x = &r->routes6[i];
		bool match = true;
		for (unsigned b = 0; b < x->prefix_len && match; b++)
			match = ((a[b / 8] ^ x->target[b / 8]) >> (7 - b % 8) & 1) == 0;
		if (match && x->prefix_len > best) {
			best = x->prefix_len;
			via = x->via;
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
		/* nested prefixes inside 2001:db8::/32, lengths around the 64-bit
		 * boundary, so that matches overlap and cross the halves */
		unsigned n = 1 + (unsigned)rand() % RV_ST_ROUTES_MAX;
		while (r.n_routes6 < n) {
			struct rv_st_route6 x = {.prefix_len = (uint8_t)(32 + rand() % 97)};
			a6(x.target, "2001:db8::");
			x.target[7] = (uint8_t)(rand() & 3);
			x.target[8] = (uint8_t)(rand() & 3) << 6;
			x.target[15] = (uint8_t)(rand() & 3);
			for (unsigned b = x.prefix_len; b < 128; b++)
				x.target[b / 8] &= (uint8_t) ~(1u << (7 - b % 8));
			a6(x.via, "fd00:77::");
			x.via[15] = (uint8_t)(2 + rand() % 250);
			bool dup = false;
			for (unsigned i = 0; i < r.n_routes6; i++)
				dup |= r.routes6[i].prefix_len == x.prefix_len &&
				       memcmp(r.routes6[i].target, x.target, 16) == 0;
			if (!dup)
				r.routes6[r.n_routes6++] = x;
		}
		struct rv_dp_routes6 *rt;
		assert_int_equal(rv_dp_routes6_build(&r, &rt, err, sizeof(err)), 0);
		for (int k = 0; k < 500; k++) {
			uint8_t a[16];
			a6(a, "2001:db8::");
			a[7] = (uint8_t)(rand() & 7);
			a[8] = (uint8_t)(rand() & 7) << 5;
			a[15] = (uint8_t)(rand() & 7);
			if (k % 5 == 0)
				for (int i = 0; i < 16; i++)
					a[i] = (uint8_t)rand(); /* mostly outside every route */
			const uint8_t *got = rv_dp_routes6_via(rt, a), *want = naive_via(&r, a);
			if (!got || !want)
				assert_ptr_equal(got, want);
			else
				assert_memory_equal(got, want, 16);
		}
		rv_dp_routes6_free(rt);
	}
}

static struct rv_st_session sess(uint32_t peer, uint32_t room_id, uint8_t host, const char *v6)
{
	struct rv_st_session s = {.peer_id = peer,
				  .room_id = room_id,
				  .vip = 0x0A4D0000u | host,
				  .cipher = RV_CIPHER_AES_256_GCM,
				  .key_direction = 1};
	memset(&s.key, 0xA5, sizeof(s.key));
	if (v6)
		a6(s.vip6, v6);
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

/* The member with @v6 in @room_id: the packet path's look-up (hint array,
 * then by_vip6) must agree with by_vip6 alone. */
static struct rv_dp_session *by6(uint32_t room_id, const char *v6)
{
	uint8_t a[16];
	a6(a, v6);
	struct rv_dp_session *s = rv_dp_find_vip6(rv_dp_root, room_id, a);
	assert_ptr_equal(rv_dp_find_member6(rv_dp_root, room_id, a), s);
	return s;
}

static void expect_refused(struct rv_st_session s, const char *why)
{
	assert_int_equal(rv_st_session_upsert(&s, err, sizeof(err)), -1);
	if (!strstr(err, why))
		fail_msg("'%s' lacks '%s'", err, why);
}

static void test_vip6_index(void **state)
{
	(void)state;
	struct rv_st_room r = room(1), r2 = room(2), v4only = room(3);
	v4only.prefix6_len = 0;
	memset(v4only.prefix6, 0, 16);
	assert_int_equal(rv_st_room_upsert(&r, err, sizeof(err)), 0);
	assert_int_equal(rv_st_room_upsert(&r2, err, sizeof(err)), 0);
	assert_int_equal(rv_st_room_upsert(&v4only, err, sizeof(err)), 0);
	struct rv_st_session s1 = sess(1, 1, 11, "fd00:77::b"), s2 = sess(2, 1, 12, "fd00:77::c");
	struct rv_st_session s3 = sess(3, 2, 11, "fd00:77::b"), s4 = sess(4, 1, 14, NULL);
	assert_int_equal(rv_st_session_upsert(&s1, err, sizeof(err)), 0);
	assert_int_equal(rv_st_session_upsert(&s2, err, sizeof(err)), 0);
	assert_int_equal(rv_st_session_upsert(&s3, err, sizeof(err)), 0); /* other room */
	assert_int_equal(rv_st_session_upsert(&s4, err, sizeof(err)), 0); /* no IPv6 */
	assert_ptr_equal(by6(1, "fd00:77::b"), rv_dp_find_peer(rv_dp_root, 1));
	assert_ptr_equal(by6(1, "fd00:77::c"), rv_dp_find_peer(rv_dp_root, 2));
	assert_ptr_equal(by6(2, "fd00:77::b"), rv_dp_find_peer(rv_dp_root, 3));
	assert_null(by6(1, "::"));
	/* refusals, each changing nothing */
	expect_refused(sess(5, 1, 15, "fd00:77::b"), "already used by peer-id 1");
	expect_refused(sess(5, 1, 15, "fd00:78::5"), "not a host of room 1's prefix6");
	expect_refused(sess(5, 1, 15, "fd00:77::"), "not a host of room 1's prefix6");
	expect_refused(sess(5, 3, 15, "fd00:77::5"), "room 3 has no IPv6 prefix");
	assert_null(rv_dp_find_peer(rv_dp_root, 5));
	struct rv_st_session_info info;
	assert_int_equal(rv_st_session_get(1, &info), 0);
	assert_memory_equal(info.vip6, s1.vip6, 16);
	/* a new vip6 replaces the session: the old address is free again */
	struct rv_st_session moved = sess(1, 1, 11, "fd00:77::1b");
	assert_int_equal(rv_st_session_upsert(&moved, err, sizeof(err)), 0);
	assert_null(by6(1, "fd00:77::b"));
	assert_ptr_equal(by6(1, "fd00:77::1b"), rv_dp_find_peer(rv_dp_root, 1));
	/* a prefix6 its members leave is refused; one they stay in is taken */
	struct rv_st_room narrow = room(1);
	a6(narrow.prefix6, "fd00:99::");
	assert_int_equal(rv_st_room_upsert(&narrow, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "outside the new prefix6"));
	struct rv_st_room wider = room(1);
	wider.prefix6_len = 48;
	assert_int_equal(rv_st_room_upsert(&wider, err, sizeof(err)), 0);
	/* deletion unlinks the vip6 */
	assert_int_equal(rv_st_session_delete(2, err, sizeof(err)), 0);
	assert_null(by6(1, "fd00:77::c"));
	/* a resync carries vip6s into the new tables */
	struct rv_st_batch *b = rv_st_batch_new(err, sizeof(err));
	assert_non_null(b);
	assert_int_equal(rv_st_batch_room(b, &r, err, sizeof(err)), 0);
	assert_int_equal(rv_st_batch_session(b, &s2, err, sizeof(err)), 0);
	struct rv_st_session clash = sess(6, 1, 16, "fd00:77::c");
	assert_int_equal(rv_st_batch_session(b, &clash, err, sizeof(err)), -1);
	assert_int_equal(rv_st_batch_commit(b, err, sizeof(err)), 0);
	assert_ptr_equal(by6(1, "fd00:77::c"), rv_dp_find_peer(rv_dp_root, 2));
	assert_null(by6(1, "fd00:77::1b"));
	assert_int_equal(rv_st_room_delete(1, err, sizeof(err)), 0);
	assert_null(by6(1, "fd00:77::c"));
	rv_st_writer_idle();
}

/* An IPv6 packet: header, then @ext bytes of extension headers, then @l4. */
static uint32_t pkt(uint8_t *p, uint8_t nh, const uint8_t *ext, uint32_t n_ext, uint32_t l4)
{
	memset(p, 0, 40 + n_ext + l4);
	p[0] = 0x60;
	p[4] = (uint8_t)((n_ext + l4) >> 8);
	p[5] = (uint8_t)(n_ext + l4);
	p[6] = nh;
	memcpy(p + 40, ext, n_ext);
	return 40 + n_ext + l4;
}

static void test_parse(void **state)
{
	(void)state;
	uint8_t p[256];
	struct rv_inner6 in;
	uint32_t n = pkt(p, 17, NULL, 0, 8);
	assert_int_equal(rv_inner6_parse(p, n, &in), RV_OK);
	assert_int_equal(in.proto, 17);
	assert_int_equal(in.l4_off, 40);
	assert_ptr_equal(in.src, p + 8);
	assert_ptr_equal(in.dst, p + 24);
	/* hop-by-hop (8) + routing (16) + fragment offset 0 + UDP */
	const uint8_t chain[] = {43, 0, 0, 0, 0, 0, 0, 0, 44, 1, 0, 0, 0, 0, 0, 0,
				 0,  0, 0, 0, 0, 0, 0, 0, 17, 0, 0, 1, 0, 0, 0, 9};
	n = pkt(p, 0, chain, sizeof(chain), 8);
	assert_int_equal(rv_inner6_parse(p, n, &in), RV_OK);
	assert_int_equal(in.proto, 17);
	assert_int_equal(in.l4_off, 40 + sizeof(chain));
	assert_false(in.later_fragment);
	const uint8_t later[] = {6, 0, 0x05, 0x01, 0, 0, 0, 9};
	n = pkt(p, 44, later, sizeof(later), 8);
	assert_int_equal(rv_inner6_parse(p, n, &in), RV_OK);
	assert_true(in.later_fragment);
	assert_int_equal(in.proto, 6);
	assert_int_equal(in.l4_off, 0);
	n = pkt(p, 59, NULL, 0, 0); /* no next header: nothing after */
	assert_int_equal(rv_inner6_parse(p, n, &in), RV_OK);
	assert_int_equal(in.l4_off, 0);
	n = pkt(p, 58, NULL, 0, 8);
	for (unsigned t = 128; t < 150; t++) {
		p[40] = (uint8_t)t;
		bool nd = (t >= 130 && t <= 137) || t == 143;
		assert_int_equal(rv_inner6_parse(p, n, &in), nd ? RV_DROP_V6_ND : RV_OK);
	}
	n = pkt(p, 17, NULL, 0, 8);
	assert_int_equal(rv_inner6_parse(p, n - 1, &in), RV_DROP_V6_MALFORMED); /* truncated */
	assert_int_equal(rv_inner6_parse(p, 39, &in), RV_DROP_V6_MALFORMED);
	p[0] = 0x40;
	assert_int_equal(rv_inner6_parse(p, n, &in), RV_DROP_V6_MALFORMED);
	n = pkt(p, 0, NULL, 0, 0); /* jumbogram: payload length 0 with hop-by-hop */
	assert_int_equal(rv_inner6_parse(p, n + 8, &in), RV_DROP_V6_MALFORMED);
	/* multicast scopes */
	uint8_t d[16];
	const struct {
		const char *a;
		bool relayed;
	} sc[] = {{"ff00::1", false},  {"ff01::1", false}, {"ff02::1", true}, {"ff03::1", true},
		  {"ff05::1:3", true}, {"ff08::1", true},  {"ff0e::1", true}, {"ff0f::1", false},
		  {"ff32::1", true},   {"ff11::1", false}};
	for (size_t i = 0; i < sizeof(sc) / sizeof(sc[0]); i++) {
		a6(d, sc[i].a);
		assert_true(rv_inner6_is_mcast(d));
		if (rv_inner6_mcast_relayed(d) != sc[i].relayed)
			fail_msg("%s: relayed should be %d", sc[i].a, sc[i].relayed);
	}
	a6(d, "fd00::ff");
	assert_false(rv_inner6_is_mcast(d));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_lpm_random),
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test_setup_teardown(test_vip6_index, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
