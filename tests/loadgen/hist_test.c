/* The loadgen's latency histogram against a naive implementation (sorted
 * samples): every percentile is within one bucket (~3%) above the exact
 * value and never below it, and the maximum is exact. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "loadgen.h"

#define N 20000

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Exact percentile with the histogram's rank rule. */
static uint64_t naive(const uint64_t *sorted, size_t n, double p)
{
	size_t rank = (size_t)(p * (double)n);
	return sorted[rank < n ? rank : n - 1];
}

static uint64_t next(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return *s >> 11;
}

static void check_against_naive(uint64_t seed, uint64_t spread)
{
	static struct lg_hist h;
	static uint64_t v[N];
	lg_hist_reset(&h);
	for (size_t i = 0; i < N; i++) {
		/* log-uniform-ish: small and huge latencies both appear */
		uint64_t x = next(&seed);
		v[i] = (x % spread) >> (x % 23);
		lg_hist_add(&h, v[i]);
	}
	qsort(v, N, sizeof(v[0]), cmp_u64);
	assert_int_equal(h.count, N);
	assert_int_equal(h.max_ns, v[N - 1]);
	const double ps[] = {0, 0.01, 0.5, 0.9, 0.99, 0.999, 1.0};
	for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
		uint64_t exact = naive(v, N, ps[i]), got = lg_hist_percentile(&h, ps[i]);
		assert_true(got >= exact);
		assert_true(got <= exact + exact / 16 + 1);
	}
}

static void test_random(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 20; seed++)
		check_against_naive(seed, seed % 2 ? 1000000 : 5000000000ull);
}

static void test_empty_and_single(void **state)
{
	(void)state;
	static struct lg_hist h;
	lg_hist_reset(&h);
	assert_int_equal(lg_hist_percentile(&h, 0.5), 0);
	lg_hist_add(&h, 12345);
	assert_int_equal(lg_hist_percentile(&h, 0.0), 12345);
	assert_int_equal(lg_hist_percentile(&h, 0.999), 12345);
	lg_hist_add(&h, UINT64_MAX / 2); /* beyond the last bucket: clamped, max exact */
	assert_int_equal(lg_hist_percentile(&h, 1.0), UINT64_MAX / 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_random),
	    cmocka_unit_test(test_empty_and_single),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
