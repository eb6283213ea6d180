/* The cryptodev engine (dataplane/engine_cryptodev.c) on DPDK's software
 * PMD crypto_aesni_gcm (a vdev, --no-huge, --no-pci):
 *   cdev_test kat    every known answer of tests/unit/test_cipher.c with
 *                    the engine selected (that file's main, renamed): the
 *                    engine's synchronous path, and the engine against
 *                    OpenSSL at every length 0..2,100 both ways;
 *   cdev_test burst  the relay's burst seam (rv_cdev_seal_burst /
 *                    rv_cdev_open_burst: enqueue, dequeue) against
 *                    OpenSSL's framing (rv_dc_seal / rv_dc_open) at every
 *                    length 0..2,100 both ways, byte for byte; a tampered
 *                    tag or ciphertext comes back as RV_DROP_AUTH; contexts
 *                    not on the device (ChaCha20-Poly1305 on OpenSSL, CBC,
 *                    none) in the same burst; one session's burst keeps its
 *                    order; a full queue pair refuses a burst as
 *                    crypto_enqueue.
 * Exit 77 (skipped, with the reason) only when the PMD is absent. */
#define main test_cipher_main
#include "test_cipher.c" /* tests/unit */
#undef main

#include <unistd.h>

#include <rte_bus_vdev.h>
#include <rte_cryptodev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>

#include "cipher_ctx.h"
#include "dc_frame.h"
#include "engine_cryptodev.h"

#define VDEV   "crypto_aesni_gcm0"
#define MAXLEN 2100

static int cd_failures;
#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                     \
			printf(__VA_ARGS__);                                                       \
			printf("\n");                                                              \
			if (++cd_failures > 20)                                                    \
				exit(1);                                                           \
		}                                                                                  \
	} while (0)

static struct rte_mempool *mp;

static void fill(uint8_t *p, uint32_t len, uint32_t seed)
{
	for (uint32_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed * 31 + i * 7 + 1);
}

static void pkt_of(struct rte_mbuf *m, struct rv_pkt *p)
{
	p->data = rte_pktmbuf_mtod(m, uint8_t *);
	p->len = rte_pktmbuf_data_len(m);
	p->headroom = rte_pktmbuf_headroom(m);
	p->tailroom = rte_pktmbuf_tailroom(m);
}

/* An mbuf holding @len bytes of payload (seed @seed). */
static struct rte_mbuf *payload_mbuf(uint32_t len, uint32_t seed)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	uint8_t *d = m ? (uint8_t *)rte_pktmbuf_append(m, (uint16_t)len) : NULL;
	if (!m || (len && !d)) {
		printf("FAIL: mbuf for %u bytes\n", len);
		exit(1);
	}
	fill(rte_pktmbuf_mtod(m, uint8_t *), len, seed);
	return m;
}

/* @m's payload sealed in place by OpenSSL context @enc (the mbuf then holds
 * the wire packet). */
static void ossl_seal(struct rte_mbuf *m, struct rv_cipher_ctx *enc, uint32_t pid)
{
	struct rv_pkt p;
	pkt_of(m, &p);
	enum rv_drop r = rv_dc_seal(enc, 2, 0xABCDE, pid, 0, &p);
	CHECK(r == RV_OK, "OpenSSL seal: %s", rv_drop_name(r));
	m->data_off = (uint16_t)(p.data - (uint8_t *)m->buf_addr);
	m->data_len = (uint16_t)p.len;
	m->pkt_len = p.len;
}

