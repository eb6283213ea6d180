/* TCP framing decoder: whole stream at once, byte by byte, random splits,
 * bad lengths. */
#include "tcp_frame.h"
#include "test_util.h"

#define N_FRAMES   200
#define STREAM_MAX (N_FRAMES * (2 + 1500))

struct collect {
	uint32_t n;
	uint32_t len[N_FRAMES + 1];
	uint8_t data[STREAM_MAX];
	uint32_t used;
};

static void on_frame(void *arg, const uint8_t *frame, uint32_t len)
{
	struct collect *c = arg;
	assert_true(c->n < N_FRAMES);
	c->len[c->n++] = len;
	memcpy(c->data + c->used, frame, len);
	c->used += len;
}

static uint8_t stream[STREAM_MAX];
static uint8_t bodies[STREAM_MAX];

/* Build N_FRAMES frames of sizes 1..1500; returns the stream length. */
static size_t build(uint32_t *lens, uint32_t *body_len)
{
	uint64_t rng = 99;
	size_t pos = 0;

	*body_len = 0;
	for (int i = 0; i < N_FRAMES; i++) {
		uint32_t len = (uint32_t)(test_rand(&rng) % 1500) + 1;
		if (i < 3)
			len = (uint32_t)(i == 0 ? 1 : i == 1 ? 1500 : 2);
		lens[i] = len;
		assert_int_equal(rv_tcp_frame_prefix(stream + pos, len), 0);
		pos += 2;
		for (uint32_t j = 0; j < len; j++)
			stream[pos + j] = bodies[*body_len + j] = (uint8_t)test_rand(&rng);
		pos += len;
		*body_len += len;
	}
	return pos;
}

static void check(const struct collect *c, const uint32_t *lens, uint32_t body_len)
{
	assert_int_equal(c->n, N_FRAMES);
	for (int i = 0; i < N_FRAMES; i++)
		assert_int_equal(c->len[i], lens[i]);
	assert_int_equal(c->used, body_len);
	assert_memory_equal(c->data, bodies, body_len);
}

static void test_splits(void **state)
{
	static struct rv_tcp_decoder d;
	static struct collect c;
	uint32_t lens[N_FRAMES], body_len;
	size_t total = build(lens, &body_len);
	(void)state;

	/* all at once */
	memset(&c, 0, sizeof(c));
	rv_tcp_decoder_init(&d, 1500);
	assert_int_equal(rv_tcp_decoder_feed(&d, stream, total, on_frame, &c), 0);
	check(&c, lens, body_len);
	/* byte by byte */
	memset(&c, 0, sizeof(c));
	rv_tcp_decoder_init(&d, 1500);
	for (size_t i = 0; i < total; i++)
		assert_int_equal(rv_tcp_decoder_feed(&d, stream + i, 1, on_frame, &c), 0);
	check(&c, lens, body_len);
	assert_int_equal(d.have, 0);
	/* random splits, several seeds */
	for (uint64_t seed = 1; seed <= 20; seed++) {
		uint64_t rng = seed;
		memset(&c, 0, sizeof(c));
		rv_tcp_decoder_init(&d, 0);
		for (size_t pos = 0; pos < total;) {
			size_t n = test_rand(&rng) % (seed < 10 ? 8 : 3000);
			if (n > total - pos)
				n = total - pos;
			assert_int_equal(rv_tcp_decoder_feed(&d, stream + pos, n, on_frame, &c), 0);
			pos += n;
		}
		check(&c, lens, body_len);
	}
}

static void test_bad_lengths(void **state)
{
	static struct rv_tcp_decoder d;
	static struct collect c;
	const uint8_t zero[] = {0, 0, 1, 2};
	const uint8_t big[] = {0x05, 0xdd, 1}; /* 1501 > max 1500 */
	const uint8_t ok_then_bad[] = {0, 1, 0xaa, 0, 0};
	(void)state;

	rv_tcp_decoder_init(&d, 1500);
	assert_int_equal(rv_tcp_decoder_feed(&d, zero, sizeof(zero), on_frame, &c), -1);
	rv_tcp_decoder_init(&d, 1500);
	assert_int_equal(rv_tcp_decoder_feed(&d, big, sizeof(big), on_frame, &c), -1);
	/* byte by byte: the error shows as soon as the prefix is complete */
	rv_tcp_decoder_init(&d, 1500);
	assert_int_equal(rv_tcp_decoder_feed(&d, big, 1, on_frame, &c), 0);
	assert_int_equal(rv_tcp_decoder_feed(&d, big + 1, 1, on_frame, &c), -1);
	memset(&c, 0, sizeof(c));
	rv_tcp_decoder_init(&d, 1500);
	assert_int_equal(rv_tcp_decoder_feed(&d, ok_then_bad, sizeof(ok_then_bad), on_frame, &c),
			 -1);
	assert_int_equal(c.n, 1);
	/* the largest frame passes at the default max */
	rv_tcp_decoder_init(&d, 0);
	assert_int_equal(d.max_len, RV_TCP_FRAME_MAX);
	uint8_t p[2];
	assert_int_equal(rv_tcp_frame_prefix(p, 0), -1);
	assert_int_equal(rv_tcp_frame_prefix(p, RV_TCP_FRAME_MAX + 1), -1);
	assert_int_equal(rv_tcp_frame_prefix(p, 0x1234), 0);
	assert_int_equal(p[0], 0x12);
	assert_int_equal(p[1], 0x34);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_splits),
	    cmocka_unit_test(test_bad_lengths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
