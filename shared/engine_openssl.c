/* The OpenSSL EVP engine (the portable default): one keyed EVP_CIPHER_CTX
 * per direction, re-initialised with the nonce per packet. Its key state
 * lives behind two pointers (EVP context -> provider context), which is why
 * burst callers prefetch the lines rv_evp_hint finds. */
#include <openssl/evp.h>

#include "cipher_ctx.h"

static bool supports(enum rv_cipher c)
{
	return rv_cipher_is_aead(c);
}

static int setup(struct rv_cipher_ctx *ctx, const uint8_t key[32])
{
	const char *alg = ctx->suite == RV_CIPHER_AES_256_GCM ? "AES-256-GCM" : "ChaCha20-Poly1305";

	ctx->evp = rv_cipher_evp_keyed(alg, key, NULL, ctx->encrypt);
	return ctx->evp ? 0 : -1;
}

static void lines(const struct rv_cipher_ctx *ctx, struct rv_cipher_lines *out)
{
	rv_evp_hint(ctx, ctx->evp, out);
}

static int seal(struct rv_cipher_ctx *ctx, const uint8_t nonce[RV_AEAD_NONCE_LEN],
		const uint8_t *aad, size_t aad_len, uint8_t *buf, size_t len,
		uint8_t tag[RV_AEAD_TAG_LEN])
{
	int outl;

	if (!EVP_CipherInit_ex2(ctx->evp, NULL, NULL, nonce, 1, NULL))
		return -1;
	if (aad_len && !EVP_CipherUpdate(ctx->evp, NULL, &outl, aad, (int)aad_len))
		return -1;
	if (len && !EVP_CipherUpdate(ctx->evp, buf, &outl, buf, (int)len))
		return -1;
	if (!EVP_CipherFinal_ex(ctx->evp, buf + len, &outl))
		return -1;
	if (!EVP_CIPHER_CTX_ctrl(ctx->evp, EVP_CTRL_AEAD_GET_TAG, RV_AEAD_TAG_LEN, tag))
		return -1;
	return 0;
}

static int open_(struct rv_cipher_ctx *ctx, const uint8_t nonce[RV_AEAD_NONCE_LEN],
		 const uint8_t *aad, size_t aad_len, uint8_t *buf, size_t len,
		 const uint8_t tag[RV_AEAD_TAG_LEN])
{
	int outl;

	if (!EVP_CipherInit_ex2(ctx->evp, NULL, NULL, nonce, 0, NULL))
		return -1;
	if (aad_len && !EVP_CipherUpdate(ctx->evp, NULL, &outl, aad, (int)aad_len))
		return -1;
	if (len && !EVP_CipherUpdate(ctx->evp, buf, &outl, buf, (int)len))
		return -1;
	if (!EVP_CIPHER_CTX_ctrl(ctx->evp, EVP_CTRL_AEAD_SET_TAG, RV_AEAD_TAG_LEN, (void *)tag))
		return -1;
	return EVP_CipherFinal_ex(ctx->evp, buf + len, &outl) == 1 ? 0 : -1;
}

const struct rv_cipher_engine rv_engine_openssl = {
    .name = "openssl",
    .supports = supports,
    .state_len = 0,
    .setup = setup,
    .seal = seal,
    .open = open_,
    .lines = lines,
};
