/* Internal to libroomvpn: the layout of struct rv_cipher_ctx, shared by
 * cipher.c (set-up, primitives) and dc_frame.c (framing). Not an API. */
#ifndef RV_CIPHER_CTX_H
#define RV_CIPHER_CTX_H

#include <openssl/evp.h>

#include "cipher.h"

#define RV_IV_POOL_LEN 512

struct rv_cipher_ctx {
	enum rv_cipher suite;
	bool encrypt;
	EVP_CIPHER_CTX *evp;		  /* keyed once; per packet only the IV changes */
	struct rv_cipher_lines lines;	  /* what to prefetch, see cipher.h */
	EVP_MAC_CTX *hmac;		  /* keyed once; re-initialised per packet */
	uint8_t nonce[RV_AEAD_NONCE_LEN]; /* bytes 4..11 = implicit IV */
	/* CBC IV generator (encrypt side): AES-256-CTR keystream, random key. */
	EVP_CIPHER_CTX *ivgen;
	uint32_t iv_pos;
	uint32_t static_time; /* static suite: time of the long-form packet-id */
	uint8_t iv_pool[RV_IV_POOL_LEN];
};

/* Fills @l with @ctx's own lines, @evp's and the provider state behind it
 * (evp_hint.c). */
void rv_evp_hint(const struct rv_cipher_ctx *ctx, EVP_CIPHER_CTX *evp, struct rv_cipher_lines *l);

#endif
