/* IPv6 IPAM unit tests: parsing and room-prefix rules, the ULA /48, member
 * addresses mirroring IPv4 ones, and randomized runs of the prefix picker
 * against a naive model (every candidate tried in order). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipam6.h"

static struct rv_cidr6 p6(const char *s)
{
	struct rv_cidr6 c;
	char err[160];
	if (rv_ipam6_parse_cidr(s, &c, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	return c;
}

static void test_parse(void **state)
{
	(void)state;
	struct rv_cidr6 c;
	char err[160], buf[64];
	assert_int_equal(rv_ipam6_parse_cidr("fd12:3456:789a:1::/64", &c, err, sizeof(err)), 0);
	assert_int_equal(c.prefix, 64);
	rv_ipam6_format_cidr(&c, buf, sizeof(buf));
	assert_string_equal(buf, "fd12:3456:789a:1::/64");
	assert_int_equal(rv_ipam6_parse_cidr("fd12::1/64", &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "host bits"));
	assert_int_equal(rv_ipam6_parse_cidr("fd12::/129", &c, err, sizeof(err)), -1);
	assert_int_equal(rv_ipam6_parse_cidr("10.0.0.0/8", &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not an IPv6 address"));
	assert_int_equal(rv_ipam6_parse_cidr("fd12::", &c, err, sizeof(err)), -1);
}

static void test_room_prefix_rules(void **state)
{
	(void)state;
	char err[200];
	struct rv_cidr v4 = {0x0a580300, 24};
	struct rv_cidr6 c = p6("fd00:1::/48");
	assert_int_equal(rv_ipam6_check_room_prefix(&c, &v4, err, sizeof(err)), 0);
	c = p6("fd00:1::/120");
	assert_int_equal(rv_ipam6_check_room_prefix(&c, &v4, err, sizeof(err)), 0);
	c = p6("fd00:1::/47");
	assert_int_equal(rv_ipam6_check_room_prefix(&c, &v4, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "48..120"));
	c = p6("fd00:1::/121");
	assert_int_equal(rv_ipam6_check_room_prefix(&c, &v4, err, sizeof(err)), -1);
	/* a /120 holds 256 addresses: not enough for a /22 */
	struct rv_cidr big = {0x0a580000, 22};
	c = p6("fd00:1::/120");
	assert_int_equal(rv_ipam6_check_room_prefix(&c, &big, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "fewer addresses"));
	assert_non_null(strstr(err, "/118"));

	struct rv_cidr6 a = p6("fd00:1::/48"), b = p6("fd00:1:0:5::/64"), d = p6("fd00:2::/64");
	assert_true(rv_ipam6_overlaps(&a, &b));
	assert_true(rv_ipam6_overlaps(&b, &a));
	assert_false(rv_ipam6_overlaps(&a, &d));
}

static void test_ula(void **state)
{
	(void)state;
	struct rv_cidr6 u, v;
	assert_int_equal(rv_ipam6_ula(&u), 0);
	assert_int_equal(rv_ipam6_ula(&v), 0);
	assert_int_equal(u.prefix, 48);
	assert_int_equal(u.addr[0], 0xfd);
	for (int i = 6; i < 16; i++)
		assert_int_equal(u.addr[i], 0);
	assert_memory_not_equal(u.addr, v.addr, 6); /* 40 random bits */
}

static void test_hosts(void **state)
{
	(void)state;
	struct rv_cidr v4 = {0x0a580300, 24};
	struct rv_cidr6 px = p6("fd12:3456:789a:1::/64");
	uint8_t a[16];
	char buf[64];
	assert_int_equal(rv_ipam6_host(&px, &v4, 0x0a580307, a), 0);
	rv_ipam6_format_addr(a, buf, sizeof(buf));
	assert_string_equal(buf, "fd12:3456:789a:1::7");
	assert_true(rv_ipam6_contains(&px, a));
	rv_ipam6_server_addr(&px, a);
	rv_ipam6_format_addr(a, buf, sizeof(buf));
	assert_string_equal(buf, "fd12:3456:789a:1::1");
	assert_int_equal(rv_ipam6_host(&px, &v4, 0x0a580407, a), -1); /* outside the subnet */
	/* every device address of the subnet: distinct, inside, never ::0 */
	struct rv_cidr6 small = p6("fd00::100/120");
	uint8_t prev[16] = {0};
	for (uint32_t h = 2; h < 255; h++) {
		assert_int_equal(rv_ipam6_host(&small, &v4, v4.addr + h, a), 0);
		assert_true(rv_ipam6_contains(&small, a));
		assert_memory_not_equal(a, small.addr, 16);
		assert_memory_not_equal(a, prev, 16);
		memcpy(prev, a, 16);
	}
	struct rv_cidr v16 = {0x0a580000, 16};
	assert_int_equal(rv_ipam6_host(&small, &v16, 0x0a580107, a), -1); /* offset too big */
}

