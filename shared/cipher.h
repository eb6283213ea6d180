/* Cipher suites of the data channel and one direction's crypto context.
 * A context holds the expanded key (set up once per key) and is used by one
 * thread at a time; it is wiped by rv_cipher_ctx_clear(). */
#ifndef RV_CIPHER_H
#define RV_CIPHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum rv_cipher {
	RV_CIPHER_NONE = 0,		 /* no encryption, packet-id kept (TCP over TLS) */
	RV_CIPHER_AES_256_GCM = 1,	 /* AEAD, P_DATA_V2 */
	RV_CIPHER_CHACHA20_POLY1305 = 2, /* AEAD, P_DATA_V2 */
	RV_CIPHER_AES_256_CBC_HMAC = 3,	 /* AES-256-CBC + HMAC-SHA256, P_DATA_V2 header */
	RV_CIPHER_STATIC_CBC_HMAC = 4,	 /* OpenVPN --secret mode: no header, long pid */
	RV_CIPHER__COUNT
};

/* One direction of OpenVPN's key layout: cipher key slice and HMAC slice. */
struct rv_key_dir {
	uint8_t cipher[64];
	uint8_t hmac[64];
};

/* OpenVPN's 256-byte key material: dir[0] client->server, dir[1] server->client. */
struct rv_key_material {
	struct rv_key_dir dir[2];
};

struct rv_cipher_ctx; /* opaque; see cipher.c */

/* Crypto engines for the AEAD suites (docs/dataplane.md "Crypto engines").
 * The CBC+HMAC and static suites always run on OpenSSL. */
enum rv_cipher_engine_id {
	RV_ENGINE_OPENSSL = 0,	 /* OpenSSL EVP: portable default */
	RV_ENGINE_IPSEC_MB = 1,	 /* intel-ipsec-mb direct API, key state inline */
	RV_ENGINE_CRYPTODEV = 2, /* DPDK cryptodev, asynchronous: roomvpn-dataplane only */
	RV_ENGINE__COUNT,
	RV_ENGINE_AUTO = RV_ENGINE__COUNT, /* parse only: ipsec-mb if present, else openssl */
};

/* "openssl", "ipsec-mb", "cryptodev" ("auto" for RV_ENGINE_AUTO). */
const char *rv_cipher_engine_name(enum rv_cipher_engine_id e);
/* Accepts "openssl", "ipsec-mb", "cryptodev" and "auto"; -1 on anything else. */
int rv_cipher_engine_parse(const char *name, enum rv_cipher_engine_id *out);
/* NULL when engine @e can be used here, else the reason it cannot
 * ("built without libipsec-mb", "the CPU has no AES-NI", ...). */
const char *rv_cipher_engine_absent(enum rv_cipher_engine_id e);
/* Engine of the contexts rv_cipher_ctx_new creates from now on (process
 * wide). RV_ENGINE_AUTO picks ipsec-mb when present, else openssl. Returns
 * 0, or -1 with the reason in @err when @e is absent (nothing changed).
 * Call at start-up, before any key is installed. */
int rv_cipher_engine_select(enum rv_cipher_engine_id e, char *err, size_t errlen);
/* The engine rv_cipher_ctx_new uses (openssl until one is selected). */
enum rv_cipher_engine_id rv_cipher_engine_current(void);

/* Name as OpenVPN spells it ("AES-256-GCM", "CHACHA20-POLY1305",
 * "AES-256-CBC", "none", "static"); parse returns -1 on unknown names. */
const char *rv_cipher_name(enum rv_cipher c);
int rv_cipher_parse(const char *name, enum rv_cipher *out);
bool rv_cipher_is_aead(enum rv_cipher c);

/* Allocate a context for cipher @c keyed with @k, for encryption (@encrypt
 * true) or decryption. Returns NULL on failure (bad suite, OpenSSL error).
 * Not for the packet path: call when a key is installed. */
struct rv_cipher_ctx *rv_cipher_ctx_new(enum rv_cipher c, const struct rv_key_dir *k, bool encrypt);
/* The same on engine @e (tests, benches); NULL also when @e is absent. */
struct rv_cipher_ctx *rv_cipher_ctx_new_on(enum rv_cipher_engine_id e, enum rv_cipher c,
					   const struct rv_key_dir *k, bool encrypt);
/* Engine a context runs on (CBC suites: always openssl). */
enum rv_cipher_engine_id rv_cipher_ctx_engine(const struct rv_cipher_ctx *ctx);
/* Wipe all key material and free. NULL is accepted. */
void rv_cipher_ctx_free(struct rv_cipher_ctx *ctx);
enum rv_cipher rv_cipher_ctx_suite(const struct rv_cipher_ctx *ctx);

/* The memory behind a context that the framing touches per packet: ours,
 * and for OpenSSL the EVP context and the provider's key state (for
 * ipsec-mb the key state is inside ours: evp and hot stay empty). For burst callers with many
 * keys, who keep it beside the context and prefetch it one step before the
 * context is used (rv_cipher_prefetch). Hints only: never dereferenced. */
struct rv_cipher_lines {
	const void *ctx, *evp, *hot;
	uint32_t evp_len, hot_len;
};
void rv_cipher_ctx_lines(const struct rv_cipher_ctx *ctx, struct rv_cipher_lines *out);

static inline void rv_cipher_prefetch_range(const void *p, uint32_t len)
{
	const char *c = p;
	for (uint32_t off = 0; off < len; off += 64)
		__builtin_prefetch(c + off);
	if (len)
		__builtin_prefetch(c + len - 1);
}

static inline void rv_cipher_prefetch(const struct rv_cipher_lines *l)
{
	rv_cipher_prefetch_range(l->ctx, 64);
	rv_cipher_prefetch_range(l->evp, l->evp_len);
	rv_cipher_prefetch_range(l->hot, l->hot_len);
}

#define RV_AEAD_TAG_LEN	   16
#define RV_AEAD_NONCE_LEN  12
#define RV_IMPLICIT_IV_LEN 8 /* AEAD: first bytes of the direction's hmac slice */
#define RV_CBC_IV_LEN	   16
#define RV_CBC_BLOCK	   16
#define RV_HMAC_LEN	   32 /* HMAC-SHA256 */

/* Primitives on a keyed context, used by the framing (and by the
 * known-answer tests with arbitrary nonces). All work in place, return 0 or
 * -1; aead_open returns -1 when the tag does not verify. */
int rv_cipher_aead_seal(struct rv_cipher_ctx *ctx, const uint8_t nonce[RV_AEAD_NONCE_LEN],
			const uint8_t *aad, size_t aad_len, uint8_t *buf, size_t len,
			uint8_t tag[RV_AEAD_TAG_LEN]);
int rv_cipher_aead_open(struct rv_cipher_ctx *ctx, const uint8_t nonce[RV_AEAD_NONCE_LEN],
			const uint8_t *aad, size_t aad_len, uint8_t *buf, size_t len,
			const uint8_t tag[RV_AEAD_TAG_LEN]);
/* CBC without padding over whole blocks (direction fixed by the context). */
int rv_cipher_cbc(struct rv_cipher_ctx *ctx, const uint8_t iv[RV_CBC_IV_LEN], uint8_t *buf,
		  size_t len);
/* HMAC-SHA256 with the context's HMAC key. */
int rv_cipher_hmac(struct rv_cipher_ctx *ctx, const uint8_t *data, size_t len,
		   uint8_t out[RV_HMAC_LEN]);
/* Next random CBC IV of an encrypting CBC context. */
int rv_cipher_next_iv(struct rv_cipher_ctx *ctx, uint8_t iv[RV_CBC_IV_LEN]);

#endif
