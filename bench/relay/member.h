/* The members' side of the relay harness: each session's key, the member
 * cipher contexts that seal what a member sends and open what it receives,
 * and the check of a relayed packet as its destination member sees it. */
#ifndef RV_RELAY_MEMBER_H
#define RV_RELAY_MEMBER_H

#include <stdint.h>

#include <rte_mbuf.h>

#include "cipher.h"

struct rh;

/* What a destination member makes of a packet the relay sent. */
enum rh_verdict {
	RH_OK,	       /* opens with the destination's key, inner packet intact */
	RH_NOT_MEMBER, /* outer frame not addressed to a member */
	RH_WRONG_PEER, /* peer-id in the header is not the addressed member's */
	RH_NO_DECRYPT, /* does not open with the destination member's key */
	RH_WRONG_DEST, /* inner destination is not the member it reached */
	RH_NOT_INTACT, /* inner packet differs from the one sent */
	RH_VERDICT_COUNT
};
const char *rh_verdict_name(enum rh_verdict v);

/* Session @i's key: the harness's key, or with cfg.per_session_keys one of
 * its own (derived from the harness's key and @i). */
void rh_member_key(const struct rh *h, uint32_t i, struct rv_key_material *out);
/* Member @i's contexts: seals what it sends (its tx direction), opens what
 * it receives (its rx direction). Cached; NULL on an OpenSSL error. */
struct rv_cipher_ctx *rh_member_enc(struct rh *h, uint32_t i);
struct rv_cipher_ctx *rh_member_dec(struct rh *h, uint32_t i);
/* Forget cached contexts (keys or sessions changed). */
void rh_member_flush(struct rh *h);
void rh_member_free(struct rh *h);
/* Open relayed packet @m (not consumed) as the member it is addressed to;
 * the inner packet must be the rh_packet() one of @payload bytes from the
 * session whose partner that member is. */
enum rh_verdict rh_member_check(struct rh *h, struct rte_mbuf *m, uint32_t payload);

#endif