static void test_pool_init(void **state)
{
	(void)state;
	struct rv_ipam6 ip;
	char err[200];
	struct rv_cidr6 pool = p6("fd00:1::/48");
	assert_int_equal(rv_ipam6_init(&ip, &pool, 64, err, sizeof(err)), 0);
	assert_int_equal(rv_ipam6_init(&ip, &pool, 40, err, sizeof(err)), -1);
	pool = p6("2001:db8:0:1::/64");
	assert_int_equal(rv_ipam6_init(&ip, &pool, 56, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no shorter than"));
}

/* The naive model: try every candidate in order, test each used prefix. */
static int naive_pick(const struct rv_ipam6 *ip, const struct rv_cidr6 *used, size_t n,
		      struct rv_cidr6 *out)
{
	unsigned bits = ip->room_prefix - ip->pool.prefix;
	for (uint64_t k = 0; k < (1ull << bits); k++) {
		struct rv_cidr6 c = ip->pool;
		c.prefix = ip->room_prefix;
		/* k << (128 - room_prefix) as bytes, added to the pool address */
		uint8_t v[16] = {0};
		for (unsigned j = 0; j < bits; j++)
			if (k >> j & 1) {
				unsigned b = j + 128u - ip->room_prefix; /* from the low end */
				v[15 - b / 8] |= (uint8_t)(1u << (b % 8));
			}
		unsigned carry = 0;
		for (int i = 15; i >= 0; i--) {
			unsigned sum = c.addr[i] + v[i] + carry;
			c.addr[i] = (uint8_t)sum;
			carry = sum >> 8;
		}
		bool clash = false;
		for (size_t j = 0; j < n && !clash; j++)
			clash = rv_ipam6_overlaps(&c, &used[j]);
		if (!clash) {
			*out = c;
			return 0;
		}
	}
	return -1;
}

static void test_pool_random(void **state)
{
	(void)state;
	char err[200];
	srand(17);
	for (int run = 0; run < 200; run++) {
		struct rv_ipam6 ip;
		/* 16 candidates each: /64s at the top of the prefix, /120s at the bottom */
		struct rv_cidr6 pool = p6(run % 2 ? "fd00:1::/60" : "2001:db8:aa::f000/116");
		unsigned rp = run % 2 ? 64 : 120;
		assert_int_equal(rv_ipam6_init(&ip, &pool, rp, err, sizeof(err)), 0);
		struct rv_cidr6 used[40];
		size_t n = 0;
		for (int step = 0; step < 40; step++) {
			struct rv_cidr6 a, b;
			int ra = rv_ipam6_pool_pick(&ip, used, n, &a);
			int rb = naive_pick(&ip, used, n, &b);
			assert_int_equal(ra, rb);
			if (ra < 0)
				break; /* exhausted */
			assert_memory_equal(a.addr, b.addr, 16);
			assert_int_equal(a.prefix, b.prefix);
			if (n && rand() % 4 == 0) { /* a room deleted: its prefix is free again */
				size_t gone = (size_t)rand() % n;
				used[gone] = used[--n];
			}
			used[n++] = a;
			/* sometimes an operator's own prefix (a longer or shorter one) */
			if (rand() % 5 == 0 && n < 40) {
				struct rv_cidr6 own = a;
				own.prefix = (uint8_t)(ip.room_prefix - 1);
				own.addr[15 - (127 - own.prefix) / 8] &=
				    (uint8_t) ~(1u << ((127 - own.prefix) % 8));
				used[n++] = own;
			}
		}
	}
}

static void test_pool_exhausted(void **state)
{
	(void)state;
	struct rv_ipam6 ip;
	char err[200];
	struct rv_cidr6 pool = p6("fd00:1:0:4::/62"), used[4], got;
	assert_int_equal(rv_ipam6_init(&ip, &pool, 64, err, sizeof(err)), 0);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(rv_ipam6_pool_pick(&ip, used, i, &used[i]), 0);
		char buf[64];
		rv_ipam6_format_cidr(&used[i], buf, sizeof(buf));
		char want[64];
		snprintf(want, sizeof(want), "fd00:1:0:%zu::/64", 4 + i);
		assert_string_equal(buf, want);
	}
	assert_int_equal(rv_ipam6_pool_pick(&ip, used, 4, &got), -1);
	/* the top of the address space: no wrap-around to ::/64 */
	pool = p6("ffff:ffff:ffff:fffe::/63");
	assert_int_equal(rv_ipam6_init(&ip, &pool, 64, err, sizeof(err)), 0);
	assert_int_equal(rv_ipam6_pool_pick(&ip, used, 0, &used[0]), 0);
	assert_int_equal(rv_ipam6_pool_pick(&ip, used, 1, &used[1]), 0);
	assert_int_equal(rv_ipam6_pool_pick(&ip, used, 2, &got), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_room_prefix_rules),
	    cmocka_unit_test(test_ula),
	    cmocka_unit_test(test_hosts),
	    cmocka_unit_test(test_pool_init),
	    cmocka_unit_test(test_pool_random),
	    cmocka_unit_test(test_pool_exhausted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
