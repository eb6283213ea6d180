/* Known answers: standard AEAD vectors through the cipher layer, and fixed
 * key + packet-id + payload -> fixed wire bytes for every framing suite.
 * Run once per crypto engine: `test_cipher ENGINE` makes ENGINE the one
 * every context is created on (exit 77 = skipped, with the reason, when the
 * engine's library is absent). */
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "test_util.h"

/* ---- standard vectors (published; re-checked with python3-cryptography) */

/* The Galois/Counter Mode of Operation (McGrew, Viega), test case 16. */
static const uint8_t gcm16_key[32] = {
    0xfe, 0xff, 0xe9, 0x92, 0x86, 0x65, 0x73, 0x1c, 0x6d, 0x6a, 0x8f, 0x94, 0x67, 0x30, 0x83, 0x08,
    0xfe, 0xff, 0xe9, 0x92, 0x86, 0x65, 0x73, 0x1c, 0x6d, 0x6a, 0x8f, 0x94, 0x67, 0x30, 0x83, 0x08};
static const uint8_t gcm16_iv[12] = {0xca, 0xfe, 0xba, 0xbe, 0xfa, 0xce,
				     0xdb, 0xad, 0xde, 0xca, 0xf8, 0x88};
static const uint8_t gcm16_aad[20] = {0xfe, 0xed, 0xfa, 0xce, 0xde, 0xad, 0xbe, 0xef, 0xfe, 0xed,
				      0xfa, 0xce, 0xde, 0xad, 0xbe, 0xef, 0xab, 0xad, 0xda, 0xd2};
static const uint8_t gcm16_pt[60] = {
    0xd9, 0x31, 0x32, 0x25, 0xf8, 0x84, 0x06, 0xe5, 0xa5, 0x59, 0x09, 0xc5, 0xaf, 0xf5, 0x26,
    0x9a, 0x86, 0xa7, 0xa9, 0x53, 0x15, 0x34, 0xf7, 0xda, 0x2e, 0x4c, 0x30, 0x3d, 0x8a, 0x31,
    0x8a, 0x72, 0x1c, 0x3c, 0x0c, 0x95, 0x95, 0x68, 0x09, 0x53, 0x2f, 0xcf, 0x0e, 0x24, 0x49,
    0xa6, 0xb5, 0x25, 0xb1, 0x6a, 0xed, 0xf5, 0xaa, 0x0d, 0xe6, 0x57, 0xba, 0x63, 0x7b, 0x39};
static const uint8_t gcm16_ct[60] = {
    0x52, 0x2d, 0xc1, 0xf0, 0x99, 0x56, 0x7d, 0x07, 0xf4, 0x7f, 0x37, 0xa3, 0x2a, 0x84, 0x42,
    0x7d, 0x64, 0x3a, 0x8c, 0xdc, 0xbf, 0xe5, 0xc0, 0xc9, 0x75, 0x98, 0xa2, 0xbd, 0x25, 0x55,
    0xd1, 0xaa, 0x8c, 0xb0, 0x8e, 0x48, 0x59, 0x0d, 0xbb, 0x3d, 0xa7, 0xb0, 0x8b, 0x10, 0x56,
    0x82, 0x88, 0x38, 0xc5, 0xf6, 0x1e, 0x63, 0x93, 0xba, 0x7a, 0x0a, 0xbc, 0xc9, 0xf6, 0x62};
static const uint8_t gcm16_tag[16] = {0x76, 0xfc, 0x6e, 0xce, 0x0f, 0x4e, 0x17, 0x68,
				      0xcd, 0xdf, 0x88, 0x53, 0xbb, 0x2d, 0x55, 0x1b};
/* Test case 14: zero key, zero IV, one zero block. */
static const uint8_t gcm14_ct[16] = {0xce, 0xa7, 0x40, 0x3d, 0x4d, 0x60, 0x6b, 0x6e,
				     0x07, 0x4e, 0xc5, 0xd3, 0xba, 0xf3, 0x9d, 0x18};
