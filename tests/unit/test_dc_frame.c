/* Framing: round trips of every suite at every payload size, single and
 * burst; every flipped byte and every truncation refused; buffer limits. */
#include "key_slots.h"
#include "test_util.h"

static const enum rv_cipher suites[N_SUITES] = ALL_SUITES;

struct pair {
	struct rv_cipher_ctx *enc, *dec;
};

static struct pair pair_new(enum rv_cipher s)
{
	struct rv_key_dir k;
	struct pair p;

	test_key_dir(&k, 0x11);
	p.enc = rv_cipher_ctx_new(s, &k, true);
	p.dec = rv_cipher_ctx_new(s, &k, false);
	assert_non_null(p.enc);
	assert_non_null(p.dec);
	return p;
}

static void pair_free(struct pair *p)
{
	rv_cipher_ctx_free(p->enc);
	rv_cipher_ctx_free(p->dec);
}

static void fill(uint8_t *b, uint32_t len, uint32_t seed)
{
	for (uint32_t i = 0; i < len; i++)
		b[i] = (uint8_t)(i * 31 + seed);
}

static void test_round_trip_all_sizes(void **state)
{
	static struct test_buf b;
	uint8_t payload[1501];
	(void)state;

	for (int s = 0; s < N_SUITES; s++) {
		struct pair c = pair_new(suites[s]);
		for (uint32_t len = 0; len <= 1500; len++) {
			uint32_t pid = 0;
			fill(payload, len, len);
			struct rv_pkt *p = test_buf_set(&b, payload, len);
			assert_int_equal(rv_dc_seal(c.enc, 3, 0x123456, len + 1, 77, p), RV_OK);
			assert_true(p->len <= len + rv_dc_overhead(suites[s]));
			assert_true(p->len >= len);
			if (suites[s] != RV_CIPHER_STATIC_CBC_HMAC) {
				uint8_t kid;
				uint32_t peer;
				assert_int_equal(rv_dc_peek(p->data, p->len, &kid, &peer), RV_OK);
				assert_int_equal(kid, 3);
				assert_int_equal(peer, 0x123456);
			}
			assert_int_equal(rv_dc_open(c.dec, p, &pid), RV_OK);
			assert_int_equal(pid, len + 1);
			assert_int_equal(p->len, len);
			assert_ptr_equal(p->data, b.mem + RV_DC_HEADROOM);
			assert_int_equal(p->headroom, RV_DC_HEADROOM);
			if (len)
				assert_memory_equal(p->data, payload, len);
		}
		pair_free(&c);
	}
}

/* Bursts mixing all suites (each packet its own context). */
static void test_burst(void **state)
{
	enum { N = 32 };
	static struct test_buf b[N];
	struct pair c[N_SUITES];
	struct rv_cipher_ctx *enc[N], *dec[N];
	struct rv_pkt *pk[N];
	uint8_t kid[N], payload[1400];
	uint32_t peer[N], pid[N], got_pid[N];
	enum rv_drop res[N];
	(void)state;

	for (int s = 0; s < N_SUITES; s++)
		c[s] = pair_new(suites[s]);
	for (int i = 0; i < N; i++) {
		uint32_t len = (uint32_t)(i * 43) % 1400;
		fill(payload, len, (uint32_t)i);
		pk[i] = test_buf_set(&b[i], payload, len);
		enc[i] = c[i % N_SUITES].enc;
		dec[i] = c[i % N_SUITES].dec;
		kid[i] = (uint8_t)(i & 7);
		peer[i] = (uint32_t)i * 1000;
		pid[i] = (uint32_t)i + 1;
	}
	rv_dc_seal_burst(enc, kid, peer, pid, 5, pk, res, N);
	for (int i = 0; i < N; i++)
		assert_int_equal(res[i], RV_OK);
	rv_dc_open_burst(dec, pk, got_pid, res, N);
	for (int i = 0; i < N; i++) {
		uint32_t len = (uint32_t)(i * 43) % 1400;
		assert_int_equal(res[i], RV_OK);
		assert_int_equal(got_pid[i], pid[i]);
		assert_int_equal(pk[i]->len, len);
		fill(payload, len, (uint32_t)i);
		if (len)
			assert_memory_equal(pk[i]->data, payload, len);
	}
	for (int s = 0; s < N_SUITES; s++)
		pair_free(&c[s]);
}

