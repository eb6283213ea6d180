/* rv-bench-crypto: ns per packet and Gbit/s of libroomvpn's seal and open
 * for every suite, payloads of 64/512/1400 bytes, single and burst API,
 * next to a bare OpenSSL EVP loop doing the same cipher work per packet
 * (same per-packet IV setting, no framing): the ceiling. Prints a table
 * with the ratio framing/bare (throughput; 100% = as fast as bare).
 *
 * Method: POOL packets in a ~400 KiB working set; each timed pass seals (or
 * opens) every packet once; between passes the packets are restored
 * untimed. single, burst and bare passes alternate, and each reports its
 * fastest pass (the machine is shared and noisy).
 *
 * Checks (untimed, after every pass): each packet a seal pass produced opens
 * (with a context of its own) back to the payload it was given; each packet
 * an open pass produced is that payload; and per suite, size and API a
 * packet with one flipped ciphertext byte must fail to open (not for cipher
 * "none", which has no tag). Any mismatch is printed and the exit status is
 * 1. --inject-mismatch corrupts one sealed packet after the first seal pass,
 * so that a test can show that the checks fail.
 *
 * --engine NAME runs libroomvpn's contexts on that crypto engine; the
 * checking contexts and the bare loop stay on OpenSSL, so every check is
 * also the engine against OpenSSL (and "bare" is OpenSSL's ceiling, which an
 * engine may beat: ratios over 100%). */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dc_frame.h"
#include "inet.h"

#define POOL	256
#define BURST	32
#define SLOT	1600
#define N_SIZES 3

static const uint32_t sizes[N_SIZES] = {64, 512, 1400};
static int passes = 300;
static bool inject_mismatch; /* --inject-mismatch: corrupt one sealed packet once */
static unsigned mismatches;  /* checks failed: the exit status is 1 if any */

static uint8_t mem[POOL][SLOT];
static uint8_t wire[3][POOL][SLOT]; /* pristine sealed packets per mode, for open */
static uint32_t wire_len[3][POOL];
static struct rv_pkt pkt[POOL];

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Byte @j of packet @i's payload: differs between packets and sizes. */
static uint8_t pattern(int i, uint32_t j, uint32_t len)
{
	return (uint8_t)(i * 31 + j * 7 + len);
}

static void reset_payloads(uint32_t len)
{
	for (int i = 0; i < POOL; i++) {
		uint8_t *d = mem[i] + RV_DC_HEADROOM;
		for (uint32_t j = 0; j < len; j++)
			d[j] = pattern(i, j, len);
		pkt[i] = (struct rv_pkt){.data = d,
					 .len = len,
					 .headroom = RV_DC_HEADROOM,
					 .tailroom = SLOT - RV_DC_HEADROOM - len};
	}
}

/* Is @d (@got bytes) packet @i's payload of @len bytes? */
static bool is_payload(const uint8_t *d, uint32_t got, int i, uint32_t len)
{
	if (got != len)
		return false;
	for (uint32_t j = 0; j < len; j++)
		if (d[j] != pattern(i, j, len))
			return false;
	return true;
}

static void mismatch(enum rv_cipher s, uint32_t len, const char *what, int i)
{
	if (mismatches++ < 10)
		fprintf(stderr, "MISMATCH: %s %u B: %s (packet %d)\n", rv_cipher_name(s), len, what,
			i);
}

static void restore_wire(int m)
{
	for (int i = 0; i < POOL; i++) {
		memcpy(mem[i], wire[m][i], wire_len[m][i]);
		pkt[i] = (struct rv_pkt){
		    .data = mem[i], .len = wire_len[m][i], .tailroom = SLOT - wire_len[m][i]};
	}
}

/* ---- the bare EVP ceiling: same primitives, no framing ---- */

struct bare {
	EVP_CIPHER_CTX *c;
	EVP_MAC_CTX *mac;
	int aead;
	int pre; /* CBC: bytes before the payload inside the ciphertext */
};

