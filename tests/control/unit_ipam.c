/* IPAM unit tests: parsing/validation cases, then randomized runs of the
 * host allocator and the pool picker against deliberately naive models
 * (WireGuard-style: a trivially correct list checked step by step). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipam.h"

static uint32_t ip4(unsigned a, unsigned b, unsigned c, unsigned d)
{
	return (uint32_t)a << 24 | b << 16 | c << 8 | d;
}

static void test_parse(void **state)
{
	(void)state;
	struct rv_cidr c;
	char err[160], buf[32];
	assert_int_equal(rv_ipam_parse_cidr("10.88.3.0/24", &c, err, sizeof(err)), 0);
	assert_int_equal(c.addr, ip4(10, 88, 3, 0));
	assert_int_equal(c.prefix, 24);
	rv_ipam_format_cidr(&c, buf, sizeof(buf));
	assert_string_equal(buf, "10.88.3.0/24");
	assert_int_equal(rv_ipam_broadcast(&c), ip4(10, 88, 3, 255));
	assert_int_equal(rv_ipam_server_addr(&c), ip4(10, 88, 3, 1));

	assert_int_equal(rv_ipam_parse_cidr("10.88.3.1/24", &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "host bits"));
	assert_int_equal(rv_ipam_parse_cidr("10.88.3.0", &c, err, sizeof(err)), -1);
	assert_int_equal(rv_ipam_parse_cidr("10.88.300.0/24", &c, err, sizeof(err)), -1);
	assert_int_equal(rv_ipam_parse_cidr("10.88.3.0/33", &c, err, sizeof(err)), -1);
	assert_int_equal(rv_ipam_parse_cidr("10.88.3.0/2x", &c, err, sizeof(err)), -1);
	assert_int_equal(rv_ipam_parse_cidr("/24", &c, err, sizeof(err)), -1);
}

static void test_room_subnet_rules(void **state)
{
	(void)state;
	struct rv_cidr c;
	char err[160];
	const char *ok[] = {"10.0.0.0/16", "172.16.0.0/30", "192.168.7.0/24", "100.64.0.0/16",
			    "172.31.255.252/30"};
	const char *bad[] = {"8.8.8.0/24",     "172.32.0.0/24", "10.0.0.0/15",
			     "192.168.0.0/31", "11.0.0.0/24",	"192.169.0.0/24"};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(rv_ipam_parse_cidr(ok[i], &c, err, sizeof(err)), 0);
		assert_int_equal(rv_ipam_check_room_subnet(&c, err, sizeof(err)), 0);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(rv_ipam_parse_cidr(bad[i], &c, err, sizeof(err)), 0);
		assert_int_equal(rv_ipam_check_room_subnet(&c, err, sizeof(err)), -1);
	}
	struct rv_cidr a = {ip4(10, 0, 0, 0), 16}, b = {ip4(10, 0, 5, 0), 24},
		       d = {ip4(10, 1, 0, 0), 24};
	assert_true(rv_ipam_overlaps(&a, &b));
	assert_true(rv_ipam_overlaps(&b, &a));
	assert_false(rv_ipam_overlaps(&a, &d));

	struct rv_ipam ip;
	assert_int_equal(rv_ipam_init(&ip, "10.88.0.0/16", 24, err, sizeof(err)), 0);
	assert_int_equal(rv_ipam_init(&ip, "10.88.0.0/16", 12, err, sizeof(err)), -1);
	assert_int_equal(rv_ipam_init(&ip, "10.88.0.0/24", 16, err, sizeof(err)), -1);
	assert_int_equal(rv_ipam_init(&ip, "9.0.0.0/16", 24, err, sizeof(err)), -1);
}

static void test_smallest_room(void **state)
{
	(void)state;
	struct rv_cidr net = {ip4(10, 9, 9, 4), 30};
	struct rv_ipam_hosts h;
	uint32_t a;
	assert_int_equal(rv_ipam_hosts_init(&h, &net), 0);
	assert_int_equal(rv_ipam_hosts_capacity(&net), 1);
	assert_int_equal(rv_ipam_hosts_alloc(&h, &a), 0);
	assert_int_equal(a, ip4(10, 9, 9, 6));
	assert_int_equal(rv_ipam_hosts_alloc(&h, &a), -1);
	/* Network, server and broadcast can never be taken or released. */
	assert_int_equal(rv_ipam_hosts_take(&h, ip4(10, 9, 9, 4)), -1);
	assert_int_equal(rv_ipam_hosts_take(&h, ip4(10, 9, 9, 5)), -1);
	assert_int_equal(rv_ipam_hosts_take(&h, ip4(10, 9, 9, 7)), -1);
	assert_int_equal(rv_ipam_hosts_take(&h, ip4(10, 9, 9, 8)), -1);
	rv_ipam_hosts_release(&h, ip4(10, 9, 9, 5));
	rv_ipam_hosts_release(&h, ip4(10, 9, 9, 6));
	assert_int_equal(rv_ipam_hosts_alloc(&h, &a), 0);
	assert_int_equal(a, ip4(10, 9, 9, 6));
	assert_int_equal(rv_ipam_hosts_alloc(&h, &a), -1);
	rv_ipam_hosts_fini(&h);
}