/* Device seal -> the same bytes as OpenSSL's, which OpenSSL opens. */
static void seal_against_openssl(struct rv_cipher_ctx *dev, struct rv_cipher_ctx *oenc,
				 struct rv_cipher_ctx *odec)
{
	static uint8_t ref[MAXLEN + 128];
	for (uint32_t base = 0; base <= MAXLEN; base += 32) {
		unsigned n = MAXLEN + 1 - base < 32 ? MAXLEN + 1 - base : 32;
		struct rte_mbuf *m[32];
		struct rv_cipher_ctx *ctx[32];
		uint8_t kid[32];
		uint32_t peer[32], pid[32];
		struct rv_pkt pk[32], *pp[32];
		enum rv_drop res[32];
		for (unsigned i = 0; i < n; i++) {
			m[i] = payload_mbuf(base + i, base + i);
			ctx[i] = dev;
			kid[i] = 2;
			peer[i] = 0xABCDE;
			pid[i] = base + i + 1;
			pkt_of(m[i], &pk[i]);
			pp[i] = &pk[i];
		}
		rv_cdev_seal_burst(0, m, ctx, kid, peer, pid, 0, pp, res, n);
		for (unsigned i = 0; i < n; i++) {
			uint32_t len = base + i, got_pid = 0;
			CHECK(res[i] == RV_OK, "device seal of %u bytes: %s", len,
			      rv_drop_name(res[i]));
			CHECK(pk[i].len == len + 24, "sealed length %u for %u", pk[i].len, len);
			struct rv_pkt r = {
			    .data = ref + 64, .len = len, .headroom = 64, .tailroom = 64};
			fill(r.data, len, len);
			CHECK(rv_dc_seal(oenc, 2, 0xABCDE, pid[i], 0, &r) == RV_OK, "ref");
			CHECK(r.len == pk[i].len && memcmp(r.data, pk[i].data, r.len) == 0,
			      "device and OpenSSL wire bytes differ at %u bytes", len);
			/* OpenSSL opens the device's packet */
			memcpy(ref + 64, pk[i].data, pk[i].len);
			r = (struct rv_pkt){.data = ref + 64, .len = pk[i].len, .headroom = 64};
			CHECK(rv_dc_open(odec, &r, &got_pid) == RV_OK && got_pid == pid[i],
			      "OpenSSL cannot open the device's %u bytes", len);
			uint8_t want[MAXLEN + 1];
			fill(want, len, len);
			CHECK(r.len == len && memcmp(r.data, want, len) == 0, "payload %u", len);
			rte_pktmbuf_free(m[i]);
		}
	}
}

/* OpenSSL seal -> device open; every other packet tampered (tag, then
 * ciphertext), which must come back as auth failures. */
static void open_against_openssl(struct rv_cipher_ctx *dev, struct rv_cipher_ctx *oenc)
{
	unsigned auth = 0;
	for (uint32_t base = 0; base <= MAXLEN; base += 32) {
		unsigned n = MAXLEN + 1 - base < 32 ? MAXLEN + 1 - base : 32;
		struct rte_mbuf *m[32];
		struct rv_cipher_ctx *ctx[32];
		uint32_t pid[32];
		struct rv_pkt pk[32], *pp[32];
		enum rv_drop res[32];
		for (unsigned i = 0; i < n; i++) {
			uint32_t len = base + i;
			m[i] = payload_mbuf(len, len);
			ossl_seal(m[i], oenc, len + 7);
			uint8_t *w = rte_pktmbuf_mtod(m[i], uint8_t *);
			if (i % 4 == 1)
				w[8 + len % 16] ^= 0x40; /* tag */
			else if (i % 4 == 3)
				w[len ? 24 + len - 1 : 8] ^= 1; /* last ciphertext byte */
			ctx[i] = dev;
			pkt_of(m[i], &pk[i]);
			pp[i] = &pk[i];
		}
		rv_cdev_open_burst(0, m, ctx, pp, pid, res, n);
		for (unsigned i = 0; i < n; i++) {
			uint32_t len = base + i;
			if (i % 2) {
				CHECK(res[i] == RV_DROP_AUTH, "tampered packet of %u bytes: %s",
				      len, rv_drop_name(res[i]));
				auth += res[i] == RV_DROP_AUTH;
			} else {
				uint8_t want[MAXLEN + 1];
				fill(want, len, len);
				CHECK(res[i] == RV_OK, "device open of %u bytes: %s", len,
				      rv_drop_name(res[i]));
				CHECK(res[i] != RV_OK || pid[i] == len + 7, "pid %u", pid[i]);
				CHECK(res[i] != RV_OK ||
					  (pk[i].len == len && memcmp(pk[i].data, want, len) == 0),
				      "payload of %u bytes", len);
			}
			rte_pktmbuf_free(m[i]);
		}
	}
	printf("burst: %u tampered packets refused as auth\n", auth);
}

/* A burst mixing the device's contexts with OpenSSL's (ChaCha20-Poly1305,
 * which crypto_aesni_gcm lacks; CBC; none), a missing key, a short packet
 * and a wrong opcode: each gets what rv_dc_open would give it. */
