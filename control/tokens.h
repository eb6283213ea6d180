/* Session and device tokens: 256 random bits, base64url with a kind prefix
 * ("rvs_" session, "rvd_" device). Only their SHA-256 is stored, under
 * t/<hex> (docs/store.md). */
#ifndef RV_TOKENS_H
#define RV_TOKENS_H

#include <stddef.h>
#include <stdint.h>

#include "roomvpn/v1/auth_store.pb-c.h"
#include "store.h"

#define RV_TOKEN_STR 64 /* prefix + 43 base64url chars + NUL fits */
#define RV_TOKEN_KEY 72 /* "t/" + 64 hex + NUL */

/* A fresh token "<prefix><base64url(32 random bytes)>". 0 or -1. */
int rv_token_new(const char *prefix, char out[RV_TOKEN_STR]);
void rv_token_hash(const char *token, uint8_t hash[32]);
/* Store key of a token hash: "t/<64 hex>". Returns the key length. */
size_t rv_token_key(const uint8_t hash[32], char key[RV_TOKEN_KEY]);

/* Look up a token: 0 and *rec (free with rv_token_rec_free), 1 unknown, -1 error. */
int rv_token_lookup(struct rv_store *s, const char *token, Roomvpn__V1__TokenRecord **rec);
void rv_token_rec_free(Roomvpn__V1__TokenRecord *rec);
/* Add "t/<hash> -> rec" to a batch. */
void rv_token_batch_put(struct rv_store_batch *b, const uint8_t hash[32],
			const Roomvpn__V1__TokenRecord *rec);
void rv_token_batch_delete(struct rv_store_batch *b, const uint8_t hash[32]);

/* Store helpers shared by the control modules: a protobuf-c message as a
 * store value, and 16-hex-digit ids. */
int rv_store_put_msg(struct rv_store_batch *b, const char *key, const ProtobufCMessage *m);
/* 0 and the unpacked message, 1 absent, -1 error (or undecodable value). */
int rv_store_get_msg(struct rv_store *s, const char *key, const ProtobufCMessageDescriptor *d,
		     ProtobufCMessage **out);
void rv_id_hex(uint64_t id, char out[17]);
int rv_id_parse(const char *hex, size_t len, uint64_t *id);

#endif