static void bare_init(struct bare *b, enum rv_cipher s, const uint8_t *key, int enc)
{
	const char *alg = s == RV_CIPHER_AES_256_GCM	     ? "AES-256-GCM"
			  : s == RV_CIPHER_CHACHA20_POLY1305 ? "ChaCha20-Poly1305"
							     : "AES-256-CBC";
	EVP_CIPHER *ci = EVP_CIPHER_fetch(NULL, alg, NULL);
	memset(b, 0, sizeof(*b));
	b->aead = rv_cipher_is_aead(s);
	b->pre = s == RV_CIPHER_STATIC_CBC_HMAC ? 8 : 4;
	b->c = EVP_CIPHER_CTX_new();
	EVP_CipherInit_ex2(b->c, ci, key, NULL, enc, NULL);
	EVP_CIPHER_free(ci);
	if (!b->aead) {
		EVP_CIPHER_CTX_set_padding(b->c, 0);
		EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
		OSSL_PARAM p[] = {
		    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
		    OSSL_PARAM_construct_end()};
		b->mac = EVP_MAC_CTX_new(m);
		EVP_MAC_init(b->mac, key, 32, p);
		EVP_MAC_free(m);
	}
}

static void bare_free(struct bare *b)
{
	EVP_CIPHER_CTX_free(b->c);
	EVP_MAC_CTX_free(b->mac);
}

/* Per packet: IV set, then for AEAD the 8 AAD bytes in front of @buf. */
static void bare_start(struct bare *b, uint8_t iv[16], const uint8_t *buf, uint32_t i, int enc)
{
	int outl;

	memset(iv, 0, 16);
	memcpy(iv, &i, 4);
	EVP_CipherInit_ex2(b->c, NULL, NULL, iv, enc, NULL);
	if (b->aead)
		EVP_CipherUpdate(b->c, NULL, &outl, buf - 8, 8);
}

/* CBC: HMAC over IV + the @ct bytes of ciphertext starting at buf - pre. */
static void bare_mac(struct bare *b, const uint8_t iv[16], const uint8_t *buf, uint32_t ct,
		     uint8_t tag[32])
{
	size_t ml;

	EVP_MAC_init(b->mac, NULL, 0, NULL);
	EVP_MAC_update(b->mac, iv, 16);
	EVP_MAC_update(b->mac, buf - b->pre, ct);
	EVP_MAC_final(b->mac, tag, &ml, 32);
}

/* AEAD: IV, AAD, payload, tag. CBC: IV, CBC over prefix + payload +
 * padding, HMAC over IV + ciphertext. In place on @buf; the tag (16 or 32
 * bytes) to @tag. */
static void bare_seal(struct bare *b, uint8_t *buf, uint32_t len, uint32_t i, uint8_t tag[32])
{
	uint8_t iv[16];
	uint32_t ct = (len + (uint32_t)b->pre + 16) & ~15u;
	int outl;

	bare_start(b, iv, buf, i, 1);
	if (b->aead) {
		EVP_CipherUpdate(b->c, buf, &outl, buf, (int)len);
		EVP_CipherFinal_ex(b->c, buf + len, &outl);
		EVP_CIPHER_CTX_ctrl(b->c, EVP_CTRL_AEAD_GET_TAG, 16, tag);
		return;
	}
	EVP_CipherUpdate(b->c, buf - b->pre, &outl, buf - b->pre, (int)ct);
	bare_mac(b, iv, buf, ct, tag);
}

static int bare_open(struct bare *b, uint8_t *buf, uint32_t len, const uint8_t *tag_in, uint32_t i)
{
	uint8_t iv[16], tag[32];
	uint32_t ct = (len + (uint32_t)b->pre + 16) & ~15u;
	int outl;

	bare_start(b, iv, buf, i, 0);
	if (b->aead) {
		EVP_CipherUpdate(b->c, buf, &outl, buf, (int)len);
		EVP_CIPHER_CTX_ctrl(b->c, EVP_CTRL_AEAD_SET_TAG, 16, (void *)tag_in);
		return EVP_CipherFinal_ex(b->c, buf + len, &outl);
	}
	bare_mac(b, iv, buf, ct, tag);
	int ok = CRYPTO_memcmp(tag, tag_in, 32) == 0;
	EVP_CipherUpdate(b->c, buf - b->pre, &outl, buf - b->pre, (int)ct);
	return ok;
}

