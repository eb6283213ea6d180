/* Reconnect backoff: doubling from the first wait, capped, ±20% jitter. */
#include "backoff.h"
#include "test_util.h"

static void test_doubles_caps_and_jitters(void **state)
{
	(void)state;
	static const uint64_t base[] = {0, 500, 1000, 2000, 4000, 5000, 5000, 5000};
	for (unsigned attempt = 1; attempt < 8; attempt++) {
		uint64_t lo = base[attempt] * 8 / 10, hi = base[attempt] * 12 / 10;
		uint64_t min = UINT64_MAX, max = 0;
		for (int i = 0; i < 2000; i++) {
			uint64_t w = rv_backoff_ms(attempt, 500, 5000);
			assert_true(w >= lo && w <= hi);
			min = w < min ? w : min;
			max = w > max ? w : max;
		}
		assert_true(max - min > base[attempt] / 5); /* it does spread */
	}
	assert_true(rv_backoff_ms(1000, 500, 5000) <= 6000); /* no overflow at large counts */
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_doubles_caps_and_jitters)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