static const uint8_t gcm14_tag[16] = {0xd0, 0xd1, 0xc8, 0xa7, 0x99, 0x99, 0x6b, 0xf0,
				      0x26, 0x5b, 0x98, 0xb5, 0xd4, 0x8a, 0xb9, 0x19};
/* Test case 13: zero key, zero IV, empty plaintext: tag only. */
static const uint8_t gcm13_tag[16] = {0x53, 0x0f, 0x8a, 0xfb, 0xc7, 0x45, 0x36, 0xb9,
				      0xa9, 0x63, 0xb4, 0xf1, 0xc4, 0xcb, 0x73, 0x8b};

/* RFC 8439 section 2.8.2 (ChaCha20-Poly1305 AEAD). */
static const uint8_t rfc8439_nonce[12] = {0x07, 0x00, 0x00, 0x00, 0x40, 0x41,
					  0x42, 0x43, 0x44, 0x45, 0x46, 0x47};
static const uint8_t rfc8439_aad[12] = {0x50, 0x51, 0x52, 0x53, 0xc0, 0xc1,
					0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7};
static const char rfc8439_pt[] = "Ladies and Gentlemen of the class of '99: If I could offer you "
				 "only one tip for the future, sunscreen would be it.";
static const uint8_t rfc8439_ct[114] = {
    0xd3, 0x1a, 0x8d, 0x34, 0x64, 0x8e, 0x60, 0xdb, 0x7b, 0x86, 0xaf, 0xbc, 0x53, 0xef, 0x7e,
    0xc2, 0xa4, 0xad, 0xed, 0x51, 0x29, 0x6e, 0x08, 0xfe, 0xa9, 0xe2, 0xb5, 0xa7, 0x36, 0xee,
    0x62, 0xd6, 0x3d, 0xbe, 0xa4, 0x5e, 0x8c, 0xa9, 0x67, 0x12, 0x82, 0xfa, 0xfb, 0x69, 0xda,
    0x92, 0x72, 0x8b, 0x1a, 0x71, 0xde, 0x0a, 0x9e, 0x06, 0x0b, 0x29, 0x05, 0xd6, 0xa5, 0xb6,
    0x7e, 0xcd, 0x3b, 0x36, 0x92, 0xdd, 0xbd, 0x7f, 0x2d, 0x77, 0x8b, 0x8c, 0x98, 0x03, 0xae,
    0xe3, 0x28, 0x09, 0x1b, 0x58, 0xfa, 0xb3, 0x24, 0xe4, 0xfa, 0xd6, 0x75, 0x94, 0x55, 0x85,
    0x80, 0x8b, 0x48, 0x31, 0xd7, 0xbc, 0x3f, 0xf4, 0xde, 0xf0, 0x8e, 0x4b, 0x7a, 0x9d, 0xe5,
    0x76, 0xd2, 0x65, 0x86, 0xce, 0xc6, 0x4b, 0x61, 0x16};
static const uint8_t rfc8439_tag[16] = {0x1a, 0xe1, 0x0b, 0x59, 0x4f, 0x09, 0xe2, 0x6a,
					0x7e, 0x90, 0x2e, 0xcb, 0xd0, 0x60, 0x06, 0x91};

static enum rv_cipher_engine_id engine = RV_ENGINE_OPENSSL;
static bool engine_chacha; /* the engine runs ChaCha20-Poly1305 itself */

/* The engine a context of @suite must be on: the selected one, except
 * where it lacks the suite (CBC always, ChaCha on some builds). */
static enum rv_cipher_engine_id engine_for(enum rv_cipher suite)
{
	if (suite == RV_CIPHER_AES_256_GCM ||
	    (suite == RV_CIPHER_CHACHA20_POLY1305 && engine_chacha))
		return engine;
	return RV_ENGINE_OPENSSL;
}

