/* Where the provider's per-key state behind an EVP_CIPHER_CTX lives, so that
 * burst callers can prefetch it (with many sessions every packet's key
 * schedule and GHASH table are cold). OpenSSL keeps that pointer ("algctx")
 * in the opaque EVP_CIPHER_CTX and has no getter; this reads it at the
 * offset of OpenSSL 3.0's layout (crypto/evp/evp_local.h) and only after
 * checking that the layout is the one expected: the cipher pointers that
 * frame it must both equal EVP_CIPHER_CTX_get0_cipher(). Any mismatch, or
 * another major version, gives no hint; a hint is only ever prefetched,
 * never dereferenced, so a stale one costs a wasted prefetch at worst. */
#include <malloc.h>
#include <stdint.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cipher_ctx.h"

/* OpenSSL 3.0 evp_cipher_ctx_st: cipher @0 ... algctx @168,
 * fetched_cipher @176, 184 bytes. */
#define OFF_CIPHER	   0
#define OFF_ALGCTX	   168
#define OFF_FETCHED_CIPHER 176
#define CTX_MIN_SIZE	   184
#define HINT_MAX	   1024 /* key schedule + GHASH table + state */

static const void *word_at(const EVP_CIPHER_CTX *evp, size_t off)
{
	const void *p;
	memcpy(&p, (const char *)evp + off, sizeof(p));
	return p;
}

void rv_evp_hint(const struct rv_cipher_ctx *ctx, EVP_CIPHER_CTX *evp, struct rv_cipher_lines *l)
{
	*l = (struct rv_cipher_lines){.ctx = ctx};
	if (!evp)
		return;
	size_t evp_len = malloc_usable_size(evp);
	l->evp = evp;
	l->evp_len = (uint32_t)(evp_len < 256 ? evp_len : 256);
	if (OPENSSL_VERSION_MAJOR != 3 || OpenSSL_version_num() >> 28 != 3 ||
	    evp_len < CTX_MIN_SIZE)
		return;
	const void *cipher = EVP_CIPHER_CTX_get0_cipher(evp);
	if (!cipher || word_at(evp, OFF_CIPHER) != cipher ||
	    word_at(evp, OFF_FETCHED_CIPHER) != cipher)
		return;
	const void *alg = word_at(evp, OFF_ALGCTX);
	if (!alg)
		return;
	size_t n = malloc_usable_size((void *)alg);
	l->hot = alg;
	l->hot_len = (uint32_t)(n < HINT_MAX ? n : HINT_MAX);
}
