/* Internal to libroomvpn: the layout of struct rv_cipher_ctx, shared by
 * cipher.c (set-up, primitives), the engines (engine_*.c) and dc_frame.c
 * (framing). Not an API.
 *
 * One allocation per context, 64-byte aligned: line 0 holds everything the
 * framing reads per packet (suite, engine, nonce, the OpenSSL context
 * pointer); the tail after the header is the engine's own key state (the
 * ipsec-mb engine keeps its expanded AES keys and GHASH powers there, inline,
 * no pointer to chase) or, for the CBC suites, the IV pool. */
#ifndef RV_CIPHER_CTX_H
#define RV_CIPHER_CTX_H

#include <openssl/evp.h>

#include "cipher.h"

#define RV_IV_POOL_LEN 512

struct rv_cipher_engine;

struct rv_cipher_ctx {
	/* line 0: everything the framing reads per packet */
	enum rv_cipher suite;
	bool encrypt;
	uint16_t tail_len;		    /* bytes of tail[] */
	uint32_t static_time;		    /* static suite: time of the long-form packet-id */
	uint32_t iv_pos;		    /* CBC: next unused byte of the IV pool */
	const struct rv_cipher_engine *eng; /* AEAD suites; CBC suites always OpenSSL */
	EVP_CIPHER_CTX *evp;		  /* OpenSSL: keyed once; per packet only the IV changes */
	EVP_MAC_CTX *hmac;		  /* keyed once; re-initialised per packet */
	EVP_CIPHER_CTX *ivgen;		  /* CBC IV generator (encrypt side): AES-256-CTR */
	uint8_t nonce[RV_AEAD_NONCE_LEN]; /* bytes 4..11 = implicit IV */
	/* from line 1: the engine's key state, or the CBC IV pool */
	_Alignas(64) uint8_t tail[];
};
_Static_assert(sizeof(struct rv_cipher_ctx) == 64, "one line of context before the key state");

/* One crypto engine for the AEAD suites (see cipher_engine.h for the
 * table). Engines work synchronously on the calling CPU; the tail is
 * theirs. */
struct rv_cipher_engine {
	const char *name;
	/* NULL when usable, else why not (library absent, CPU lacks a feature) */
	const char *(*absent)(void);
	bool (*supports)(enum rv_cipher c);
	uint32_t state_len; /* bytes of tail[] for one AEAD key */
	/* Key the context (ctx->suite, ctx->encrypt set); 0 or -1. */
	int (*setup)(struct rv_cipher_ctx *ctx, const uint8_t key[32]);
	/* Free what setup allocated outside the context (tail is wiped by the caller). */
	void (*release)(struct rv_cipher_ctx *ctx);
	int (*seal)(struct rv_cipher_ctx *ctx, const uint8_t nonce[RV_AEAD_NONCE_LEN],
		    const uint8_t *aad, size_t aad_len, uint8_t *buf, size_t len,
		    uint8_t tag[RV_AEAD_TAG_LEN]);
	int (*open)(struct rv_cipher_ctx *ctx, const uint8_t nonce[RV_AEAD_NONCE_LEN],
		    const uint8_t *aad, size_t aad_len, uint8_t *buf, size_t len,
		    const uint8_t tag[RV_AEAD_TAG_LEN]);
	/* The memory a packet touches (for the burst prefetch). */
	void (*lines)(const struct rv_cipher_ctx *ctx, struct rv_cipher_lines *out);
};

extern const struct rv_cipher_engine rv_engine_openssl;	 /* engine_openssl.c */
extern const struct rv_cipher_engine rv_engine_ipsec_mb; /* engine_ipsec_mb.c or engine_absent.c */

/* Put @eng in the table at @e (roomvpn-dataplane's cryptodev engine, which
 * needs DPDK: dataplane/engine_cryptodev.c). Until then a stand-in says why
 * the engine is absent. Call at start-up, before any key exists. */
void rv_cipher_engine_register(enum rv_cipher_engine_id e, const struct rv_cipher_engine *eng);

/* OpenSSL helpers shared by cipher.c and engine_openssl.c. */
EVP_CIPHER_CTX *rv_cipher_evp_keyed(const char *alg, const uint8_t *key, const uint8_t *iv,
				    bool encrypt);

/* Fills @l with @ctx's own lines, @evp's and the provider state behind it
 * (evp_hint.c). */
void rv_evp_hint(const struct rv_cipher_ctx *ctx, EVP_CIPHER_CTX *evp, struct rv_cipher_lines *l);

#endif
