/* Tunnel key derivation: X25519 (OpenSSL EVP_PKEY) and HKDF-SHA256 salted
 * with the room key, expanded into OpenVPN's 256-byte key layout. */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "kdf.h"

#define KDF_LABEL   "roomvpn dc v1"
#define KDF_OUT_LEN 256

int rv_x25519_generate(struct rv_x25519 *kp)
{
	EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	size_t priv_len = RV_X25519_LEN, pub_len = RV_X25519_LEN;
	int rc = -1;

	if (!pk)
		return -1;
	if (EVP_PKEY_get_raw_private_key(pk, kp->priv, &priv_len) == 1 &&
	    EVP_PKEY_get_raw_public_key(pk, kp->pub, &pub_len) == 1 && priv_len == RV_X25519_LEN &&
	    pub_len == RV_X25519_LEN)
		rc = 0;
	EVP_PKEY_free(pk);
	if (rc < 0)
		rv_x25519_wipe(kp);
	return rc;
}

/* The secret of @self with @peer_pub; 0, or -1 (a low-order peer key gives
 * an all-zero secret: refused). */
static int derive(EVP_PKEY *self, const uint8_t peer_pub[RV_X25519_LEN],
		  uint8_t shared[RV_X25519_LEN])
{
	static const uint8_t zero[RV_X25519_LEN];
	EVP_PKEY *peer =
	    EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer_pub, RV_X25519_LEN);
	EVP_PKEY_CTX *ctx = peer ? EVP_PKEY_CTX_new_from_pkey(NULL, self, NULL) : NULL;
	size_t len = RV_X25519_LEN;
	int rc = -1;

	if (ctx && EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer(ctx, peer) == 1 &&
	    EVP_PKEY_derive(ctx, shared, &len) == 1 && len == RV_X25519_LEN)
		rc = CRYPTO_memcmp(shared, zero, RV_X25519_LEN) ? 0 : -1;
	if (rc < 0)
		OPENSSL_cleanse(shared, RV_X25519_LEN);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(peer);
	return rc;
}

int rv_x25519_shared(const struct rv_x25519 *kp, const uint8_t peer_pub[RV_X25519_LEN],
		     uint8_t shared[RV_X25519_LEN])
{
	/* (OpenSSL computes the public key from the private one here: a
	 * second scalar multiplication, which rv_x25519_answer saves) */
	EVP_PKEY *self =
	    EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, kp->priv, RV_X25519_LEN);
	int rc = self ? derive(self, peer_pub, shared) : -1;

	if (!self)
		OPENSSL_cleanse(shared, RV_X25519_LEN);
	EVP_PKEY_free(self);
	return rc;
}

int rv_x25519_answer(const uint8_t peer_pub[RV_X25519_LEN], uint8_t pub[RV_X25519_LEN],
		     uint8_t shared[RV_X25519_LEN])
{
	EVP_PKEY *self = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	size_t pub_len = RV_X25519_LEN;
	int rc = -2;

	if (self && EVP_PKEY_get_raw_public_key(self, pub, &pub_len) == 1 &&
	    pub_len == RV_X25519_LEN)
		rc = derive(self, peer_pub, shared);
	else
		OPENSSL_cleanse(shared, RV_X25519_LEN);
	EVP_PKEY_free(self);
	return rc;
}

void rv_x25519_wipe(struct rv_x25519 *kp)
{
	OPENSSL_cleanse(kp, sizeof(*kp));
}

static int hkdf(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt, size_t salt_len,
		const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[5], *p = params;
	int rc = -1;

	if (!ctx)
		goto out;
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len);
	if (salt_len)
		*p++ =
		    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len);
	*p = OSSL_PARAM_construct_end();
	rc = EVP_KDF_derive(ctx, out, out_len, params) == 1 ? 0 : -1;
out:
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return rc;
}

int rv_kdf_derive(const uint8_t shared[RV_X25519_LEN], const uint8_t *room_key, size_t room_key_len,
		  uint8_t key_id, const uint8_t client_pub[RV_X25519_LEN],
		  const uint8_t server_pub[RV_X25519_LEN], struct rv_key_material *out)
{
	uint8_t info[sizeof(KDF_LABEL) - 1 + 1 + 2 * RV_X25519_LEN];
	uint8_t okm[KDF_OUT_LEN];
	size_t n = sizeof(KDF_LABEL) - 1;
	int rc;

	if (key_id > 7 || (room_key_len && !room_key))
		return -1;
	memcpy(info, KDF_LABEL, n);
	info[n++] = key_id;
	memcpy(info + n, client_pub, RV_X25519_LEN);
	memcpy(info + n + RV_X25519_LEN, server_pub, RV_X25519_LEN);
	rc = hkdf(shared, RV_X25519_LEN, room_key, room_key_len, info, sizeof(info), okm,
		  sizeof(okm));
	if (rc == 0) {
		/* OpenVPN layout: key0.cipher, key0.hmac, key1.cipher, key1.hmac */
		memcpy(out->dir[0].cipher, okm, 64);
		memcpy(out->dir[0].hmac, okm + 64, 64);
		memcpy(out->dir[1].cipher, okm + 128, 64);
		memcpy(out->dir[1].hmac, okm + 192, 64);
	}
	OPENSSL_cleanse(okm, sizeof(okm));
	return rc;
}