/* The naive host model: a list of taken addresses, searched linearly. */
struct naive_hosts {
	struct rv_cidr net;
	uint32_t taken[70000];
	size_t n;
};

static bool naive_taken(const struct naive_hosts *m, uint32_t a)
{
	if (a == m->net.addr || a == m->net.addr + 1 || a == rv_ipam_broadcast(&m->net) ||
	    !rv_ipam_contains(&m->net, a))
		return true;
	for (size_t i = 0; i < m->n; i++)
		if (m->taken[i] == a)
			return true;
	return false;
}

static int naive_alloc(struct naive_hosts *m, uint32_t *out)
{
	for (uint64_t a = m->net.addr; a <= rv_ipam_broadcast(&m->net); a++)
		if (!naive_taken(m, (uint32_t)a)) {
			m->taken[m->n++] = (uint32_t)a;
			*out = (uint32_t)a;
			return 0;
		}
	return -1;
}

static void naive_release(struct naive_hosts *m, uint32_t a)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->taken[i] == a) {
			m->taken[i] = m->taken[--m->n];
			return;
		}
}

static void one_host_run(unsigned seed)
{
	static struct naive_hosts m;
	srand(seed);
	unsigned prefix = 22 + (unsigned)rand() % 9; /* /22 .. /30 */
	uint32_t base = ip4(10, (unsigned)rand() % 256, 0, 0) & (0xffffffffu << (32 - prefix));
	struct rv_cidr net = {base, (uint8_t)prefix};
	struct rv_ipam_hosts h;
	memset(&m, 0, sizeof(m));
	m.net = net;
	assert_int_equal(rv_ipam_hosts_init(&h, &net), 0);
	uint32_t span = (uint32_t)rv_ipam_size(&net) + 8;

	for (int step = 0; step < 3000; step++) {
		int op = rand() % 10;
		uint32_t a, b;
		if (op < 5) { /* allocate the lowest free */
			int r1 = rv_ipam_hosts_alloc(&h, &a), r2 = naive_alloc(&m, &b);
			assert_int_equal(r1, r2);
			if (r1 == 0)
				assert_int_equal(a, b);
		} else if (op < 8 && m.n) { /* release a taken one */
			a = m.taken[(size_t)rand() % m.n];
			rv_ipam_hosts_release(&h, a);
			naive_release(&m, a);
		} else { /* take or release any address, around and inside the net */
			a = base - 4 + (uint32_t)rand() % span;
			if (rand() % 2) {
				bool free_naive = !naive_taken(&m, a);
				assert_int_equal(rv_ipam_hosts_take(&h, a), free_naive ? 0 : -1);
				if (free_naive)
					m.taken[m.n++] = a;
			} else {
				rv_ipam_hosts_release(&h, a);
				naive_release(&m, a);
			}
		}
		a = base - 4 + (uint32_t)rand() % span;
		assert_int_equal(rv_ipam_hosts_is_taken(&h, a), naive_taken(&m, a));
		assert_int_equal(h.n_free, rv_ipam_hosts_capacity(&net) - m.n);
	}
	rv_ipam_hosts_fini(&h);
}

static void test_hosts_random(void **state)
{
	(void)state;
	for (unsigned seed = 1; seed <= 40; seed++)
		one_host_run(seed);
}

/* rv_ipam_hosts_alloc_from against a naive scan: from a random place,
 * the first address not taken (by the bitmap's own is_taken), wrapping. */
static void test_hosts_alloc_from(void **state)
{
	(void)state;
	for (unsigned seed = 1; seed <= 30; seed++) {
		struct rv_ipam_hosts h;
		srand(seed);
		struct rv_cidr net = {0x0a400000u, (uint8_t)(22 + rand() % 9)}; /* /22../30 */
		assert_int_equal(rv_ipam_hosts_init(&h, &net), 0);
		for (;;) {
			uint32_t from = (uint32_t)rand() % h.size, want = 0, got;
			for (uint32_t n = 0; n < h.size && !want; n++) {
				uint32_t a = net.addr + (from + n) % h.size;
				if (!rv_ipam_hosts_is_taken(&h, a))
					want = a;
			}
			int rc = rv_ipam_hosts_alloc_from(&h, from, &got);
			if (!want) {
				assert_int_equal(rc, -1);
				break;
			}
			assert_int_equal(rc, 0);
			assert_int_equal(got, want);
			if (rand() % 4 == 0) /* some go back */
				rv_ipam_hosts_release(&h, net.addr + (uint32_t)rand() % h.size);
		}
		assert_int_equal(h.n_free, 0);
		rv_ipam_hosts_fini(&h);
	}
}

