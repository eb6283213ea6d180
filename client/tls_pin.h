/* Certificate pinning by SHA-256 fingerprint, shared by the TCP fallback and
 * the gRPC channel set-up. Fingerprints are written as 64 hex digits, with or
 * without ':' between bytes (as `openssl x509 -fingerprint -sha256` prints). */
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

#endif
