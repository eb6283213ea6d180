/* Cipher suites: names, per-key contexts and the primitives the framing uses.
 * Every context is keyed once here; the packet path only sets IVs. The AEAD
 * suites run on the engine the context was made with (engine_*.c). */
#include <stdio.h>
#include <stdlib.h>
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

static const char *cryptodev_absent(void)
{
	return "the cryptodev engine runs only inside roomvpn-dataplane, on the device "
	       "crypto_dev names";
}

static bool supports_none(enum rv_cipher c)
{
	(void)c;
	return false;
}

/* Stands in until roomvpn-dataplane registers the real one. */
static const struct rv_cipher_engine cryptodev_stand_in = {
    .name = "cryptodev",
    .absent = cryptodev_absent,
    .supports = supports_none,
};

static const struct rv_cipher_engine *engines[RV_ENGINE__COUNT] = {
    [RV_ENGINE_OPENSSL] = &rv_engine_openssl,
    [RV_ENGINE_IPSEC_MB] = &rv_engine_ipsec_mb,
    [RV_ENGINE_CRYPTODEV] = &cryptodev_stand_in,
};
static enum rv_cipher_engine_id current = RV_ENGINE_OPENSSL;

const char *rv_cipher_engine_name(enum rv_cipher_engine_id e)
{
	if (e == RV_ENGINE_AUTO)
		return "auto";
	return (unsigned)e < RV_ENGINE__COUNT ? engines[e]->name : "unknown";
}

int rv_cipher_engine_parse(const char *name, enum rv_cipher_engine_id *out)
{
	if (!name)
		return -1;
	for (unsigned i = 0; i <= RV_ENGINE__COUNT; i++) {
		if (strcmp(name, rv_cipher_engine_name((enum rv_cipher_engine_id)i)) == 0) {
			*out = (enum rv_cipher_engine_id)i;
			return 0;
		}
	}
	return -1;
}

const char *rv_cipher_engine_absent(enum rv_cipher_engine_id e)
{
	if ((unsigned)e >= RV_ENGINE__COUNT)
		return "no such engine";
	return engines[e]->absent ? engines[e]->absent() : NULL;
}

int rv_cipher_engine_select(enum rv_cipher_engine_id e, char *err, size_t errlen)
{
	if (e == RV_ENGINE_AUTO)
		e = rv_cipher_engine_absent(RV_ENGINE_IPSEC_MB) ? RV_ENGINE_OPENSSL
								: RV_ENGINE_IPSEC_MB;
	const char *why = rv_cipher_engine_absent(e);
	if (why) {
		if (err && errlen)
			snprintf(err, errlen, "crypto engine %s is not available: %s",
				 rv_cipher_engine_name(e), why);
		return -1;
	}
	current = e;
	return 0;
}

enum rv_cipher_engine_id rv_cipher_engine_current(void)
{
	return current;
}

void rv_cipher_engine_register(enum rv_cipher_engine_id e, const struct rv_cipher_engine *eng)
{
	if (eng && (unsigned)e < RV_ENGINE__COUNT && e != RV_ENGINE_OPENSSL)
		engines[e] = eng;
}

EVP_CIPHER_CTX *rv_cipher_evp_keyed(const char *alg, const uint8_t *key, const uint8_t *iv,
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
	ctx->ivgen = rv_cipher_evp_keyed("AES-256-CTR", key, iv, true);
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
		if (!EVP_EncryptUpdate(ctx->ivgen, ctx->tail, &outl, ctx->tail, RV_IV_POOL_LEN))
			return -1;
		ctx->iv_pos = 0;
	}
	memcpy(iv, ctx->tail + ctx->iv_pos, RV_CBC_IV_LEN);
	ctx->iv_pos += RV_CBC_IV_LEN;
	return 0;
}

static int setup_cbc(struct rv_cipher_ctx *ctx, const struct rv_key_dir *k)
{
	ctx->evp = rv_cipher_evp_keyed("AES-256-CBC", k->cipher, NULL, ctx->encrypt);
	if (!ctx->evp)
		return -1;
	EVP_CIPHER_CTX_set_padding(ctx->evp, 0); /* PKCS#7 done in place by the framing */
	ctx->hmac = keyed_hmac(k->hmac);
	if (!ctx->hmac)
		return -1;
	return ctx->encrypt ? ivgen_init(ctx) : 0;
}

static int setup_aead(struct rv_cipher_ctx *ctx, const struct rv_key_dir *k)
{
	memcpy(ctx->nonce + 4, k->hmac, RV_IMPLICIT_IV_LEN);
	if (ctx->eng->setup(ctx, k->cipher) < 0)
		return -1;
	return 0;
}