/* ---- measurements ---- */

enum mode { SINGLE, BURSTED, BARE };
static const char *const mode_names[] = {"single", "burst", "bare"};

struct ctxs {
	struct rv_cipher_ctx *enc, *dec, *check; /* check: opens what seal passes made */
	struct bare benc, bdec, bcheck;
	uint8_t tags[POOL][32];	     /* bare: tags of the pristine packets (open passes) */
	uint8_t seal_tags[POOL][32]; /* bare: tags of the last seal pass */
	uint32_t seal_pid[POOL];     /* packet-ids of the last seal pass */
	enum rv_drop seal_res[POOL];
};

static struct rv_cipher_ctx *cv_enc[BURST], *cv_dec[BURST];
static uint8_t kid[BURST];
static uint32_t peer[BURST], pidv[BURST];
static uint32_t next_pid = 1;

/* One timed pass of seal over the whole pool in mode @m; returns ns. */
static double seal_pass(struct ctxs *c, enum mode m, uint32_t len)
{
	struct rv_pkt *pv[POOL];

	reset_payloads(len);
	for (int i = 0; i < POOL; i++)
		pv[i] = &pkt[i];
	double t0 = now_ns();
	if (m == SINGLE) {
		for (int i = 0; i < POOL; i++)
			c->seal_res[i] = rv_dc_seal(c->enc, 0, 0x123, next_pid++, 1, &pkt[i]);
	} else if (m == BURSTED) {
		for (int i = 0; i < POOL; i += BURST) {
			for (int j = 0; j < BURST; j++)
				pidv[j] = next_pid++;
			rv_dc_seal_burst(cv_enc, kid, peer, pidv, 1, pv + i, c->seal_res + i,
					 BURST);
		}
	} else {
		for (int i = 0; i < POOL; i++) {
			c->seal_pid[i] = next_pid++;
			bare_seal(&c->benc, pkt[i].data, len, c->seal_pid[i], c->seal_tags[i]);
		}
	}
	return now_ns() - t0;
}

/* Open a copy of sealed packet @i (framing: pkt[i]; bare: mem[i]) with the
 * check context, after flipping ciphertext byte @flip (-1: none). */
static bool check_opens(struct ctxs *c, enum mode m, int i, uint32_t len, int flip)
{
	static uint8_t copy[SLOT];
	uint32_t pid;

	if (m == BARE) {
		memcpy(copy, mem[i], SLOT);
		uint8_t *d = copy + RV_DC_HEADROOM;
		if (flip >= 0)
			d[flip] ^= 0x01;
		return bare_open(&c->bcheck, d, len, c->seal_tags[i], c->seal_pid[i]) &&
		       is_payload(d, len, i, len);
	}
	memcpy(copy, pkt[i].data, pkt[i].len);
	if (flip >= 0)
		copy[flip] ^= 0x01;
	struct rv_pkt p = {.data = copy, .len = pkt[i].len, .tailroom = SLOT - pkt[i].len};
	return c->seal_res[i] == RV_OK && rv_dc_open(c->check, &p, &pid) == RV_OK &&
	       is_payload(p.data, p.len, i, len);
}

/* After a seal pass (untimed): every packet opens to its payload, and one
 * with a flipped ciphertext byte does not. */
static void check_seal(struct ctxs *c, enum rv_cipher s, enum mode m, uint32_t len)
{
	if (inject_mismatch) { /* the test of the checks: a broken seal */
		inject_mismatch = false;
		if (m == BARE)
			mem[1][RV_DC_HEADROOM] ^= 0x01;
		else
			pkt[1].data[pkt[1].len - 1] ^= 0x01;
	}
	for (int i = 0; i < POOL; i++)
		if (!check_opens(c, m, i, len, -1))
			mismatch(s, len,
				 m == BARE ? "bare seal does not open to its input"
					   : "seal does not open to its input",
				 i);
	/* the last byte of the packet is ciphertext in every suite with a tag */
	int flip = m == BARE ? (int)len - 1 : (int)pkt[0].len - 1;
	if (s != RV_CIPHER_NONE && check_opens(c, m, 0, len, flip))
		mismatch(s, len, "a packet with a flipped ciphertext byte opened", 0);
}

