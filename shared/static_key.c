/* OpenVPN static key files (--secret): parse, format, key-direction. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "static_key.h"

#define BEGIN_LINE "-----BEGIN OpenVPN Static key V1-----"
#define END_LINE   "-----END OpenVPN Static key V1-----"
#define KEY_BYTES  256
#define MAX_FILE   (64 * 1024)

struct parser {
	uint8_t key[KEY_BYTES];
	unsigned n;    /* nibbles read */
	unsigned line; /* 1-based */
	int state;     /* 0 before BEGIN, 1 inside, 2 after END */
	char *err;
	size_t errlen;
};

static int fail(struct parser *ps, const char *msg)
{
	snprintf(ps->err, ps->errlen, "line %u: %s", ps->line, msg);
	return -1;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Trim @s/@len to the line without surrounding whitespace. */
static void trim(const char **s, size_t *len)
{
	while (*len && (**s == ' ' || **s == '\t'))
		(*s)++, (*len)--;
	while (*len && strchr(" \t\r", (*s)[*len - 1]))
		(*len)--;
}

static bool line_is(const char *s, size_t len, const char *want)
{
	return len == strlen(want) && memcmp(s, want, len) == 0;
}

static int key_line(struct parser *ps, const char *s, size_t len)
{
	char msg[96];

	if (line_is(s, len, END_LINE)) {
		if (ps->n % 2 || ps->n / 2 != KEY_BYTES) {
			snprintf(msg, sizeof(msg), "key has %u%s bytes, expected %d", ps->n / 2,
				 ps->n % 2 ? ".5" : "", KEY_BYTES);
			return fail(ps, msg);
		}
		ps->state = 2;
		return 0;
	}
	for (size_t i = 0; i < len; i++) {
		int v = hexval(s[i]);
		if (s[i] == ' ' || s[i] == '\t')
			continue;
		if (v < 0) {
			snprintf(msg, sizeof(msg), "bad hex character '%c' in key (column %zu)",
				 (s[i] >= 32 && s[i] < 127) ? s[i] : '?', i + 1);
			return fail(ps, msg);
		}
		if (ps->n / 2 >= KEY_BYTES) {
			snprintf(msg, sizeof(msg), "key longer than %d bytes", KEY_BYTES);
			return fail(ps, msg);
		}
		ps->key[ps->n / 2] = (uint8_t)(ps->n % 2 ? ps->key[ps->n / 2] | v : v << 4);
		ps->n++;
	}
	return 0;
}

static int parse_line(struct parser *ps, const char *s, size_t len)
{
	trim(&s, &len);
	if (ps->state == 1)
		return key_line(ps, s, len);
	if (ps->state == 2 || len == 0 || s[0] == '#')
		return 0;
	if (line_is(s, len, BEGIN_LINE)) {
		ps->state = 1;
		return 0;
	}
	return fail(ps, "unexpected text before " BEGIN_LINE);
}

static void copy_out(const uint8_t *b, struct rv_key_material *out)
{
	memcpy(out->dir[0].cipher, b, 64);
	memcpy(out->dir[0].hmac, b + 64, 64);
	memcpy(out->dir[1].cipher, b + 128, 64);
	memcpy(out->dir[1].hmac, b + 192, 64);
}

int rv_static_key_parse(const char *text, size_t len, struct rv_key_material *out, char *err,
			size_t errlen)
{
	struct parser ps = {.err = err, .errlen = errlen};
	const char *p = text, *end = text + len;
	int rc = 0;

	while (p < end && rc == 0 && ps.state != 2) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		ps.line++;
		rc = parse_line(&ps, p, (size_t)(le - p));
		p = nl ? nl + 1 : end;
	}
	if (rc == 0 && ps.state == 0)
		rc = fail(&ps, "missing " BEGIN_LINE);
	else if (rc == 0 && ps.state == 1)
		rc = fail(&ps, "missing " END_LINE);
	if (rc == 0)
		copy_out(ps.key, out);
	OPENSSL_cleanse(ps.key, sizeof(ps.key));
	return rc;
}

int rv_static_key_load(const char *path, struct rv_key_material *out, char *err, size_t errlen)
{
	char buf[MAX_FILE], msg[256];
	FILE *f = fopen(path, "r");
	size_t n;
	int rc;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	n = fread(buf, 1, sizeof(buf), f);
	rc = ferror(f) ? -1 : 0;
	fclose(f);
	if (rc < 0 || n == sizeof(buf)) {
		snprintf(err, errlen, "%s: %s", path, rc < 0 ? "read error" : "file too large");
		OPENSSL_cleanse(buf, sizeof(buf));
		return -1;
	}
	rc = rv_static_key_parse(buf, n, out, msg, sizeof(msg));
	if (rc < 0)
		snprintf(err, errlen, "%s: %s", path, msg);
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

int rv_static_key_format(const struct rv_key_material *k, char *buf, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *slices[4] = {k->dir[0].cipher, k->dir[0].hmac, k->dir[1].cipher,
				    k->dir[1].hmac};
	size_t need = strlen("#\n# 2048 bit OpenVPN static key\n#\n") + sizeof(BEGIN_LINE) +
		      KEY_BYTES * 2 + KEY_BYTES / 16 + sizeof(END_LINE) + 1;
	size_t pos;

	if (cap < need)
		return -1;
	pos = (size_t)sprintf(buf, "#\n# 2048 bit OpenVPN static key\n#\n%s\n", BEGIN_LINE);
	for (int i = 0; i < KEY_BYTES; i++) {
		uint8_t b = slices[i / 64][i % 64];
		buf[pos++] = hex[b >> 4];
		buf[pos++] = hex[b & 15];
		if (i % 16 == 15)
			buf[pos++] = '\n';
	}
	pos += (size_t)sprintf(buf + pos, "%s\n", END_LINE);
	return (int)pos;
}

void rv_static_key_dirs(const struct rv_key_material *k, int direction, struct rv_key_dir *tx,
			struct rv_key_dir *rx)
{
	int out = direction == 1 ? 1 : 0;
	int in = direction == 0 ? 1 : 0;

	*tx = k->dir[out];
	*rx = k->dir[in];
}