/* The naive pool model: try every candidate against every used subnet. */
static int naive_pick(const struct rv_ipam *ip, const struct rv_cidr *used, size_t n,
		      struct rv_cidr *out)
{
	uint64_t step = 1ull << (32 - ip->room_prefix);
	for (uint64_t a = ip->pool.addr; a < ip->pool.addr + rv_ipam_size(&ip->pool); a += step) {
		struct rv_cidr c = {(uint32_t)a, ip->room_prefix};
		bool clash = false;
		for (size_t i = 0; i < n && !clash; i++)
			clash = rv_ipam_overlaps(&c, &used[i]);
		if (!clash) {
			*out = c;
			return 0;
		}
	}
	return -1;
}

static void one_pool_run(unsigned seed)
{
	struct rv_ipam ip;
	struct rv_cidr used[300];
	size_t n = 0;
	char err[160];
	srand(seed);
	unsigned pool_prefix = 16 + (unsigned)rand() % 5;
	unsigned room_prefix = pool_prefix + (unsigned)rand() % 6;
	if (room_prefix > RV_IPAM_MAX_PREFIX)
		room_prefix = RV_IPAM_MAX_PREFIX;
	char pool[32];
	snprintf(pool, sizeof(pool), "10.%u.0.0/%u", 80 + (unsigned)rand() % 16, pool_prefix);
	struct rv_cidr pc;
	assert_int_equal(rv_ipam_parse_cidr(pool, &pc, err, sizeof(err)), 0);
	assert_int_equal(rv_ipam_init(&ip, pool, room_prefix, err, sizeof(err)), 0);

	for (int step = 0; step < 200; step++) {
		int op = rand() % 10;
		if (op < 6 || n == 0) {
			struct rv_cidr a, b;
			int r1 = rv_ipam_pool_pick(&ip, used, n, &a);
			int r2 = naive_pick(&ip, used, n, &b);
			assert_int_equal(r1, r2);
			if (r1 == 0) {
				assert_int_equal(a.addr, b.addr);
				assert_int_equal(a.prefix, b.prefix);
				used[n++] = a;
			}
		} else if (op < 8) { /* delete a room */
			size_t victim = (size_t)rand() % n;
			used[victim] = used[n - 1];
			n--;
		} else if (n < 300) { /* a room that chose its own subnet, any size */
			unsigned p = 16 + (unsigned)rand() % 15;
			uint32_t a = (pc.addr + (uint32_t)rand() % (uint32_t)rv_ipam_size(&pc)) &
				     (0xffffffffu << (32 - p));
			struct rv_cidr c = {a, (uint8_t)p};
			bool clash = false;
			for (size_t i = 0; i < n && !clash; i++)
				clash = rv_ipam_overlaps(&c, &used[i]);
			if (!clash)
				used[n++] = c;
		}
		assert_true(n < 300);
	}
}

static void test_pool_random(void **state)
{
	(void)state;
	for (unsigned seed = 1; seed <= 200; seed++)
		one_pool_run(seed);
}

static void test_pool_default(void **state)
{
	(void)state;
	struct rv_ipam ip;
	char err[160];
	struct rv_cidr used[256], c;
	assert_int_equal(rv_ipam_init(&ip, "10.88.0.0/16", 24, err, sizeof(err)), 0);
	assert_int_equal(rv_ipam_pool_pick(&ip, NULL, 0, &c), 0); /* no rooms yet */
	assert_int_equal(c.addr, ip4(10, 88, 0, 0));
	for (int i = 0; i < 256; i++) {
		assert_int_equal(rv_ipam_pool_pick(&ip, used, (size_t)i, &c), 0);
		assert_int_equal(c.addr, ip4(10, 88, (unsigned)i, 0));
		used[i] = c;
	}
	assert_int_equal(rv_ipam_pool_pick(&ip, used, 256, &c), -1);
	/* Freeing one makes exactly that one available again. */
	used[77] = used[255];
	assert_int_equal(rv_ipam_pool_pick(&ip, used, 255, &c), 0);
	assert_int_equal(c.addr, ip4(10, 88, 77, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_room_subnet_rules),
	    cmocka_unit_test(test_smallest_room),
	    cmocka_unit_test(test_hosts_random),
	    cmocka_unit_test(test_hosts_alloc_from),
	    cmocka_unit_test(test_pool_random),
	    cmocka_unit_test(test_pool_default),
	};
	return cmocka_run_group_tests_name("ipam", tests, NULL, NULL);
}
