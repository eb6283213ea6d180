/* Token generation, hashing and token records in the store. */
#include "tokens.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int rv_token_new(const char *prefix, char out[RV_TOKEN_STR])
{
	uint8_t raw[33] = {0};
	size_t n = strlen(prefix);

	if (n > 8 || RAND_bytes(raw, 32) != 1)
		return -1;
	memcpy(out, prefix, n);
	/* 32 bytes -> 43 chars (the last group of 3 holds 2 real bytes) */
	for (size_t i = 0; i < 33; i += 3) {
		uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
		for (int k = 0; k < 4 && n < RV_TOKEN_STR - 1; k++)
			out[n++] = b64url[(v >> (18 - 6 * k)) & 63];
	}
	n -= 1; /* 44 chars were written for 33 bytes; the 44th encodes padding only */
	out[n] = '\0';
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}

void rv_token_hash(const char *token, uint8_t hash[32])
{
	SHA256((const unsigned char *)token, strlen(token), hash);
}

size_t rv_token_key(const uint8_t hash[32], char key[RV_TOKEN_KEY])
{
	memcpy(key, "t/", 2);
	for (int i = 0; i < 32; i++)
		snprintf(key + 2 + 2 * i, 3, "%02x", hash[i]);
	return 66;
}

int rv_store_put_msg(struct rv_store_batch *b, const char *key, const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(n ? n : 1);
	if (!buf)
		return -1;
	protobuf_c_message_pack(m, buf);
	rv_store_batch_put(b, key, strlen(key), buf, n);
	free(buf);
	return 0;
}

int rv_store_get_msg(struct rv_store *s, const char *key, const ProtobufCMessageDescriptor *d,
		     ProtobufCMessage **out)
{
	void *val = NULL;
	size_t vlen = 0;
	int rc = rv_store_get(s, key, strlen(key), &val, &vlen);
	if (rc != 0)
		return rc;
	*out = protobuf_c_message_unpack(d, NULL, vlen, val);
	free(val);
	return *out ? 0 : -1;
}

int rv_token_lookup(struct rv_store *s, const char *token, Roomvpn__V1__TokenRecord **rec)
{
	uint8_t h[32];
	char key[RV_TOKEN_KEY];

	rv_token_hash(token, h);
	rv_token_key(h, key);
	return rv_store_get_msg(s, key, &roomvpn__v1__token_record__descriptor,
				(ProtobufCMessage **)rec);
}

void rv_token_rec_free(Roomvpn__V1__TokenRecord *rec)
{
	if (rec)
		roomvpn__v1__token_record__free_unpacked(rec, NULL);
}

void rv_token_batch_put(struct rv_store_batch *b, const uint8_t hash[32],
			const Roomvpn__V1__TokenRecord *rec)
{
	char key[RV_TOKEN_KEY];
	rv_token_key(hash, key);
	rv_store_put_msg(b, key, &rec->base);
}

void rv_token_batch_delete(struct rv_store_batch *b, const uint8_t hash[32])
{
	char key[RV_TOKEN_KEY];
	size_t n = rv_token_key(hash, key);
	rv_store_batch_delete(b, key, n);
}

void rv_id_hex(uint64_t id, char out[17])
{
	snprintf(out, 17, "%016llx", (unsigned long long)id);
}

int rv_id_parse(const char *hex, size_t len, uint64_t *id)
{
	uint64_t v = 0;
	if (len != 16)
		return -1;
	for (size_t i = 0; i < 16; i++) {
		char c = hex[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (d < 0)
			return -1;
		v = v << 4 | (uint64_t)d;
	}
	*id = v;
	return 0;
}