/* What flipping byte @pos of a sealed packet must be refused as. */
static enum rv_drop flip_expect(enum rv_cipher s, uint32_t pos, uint8_t mask)
{
	if (s == RV_CIPHER_STATIC_CBC_HMAC || pos > 3)
		return RV_DROP_AUTH;
	if (pos > 0)
		return RV_DROP_UNKNOWN_PEER;
	return (mask & 0xf8) ? RV_DROP_BAD_OPCODE : RV_DROP_UNKNOWN_KEY;
}

static void flip_suite(enum rv_cipher suite, uint32_t len)
{
	static const uint8_t masks[] = {0x01, 0x04, 0x08, 0x80, 0xff};
	static struct test_buf b, w;
	struct rv_dc_session tx, rx;
	struct rv_key_dir k1, k2;
	uint8_t payload[256], wire[512];
	uint32_t wire_len;

	test_key_dir(&k1, 1);
	test_key_dir(&k2, 2);
	assert_int_equal(rv_dc_session_init(&tx, 0x42, 0), 0);
	assert_int_equal(rv_dc_session_init(&rx, 0x42, 0), 0);
	assert_int_equal(rv_dc_session_install(&tx, 0, suite, &k1, &k2, 0, 0), 0);
	assert_int_equal(rv_dc_session_install(&rx, 0, suite, &k2, &k1, 0, 0), 0);
	fill(payload, len, 9);
	struct rv_pkt *p = test_buf_set(&b, payload, len);
	assert_int_equal(rv_dc_session_seal(&tx, p, 1), RV_OK);
	wire_len = p->len;
	memcpy(wire, p->data, wire_len);

	for (uint32_t pos = 0; pos < wire_len; pos++) {
		for (unsigned m = 0; m < sizeof(masks); m++) {
			p = test_buf_wire(&w, wire, wire_len);
			p->data[pos] ^= masks[m];
			enum rv_drop r = rv_dc_session_open(&rx, p, 0);
			if (r != flip_expect(suite, pos, masks[m]))
				fail_msg("%s len %u: flip byte %u mask %02x -> %s",
					 rv_cipher_name(suite), len, pos, masks[m],
					 rv_drop_name(r));
		}
	}
	/* the intact packet still opens, exactly once */
	p = test_buf_wire(&w, wire, wire_len);
	assert_int_equal(rv_dc_session_open(&rx, p, 0), RV_OK);
	p = test_buf_wire(&w, wire, wire_len);
	assert_int_equal(rv_dc_session_open(&rx, p, 0), RV_DROP_REPLAY);
	rv_dc_session_destroy(&tx);
	rv_dc_session_destroy(&rx);
}

static void test_flipped_bytes(void **state)
{
	(void)state;
	for (int s = 0; s < N_SUITES; s++) {
		if (suites[s] == RV_CIPHER_NONE)
			continue; /* no integrity by design (runs inside TLS) */
		flip_suite(suites[s], 0);
		flip_suite(suites[s], 1);
		flip_suite(suites[s], 100);
	}
}

static void test_truncated(void **state)
{
	static struct test_buf b, w;
	uint8_t payload[100], wire[256];
	(void)state;

	fill(payload, sizeof(payload), 3);
	for (int s = 0; s < N_SUITES; s++) {
		struct pair c = pair_new(suites[s]);
		struct rv_pkt *p = test_buf_set(&b, payload, sizeof(payload));
		assert_int_equal(rv_dc_seal(c.enc, 1, 7, 1, 1, p), RV_OK);
		uint32_t full = p->len;
		memcpy(wire, p->data, full);
		/* "none" has no integrity: only a cut header can be detected */
		uint32_t max = suites[s] == RV_CIPHER_NONE ? 8 : full;
		for (uint32_t len = 0; len < max; len++) {
			uint32_t pid;
			p = test_buf_wire(&w, wire, len);
			enum rv_drop r = rv_dc_open(c.dec, p, &pid);
			if (r != RV_DROP_MALFORMED && r != RV_DROP_AUTH)
				fail_msg("%s: truncated to %u -> %s", rv_cipher_name(suites[s]),
					 len, rv_drop_name(r));
		}
		pair_free(&c);
	}
}