/* One 64-byte aligned block: header, then the engine's key state or the
 * CBC IV pool. */
static struct rv_cipher_ctx *ctx_alloc(const struct rv_cipher_engine *eng, enum rv_cipher c)
{
	uint32_t tail = rv_cipher_is_aead(c) ? eng->state_len : is_cbc(c) ? RV_IV_POOL_LEN : 0;
	size_t size = (sizeof(struct rv_cipher_ctx) + tail + 63) & ~(size_t)63;
	struct rv_cipher_ctx *ctx = aligned_alloc(64, size);

	if (!ctx)
		return NULL;
	memset(ctx, 0, size);
	ctx->tail_len = tail;
	return ctx;
}

struct rv_cipher_ctx *rv_cipher_ctx_new_on(enum rv_cipher_engine_id e, enum rv_cipher c,
					   const struct rv_key_dir *k, bool encrypt)
{
	struct rv_cipher_ctx *ctx;
	const struct rv_cipher_engine *eng;

	if ((unsigned)c >= RV_CIPHER__COUNT || (!k && c != RV_CIPHER_NONE) ||
	    (unsigned)e >= RV_ENGINE__COUNT)
		return NULL;
	eng = rv_cipher_is_aead(c) ? engines[e] : &rv_engine_openssl;
	if ((eng->absent && eng->absent()) || (rv_cipher_is_aead(c) && !eng->supports(c)))
		return NULL;
	ctx = ctx_alloc(eng, c);
	if (!ctx)
		return NULL;
	ctx->suite = c;
	ctx->encrypt = encrypt;
	ctx->eng = eng;
	if (rv_cipher_is_aead(c) && setup_aead(ctx, k) < 0)
		goto err_free;
	if (is_cbc(c) && setup_cbc(ctx, k) < 0)
		goto err_free;
	return ctx;
err_free:
	rv_cipher_ctx_free(ctx);
	return NULL;
}

struct rv_cipher_ctx *rv_cipher_ctx_new(enum rv_cipher c, const struct rv_key_dir *k, bool encrypt)
{
	enum rv_cipher_engine_id e = current;

	/* an engine without this AEAD suite leaves it to OpenSSL */
	if (rv_cipher_is_aead(c) && !engines[e]->supports(c))
		e = RV_ENGINE_OPENSSL;
	return rv_cipher_ctx_new_on(e, c, k, encrypt);
}

enum rv_cipher_engine_id rv_cipher_ctx_engine(const struct rv_cipher_ctx *ctx)
{
	for (unsigned e = 1; e < RV_ENGINE__COUNT; e++)
		if (ctx->eng == engines[e])
			return (enum rv_cipher_engine_id)e;
	return RV_ENGINE_OPENSSL;
}

void rv_cipher_ctx_free(struct rv_cipher_ctx *ctx)
{
	if (!ctx)
		return;
	if (ctx->eng && ctx->eng->release)
		ctx->eng->release(ctx);
	/* the _free calls cleanse OpenSSL's expanded keys; ours go here */
	EVP_CIPHER_CTX_free(ctx->evp);
	EVP_CIPHER_CTX_free(ctx->ivgen);
	EVP_MAC_CTX_free(ctx->hmac);
	OPENSSL_cleanse(ctx, sizeof(*ctx) + ctx->tail_len);
	free(ctx);
}

enum rv_cipher rv_cipher_ctx_suite(const struct rv_cipher_ctx *ctx)
{
	return ctx->suite;
}

void rv_cipher_ctx_lines(const struct rv_cipher_ctx *ctx, struct rv_cipher_lines *out)
{
	if (rv_cipher_is_aead(ctx->suite))
		ctx->eng->lines(ctx, out);
	else
		rv_evp_hint(ctx, ctx->evp, out);
}

int rv_cipher_aead_seal(struct rv_cipher_ctx *ctx, const uint8_t nonce[RV_AEAD_NONCE_LEN],
			const uint8_t *aad, size_t aad_len, uint8_t *buf, size_t len,
			uint8_t tag[RV_AEAD_TAG_LEN])
{
	return ctx->eng->seal(ctx, nonce, aad, aad_len, buf, len, tag);
}

int rv_cipher_aead_open(struct rv_cipher_ctx *ctx, const uint8_t nonce[RV_AEAD_NONCE_LEN],
			const uint8_t *aad, size_t aad_len, uint8_t *buf, size_t len,
			const uint8_t tag[RV_AEAD_TAG_LEN])
{
	return ctx->eng->open(ctx, nonce, aad, aad_len, buf, len, tag);
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