/* Seal then open @pt through contexts keyed with @key; compare with @ct/@tag. */
static void aead_vector(enum rv_cipher suite, const uint8_t key[32], const uint8_t nonce[12],
			const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t len,
			const uint8_t *ct, const uint8_t tag[16])
{
	struct rv_key_dir k = {0};
	uint8_t buf[256], got_tag[16];
	struct rv_cipher_ctx *enc, *dec;

	memcpy(k.cipher, key, 32);
	enc = rv_cipher_ctx_new(suite, &k, true);
	dec = rv_cipher_ctx_new(suite, &k, false);
	assert_non_null(enc);
	assert_non_null(dec);
	assert_int_equal(rv_cipher_ctx_engine(enc), engine_for(suite));
	assert_int_equal(rv_cipher_ctx_engine(dec), engine_for(suite));
	if (len)
		memcpy(buf, pt, len);
	assert_int_equal(rv_cipher_aead_seal(enc, nonce, aad, aad_len, buf, len, got_tag), 0);
	if (len)
		assert_memory_equal(buf, ct, len);
	assert_memory_equal(got_tag, tag, 16);
	assert_int_equal(rv_cipher_aead_open(dec, nonce, aad, aad_len, buf, len, tag), 0);
	if (len)
		assert_memory_equal(buf, pt, len);
	/* a wrong tag is refused */
	if (len)
		memcpy(buf, ct, len);
	got_tag[15] ^= 1;
	assert_int_equal(rv_cipher_aead_open(dec, nonce, aad, aad_len, buf, len, got_tag), -1);
	rv_cipher_ctx_free(enc);
	rv_cipher_ctx_free(dec);
}

static void test_gcm_vectors(void **state)
{
	static const uint8_t zero[32];
	(void)state;
	aead_vector(RV_CIPHER_AES_256_GCM, gcm16_key, gcm16_iv, gcm16_aad, sizeof(gcm16_aad),
		    gcm16_pt, sizeof(gcm16_pt), gcm16_ct, gcm16_tag);
	aead_vector(RV_CIPHER_AES_256_GCM, zero, zero, NULL, 0, zero, 16, gcm14_ct, gcm14_tag);
	aead_vector(RV_CIPHER_AES_256_GCM, zero, zero, NULL, 0, NULL, 0, NULL, gcm13_tag);
}

static void test_chacha_vector(void **state)
{
	uint8_t key[32];
	(void)state;
	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)(0x80 + i);
	aead_vector(RV_CIPHER_CHACHA20_POLY1305, key, rfc8439_nonce, rfc8439_aad,
		    sizeof(rfc8439_aad), (const uint8_t *)rfc8439_pt, sizeof(rfc8439_pt) - 1,
		    rfc8439_ct, rfc8439_tag);
}

/* ---- framing known answers, generated by tests/unit/gen_kat.py with
 * python3-cryptography from the layouts in docs/protocol.md (not by this
 * library). Inputs: cipher slice 00..3f, hmac slice 40..7f, key-id 5,
 * peer-id 0x0a0b0c, packet-id 0x01020304, time 0x65a1b2c3, payload[i] =
 * 7i+3 (37 bytes), CBC IV a0..af. */
