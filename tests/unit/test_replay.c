/* Replay window, checked against a deliberately naive model: a plain set of
 * every id ever accepted plus the highest one. */
#include <stdlib.h>

#include "replay.h"
#include "test_util.h"

#define ID_SPACE (1u << 26)

struct naive {
	uint8_t *seen; /* one byte per id: trivially correct */
	uint32_t highest, window;
};

static enum rv_drop naive_accept(struct naive *n, uint32_t id)
{
	if (id == 0 || n->seen[id])
		return RV_DROP_REPLAY;
	if (id <= n->highest && n->highest - id >= n->window)
		return RV_DROP_REPLAY;
	n->seen[id] = 1;
	if (id > n->highest)
		n->highest = id;
	return RV_OK;
}

/* Next id: mostly near the front with reordering, sometimes old, sometimes
 * a jump of more than a window. */
static uint32_t next_id(uint64_t *rng, uint32_t highest, uint32_t window)
{
	uint64_t r = test_rand(rng);
	uint32_t id;

	if (r % 512 == 0) /* far jump ahead */
		return highest + window + (uint32_t)(r >> 40) % (2 * window);
	switch (r % 16) {
	case 0: /* a little beyond the window ahead */
		id = highest + (uint32_t)(r >> 40) % 300;
		break;
	case 1: /* anywhere behind, maybe older than the window */
	case 2:
		id = highest - (uint32_t)(r >> 32) % (2 * window + 2);
		break;
	case 3: /* right at the edge of the window */
		id = highest - window + (uint32_t)(r >> 32) % 3;
		break;
	default: /* reordering around the front */
		id = highest + (uint32_t)(r >> 32) % 64 - 40;
		break;
	}
	if (id > highest + 10 * window || id >= ID_SPACE - 1)
		id = (uint32_t)(r >> 33) % 8; /* underflow or end of space: small ids */
	return id;
}

static void randomized(uint32_t window, uint64_t seed, int rounds)
{
	struct rv_replay r;
	struct naive n = {.seen = calloc(ID_SPACE, 1)};
	uint64_t rng = seed;
	int i;

	assert_non_null(n.seen);
	assert_int_equal(rv_replay_init(&r, window), 0);
	n.window = r.window;
	for (i = 0; i < rounds; i++) {
		uint32_t id = next_id(&rng, n.highest, n.window);
		enum rv_drop want = naive_accept(&n, id), got = rv_replay_accept(&r, id);
		if (want != got)
			fail_msg("window %u seed %llu step %d: id %u (highest %u): want %s got %s",
				 n.window, (unsigned long long)seed, i, id, n.highest,
				 rv_drop_name(want), rv_drop_name(got));
		if (n.highest > ID_SPACE - 100000) /* stay inside the naive model */
			break;
	}
	assert_int_equal(i, rounds); /* the model's id space was large enough */
	rv_replay_free(&r);
	free(n.seen);
}

static void test_randomized_vs_naive(void **state)
{
	(void)state;
	randomized(0, 1, 100000);
	randomized(64, 2, 100000);
	randomized(100, 3, 100000); /* rounded up to 128 */
	randomized(2048, 4, 100000);
	randomized(65536, 5, 100000);
}

static void test_rules(void **state)
{
	struct rv_replay r;
	(void)state;

	assert_int_equal(rv_replay_init(&r, 0), 0);
	assert_int_equal(r.window, RV_REPLAY_DEFAULT_WINDOW);
	assert_int_equal(rv_replay_accept(&r, 0), RV_DROP_REPLAY);
	assert_int_equal(rv_replay_accept(&r, 5), RV_OK);
	assert_int_equal(rv_replay_accept(&r, 5), RV_DROP_REPLAY);
	assert_int_equal(rv_replay_accept(&r, 3), RV_OK);
	assert_int_equal(rv_replay_accept(&r, 3), RV_DROP_REPLAY);
	assert_int_equal(rv_replay_accept(&r, 2053), RV_OK);	   /* 5 is now 2048 back */
	assert_int_equal(rv_replay_accept(&r, 6), RV_OK);	   /* 2047 back: inside */
	assert_int_equal(rv_replay_accept(&r, 5), RV_DROP_REPLAY); /* too old */
	assert_int_equal(rv_replay_accept(&r, 100000), RV_OK);	   /* jump resets */
	assert_int_equal(rv_replay_accept(&r, 99999), RV_OK);
	assert_int_equal(rv_replay_accept(&r, 0xFFFFFFFFu), RV_OK);
	assert_int_equal(rv_replay_accept(&r, 0xFFFFFFFFu), RV_DROP_REPLAY);
	rv_replay_reset(&r);
	assert_int_equal(rv_replay_accept(&r, 5), RV_OK);
	rv_replay_free(&r);
	assert_int_equal(rv_replay_init(&r, RV_REPLAY_MAX_WINDOW + 1), -1);
	assert_int_equal(rv_replay_init(&r, 1), 0);
	assert_int_equal(r.window, 64);
	rv_replay_free(&r);
	assert_false(rv_pid_needs_rekey(RV_PID_REKEY_THRESHOLD - 1));
	assert_true(rv_pid_needs_rekey(RV_PID_REKEY_THRESHOLD));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_randomized_vs_naive),
	    cmocka_unit_test(test_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
