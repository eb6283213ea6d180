/* Which side held a trial below its offered rate (bench/loadgen/limit.c):
 * refused sends (port/ring/memif full, buffers in flight) say the data
 * plane, skipped due packets say the generator; at the offered rate nothing
 * is a limit, whatever the counts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "loadgen.h"

static void at_rate_no_limit(void **state)
{
	(void)state;
	assert_int_equal(lg_limit_of(1e6, 1e6, 0, 0), LG_LIMIT_NONE);
	assert_int_equal(lg_limit_of(1e6, 0.98e6, 5000, 0), LG_LIMIT_NONE);
	assert_int_equal(lg_limit_of(1e6, 0.98e6, 0, 5000), LG_LIMIT_NONE);
}

static void refused_sends_are_the_data_plane(void **state)
{
	(void)state;
	/* a data plane that stops draining: the port refuses most sends */
	assert_int_equal(lg_limit_of(1e6, 0.4e6, 600000, 0), LG_LIMIT_DATA_PLANE);
	assert_int_equal(lg_limit_of(1e6, 0.9e6, 80000, 20000), LG_LIMIT_DATA_PLANE);
	assert_string_equal(lg_limit_name(LG_LIMIT_DATA_PLANE), "data_plane");
}

static void skipped_packets_are_the_generator(void **state)
{
	(void)state;
	/* the generator's loop fell behind: due packets skipped, none refused */
	assert_int_equal(lg_limit_of(1e6, 0.5e6, 0, 500000), LG_LIMIT_GENERATOR);
	assert_int_equal(lg_limit_of(1e6, 0.9e6, 20000, 80000), LG_LIMIT_GENERATOR);
	/* short with neither count: the loop itself was slow (backlog < 1 ms) */
	assert_int_equal(lg_limit_of(1e6, 0.9e6, 0, 0), LG_LIMIT_GENERATOR);
	assert_string_equal(lg_limit_name(LG_LIMIT_GENERATOR), "generator");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(at_rate_no_limit),
	    cmocka_unit_test(refused_sends_are_the_data_plane),
	    cmocka_unit_test(skipped_packets_are_the_generator),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