static const uint8_t kat_gcm[61] = {
    0x4d, 0x0a, 0x0b, 0x0c, 0x01, 0x02, 0x03, 0x04, 0xef, 0x3a, 0x65, 0xd4, 0x4f, 0xa3, 0x25, 0x2d,
    0xe5, 0x88, 0x74, 0x35, 0x1c, 0x18, 0xe0, 0xaf, 0x3a, 0xe0, 0xed, 0x1f, 0x30, 0xd2, 0x4f, 0x52,
    0x7b, 0x99, 0xc6, 0x6a, 0x37, 0x85, 0x5d, 0x7a, 0xbb, 0x71, 0xfc, 0xcb, 0xac, 0xef, 0x97, 0x49,
    0xb9, 0xdb, 0xe5, 0x12, 0x5c, 0x2c, 0x39, 0xc7, 0x76, 0xac, 0xd0, 0xd0, 0xe9,
};
static const uint8_t kat_chacha[61] = {
    0x4d, 0x0a, 0x0b, 0x0c, 0x01, 0x02, 0x03, 0x04, 0x8f, 0xaf, 0x44, 0x68, 0xe9, 0x64, 0x7b, 0x5f,
    0xa8, 0xc2, 0x15, 0xee, 0x35, 0x31, 0x76, 0xcb, 0x3b, 0x13, 0x33, 0x00, 0x5f, 0x37, 0x80, 0xf4,
    0x5f, 0x01, 0xfd, 0x72, 0xb8, 0xaa, 0x2b, 0x65, 0x5a, 0xa6, 0x61, 0xa7, 0x51, 0x36, 0x20, 0x11,
    0x41, 0x01, 0x9d, 0xf8, 0x55, 0xb6, 0xe6, 0x2c, 0xc7, 0x49, 0x56, 0xf2, 0xae,
};
static const uint8_t kat_cbc[100] = {
    0x4d, 0x0a, 0x0b, 0x0c, 0x02, 0x64, 0x78, 0x93, 0x1f, 0x3c, 0xe0, 0x59, 0x11, 0x83, 0x63,
    0x8a, 0x10, 0x5b, 0x8b, 0xba, 0xff, 0x1d, 0x5f, 0xe7, 0xff, 0xa4, 0xfb, 0x83, 0x89, 0x98,
    0xaf, 0x03, 0x9f, 0xd7, 0x60, 0x8e, 0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8,
    0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf, 0xb8, 0x2a, 0x63, 0x49, 0x3f, 0x66, 0x23, 0x85,
    0xb5, 0x1a, 0x12, 0x7d, 0xfe, 0xc9, 0xf1, 0xf2, 0xa3, 0xa2, 0x70, 0xba, 0xdc, 0x3d, 0x19,
    0x61, 0x2d, 0xd6, 0x01, 0x2a, 0x5c, 0xfc, 0x40, 0x2c, 0x70, 0xf5, 0x00, 0xbd, 0x64, 0x9a,
    0xb6, 0x60, 0xad, 0x82, 0x94, 0x71, 0x92, 0x00, 0x9e, 0xa5,
};
static const uint8_t kat_static[96] = {
    0x4d, 0x5f, 0xbd, 0x45, 0x3e, 0x55, 0xd0, 0x37, 0x86, 0xd7, 0x4c, 0x63, 0xa2, 0x83, 0x2a, 0x82,
    0x32, 0x89, 0x7d, 0x39, 0xb0, 0x14, 0x03, 0x40, 0x42, 0x03, 0xea, 0xba, 0x46, 0xe2, 0x79, 0x6a,
    0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf,
    0x3c, 0x35, 0x78, 0x73, 0x72, 0xf0, 0x4e, 0x04, 0xb5, 0x9f, 0x48, 0x6c, 0x6f, 0xbf, 0x32, 0x6f,
    0xe9, 0x09, 0xcf, 0xb8, 0xf9, 0xf6, 0x71, 0xe0, 0x12, 0x98, 0xa3, 0xeb, 0xf2, 0x98, 0x74, 0x50,
    0x29, 0x63, 0x4d, 0xc0, 0xf6, 0x09, 0x96, 0xec, 0xf1, 0x08, 0x5f, 0x09, 0x73, 0x9b, 0xc9, 0x3d,
};
static const uint8_t kat_none[45] = {
    0x4d, 0x0a, 0x0b, 0x0c, 0x01, 0x02, 0x03, 0x04, 0x03, 0x0a, 0x11, 0x18, 0x1f, 0x26, 0x2d,
    0x34, 0x3b, 0x42, 0x49, 0x50, 0x57, 0x5e, 0x65, 0x6c, 0x73, 0x7a, 0x81, 0x88, 0x8f, 0x96,
    0x9d, 0xa4, 0xab, 0xb2, 0xb9, 0xc0, 0xc7, 0xce, 0xd5, 0xdc, 0xe3, 0xea, 0xf1, 0xf8, 0xff,
};

