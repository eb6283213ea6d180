/* Cipher suites: names, per-key contexts and the primitives the framing uses.
 * Every context is keyed once here; the packet path only sets IVs. */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "cipher_ctx.h"

static const char *const names[RV_CIPHER__COUNT] = {
    [RV_CIPHER_NONE] = "none",
    [RV_CIPHER_AES_256_GCM] = "AES-256-GCM",
    [RV_CIPHER_CHACHA20_POLY1305] = "CHACHA20-POLY1305",
    [RV_CIPHER_AES_256_CBC_HMAC] = "AES-256-CBC",
    [RV_CIPHER_STATIC_CBC_HMAC] = "static",
};

const char *rv_cipher_name(enum rv_cipher c)
{
	if ((unsigned)c >= RV_CIPHER__COUNT)
		return "unknown";
	return names[c];
}

int rv_cipher_parse(const char *name, enum rv_cipher *out)
{
	if (!name)
		return -1;
	for (unsigned i = 0; i < RV_CIPHER__COUNT; i++) {
		if (strcasecmp(name, names[i]) == 0) {
			*out = (enum rv_cipher)i;
			return 0;
		}
	}
	return -1;
}

bool rv_cipher_is_aead(enum rv_cipher c)
{
	return c == RV_CIPHER_AES_256_GCM || c == RV_CIPHER_CHACHA20_POLY1305;
}

static bool is_cbc(enum rv_cipher c)
{
	return c == RV_CIPHER_AES_256_CBC_HMAC || c == RV_CIPHER_STATIC_CBC_HMAC;
}

static EVP_CIPHER_CTX *keyed_cipher(const char *alg, const uint8_t *key, const uint8_t *iv,
				    bool encrypt)
{
	EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, alg, NULL);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

	if (!c || !ctx)
		goto err;
	if (!EVP_CipherInit_ex2(ctx, c, key, iv, encrypt ? 1 : 0, NULL))
		goto err;
	EVP_CIPHER_free(c);
	return ctx;
err:
	EVP_CIPHER_CTX_free(ctx);
	EVP_CIPHER_free(c);
	return NULL;
}

