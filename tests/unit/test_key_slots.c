/* Key slots: key-id cycling, install / grace / retire, wrong key-id,
 * re-key signal, static-key sessions. */
#include "key_slots.h"
#include "test_util.h"

#define SEC 1000000000ull

struct ends {
	struct rv_dc_session a, b; /* a seals with k1, b with k2 */
};

static void ends_init(struct ends *e, enum rv_cipher suite)
{
	assert_int_equal(rv_dc_session_init(&e->a, 77, 0), 0);
	assert_int_equal(rv_dc_session_init(&e->b, 77, 0), 0);
	(void)suite;
}

static void ends_install(struct ends *e, uint8_t kid, enum rv_cipher suite, uint8_t seed,
			 uint64_t now, uint64_t grace)
{
	struct rv_key_dir k1, k2;

	test_key_dir(&k1, seed);
	test_key_dir(&k2, (uint8_t)(seed + 100));
	assert_int_equal(rv_dc_session_install(&e->a, kid, suite, &k1, &k2, now, grace), 0);
	assert_int_equal(rv_dc_session_install(&e->b, kid, suite, &k2, &k1, now, grace), 0);
}

static void ends_destroy(struct ends *e)
{
	rv_dc_session_destroy(&e->a);
	rv_dc_session_destroy(&e->b);
}

/* Seal a 50-byte payload from @s into @b; returns the wire packet. */
static struct rv_pkt *seal(struct rv_dc_session *s, struct test_buf *b)
{
	uint8_t payload[50];
	memset(payload, 0x5a, sizeof(payload));
	struct rv_pkt *p = test_buf_set(b, payload, sizeof(payload));
	assert_int_equal(rv_dc_session_seal(s, p, 1000), RV_OK);
	return p;
}

static void test_key_id_next(void **state)
{
	(void)state;
	assert_int_equal(rv_key_id_next(0), 1);
	assert_int_equal(rv_key_id_next(6), 7);
	assert_int_equal(rv_key_id_next(7), 1);
	uint8_t k = 0;
	for (int i = 0; i < 20; i++) {
		k = rv_key_id_next(k);
		assert_true(k >= 1 && k <= 7);
	}
}

static void test_grace_and_retire(void **state)
{
	static struct test_buf old_pkt, new_pkt, late_pkt;
	const enum rv_cipher suites[] = {RV_CIPHER_AES_256_GCM, RV_CIPHER_CHACHA20_POLY1305,
					 RV_CIPHER_AES_256_CBC_HMAC, RV_CIPHER_NONE};
	(void)state;

	for (unsigned s = 0; s < sizeof(suites) / sizeof(suites[0]); s++) {
		struct ends e;
		ends_init(&e, suites[s]);
		ends_install(&e, 0, suites[s], 1, 0, 0);
		/* a packet sealed with key 0 and delivered after the re-key */
		seal(&e.a, &old_pkt);
		seal(&e.a, &late_pkt);
		ends_install(&e, 1, suites[s], 2, 10 * SEC, 5 * SEC);
		assert_int_equal(e.a.slot[e.a.tx_slot].key_id, 1);
		struct rv_pkt *p = seal(&e.a, &new_pkt);
		assert_int_equal(p->data[0] & 7, 1);
		assert_int_equal(rv_dc_session_open(&e.b, p, 11 * SEC), RV_OK);
		/* the old key still opens during the grace period... */
		assert_int_equal(rv_dc_session_open(&e.b, &old_pkt.pkt, 14 * SEC), RV_OK);
		/* ...not after it, even before expire() ran */
		assert_int_equal(rv_dc_session_open(&e.b, &late_pkt.pkt, 15 * SEC),
				 RV_DROP_UNKNOWN_KEY);
		rv_dc_session_expire(&e.b, 15 * SEC);
		int old = 1 - e.b.tx_slot;
		assert_false(e.b.slot[old].in_use);
		assert_null(e.b.slot[old].dec);
		assert_true(e.b.slot[e.b.tx_slot].in_use);
		ends_destroy(&e);
	}
}

static void test_wrong_key_id(void **state)
{
	static struct test_buf b;
	struct ends e;
	(void)state;

	ends_init(&e, RV_CIPHER_AES_256_GCM);
	/* a has key 3, b has key 2: b knows no key-id 3 */
	struct rv_key_dir k1, k2;
	test_key_dir(&k1, 1);
	test_key_dir(&k2, 2);
	assert_int_equal(rv_dc_session_install(&e.a, 3, RV_CIPHER_AES_256_GCM, &k1, &k2, 0, 0), 0);
	assert_int_equal(rv_dc_session_install(&e.b, 2, RV_CIPHER_AES_256_GCM, &k2, &k1, 0, 0), 0);
	struct rv_pkt *p = seal(&e.a, &b);
	assert_int_equal(rv_dc_session_open(&e.b, p, 0), RV_DROP_UNKNOWN_KEY);
	/* no key at all */
	struct rv_dc_session empty;
	assert_int_equal(rv_dc_session_init(&empty, 77, 0), 0);
	p = test_buf_set(&b, (const uint8_t *)"x", 1);
	assert_int_equal(rv_dc_session_seal(&empty, p, 0), RV_DROP_UNKNOWN_KEY);
	/* another session's peer-id */
	p = seal(&e.a, &b);
	e.b.peer_id = 78;
	assert_int_equal(rv_dc_session_open(&e.b, p, 0), RV_DROP_UNKNOWN_PEER);
	ends_destroy(&e);
}