#define KAT_KEY_ID  5
#define KAT_PEER_ID 0x0A0B0Cu
#define KAT_PID	    0x01020304u
#define KAT_TIME    0x65A1B2C3u
#define KAT_LEN	    37

static void kat_inputs(struct rv_key_dir *k, uint8_t payload[KAT_LEN])
{
	for (int i = 0; i < 64; i++) {
		k->cipher[i] = (uint8_t)i;
		k->hmac[i] = (uint8_t)(0x40 + i);
	}
	for (int i = 0; i < KAT_LEN; i++)
		payload[i] = (uint8_t)(i * 7 + 3);
}

/* Open the expected wire bytes; for suites with a deterministic seal, also
 * seal and compare byte for byte. */
static void kat_suite(enum rv_cipher suite, const uint8_t *wire, uint32_t wire_len, bool exact_seal)
{
	struct rv_key_dir k;
	uint8_t payload[KAT_LEN];
	struct test_buf b;
	struct rv_pkt *p;
	uint32_t pid = 0;

	kat_inputs(&k, payload);
	struct rv_cipher_ctx *enc = rv_cipher_ctx_new(suite, &k, true);
	struct rv_cipher_ctx *dec = rv_cipher_ctx_new(suite, &k, false);
	assert_non_null(enc);
	assert_int_equal(rv_cipher_ctx_engine(enc), engine_for(suite));
	assert_non_null(enc);
	assert_non_null(dec);

	p = test_buf_wire(&b, wire, wire_len);
	assert_int_equal(rv_dc_open(dec, p, &pid), RV_OK);
	assert_int_equal(pid, KAT_PID);
	assert_int_equal(p->len, KAT_LEN);
	assert_memory_equal(p->data, payload, KAT_LEN);
	if (suite == RV_CIPHER_STATIC_CBC_HMAC)
		assert_int_equal(rv_dc_static_time(dec), KAT_TIME);

	p = test_buf_set(&b, payload, KAT_LEN);
	assert_int_equal(rv_dc_seal(enc, KAT_KEY_ID, KAT_PEER_ID, KAT_PID, KAT_TIME, p), RV_OK);
	assert_int_equal(p->len, wire_len);
	if (exact_seal)
		assert_memory_equal(p->data, wire, wire_len);
	rv_cipher_ctx_free(enc);
	rv_cipher_ctx_free(dec);
}

static void test_kat_gcm(void **state)
{
	(void)state;
	kat_suite(RV_CIPHER_AES_256_GCM, kat_gcm, sizeof(kat_gcm), true);
}

static void test_kat_chacha(void **state)
{
	(void)state;
	kat_suite(RV_CIPHER_CHACHA20_POLY1305, kat_chacha, sizeof(kat_chacha), true);
}

static void test_kat_none(void **state)
{
	(void)state;
	kat_suite(RV_CIPHER_NONE, kat_none, sizeof(kat_none), true);
}

static void test_kat_cbc(void **state)
{
	(void)state;
	kat_suite(RV_CIPHER_AES_256_CBC_HMAC, kat_cbc, sizeof(kat_cbc), false);
}

static void test_kat_static(void **state)
{
	(void)state;
	kat_suite(RV_CIPHER_STATIC_CBC_HMAC, kat_static, sizeof(kat_static), false);
}

/* CBC seals use a random IV, so check a sealed packet with OpenSSL's
 * one-shot HMAC and CBC decryption (PKCS#7 on) instead of fixed bytes. */