static void mixed_burst(const struct rv_key_dir *k)
{
	struct rv_cipher_ctx *dd = rv_cipher_ctx_new(RV_CIPHER_AES_256_GCM, k, false);
	struct rv_cipher_ctx *de =
	    rv_cipher_ctx_new_on(RV_ENGINE_OPENSSL, RV_CIPHER_AES_256_GCM, k, true);
	enum rv_cipher other[3] = {RV_CIPHER_CHACHA20_POLY1305, RV_CIPHER_AES_256_CBC_HMAC,
				   RV_CIPHER_NONE};
	struct rv_cipher_ctx *oe[3], *od[3];
	for (int i = 0; i < 3; i++) {
		oe[i] = rv_cipher_ctx_new(other[i], k, true);
		od[i] = rv_cipher_ctx_new(other[i], k, false);
		CHECK(oe[i] && od[i], "context %s", rv_cipher_name(other[i]));
		CHECK(rv_cipher_ctx_engine(od[i]) == RV_ENGINE_OPENSSL, "%s not on openssl",
		      rv_cipher_name(other[i]));
	}
	CHECK(rv_cipher_ctx_engine(dd) == RV_ENGINE_CRYPTODEV, "GCM not on the device");
	struct rte_mbuf *m[8];
	struct rv_cipher_ctx *ctx[8] = {dd, od[0], od[1], od[2], NULL, dd, dd, dd};
	enum rv_drop want[8] = {
	    RV_OK, RV_OK, RV_OK, RV_OK, RV_DROP_UNKNOWN_KEY, RV_DROP_MALFORMED, RV_DROP_BAD_OPCODE,
	    RV_OK};
	for (int i = 0; i < 8; i++) {
		m[i] = payload_mbuf(100 + (uint32_t)i, (uint32_t)i);
		ossl_seal(m[i], i >= 1 && i <= 3 ? oe[i - 1] : de, 50 + (uint32_t)i);
	}
	rte_pktmbuf_mtod(m[5], uint8_t *)[0] = RV_OP_DATA_V2 << 3;
	m[5]->data_len = m[5]->pkt_len = 20;	       /* shorter than header + tag */
	rte_pktmbuf_mtod(m[6], uint8_t *)[0] = 6 << 3; /* P_DATA_V1 */
	struct rv_pkt pk[8], *pp[8];
	uint32_t pid[8];
	enum rv_drop res[8];
	for (int i = 0; i < 8; i++) {
		pkt_of(m[i], &pk[i]);
		pp[i] = &pk[i];
	}
	rv_cdev_open_burst(0, m, ctx, pp, pid, res, 8);
	for (int i = 0; i < 8; i++) {
		CHECK(res[i] == want[i], "mixed burst [%d]: %s, want %s", i, rv_drop_name(res[i]),
		      rv_drop_name(want[i]));
		CHECK(res[i] != RV_OK ||
			  (pid[i] == 50u + (unsigned)i && pk[i].len == 100u + (unsigned)i),
		      "mixed burst [%d]: pid %u len %u", i, pid[i], pk[i].len);
		rte_pktmbuf_free(m[i]);
	}
	for (int i = 0; i < 3; i++) {
		rv_cipher_ctx_free(oe[i]);
		rv_cipher_ctx_free(od[i]);
	}
	rv_cipher_ctx_free(dd);
	rv_cipher_ctx_free(de);
}

/* One session's full burst through the device both ways: results come back
 * to their own packets, in order (packet-ids 1..64, payloads by index). */