static void prepare_wire(struct ctxs *c, uint32_t len, enum mode m)
{
	reset_payloads(len);
	for (int i = 0; i < POOL; i++) {
		if (m == BARE) {
			/* bare: the payload region, sealed in place, tag kept aside */
			bare_seal(&c->benc, pkt[i].data, len, (uint32_t)i + 1, c->tags[i]);
			wire_len[m][i] = SLOT;
			memcpy(wire[m][i], mem[i], SLOT);
			continue;
		}
		if (rv_dc_seal(c->enc, 0, 0x123, (uint32_t)i + 1, 1, &pkt[i]) != RV_OK) {
			fprintf(stderr, "seal failed\n");
			exit(1);
		}
		wire_len[m][i] = pkt[i].len;
		memcpy(wire[m][i], pkt[i].data, pkt[i].len);
	}
}

/* One timed pass of open; the pool is restored (untimed) first, and every
 * packet checked (untimed) after. */
static double open_pass(struct ctxs *c, enum rv_cipher s, enum mode m, uint32_t len)
{
	struct rv_pkt *pv[POOL];
	enum rv_drop res[POOL];
	int ok[POOL];
	uint32_t p;

	restore_wire(m);
	for (int i = 0; i < POOL; i++)
		pv[i] = &pkt[i];
	double t0 = now_ns();
	if (m == SINGLE) {
		for (int i = 0; i < POOL; i++)
			res[i] = rv_dc_open(c->dec, &pkt[i], &p);
	} else if (m == BURSTED) {
		for (int i = 0; i < POOL; i += BURST)
			rv_dc_open_burst(cv_dec, pv + i, pidv, res + i, BURST);
	} else {
		for (int i = 0; i < POOL; i++)
			ok[i] = bare_open(&c->bdec, mem[i] + RV_DC_HEADROOM, len, c->tags[i],
					  (uint32_t)i + 1);
	}
	double t = now_ns() - t0;
	for (int i = 0; i < POOL; i++) {
		bool good = m == BARE
				? ok[i] && is_payload(mem[i] + RV_DC_HEADROOM, len, i, len)
				: res[i] == RV_OK && is_payload(pkt[i].data, pkt[i].len, i, len);
		if (!good)
			mismatch(s, len,
				 m == BARE ? "bare open failed or differs from the input"
					   : "open failed or differs from the input",
				 i);
	}
	return t;
}

/* Interleave the modes pass by pass so that all see the same machine
 * load; keep each mode's fastest pass (the least disturbed). */
static void measure(struct ctxs *c, enum rv_cipher s, int op, uint32_t len, int n_modes,
		    double out[3])
{
	for (int i = 0; i < BURST; i++) {
		cv_enc[i] = c->enc;
		cv_dec[i] = c->dec;
		peer[i] = 0x123;
	}
	for (int m = 0; m < 3; m++) {
		out[m] = 1e30;
		if (op == 1 && m < n_modes)
			prepare_wire(c, len, (enum mode)m);
	}
	for (int pass = 0; pass < passes; pass++) {
		for (int m = 0; m < n_modes; m++) {
			double t;
			if (op == 0) {
				t = seal_pass(c, (enum mode)m, len);
				check_seal(c, s, (enum mode)m, len);
			} else {
				t = open_pass(c, s, (enum mode)m, len);
			}
			if (t / POOL < out[m])
				out[m] = t / POOL;
		}
	}
}

static double gbps(double ns, uint32_t len)
{
	return len * 8.0 / ns;
}