static void cbc_seal_check(enum rv_cipher suite, uint32_t front)
{
	struct rv_key_dir k;
	uint8_t payload[KAT_LEN], mac[32], pt[128];
	unsigned mac_len = 0;
	int n1 = 0, n2 = 0;
	struct test_buf b;
	struct rv_pkt *p;

	kat_inputs(&k, payload);
	struct rv_cipher_ctx *enc = rv_cipher_ctx_new(suite, &k, true);
	p = test_buf_set(&b, payload, KAT_LEN);
	assert_int_equal(rv_dc_seal(enc, KAT_KEY_ID, KAT_PEER_ID, KAT_PID, KAT_TIME, p), RV_OK);
	uint8_t *mac_at = p->data + front, *iv = mac_at + 32, *ct = iv + 16;
	uint32_t ct_len = p->len - front - 48;
	if (front)
		assert_memory_equal(p->data, kat_cbc, 4); /* same header */
	HMAC(EVP_sha256(), k.hmac, 32, iv, 16 + ct_len, mac, &mac_len);
	assert_memory_equal(mac, mac_at, 32);
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	assert_int_equal(EVP_DecryptInit_ex2(c, EVP_aes_256_cbc(), k.cipher, iv, NULL), 1);
	assert_int_equal(EVP_DecryptUpdate(c, pt, &n1, ct, (int)ct_len), 1);
	assert_int_equal(EVP_DecryptFinal_ex(c, pt + n1, &n2), 1);
	EVP_CIPHER_CTX_free(c);
	uint32_t hdr = front ? 4 : 8;
	assert_int_equal(n1 + n2, hdr + KAT_LEN);
	assert_int_equal(pt[0] << 24 | pt[1] << 16 | pt[2] << 8 | pt[3], KAT_PID);
	if (!front)
		assert_int_equal((uint32_t)(pt[4] << 24 | pt[5] << 16 | pt[6] << 8 | pt[7]),
				 KAT_TIME);
	assert_memory_equal(pt + hdr, payload, KAT_LEN);
	rv_cipher_ctx_free(enc);
}

static void test_cbc_seal_independent(void **state)
{
	(void)state;
	cbc_seal_check(RV_CIPHER_AES_256_CBC_HMAC, 4);
	cbc_seal_check(RV_CIPHER_STATIC_CBC_HMAC, 0);
}

/* Whether @key's first 16 bytes lie in [@p, @p + @len). */
static bool holds_key(const void *p, uint32_t len, const uint8_t *key)
{
	for (uint32_t off = 0; p && off + 16 <= len; off += 4)
		if (memcmp((const uint8_t *)p + off, key, 16) == 0)
			return true;
	return false;
}

/* The prefetch hints (rv_cipher_ctx_lines) point at the context's real
 * memory: an encrypting AES key schedule starts with the key itself, and
 * ChaCha keeps the key as is. OpenSSL (3.0): the layout check must
 * recognise the EVP context and find the provider state behind it.
 * ipsec-mb: the round keys are inside the context's own block. cryptodev
 * (tests/dataplane/cdev_test.c): the hint is the device session. */
