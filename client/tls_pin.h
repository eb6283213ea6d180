/* Certificate pinning by SHA-256 fingerprint, shared by the TCP fallback and
 * the gRPC channel set-up. Fingerprints are written as 64 hex digits, with or
 * without ':' between bytes (as `openssl x509 -fingerprint -sha256` prints).
 *
 * A login pins a set: the fingerprint given at login, plus the next ones the
 * server announced over a connection authenticated by the set (certificate
 * rotation, docs/operations.md). Any member is accepted. */
#ifndef RV_CLIENT_TLS_PIN_H
#define RV_CLIENT_TLS_PIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#define RV_FP_LEN 32
#define RV_FP_STR 96 /* "AB:CD:...": 32*3 bytes with the final NUL */

/* Returns 0, or -1 if @s is not a SHA-256 fingerprint. An optional
 * "sha256:" or "SHA256 Fingerprint=" prefix is accepted. */
int rv_fp_parse(const char *s, uint8_t out[RV_FP_LEN]);
void rv_fp_format(const uint8_t fp[RV_FP_LEN], char out[RV_FP_STR]);
int rv_fp_of_cert(X509 *cert, uint8_t out[RV_FP_LEN]);
/* SHA-256 of the first certificate in PEM text @pem. Returns 0 or -1. */
int rv_fp_of_pem(const char *pem, uint8_t out[RV_FP_LEN]);
bool rv_fp_equal(const uint8_t a[RV_FP_LEN], const uint8_t b[RV_FP_LEN]);

#define RV_PINS_MAX 4

struct rv_pinset {
	unsigned n;
	uint8_t fp[RV_PINS_MAX][RV_FP_LEN]; /* oldest first */
};

bool rv_pinset_has(const struct rv_pinset *s, const uint8_t fp[RV_FP_LEN]);
/* Add @fp unless present; a full set drops its oldest member. Returns true
 * if the set changed. */
bool rv_pinset_add(struct rv_pinset *s, const uint8_t fp[RV_FP_LEN]);

#endif
