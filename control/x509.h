/* Certificates the control plane makes itself (tls.c: the self-signed
 * server certificate; dp_ca.c: the fleet CA and what it signs). */
#ifndef RV_X509_H
#define RV_X509_H

#include <stddef.h>
#include <sys/types.h>

#include <openssl/x509.h>

/* A new certificate for @pk: random serial, v3, valid from an hour ago for
 * @days, subject CN=@cn, issuer @issuer's subject (NULL: self-issued).
 * Extensions and the signature are the caller's. NULL when out of memory. */
X509 *rv_x509_new(EVP_PKEY *pk, const char *cn, long days, X509 *issuer);
/* Add extension @nid = @value (OpenSSL config syntax); @issuer NULL: @x. */
int rv_x509_ext(X509 *x, X509 *issuer, int nid, const char *value);
/* Append "DNS:name" / "IP:addr" entries for the comma-separated @names to
 * the subjectAltName list in @out (which may already hold some). */
void rv_x509_san_append(const char *names, char *out, size_t outlen);
/* Write @x (or, when NULL, the private key @pk) as PEM to @path with @mode
 * whatever the umask: a temporary file, fsync, rename. 0 or -1. */
int rv_x509_write_pem(const char *path, mode_t mode, X509 *x, EVP_PKEY *pk);

#endif
