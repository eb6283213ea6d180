/* The intel-ipsec-mb engine: AES-256-GCM (and ChaCha20-Poly1305 where the
 * library has it) through the library's synchronous direct API, with each
 * direction's key state inline in the context's tail: the expanded AES
 * round keys and the GHASH key powers (struct gcm_key_data, 64-byte
 * aligned), or ChaCha's 32-byte key. No pointer between the context and its
 * keys, so one burst prefetch covers a packet's crypto state.
 *
 * The library is set up once (best code path for this CPU); the direct API
 * functions it picks are read-only afterwards, so every worker calls them
 * at once without locks. Per-call scratch (struct gcm_context_data) lives
 * on the caller's stack. */
#include <pthread.h>
#include <string.h>

#include <intel-ipsec-mb.h>
#include <openssl/crypto.h>

#include "cipher_ctx.h"

struct imb {
	const char *absent; /* NULL when usable */
	IMB_ARCH arch;
	bool vaes; /* GHASH powers 1..8 sit at the end of gcm_key_data */
	aes_gcm_pre_t gcm_pre;
	aes_gcm_enc_dec_t gcm_enc, gcm_dec;
	chacha_poly_init_t cp_init;
	chacha_poly_enc_dec_update_t cp_enc, cp_dec;
	chacha_poly_finalize_t cp_final;
};

static struct imb imb;
static pthread_once_t imb_once = PTHREAD_ONCE_INIT;

static void imb_init(void)
{
	IMB_MGR *mgr = alloc_mb_mgr(0);

	if (!mgr) {
		imb.absent = "intel-ipsec-mb could not allocate its manager";
		return;
	}
	init_mb_mgr_auto(mgr, &imb.arch);
	if (!(mgr->features & IMB_FEATURE_AESNI) || imb.arch < IMB_ARCH_SSE) {
		imb.absent = "the CPU has no AES-NI (intel-ipsec-mb would run its slow path)";
		goto out;
	}
	imb.vaes = imb.arch == IMB_ARCH_AVX512 && (mgr->features & IMB_FEATURE_VAES);
	imb.gcm_pre = mgr->gcm256_pre;
	imb.gcm_enc = mgr->gcm256_enc;
	imb.gcm_dec = mgr->gcm256_dec;
	imb.cp_init = mgr->chacha20_poly1305_init;
	imb.cp_enc = mgr->chacha20_poly1305_enc_update;
	imb.cp_dec = mgr->chacha20_poly1305_dec_update;
	imb.cp_final = mgr->chacha20_poly1305_finalize;
	if (!imb.gcm_pre || !imb.gcm_enc || !imb.gcm_dec)
		imb.absent = "intel-ipsec-mb has no AES-256-GCM direct API on this CPU";
out:
	free_mb_mgr(mgr);
}

static const char *absent(void)
{
	pthread_once(&imb_once, imb_init);
	return imb.absent;
}

static bool has_chacha(void)
{
	return imb.cp_init && imb.cp_enc && imb.cp_dec && imb.cp_final;
}

static bool supports(enum rv_cipher c)
{
	if (absent())
		return false;
	return c == RV_CIPHER_AES_256_GCM || (c == RV_CIPHER_CHACHA20_POLY1305 && has_chacha());
}

/* gcm_key_data sits 16 bytes into the tail: its 240 bytes of round keys
 * then end exactly at a line's end (4 lines) and its last 128 bytes (the
 * GHASH powers short packets use on VAES code) fill 2 whole lines instead
 * of straddling 3. The library's code loads keys unaligned (a 16-byte
 * boundary is what its SSE path needs); the KATs run on this placement. */
#define KEY_OFF 16

static struct gcm_key_data *gcm_key(const struct rv_cipher_ctx *ctx)
{
	return (struct gcm_key_data *)(void *)(ctx->tail + KEY_OFF);
}

static int setup(struct rv_cipher_ctx *ctx, const uint8_t key[32])
{
	if (ctx->suite == RV_CIPHER_AES_256_GCM)
		imb.gcm_pre(key, gcm_key(ctx));
	else
		memcpy(ctx->tail, key, 32);
	return 0;
}

/* Lines per packet besides the context's own: the AES round keys (first
 * range) and the GHASH powers a short packet uses (second). VAES code keeps
 * HashKey^8..^1 in the last 128 bytes of gcm_key_data; the others keep
 * their powers right after the round keys. Long packets touch more powers. */
static void lines(const struct rv_cipher_ctx *ctx, struct rv_cipher_lines *out)
{
	const struct gcm_key_data *k = gcm_key(ctx);

	*out = (struct rv_cipher_lines){.ctx = ctx};
	if (ctx->suite != RV_CIPHER_AES_256_GCM) {
		out->evp = ctx->tail; /* ChaCha key: within the context's line 2 */
		out->evp_len = 32;
		return;
	}
	out->evp = k->expanded_keys;
	out->evp_len = sizeof(k->expanded_keys);
	if (imb.vaes) {
		out->hot = (const uint8_t *)(k + 1) - 128;
		out->hot_len = 128;
	} else {
		out->hot = (const uint8_t *)k->expanded_keys + sizeof(k->expanded_keys);
		out->hot_len = 128;
	}
}

static int seal(struct rv_cipher_ctx *ctx, const uint8_t nonce[RV_AEAD_NONCE_LEN],
		const uint8_t *aad, size_t aad_len, uint8_t *buf, size_t len,
		uint8_t tag[RV_AEAD_TAG_LEN])
{
	if (ctx->suite == RV_CIPHER_AES_256_GCM) {
		struct gcm_context_data g;
		imb.gcm_enc(gcm_key(ctx), &g, buf, buf, len, nonce, aad, aad_len, tag,
			    RV_AEAD_TAG_LEN);
		return 0;
	}
	struct chacha20_poly1305_context_data c;
	imb.cp_init(ctx->tail, &c, nonce, aad, aad_len);
	imb.cp_enc(ctx->tail, &c, buf, buf, len);
	imb.cp_final(&c, tag, RV_AEAD_TAG_LEN);
	return 0;
}

static int open_(struct rv_cipher_ctx *ctx, const uint8_t nonce[RV_AEAD_NONCE_LEN],
		 const uint8_t *aad, size_t aad_len, uint8_t *buf, size_t len,
		 const uint8_t tag[RV_AEAD_TAG_LEN])
{
	uint8_t want[RV_AEAD_TAG_LEN];

	if (ctx->suite == RV_CIPHER_AES_256_GCM) {
		struct gcm_context_data g;
		imb.gcm_dec(gcm_key(ctx), &g, buf, buf, len, nonce, aad, aad_len, want,
			    RV_AEAD_TAG_LEN);
	} else {
		struct chacha20_poly1305_context_data c;
		imb.cp_init(ctx->tail, &c, nonce, aad, aad_len);
		imb.cp_dec(ctx->tail, &c, buf, buf, len);
		imb.cp_final(&c, want, RV_AEAD_TAG_LEN);
	}
	return CRYPTO_memcmp(want, tag, RV_AEAD_TAG_LEN) == 0 ? 0 : -1;
}

const struct rv_cipher_engine rv_engine_ipsec_mb = {
    .name = "ipsec-mb",
    .absent = absent,
    .supports = supports,
    .state_len = KEY_OFF + sizeof(struct gcm_key_data),
    .setup = setup,
    .seal = seal,
    .open = open_,
    .lines = lines,
};
