/* Key derivation: both sides agree, room key and key-id matter, bad peer
 * keys are refused; the output matches an independent HKDF. */
#include "kdf.h"
#include "test_util.h"

static const uint8_t room_a[] = "room-key-A-0123456789abcdef";
static const uint8_t room_b[] = "room-key-B-0123456789abcdef";

/* Known answer: RFC 7748 section 6.1 (X25519 Diffie-Hellman). */
static const uint8_t alice_priv[32] = {
    0x77, 0x07, 0x6d, 0x0a, 0x73, 0x18, 0xa5, 0x7d, 0x3c, 0x16, 0xc1, 0x72, 0x51, 0xb2, 0x66, 0x45,
    0xdf, 0x4c, 0x2f, 0x87, 0xeb, 0xc0, 0x99, 0x2a, 0xb1, 0x77, 0xfb, 0xa5, 0x1d, 0xb9, 0x2c, 0x2a};
static const uint8_t bob_pub[32] = {
    0xde, 0x9e, 0xdb, 0x7d, 0x7b, 0x7d, 0xc1, 0xb4, 0xd3, 0x5b, 0x61, 0xc2, 0xec, 0xe4, 0x35, 0x37,
    0x3f, 0x83, 0x43, 0xc8, 0x5b, 0x78, 0x67, 0x4d, 0xad, 0xfc, 0x7e, 0x14, 0x6f, 0x88, 0x2b, 0x4f};
static const uint8_t shared_ab[32] = {
    0x4a, 0x5d, 0x9d, 0x5b, 0xa4, 0xce, 0x2d, 0xe1, 0x72, 0x8e, 0x3b, 0xf4, 0x80, 0x35, 0x0f, 0x25,
    0xe0, 0x7e, 0x21, 0xc9, 0x47, 0xd1, 0x9e, 0x33, 0x76, 0xf0, 0x9b, 0x3c, 0x1e, 0x16, 0x17, 0x42};

/* HKDF-SHA256(ikm = shared_ab, salt = room_a without NUL, info = "roomvpn dc
 * v1" || 03 || client_pub (32 x 0x11) || server_pub (32 x 0x22)), first and
 * last 8 of 256 bytes; computed with python3-cryptography's HKDF, not here:
 *   HKDF(SHA256(), 256, salt, info).derive(shared) */
static const uint8_t okm_head[8] = {0x3b, 0x87, 0xcc, 0x38, 0xd3, 0x58, 0x0e, 0xb2};
static const uint8_t okm_tail[8] = {0xd6, 0x62, 0x62, 0x00, 0xa1, 0xe2, 0x64, 0x16};

static void test_rfc7748(void **state)
{
	struct rv_x25519 a = {0};
	uint8_t s[32];
	(void)state;

	memcpy(a.priv, alice_priv, 32);
	assert_int_equal(rv_x25519_shared(&a, bob_pub, s), 0);
	assert_memory_equal(s, shared_ab, 32);
}

static void test_hkdf_known_answer(void **state)
{
	uint8_t cpub[32], spub[32];
	struct rv_key_material km;
	(void)state;

	memset(cpub, 0x11, 32);
	memset(spub, 0x22, 32);
	assert_int_equal(rv_kdf_derive(shared_ab, room_a, sizeof(room_a) - 1, 3, cpub, spub, &km),
			 0);
	assert_memory_equal(km.dir[0].cipher, okm_head, 8);
	assert_memory_equal(km.dir[1].hmac + 56, okm_tail, 8);
}

static void test_both_sides_agree(void **state)
{
	struct rv_x25519 client, server;
	uint8_t s1[32], s2[32];
	struct rv_key_material k1, k2, k3, k4;
	(void)state;

	assert_int_equal(rv_x25519_generate(&client), 0);
	assert_int_equal(rv_x25519_generate(&server), 0);
	assert_int_equal(rv_x25519_shared(&client, server.pub, s1), 0);
	assert_int_equal(rv_x25519_shared(&server, client.pub, s2), 0);
	assert_memory_equal(s1, s2, 32);
	assert_int_equal(rv_kdf_derive(s1, room_a, sizeof(room_a), 0, client.pub, server.pub, &k1),
			 0);
	assert_int_equal(rv_kdf_derive(s2, room_a, sizeof(room_a), 0, client.pub, server.pub, &k2),
			 0);
	assert_memory_equal(&k1, &k2, sizeof(k1));
	assert_memory_not_equal(k1.dir[0].cipher, k1.dir[1].cipher, 64);
	/* another room key or key-id gives other keys */
	assert_int_equal(rv_kdf_derive(s1, room_b, sizeof(room_b), 0, client.pub, server.pub, &k3),
			 0);
	assert_memory_not_equal(&k1, &k3, sizeof(k1));
	assert_int_equal(rv_kdf_derive(s1, room_a, sizeof(room_a), 1, client.pub, server.pub, &k4),
			 0);
	assert_memory_not_equal(&k1, &k4, sizeof(k1));
	assert_int_equal(rv_kdf_derive(s1, room_a, sizeof(room_a), 8, client.pub, server.pub, &k4),
			 -1);
	rv_x25519_wipe(&client);
	uint8_t zero[sizeof(client)] = {0};
	assert_memory_equal(&client, zero, sizeof(client));
}

/* The answering side's one step agrees with the asking side's two. */
static void test_answer_agrees(void **state)
{
	struct rv_x25519 client;
	uint8_t server_pub[32], s1[32], s2[32], zero_pub[32] = {0};
	(void)state;

	assert_int_equal(rv_x25519_generate(&client), 0);
	assert_int_equal(rv_x25519_answer(client.pub, server_pub, s2), 0);
	assert_int_equal(rv_x25519_shared(&client, server_pub, s1), 0);
	assert_memory_equal(s1, s2, 32);
	assert_memory_not_equal(server_pub, client.pub, 32);
	/* the zero point: refused, and no secret left behind */
	assert_int_equal(rv_x25519_answer(zero_pub, server_pub, s2), -1);
	assert_memory_equal(s2, zero_pub, 32);
	rv_x25519_wipe(&client);
}

static void test_bad_peer_key(void **state)
{
	struct rv_x25519 kp;
	uint8_t zero_pub[32] = {0}, s[32];
	(void)state;

	assert_int_equal(rv_x25519_generate(&kp), 0);
	/* the zero point (low order): all-zero shared secret, refused */
	assert_int_equal(rv_x25519_shared(&kp, zero_pub, s), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc7748),	     cmocka_unit_test(test_hkdf_known_answer),
	    cmocka_unit_test(test_both_sides_agree), cmocka_unit_test(test_answer_agrees),
	    cmocka_unit_test(test_bad_peer_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