static void test_prefetch_lines(void **state)
{
	(void)state;
	struct rv_key_dir k;
	for (unsigned i = 0; i < sizeof(k.cipher); i++)
		k.cipher[i] = (uint8_t)(0xC0 + i);
	memset(k.hmac, 7, sizeof(k.hmac));
	enum rv_cipher suites[] = {RV_CIPHER_AES_256_GCM, RV_CIPHER_AES_256_CBC_HMAC,
				   RV_CIPHER_CHACHA20_POLY1305};
	for (unsigned i = 0; i < 3; i++) {
		struct rv_cipher_ctx *c = rv_cipher_ctx_new(suites[i], &k, true);
		assert_non_null(c);
		struct rv_cipher_lines l;
		rv_cipher_ctx_lines(c, &l);
		assert_ptr_equal(l.ctx, c);
		assert_non_null(l.evp);
		if (engine_for(suites[i]) == RV_ENGINE_OPENSSL) {
			assert_true(l.evp_len >= 184);
			assert_non_null(l.hot);
			assert_true(l.hot_len >= 256);
			assert_true(holds_key(l.hot, l.hot_len, k.cipher));
		} else if (engine == RV_ENGINE_CRYPTODEV) {
			/* the device session, where the software PMD keeps its key state */
			assert_non_null(l.evp);
			assert_true(holds_key(l.evp, l.evp_len, k.cipher));
		} else {
			/* inline: no pointer leaves the context's block */
			assert_true((const char *)l.evp > (const char *)c &&
				    (const char *)l.evp < (const char *)c + 2048);
			assert_true(holds_key(l.evp, l.evp_len, k.cipher));
		}
		rv_cipher_ctx_free(c);
	}
	struct rv_cipher_ctx *none = rv_cipher_ctx_new(RV_CIPHER_NONE, NULL, true);
	struct rv_cipher_lines l;
	rv_cipher_ctx_lines(none, &l);
	assert_null(l.evp);
	assert_null(l.hot);
	rv_cipher_ctx_free(none);
}

/* The engine against OpenSSL, both ways, at every length 0..2100 (every
 * code path of the engine's bulk loops and tails, and the packet sizes the
 * relay sees): same ciphertext and tag, and each opens the other's. */
static void test_cross_engine(void **state)
{
	(void)state;
	if (engine == RV_ENGINE_OPENSSL)
		skip();
	static uint8_t a[2200], b[2200], pt[2200];
	uint8_t nonce[12], aad[8], ta[16], tb[16];
	struct rv_key_dir k;
	for (unsigned i = 0; i < sizeof(pt); i++)
		pt[i] = (uint8_t)(i * 7 + 3);
	for (unsigned i = 0; i < sizeof(k.cipher); i++)
		k.cipher[i] = (uint8_t)(0x5A ^ i);
	enum rv_cipher suites[] = {RV_CIPHER_AES_256_GCM, RV_CIPHER_CHACHA20_POLY1305};
	for (unsigned s = 0; s < 2; s++) {
		if (engine_for(suites[s]) == RV_ENGINE_OPENSSL)
			continue;
		struct rv_cipher_ctx *ee = rv_cipher_ctx_new_on(engine, suites[s], &k, true);
		struct rv_cipher_ctx *ed = rv_cipher_ctx_new_on(engine, suites[s], &k, false);
		struct rv_cipher_ctx *oe =
		    rv_cipher_ctx_new_on(RV_ENGINE_OPENSSL, suites[s], &k, true);
		struct rv_cipher_ctx *od =
		    rv_cipher_ctx_new_on(RV_ENGINE_OPENSSL, suites[s], &k, false);
		assert_true(ee && ed && oe && od);
		for (size_t len = 0; len <= 2100; len++) {
			memset(nonce, (int)len, sizeof(nonce));
			memcpy(aad, &len, sizeof(aad));
			memcpy(a, pt, len);
			memcpy(b, pt, len);
			assert_int_equal(rv_cipher_aead_seal(ee, nonce, aad, 8, a, len, ta), 0);
			assert_int_equal(rv_cipher_aead_seal(oe, nonce, aad, 8, b, len, tb), 0);
			assert_memory_equal(a, b, len);
			assert_memory_equal(ta, tb, 16);
			assert_int_equal(rv_cipher_aead_open(od, nonce, aad, 8, a, len, ta), 0);
			assert_int_equal(rv_cipher_aead_open(ed, nonce, aad, 8, b, len, tb), 0);
			assert_memory_equal(a, pt, len);
			assert_memory_equal(b, pt, len);
		}
		rv_cipher_ctx_free(ee);
		rv_cipher_ctx_free(ed);
		rv_cipher_ctx_free(oe);
		rv_cipher_ctx_free(od);
	}
}