static EVP_MAC_CTX *keyed_hmac(const uint8_t *key)
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
	    OSSL_PARAM_construct_end(),
	};

	EVP_MAC_free(mac);
	if (!ctx)
		return NULL;
	if (!EVP_MAC_init(ctx, key, RV_HMAC_LEN, params)) {
		EVP_MAC_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* A CTR keystream under a random key, so CBC IVs cost one AES block each
 * instead of a call into the locked DRBG per packet. */
static int ivgen_init(struct rv_cipher_ctx *ctx)
{
	uint8_t key[32], iv[16];
	int rc = -1;

	if (RAND_bytes(key, sizeof(key)) != 1 || RAND_bytes(iv, sizeof(iv)) != 1)
		goto out;
	ctx->ivgen = keyed_cipher("AES-256-CTR", key, iv, true);
	ctx->iv_pos = RV_IV_POOL_LEN;
	rc = ctx->ivgen ? 0 : -1;
out:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(iv, sizeof(iv));
	return rc;
}

int rv_cipher_next_iv(struct rv_cipher_ctx *ctx, uint8_t iv[RV_CBC_IV_LEN])
{
	if (ctx->iv_pos + RV_CBC_IV_LEN > RV_IV_POOL_LEN) {
		int outl = 0;
		/* keystream = CTR(zeros); encrypting the old pool is as good */
		if (!EVP_EncryptUpdate(ctx->ivgen, ctx->iv_pool, &outl, ctx->iv_pool,
				       RV_IV_POOL_LEN))
			return -1;
		ctx->iv_pos = 0;
	}
	memcpy(iv, ctx->iv_pool + ctx->iv_pos, RV_CBC_IV_LEN);
	ctx->iv_pos += RV_CBC_IV_LEN;
	return 0;
}

static int setup_aead(struct rv_cipher_ctx *ctx, const struct rv_key_dir *k)
{
	const char *alg = ctx->suite == RV_CIPHER_AES_256_GCM ? "AES-256-GCM" : "ChaCha20-Poly1305";

	memcpy(ctx->nonce + 4, k->hmac, RV_IMPLICIT_IV_LEN);
	ctx->evp = keyed_cipher(alg, k->cipher, NULL, ctx->encrypt);
	rv_evp_hint(ctx, ctx->evp, &ctx->lines);
	return ctx->evp ? 0 : -1;
}

static int setup_cbc(struct rv_cipher_ctx *ctx, const struct rv_key_dir *k)
{
	ctx->evp = keyed_cipher("AES-256-CBC", k->cipher, NULL, ctx->encrypt);
	if (!ctx->evp)
		return -1;
	EVP_CIPHER_CTX_set_padding(ctx->evp, 0); /* PKCS#7 done in place by the framing */
	rv_evp_hint(ctx, ctx->evp, &ctx->lines);
	ctx->hmac = keyed_hmac(k->hmac);
	if (!ctx->hmac)
		return -1;
	return ctx->encrypt ? ivgen_init(ctx) : 0;
}

struct rv_cipher_ctx *rv_cipher_ctx_new(enum rv_cipher c, const struct rv_key_dir *k, bool encrypt)
{
	struct rv_cipher_ctx *ctx;

	if ((unsigned)c >= RV_CIPHER__COUNT || (!k && c != RV_CIPHER_NONE))
		return NULL;
	ctx = OPENSSL_zalloc(sizeof(*ctx));
	if (!ctx)
		return NULL;
	ctx->suite = c;
	ctx->encrypt = encrypt;
	if (rv_cipher_is_aead(c) && setup_aead(ctx, k) < 0)
		goto err_free;
	if (is_cbc(c) && setup_cbc(ctx, k) < 0)
		goto err_free;
	return ctx;
err_free:
	rv_cipher_ctx_free(ctx);
	return NULL;
}

void rv_cipher_ctx_free(struct rv_cipher_ctx *ctx)
{
	if (!ctx)
		return;
	/* the _free calls cleanse OpenSSL's expanded keys */
	EVP_CIPHER_CTX_free(ctx->evp);
	EVP_CIPHER_CTX_free(ctx->ivgen);
	EVP_MAC_CTX_free(ctx->hmac);
	OPENSSL_clear_free(ctx, sizeof(*ctx));
}

enum rv_cipher rv_cipher_ctx_suite(const struct rv_cipher_ctx *ctx)
{
	return ctx->suite;
}

void rv_cipher_ctx_lines(const struct rv_cipher_ctx *ctx, struct rv_cipher_lines *out)
{
	*out = ctx->lines;
	out->ctx = ctx;
}

int rv_cipher_aead_seal(struct rv_cipher_ctx *ctx, const uint8_t nonce[RV_AEAD_NONCE_LEN],
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

int rv_cipher_aead_open(struct rv_cipher_ctx *ctx, const uint8_t nonce[RV_AEAD_NONCE_LEN],
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

int rv_cipher_cbc(struct rv_cipher_ctx *ctx, const uint8_t iv[RV_CBC_IV_LEN], uint8_t *buf,
		  size_t len)
{
	int outl;

	if (len % RV_CBC_BLOCK)
		return -1;
	if (!EVP_CipherInit_ex2(ctx->evp, NULL, NULL, iv, -1, NULL))
		return -1;
	return EVP_CipherUpdate(ctx->evp, buf, &outl, buf, (int)len) == 1 ? 0 : -1;
}

int rv_cipher_hmac(struct rv_cipher_ctx *ctx, const uint8_t *data, size_t len,
		   uint8_t out[RV_HMAC_LEN])
{
	size_t outl;

	/* NULL key: re-initialise with the key set up in rv_cipher_ctx_new */
	if (!EVP_MAC_init(ctx->hmac, NULL, 0, NULL))
		return -1;
	if (!EVP_MAC_update(ctx->hmac, data, len))
		return -1;
	return EVP_MAC_final(ctx->hmac, out, &outl, RV_HMAC_LEN) == 1 ? 0 : -1;
}