static void test_room_limits(void **state)
{
	static struct test_buf b;
	uint8_t payload[64] = {0};
	(void)state;

	for (int s = 0; s < N_SUITES; s++) {
		struct pair c = pair_new(suites[s]);
		uint32_t over = rv_dc_overhead(suites[s]);
		struct rv_pkt *p = test_buf_set(&b, payload, 20);
		p->headroom = 7; /* less than any header */
		assert_int_equal(rv_dc_seal(c.enc, 0, 0, 1, 0, p), RV_DROP_TOO_BIG);
		p = test_buf_set(&b, payload, 28); /* 4 + 28 = 32: a full pad block */
		p->tailroom = suites[s] == RV_CIPHER_AES_256_CBC_HMAC ? 15 : 0;
		enum rv_drop want =
		    suites[s] == RV_CIPHER_AES_256_CBC_HMAC ? RV_DROP_TOO_BIG : RV_OK;
		if (suites[s] == RV_CIPHER_STATIC_CBC_HMAC)
			want = RV_DROP_TOO_BIG; /* 8 + 28 needs 12 bytes of padding */
		assert_int_equal(rv_dc_seal(c.enc, 0, 0, 1, 0, p), want);
		/* exactly the documented room is enough */
		p = test_buf_set(&b, payload, 28);
		p->headroom = over - (rv_cipher_is_aead(suites[s]) || !over ? 0 : RV_CBC_BLOCK);
		p->tailroom =
		    rv_cipher_is_aead(suites[s]) || suites[s] == RV_CIPHER_NONE ? 0 : RV_CBC_BLOCK;
		assert_int_equal(rv_dc_seal(c.enc, 0, 0, 1, 0, p), RV_OK);
		/* packet-id 0 is never sent; bad key-id / peer-id refused */
		p = test_buf_set(&b, payload, 10);
		assert_int_equal(rv_dc_seal(c.enc, 0, 0, 0, 0, p), RV_DROP_PID_EXHAUSTED);
		assert_int_equal(rv_dc_seal(c.enc, 8, 0, 1, 0, p), RV_DROP_MALFORMED);
		assert_int_equal(rv_dc_seal(c.enc, 0, 0x1000000, 1, 0, p), RV_DROP_MALFORMED);
		/* a decrypting context does not seal, an encrypting one does not open */
		assert_int_equal(rv_dc_seal(c.dec, 0, 0, 1, 0, p), RV_DROP_MALFORMED);
		assert_int_equal(rv_dc_open(c.enc, p, NULL), RV_DROP_UNKNOWN_KEY);
		pair_free(&c);
	}
}

static void test_peek(void **state)
{
	uint8_t h[4] = {0x4f, 0xff, 0xff, 0xff}, kid;
	uint32_t peer;
	(void)state;

	assert_int_equal(rv_dc_peek(h, 4, &kid, &peer), RV_OK);
	assert_int_equal(kid, 7);
	assert_int_equal(peer, RV_PEER_ID_NONE);
	assert_int_equal(rv_dc_peek(h, 3, &kid, &peer), RV_DROP_MALFORMED);
	h[0] = 0x30; /* P_DATA_V1 */
	assert_int_equal(rv_dc_peek(h, 4, &kid, &peer), RV_DROP_BAD_OPCODE);
}

/* Header suites refuse a P_DATA_V1 or control opcode before any crypto. */
static void test_bad_opcode(void **state)
{
	static struct test_buf b;
	uint8_t pkt[200] = {0};
	(void)state;

	for (int s = 0; s < N_SUITES; s++) {
		if (suites[s] == RV_CIPHER_STATIC_CBC_HMAC)
			continue;
		struct pair c = pair_new(suites[s]);
		for (int op = 0; op < 32; op++) {
			pkt[0] = (uint8_t)(op << 3);
			struct rv_pkt *p = test_buf_wire(&b, pkt, sizeof(pkt));
			enum rv_drop r = rv_dc_open(c.dec, p, NULL);
			if (op == RV_OP_DATA_V2)
				assert_int_not_equal(r, RV_DROP_BAD_OPCODE);
			else
				assert_int_equal(r, RV_DROP_BAD_OPCODE);
		}
		pair_free(&c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip_all_sizes), cmocka_unit_test(test_burst),
	    cmocka_unit_test(test_flipped_bytes),	 cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_room_limits),		 cmocka_unit_test(test_peek),
	    cmocka_unit_test(test_bad_opcode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