static void one_session_order(struct rv_cipher_ctx *enc, struct rv_cipher_ctx *dec)
{
	struct rte_mbuf *m[RV_CDEV_BURST];
	struct rv_cipher_ctx *ce[RV_CDEV_BURST], *cdc[RV_CDEV_BURST];
	uint8_t kid[RV_CDEV_BURST];
	uint32_t peer[RV_CDEV_BURST], pid[RV_CDEV_BURST], got[RV_CDEV_BURST];
	struct rv_pkt pk[RV_CDEV_BURST], *pp[RV_CDEV_BURST];
	enum rv_drop res[RV_CDEV_BURST];
	for (unsigned i = 0; i < RV_CDEV_BURST; i++) {
		m[i] = payload_mbuf(64 + i * 13, 1000 + i);
		ce[i] = enc;
		cdc[i] = dec;
		kid[i] = 2;
		peer[i] = 0xABCDE;
		pid[i] = i + 1;
		pkt_of(m[i], &pk[i]);
		pp[i] = &pk[i];
	}
	rv_cdev_seal_burst(0, m, ce, kid, peer, pid, 0, pp, res, RV_CDEV_BURST);
	for (unsigned i = 0; i < RV_CDEV_BURST; i++) {
		CHECK(res[i] == RV_OK, "order seal [%u]: %s", i, rv_drop_name(res[i]));
		m[i]->data_off = (uint16_t)(pk[i].data - (uint8_t *)m[i]->buf_addr);
		m[i]->data_len = (uint16_t)pk[i].len;
		pkt_of(m[i], &pk[i]);
	}
	rv_cdev_open_burst(0, m, cdc, pp, got, res, RV_CDEV_BURST);
	for (unsigned i = 0; i < RV_CDEV_BURST; i++) {
		uint8_t want[64 + RV_CDEV_BURST * 13];
		fill(want, 64 + i * 13, 1000 + i);
		CHECK(res[i] == RV_OK && got[i] == i + 1, "order open [%u]: %s pid %u", i,
		      rv_drop_name(res[i]), got[i]);
		CHECK(pk[i].len == 64 + i * 13 && memcmp(pk[i].data, want, pk[i].len) == 0,
		      "order open [%u]: payload", i);
		rte_pktmbuf_free(m[i]);
	}
}

/* Three OpenSSL-sealed packets through the device with @dec; results. */
static void open_three(struct rv_cipher_ctx *dec, struct rv_cipher_ctx *oenc, enum rv_drop res[3])
{
	struct rte_mbuf *m[3];
	struct rv_cipher_ctx *ctx[3] = {dec, dec, dec};
	struct rv_pkt pk[3], *pp[3];
	uint32_t pid[3];
	for (unsigned i = 0; i < 3; i++) {
		m[i] = payload_mbuf(200, i);
		ossl_seal(m[i], oenc, 900 + i);
		pkt_of(m[i], &pk[i]);
		pp[i] = &pk[i];
	}
	rv_cdev_open_burst(0, m, ctx, pp, pid, res, 3);
	for (unsigned i = 0; i < 3; i++)
		rte_pktmbuf_free(m[i]);
}

/* A full queue pair: worker 0's is filled with ops of this test's own
 * (real ones: the PMD processes them when they are drained) so that the
 * burst is refused whole: crypto_enqueue; drained, the same packets pass.
 * (crypto_op, an op status other than success or a failed tag, is not
 * reachable with well-formed ops on the software PMD: hardware faults.) */
static void device_failures(struct rv_cipher_ctx *dec, struct rv_cipher_ctx *oenc)
{
	enum rv_drop res[3];
	uint8_t dev = (uint8_t)rte_cryptodev_get_dev_id(VDEV);
	struct rte_mempool *opp = rte_crypto_op_pool_create(
	    "cdev_test_fill", RTE_CRYPTO_OP_TYPE_SYMMETRIC, 4095, 0, 32, SOCKET_ID_ANY);
	static struct rte_crypto_op *fill_ops[4096];
	struct rte_mbuf *fm = payload_mbuf(64, 0);
	CHECK(opp && rte_crypto_op_bulk_alloc(opp, RTE_CRYPTO_OP_TYPE_SYMMETRIC, fill_ops, 4095) ==
			 4095,
	      "filler ops");
	void *sess = *(void **)(uintptr_t)dec->tail; /* engine_cryptodev.c: state starts with it */
	unsigned queued = 0;
	for (unsigned i = 0; i < 4095; i++) {
		struct rte_crypto_op *op = fill_ops[i];
		rte_crypto_op_attach_sym_session(op, sess);
		op->sym->m_src = fm;
		op->sym->aead.data.offset = 0;
		op->sym->aead.data.length = 32;
		op->sym->aead.aad.data = rte_pktmbuf_mtod(fm, uint8_t *) + 32;
		op->sym->aead.digest.data = rte_pktmbuf_mtod(fm, uint8_t *) + 40;
		if (rte_cryptodev_enqueue_burst(dev, 0, &op, 1) != 1)
			break;
		queued++;
	}
	CHECK(queued < 4095, "the queue pair never filled (%u ops)", queued);
	open_three(dec, oenc, res);
	for (unsigned i = 0; i < 3; i++)
		CHECK(res[i] == RV_DROP_CRYPTO_ENQUEUE, "queue pair full [%u]: %s", i,
		      rv_drop_name(res[i]));
	for (unsigned got = 0; got < queued;)
		got += rte_cryptodev_dequeue_burst(dev, 0, fill_ops, 64);
	rte_pktmbuf_free(fm);
	open_three(dec, oenc, res);
	for (unsigned i = 0; i < 3; i++)
		CHECK(res[i] == RV_OK, "queue pair drained [%u]: %s", i, rv_drop_name(res[i]));
	printf("burst: queue pair full after %u ops: crypto_enqueue\n", queued);
}

