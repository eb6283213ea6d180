#include "tls_pin.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int rv_fp_parse(const char *s, uint8_t out[RV_FP_LEN])
{
	const char *eq = strchr(s, '=');
	size_t n = 0;

	if (strncasecmp(s, "sha256:", 7) == 0)
		s += 7;
	else if (eq)
		s = eq + 1;
	while (*s) {
		int hi, lo;
		if (*s == ':' || *s == ' ') {
			s++;
			continue;
		}
		hi = hexval((unsigned char)s[0]);
		lo = s[1] ? hexval((unsigned char)s[1]) : -1;
		if (hi < 0 || lo < 0 || n == RV_FP_LEN)
			return -1;
		out[n++] = (uint8_t)(hi << 4 | lo);
		s += 2;
	}
	return n == RV_FP_LEN ? 0 : -1;
}

void rv_fp_format(const uint8_t fp[RV_FP_LEN], char out[RV_FP_STR])
{
	static const char hex[] = "0123456789ABCDEF";

	for (int i = 0; i < RV_FP_LEN; i++) {
		out[i * 3] = hex[fp[i] >> 4];
		out[i * 3 + 1] = hex[fp[i] & 15];
		out[i * 3 + 2] = i + 1 < RV_FP_LEN ? ':' : '\0';
	}
}

int rv_fp_of_cert(X509 *cert, uint8_t out[RV_FP_LEN])
{
	unsigned len = 0;

	if (!cert || X509_digest(cert, EVP_sha256(), out, &len) != 1 || len != RV_FP_LEN)
		return -1;
	return 0;
}

int rv_fp_of_pem(const char *pem, uint8_t out[RV_FP_LEN])
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	int rc = rv_fp_of_cert(cert, out);

	X509_free(cert);
	BIO_free(bio);
	return rc;
}

bool rv_fp_equal(const uint8_t a[RV_FP_LEN], const uint8_t b[RV_FP_LEN])
{
	return CRYPTO_memcmp(a, b, RV_FP_LEN) == 0;
}

bool rv_pinset_has(const struct rv_pinset *s, const uint8_t fp[RV_FP_LEN])
{
	for (unsigned i = 0; i < s->n; i++)
		if (rv_fp_equal(s->fp[i], fp))
			return true;
	return false;
}

bool rv_pinset_add(struct rv_pinset *s, const uint8_t fp[RV_FP_LEN])
{
	if (rv_pinset_has(s, fp))
		return false;
	if (s->n == RV_PINS_MAX) {
		memmove(s->fp[0], s->fp[1], (RV_PINS_MAX - 1) * sizeof(s->fp[0]));
		s->n--;
	}
	memcpy(s->fp[s->n++], fp, RV_FP_LEN);
	return true;
}