int main(int argc, char **argv)
{
	const enum rv_cipher suites[] = {RV_CIPHER_AES_256_GCM, RV_CIPHER_CHACHA20_POLY1305,
					 RV_CIPHER_AES_256_CBC_HMAC, RV_CIPHER_STATIC_CBC_HMAC,
					 RV_CIPHER_NONE};
	double res[5][N_SIZES][2][3];
	struct rv_key_dir k;
	enum rv_cipher_engine_id engine = RV_ENGINE_OPENSSL;
	char err[200];

	for (int a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--quick") == 0) {
			passes = 20;
		} else if (strcmp(argv[a], "--inject-mismatch") == 0) {
			inject_mismatch = true;
		} else if (strcmp(argv[a], "--engine") == 0 && a + 1 < argc &&
			   rv_cipher_engine_parse(argv[a + 1], &engine) == 0) {
			a++;
		} else {
			fprintf(stderr,
				"usage: rv-bench-crypto [--quick] [--inject-mismatch] [--engine "
				"openssl|ipsec-mb|auto]\n"
				"  every seal and open is checked (untimed); exit status 1 on "
				"any mismatch\n"
				"  --inject-mismatch  corrupt one sealed packet once (tests the "
				"checks: must exit 1)\n");
			return 2;
		}
	}
	if (rv_cipher_engine_select(engine, err, sizeof(err)) < 0) {
		fprintf(stderr, "rv-bench-crypto: %s\n", err);
		return 77; /* tests skip on it */
	}
	for (int i = 0; i < 64; i++)
		k.cipher[i] = (uint8_t)i, k.hmac[i] = (uint8_t)(64 + i);
	printf("crypto engine %s (checks and bare: openssl)\n",
	       rv_cipher_engine_name(rv_cipher_engine_current()));
	printf("%-18s %5s %-4s %-6s %10s %8s\n", "suite", "bytes", "op", "api", "ns/pkt", "Gbit/s");
	for (int s = 0; s < 5; s++) {
		static struct ctxs c;
		c.enc = rv_cipher_ctx_new(suites[s], &k, true);
		c.dec = rv_cipher_ctx_new(suites[s], &k, false);
		c.check = rv_cipher_ctx_new_on(RV_ENGINE_OPENSSL, suites[s], &k, false);
		int has_bare = suites[s] != RV_CIPHER_NONE;
		if (has_bare) {
			bare_init(&c.benc, suites[s], k.cipher, 1);
			bare_init(&c.bdec, suites[s], k.cipher, 0);
			bare_init(&c.bcheck, suites[s], k.cipher, 0);
		}
		for (int z = 0; z < N_SIZES; z++) {
			for (int op = 0; op < 2; op++) {
				double *r = res[s][z][op];
				measure(&c, suites[s], op, sizes[z], has_bare ? 3 : 2, r);
				for (int m = 0; m < (has_bare ? 3 : 2); m++)
					printf("%-18s %5u %-4s %-6s %10.1f %8.2f\n",
					       rv_cipher_name(suites[s]), sizes[z],
					       op ? "open" : "seal", mode_names[m], r[m],
					       gbps(r[m], sizes[z]));
				fflush(stdout);
			}
		}
		if (has_bare) {
			bare_free(&c.benc);
			bare_free(&c.bdec);
			bare_free(&c.bcheck);
		}
		rv_cipher_ctx_free(c.enc);
		rv_cipher_ctx_free(c.dec);
		rv_cipher_ctx_free(c.check);
	}
	printf("\nratio framing/bare (bare ns / framing ns; 100%% = ceiling)\n");
	printf("%-18s %5s %12s %12s %12s %12s\n", "suite", "bytes", "seal single", "seal burst",
	       "open single", "open burst");
	for (int s = 0; s < 4; s++)
		for (int z = 0; z < N_SIZES; z++) {
			double(*r)[3] = res[s][z];
			printf("%-18s %5u %11.1f%% %11.1f%% %11.1f%% %11.1f%%\n",
			       rv_cipher_name(suites[s]), sizes[z], 100 * r[0][BARE] / r[0][SINGLE],
			       100 * r[0][BARE] / r[0][BURSTED], 100 * r[1][BARE] / r[1][SINGLE],
			       100 * r[1][BARE] / r[1][BURSTED]);
		}
	if (mismatches) {
		fprintf(stderr,
			"rv-bench-crypto: %u check(s) failed: the figures above are not "
			"of working crypto\n",
			mismatches);
		return 1;
	}
	printf("\nchecks: every seal opened to its input, every open gave the input back, "
	       "every tampered packet was refused\n");
	return 0;
}