static void test_install_errors(void **state)
{
	struct rv_dc_session s;
	struct rv_key_dir k;
	(void)state;

	test_key_dir(&k, 1);
	assert_int_equal(rv_dc_session_init(&s, 0x1000000, 0), -1);
	assert_int_equal(rv_dc_session_init(&s, 1, RV_REPLAY_MAX_WINDOW + 1), -1);
	assert_int_equal(rv_dc_session_init(&s, 1, 0), 0);
	assert_int_equal(rv_dc_session_install(&s, 8, RV_CIPHER_AES_256_GCM, &k, &k, 0, 0), -1);
	assert_int_equal(rv_dc_session_install(&s, 0, RV_CIPHER__COUNT, &k, &k, 0, 0), -1);
	assert_int_equal(s.tx_slot, -1);
	assert_int_equal(rv_dc_session_install(&s, 0, RV_CIPHER_AES_256_GCM, &k, &k, 0, 0), 0);
	/* same key-id as the current key: ambiguous, refused, session unchanged */
	assert_int_equal(rv_dc_session_install(&s, 0, RV_CIPHER_AES_256_GCM, &k, &k, 0, 0), -1);
	assert_int_equal(s.tx_slot, 0);
	assert_true(s.slot[0].in_use);
	rv_dc_session_destroy(&s);
	assert_false(s.slot[0].in_use);
}

static void test_rekey_signal(void **state)
{
	static struct test_buf b;
	struct ends e;
	(void)state;

	ends_init(&e, RV_CIPHER_AES_256_GCM);
	ends_install(&e, 0, RV_CIPHER_AES_256_GCM, 1, 0, 0);
	assert_false(rv_dc_session_rekey_due(&e.a));
	e.a.slot[e.a.tx_slot].tx_pid = RV_PID_REKEY_THRESHOLD - 2;
	seal(&e.a, &b);
	assert_false(rv_dc_session_rekey_due(&e.a));
	seal(&e.a, &b);
	assert_true(rv_dc_session_rekey_due(&e.a));
	e.a.slot[e.a.tx_slot].tx_pid = UINT32_MAX;
	struct rv_pkt *p = test_buf_set(&b, (const uint8_t *)"x", 1);
	assert_int_equal(rv_dc_session_seal(&e.a, p, 0), RV_DROP_PID_EXHAUSTED);
	ends_destroy(&e);
}

/* Static key: no header, the sealing key opens; the long-form time of a
 * restarted peer starts a new replay epoch, an older time is a replay. */
static void test_static_session(void **state)
{
	static struct test_buf b, first;
	struct ends e;
	(void)state;

	ends_init(&e, RV_CIPHER_STATIC_CBC_HMAC);
	ends_install(&e, 0, RV_CIPHER_STATIC_CBC_HMAC, 1, 0, 0);
	struct rv_pkt *p = seal(&e.a, &first);
	struct test_buf copy = first;
	copy.pkt.data = copy.mem + (first.pkt.data - first.mem);
	assert_int_equal(rv_dc_session_open(&e.b, p, 0), RV_OK);
	assert_int_equal(rv_dc_session_open(&e.b, &copy.pkt, 0), RV_DROP_REPLAY);
	/* peer restarts: fresh contexts, packet-id 1 again, later time */
	struct rv_key_dir k1, k2;
	test_key_dir(&k1, 1);
	test_key_dir(&k2, 101);
	struct rv_cipher_ctx *restarted = rv_cipher_ctx_new(RV_CIPHER_STATIC_CBC_HMAC, &k1, true);
	p = test_buf_set(&b, (const uint8_t *)"hello", 5);
	assert_int_equal(rv_dc_seal(restarted, 0, 0, 1, 2000, p), RV_OK);
	assert_int_equal(rv_dc_session_open(&e.b, p, 0), RV_OK);
	/* an old-epoch packet (time 1000) is now a replay even if its id is new */
	e.a.slot[e.a.tx_slot].tx_pid = 50;
	p = seal(&e.a, &b);
	assert_int_equal(rv_dc_session_open(&e.b, p, 0), RV_DROP_REPLAY);
	rv_cipher_ctx_free(restarted);
	ends_destroy(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_key_id_next),	 cmocka_unit_test(test_grace_and_retire),
	    cmocka_unit_test(test_wrong_key_id), cmocka_unit_test(test_install_errors),
	    cmocka_unit_test(test_rekey_signal), cmocka_unit_test(test_static_session),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