static int run_burst(void)
{
	struct rv_key_dir k;
	for (unsigned i = 0; i < sizeof(k.cipher); i++)
		k.cipher[i] = (uint8_t)(0x33 ^ i);
	for (unsigned i = 0; i < sizeof(k.hmac); i++)
		k.hmac[i] = (uint8_t)(0x90 + i);
	struct rv_cipher_ctx *de = rv_cipher_ctx_new(RV_CIPHER_AES_256_GCM, &k, true);
	struct rv_cipher_ctx *dd = rv_cipher_ctx_new(RV_CIPHER_AES_256_GCM, &k, false);
	struct rv_cipher_ctx *oe =
	    rv_cipher_ctx_new_on(RV_ENGINE_OPENSSL, RV_CIPHER_AES_256_GCM, &k, true);
	struct rv_cipher_ctx *od =
	    rv_cipher_ctx_new_on(RV_ENGINE_OPENSSL, RV_CIPHER_AES_256_GCM, &k, false);
	if (!de || !dd || !oe || !od) {
		printf("FAIL: contexts\n");
		return 1;
	}
	seal_against_openssl(de, oe, od);
	open_against_openssl(dd, oe);
	mixed_burst(&k);
	one_session_order(de, dd);
	device_failures(dd, oe);
	rv_cipher_ctx_free(de);
	rv_cipher_ctx_free(dd);
	rv_cipher_ctx_free(oe);
	rv_cipher_ctx_free(od);
	printf("burst: %s\n", cd_failures ? "FAILED" : "all checks passed");
	return cd_failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	char prefix[64], err[256];
	if (argc != 2 || (strcmp(argv[1], "kat") && strcmp(argv[1], "burst"))) {
		fprintf(stderr, "usage: %s kat|burst\n", argv[0]);
		return 2;
	}
	snprintf(prefix, sizeof(prefix), "--file-prefix=cdevtest%d", (int)getpid());
	char *eal[] = {argv[0],	    "-l",   "0",
		       "--no-huge", "-m",   "256",
		       "--no-pci",  prefix, "--log-level=lib.eal:error",
		       NULL};
	if (rte_eal_init(9, eal) < 0) {
		printf("FAIL: EAL init: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	if (rte_vdev_init(VDEV, NULL) < 0) {
		printf("SKIP: the software cryptodev PMD %s is absent (DPDK's "
		       "librte_crypto_ipsec_mb)\n",
		       VDEV);
		rte_eal_cleanup();
		return 77;
	}
	struct rv_cdev_config cc = {.dev_name = VDEV, .n_workers = 1, .n_sessions = 4096};
	if (rv_cdev_start(&cc, err, sizeof(err)) < 0) {
		printf("FAIL: %s\n", err);
		return 1;
	}
	mp = rte_pktmbuf_pool_create("cdev_test", 1023, 0, 0, 4096 + RTE_PKTMBUF_HEADROOM,
				     SOCKET_ID_ANY);
	if (!mp) {
		printf("FAIL: mbuf pool\n");
		return 1;
	}
	printf("crypto device %s\n", rv_cdev_describe());
	int rc;
	if (!strcmp(argv[1], "kat")) {
		char *targv[] = {argv[0], "cryptodev", NULL};
		rc = test_cipher_main(2, targv);
	} else {
		rc = run_burst();
	}
	rv_cdev_stop();
	rte_eal_cleanup();
	return rc;
}