/* Engine names, "auto", and refusals. */
static void test_engine_names(void **state)
{
	enum rv_cipher_engine_id e;
	char err[160];
	(void)state;
	for (int i = 0; i <= RV_ENGINE__COUNT; i++) {
		assert_int_equal(
		    rv_cipher_engine_parse(rv_cipher_engine_name((enum rv_cipher_engine_id)i), &e),
		    0);
		assert_int_equal(e, i);
	}
	assert_int_equal(rv_cipher_engine_parse("qat", &e), -1);
	assert_null(rv_cipher_engine_absent(RV_ENGINE_OPENSSL));
	assert_int_equal(rv_cipher_engine_current(), engine);
	/* auto picks ipsec-mb exactly when it is present */
	assert_int_equal(rv_cipher_engine_select(RV_ENGINE_AUTO, err, sizeof(err)), 0);
	assert_int_equal(rv_cipher_engine_current(), rv_cipher_engine_absent(RV_ENGINE_IPSEC_MB)
							 ? RV_ENGINE_OPENSSL
							 : RV_ENGINE_IPSEC_MB);
	assert_int_equal(rv_cipher_engine_select(engine, err, sizeof(err)), 0);
}

static void test_names(void **state)
{
	enum rv_cipher c;
	(void)state;
	for (int i = 0; i < RV_CIPHER__COUNT; i++) {
		assert_int_equal(rv_cipher_parse(rv_cipher_name((enum rv_cipher)i), &c), 0);
		assert_int_equal(c, i);
	}
	assert_int_equal(rv_cipher_parse("chacha20-poly1305", &c), 0);
	assert_int_equal(c, RV_CIPHER_CHACHA20_POLY1305);
	assert_int_equal(rv_cipher_parse("AES-128-GCM", &c), -1);
	assert_true(rv_cipher_is_aead(RV_CIPHER_AES_256_GCM));
	assert_false(rv_cipher_is_aead(RV_CIPHER_AES_256_CBC_HMAC));
	assert_null(rv_cipher_ctx_new(RV_CIPHER__COUNT, NULL, true));
	assert_null(rv_cipher_ctx_new(RV_CIPHER_AES_256_GCM, NULL, true));
}

int main(int argc, char **argv)
{
	char err[200];

	if (argc > 1) {
		if (rv_cipher_engine_parse(argv[1], &engine) < 0 || engine == RV_ENGINE_AUTO) {
			fprintf(stderr, "usage: %s [openssl|ipsec-mb]\n", argv[0]);
			return 2;
		}
		if (rv_cipher_engine_select(engine, err, sizeof(err)) < 0) {
			printf("SKIP: %s\n", err);
			return 77;
		}
	}
	struct rv_key_dir probe = {0};
	struct rv_cipher_ctx *c = rv_cipher_ctx_new(RV_CIPHER_CHACHA20_POLY1305, &probe, true);
	engine_chacha = c && rv_cipher_ctx_engine(c) == engine;
	rv_cipher_ctx_free(c);
	printf("crypto engine %s (ChaCha20-Poly1305 on %s)\n", rv_cipher_engine_name(engine),
	       rv_cipher_engine_name(engine_for(RV_CIPHER_CHACHA20_POLY1305)));
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_engine_names), cmocka_unit_test(test_cross_engine),
	    cmocka_unit_test(test_gcm_vectors),	 cmocka_unit_test(test_chacha_vector),
	    cmocka_unit_test(test_kat_gcm),	 cmocka_unit_test(test_kat_chacha),
	    cmocka_unit_test(test_kat_none),	 cmocka_unit_test(test_kat_cbc),
	    cmocka_unit_test(test_kat_static),	 cmocka_unit_test(test_cbc_seal_independent),
	    cmocka_unit_test(test_names),	 cmocka_unit_test(test_prefetch_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
