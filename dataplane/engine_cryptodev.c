/* The asynchronous crypto engine on a DPDK cryptodev (engine_cryptodev.h).
 *
 * An op carries the OpenVPN AEAD layout as it lies in the mbuf:
 *   [op|kid][peer-id 3][pid 4][tag 16][ciphertext]
 * AAD = the first 8 bytes, digest = the tag (before the data, which
 * cryptodev's separate digest pointer allows), data = the ciphertext; the
 * 12-byte IV (pid || implicit IV) and the packet's index in the burst sit
 * in the op's private area. Ops are taken from the worker's pool once, at
 * start-up, and reused for every burst. */
/* rte_cryptodev_sym_session_pool_create is experimental in DPDK 22.11 */
#define ALLOW_EXPERIMENTAL_API
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <rte_crypto.h>
#include <rte_cryptodev.h>
#include <rte_errno.h>
#include <rte_spinlock.h>

#include "cipher_ctx.h"
#include "dp.h"
#include "engine_cryptodev.h"
#include "inet.h"
#include "log.h"

#define AEAD_HDR  (RV_DC_V2_HDR_LEN + 4 + RV_AEAD_TAG_LEN) /* 24 */
#define MAX_WIRE  (RV_DC_MAX_PAYLOAD + 128)		   /* as dc_frame.c */
#define IV_OFF	  (sizeof(struct rte_crypto_op) + sizeof(struct rte_crypto_sym_op))
#define IDX_OFF	  (IV_OFF + 16)
#define OP_PRIV	  32
#define QP_DESC	  1024
#define SYNC_ROOM UINT16_MAX /* the synchronous path's one mbuf */

struct cdev_state { /* the engine's part of a context (tail) */
	void *sess;
	uint8_t key[32]; /* for the synchronous path's AAD lengths other than 8 */
};

struct cdev_qp {
	struct rte_mempool *pool;
	struct rte_crypto_op *ops[RV_CDEV_BURST];
	uint16_t qp;
} __rte_cache_aligned;

static struct {
	bool started, chacha;
	uint8_t dev;
	unsigned n_workers;
	uint32_t n_sessions;
	struct rte_mempool *sess_pool;
	struct cdev_qp q[RV_DP_MAX_WORKERS + 1]; /* [n_workers]: the synchronous callers' */
	rte_spinlock_t sync_lock;
	struct rte_mempool *sync_pool;
	struct rte_mbuf *sync_m;
	char desc[160];
} cd = {.sync_lock = RTE_SPINLOCK_INITIALIZER};

bool rv_cdev_on;

static const struct rv_cipher_engine engine;

static struct cdev_state *state(const struct rv_cipher_ctx *ctx)
{
	return (struct cdev_state *)(uintptr_t)ctx->tail;
}

static bool on_device(const struct rv_cipher_ctx *ctx)
{
	return ctx && ctx->eng == &engine;
}

/* ---- device set-up ---- */

static bool has_aead(uint8_t dev, enum rte_crypto_aead_algorithm a)
{
	struct rte_cryptodev_sym_capability_idx idx = {.type = RTE_CRYPTO_SYM_XFORM_AEAD,
						       .algo.aead = a};
	const struct rte_cryptodev_symmetric_capability *c =
	    rte_cryptodev_sym_capability_get(dev, &idx);
	return c && rte_cryptodev_sym_capability_check_aead(c, 32, RV_AEAD_TAG_LEN, 8,
							    RV_AEAD_NONCE_LEN) == 0;
}

static void list_devices(char *out, size_t len)
{
	size_t o = 0;
	out[0] = 0;
	for (uint8_t i = 0; i < rte_cryptodev_count() && o < len; i++)
		o += (size_t)snprintf(out + o, len - o, "%s%s", i ? ", " : "",
				      rte_cryptodev_name_get(i));
	if (!o)
		snprintf(out, len, "none");
}

int rv_cdev_probe(const char *name, unsigned n_workers, char *err, size_t errlen)
{
	char have[96];
	if (!name || !name[0]) {
		snprintf(err, errlen, "crypto_engine = cryptodev needs crypto_dev = NAME");
		return -1;
	}
	int id = rte_cryptodev_get_dev_id(name);
	if (id < 0) {
		list_devices(have, sizeof(have));
		snprintf(err, errlen,
			 "crypto_dev %s: no such crypto device (the EAL has: %s); give it as an "
			 "EAL option, e.g. --vdev %s",
			 name, have, name);
		return -1;
	}
	struct rte_cryptodev_info info;
	rte_cryptodev_info_get((uint8_t)id, &info);
	if (!has_aead((uint8_t)id, RTE_CRYPTO_AEAD_AES_GCM)) {
		snprintf(err, errlen,
			 "crypto_dev %s (driver %s) has no AES-256-GCM AEAD capability (32-byte "
			 "key, 16-byte tag, 8-byte AAD, 12-byte IV)",
			 name, info.driver_name);
		return -1;
	}
	if (info.max_nb_queue_pairs < n_workers + 1) {
		snprintf(err, errlen,
			 "crypto_dev %s has %u queue pair(s); %u worker(s) need %u (one each, "
			 "and one for synchronous callers)",
			 name, info.max_nb_queue_pairs, n_workers, n_workers + 1);
		return -1;
	}
	return 0;
}

static int make_qp(unsigned i, int socket, char *err, size_t errlen)
{
	char name[RTE_MEMPOOL_NAMESIZE];
	struct cdev_qp *q = &cd.q[i];
	snprintf(name, sizeof(name), "rv_cdev_ops%u", i);
	q->qp = (uint16_t)i;
	q->pool = rte_crypto_op_pool_create(name, RTE_CRYPTO_OP_TYPE_SYMMETRIC, RV_CDEV_BURST, 0,
					    OP_PRIV, socket);
	if (!q->pool || rte_crypto_op_bulk_alloc(q->pool, RTE_CRYPTO_OP_TYPE_SYMMETRIC, q->ops,
						 RV_CDEV_BURST) != RV_CDEV_BURST) {
		snprintf(err, errlen, "cryptodev: cannot make the op pool of queue pair %u: %s", i,
			 rte_strerror(rte_errno));
		return -1;
	}
	struct rte_cryptodev_qp_conf qc = {.nb_descriptors = QP_DESC, .mp_session = cd.sess_pool};
	if (rte_cryptodev_queue_pair_setup(cd.dev, q->qp, &qc, socket) < 0) {
		snprintf(err, errlen, "cryptodev: cannot set up queue pair %u", i);
		return -1;
	}
	return 0;
}

static int make_pools(int socket, char *err, size_t errlen)
{
	uint32_t priv = rte_cryptodev_sym_get_private_session_size(cd.dev);
	cd.sess_pool = rte_cryptodev_sym_session_pool_create("rv_cdev_sess", cd.n_sessions, priv, 0,
							     0, socket);
	if (!cd.sess_pool) {
		snprintf(err, errlen,
			 "cryptodev: cannot make a pool of %u sessions of %u bytes: %s (lower "
			 "crypto_sessions or raise -m)",
			 cd.n_sessions, priv, rte_strerror(rte_errno));
		return -1;
	}
	cd.sync_pool = rte_pktmbuf_pool_create("rv_cdev_sync", 1, 0, 0, SYNC_ROOM, socket);
	cd.sync_m = cd.sync_pool ? rte_pktmbuf_alloc(cd.sync_pool) : NULL;
	if (!cd.sync_m) {
		snprintf(err, errlen, "cryptodev: cannot make the synchronous path's buffer: %s",
			 rte_strerror(rte_errno));
		return -1;
	}
	return 0;
}

int rv_cdev_start(const struct rv_cdev_config *c, char *err, size_t errlen)
{
	if (rv_cdev_probe(c->dev_name, c->n_workers, err, errlen) < 0)
		return -1;
	cd.dev = (uint8_t)rte_cryptodev_get_dev_id(c->dev_name);
	cd.n_workers = c->n_workers;
	cd.n_sessions = c->n_sessions;
	cd.chacha = has_aead(cd.dev, RTE_CRYPTO_AEAD_CHACHA20_POLY1305);
	int socket = rte_cryptodev_socket_id(cd.dev);
	if (socket < 0)
		socket = SOCKET_ID_ANY;
	struct rte_cryptodev_config conf = {.socket_id = socket,
					    .nb_queue_pairs = (uint16_t)(c->n_workers + 1),
					    .ff_disable = RTE_CRYPTODEV_FF_ASYMMETRIC_CRYPTO |
							  RTE_CRYPTODEV_FF_SECURITY};
	if (rte_cryptodev_configure(cd.dev, &conf) < 0) {
		snprintf(err, errlen, "crypto_dev %s: cannot configure %u queue pairs", c->dev_name,
			 conf.nb_queue_pairs);
		return -1;
	}
	if (make_pools(socket, err, errlen) < 0)
		return -1;
	for (unsigned i = 0; i <= c->n_workers; i++)
		if (make_qp(i, socket, err, errlen) < 0)
			return -1;
	if (rte_cryptodev_start(cd.dev) < 0) {
		snprintf(err, errlen, "crypto_dev %s: cannot start", c->dev_name);
		return -1;
	}
	cd.started = true;
	snprintf(cd.desc, sizeof(cd.desc), "%s (AES-256-GCM%s; %u sessions of %u bytes)",
		 c->dev_name, cd.chacha ? ", ChaCha20-Poly1305" : "; ChaCha20-Poly1305 on openssl",
		 c->n_sessions, cd.sess_pool->elt_size);
	rv_cipher_engine_register(RV_ENGINE_CRYPTODEV, &engine);
	if (rv_cipher_engine_select(RV_ENGINE_CRYPTODEV, err, errlen) < 0)
		return -1;
	rv_cdev_on = true;
	return 0;
}

void rv_cdev_stop(void)
{
	if (!cd.started)
		return;
	rv_cdev_on = false;
	rte_cryptodev_stop(cd.dev);
	cd.started = false;
}

const char *rv_cdev_describe(void)
{
	return cd.started ? cd.desc : "not started";
}

/* ---- ops ---- */

/* @op for the AEAD packet whose header is at @h in @m: data from @h + 24
 * (@len bytes), IV = @iv4 (4 bytes) || @iv8 (8 bytes), index @idx. */
static void op_fill(struct rte_crypto_op *op, void *sess, struct rte_mbuf *m, uint8_t *h,
		    uint32_t len, const uint8_t *iv4, const uint8_t *iv8, uint32_t idx)
{
	struct rte_crypto_sym_op *s = op->sym;
	uint8_t *base = rte_pktmbuf_mtod(m, uint8_t *);
	rte_iova_t iova = rte_pktmbuf_iova(m) + (uint64_t)(int64_t)(h - base);
	op->status = RTE_CRYPTO_OP_STATUS_NOT_PROCESSED;
	rte_crypto_op_attach_sym_session(op, sess);
	s->m_src = m;
	s->m_dst = NULL;
	s->aead.data.offset = (uint32_t)(h + AEAD_HDR - base);
	s->aead.data.length = len;
	s->aead.aad.data = h;
	s->aead.aad.phys_addr = iova;
	s->aead.digest.data = h + 8;
	s->aead.digest.phys_addr = iova + 8;
	uint8_t *iv = rte_crypto_op_ctod_offset(op, uint8_t *, IV_OFF);
	memcpy(iv, iv4, 4);
	memcpy(iv + 4, iv8, 8);
	*rte_crypto_op_ctod_offset(op, uint32_t *, IDX_OFF) = idx;
}

static enum rv_drop op_result(const struct rte_crypto_op *op)
{
	if (likely(op->status == RTE_CRYPTO_OP_STATUS_SUCCESS))
		return RV_OK;
	return op->status == RTE_CRYPTO_OP_STATUS_AUTH_FAILED ? RV_DROP_AUTH : RV_DROP_CRYPTO_OP;
}

/* Enqueue @q's first @n ops and collect them: @res[index] from each op's
 * status; ops the device refused get RV_DROP_CRYPTO_ENQUEUE. Waits for
 * every accepted op (a device completes what it accepted). */
static void run_ops(struct cdev_qp *q, unsigned n, enum rv_drop res[])
{
	struct rte_crypto_op *done[RV_CDEV_BURST];
	if (!n)
		return;
	uint16_t sent = rte_cryptodev_enqueue_burst(cd.dev, q->qp, q->ops, (uint16_t)n);
	for (unsigned i = sent; i < n; i++)
		res[*rte_crypto_op_ctod_offset(q->ops[i], uint32_t *, IDX_OFF)] =
		    RV_DROP_CRYPTO_ENQUEUE;
	for (unsigned got = 0; got < sent;) {
		uint16_t k =
		    rte_cryptodev_dequeue_burst(cd.dev, q->qp, done, (uint16_t)(sent - got));
		for (unsigned j = 0; j < k; j++)
			res[*rte_crypto_op_ctod_offset(done[j], uint32_t *, IDX_OFF)] =
			    op_result(done[j]);
		got += k;
	}
}

/* ---- the burst seam ---- */

static enum rv_drop seal_check(const struct rv_cipher_ctx *ctx, uint8_t key_id, uint32_t peer_id,
			       uint32_t pid, const struct rv_pkt *p)
{
	if (unlikely(!ctx->encrypt || key_id > 7 || peer_id > 0xFFFFFF))
		return RV_DROP_MALFORMED;
	if (unlikely(pid == 0))
		return RV_DROP_PID_EXHAUSTED;
	if (unlikely(p->len > RV_DC_MAX_PAYLOAD || p->headroom < AEAD_HDR))
		return RV_DROP_TOO_BIG;
	return RV_OK;
}

void rv_cdev_seal_burst(unsigned worker, struct rte_mbuf *const m[],
			struct rv_cipher_ctx *const ctx[], const uint8_t key_id[],
			const uint32_t peer_id[], const uint32_t packet_id[], uint32_t now_s,
			struct rv_pkt *const p[], enum rv_drop res[], unsigned n)
{
	struct cdev_qp *q = &cd.q[worker];
	bool dev[RV_CDEV_BURST];
	unsigned k = 0;
	/* Stage: headers and ops for the device's packets; the others
	 * (CBC, "none", a suite on OpenSSL) are framed here and now. */
	for (unsigned i = 0; i < n; i++) {
		dev[i] = on_device(ctx[i]);
		if (!dev[i]) {
			res[i] =
			    rv_dc_seal(ctx[i], key_id[i], peer_id[i], packet_id[i], now_s, p[i]);
			continue;
		}
		res[i] = seal_check(ctx[i], key_id[i], peer_id[i], packet_id[i], p[i]);
		if (unlikely(res[i] != RV_OK))
			continue;
		uint8_t *h = p[i]->data - AEAD_HDR;
		h[0] = (uint8_t)(RV_OP_DATA_V2 << 3 | key_id[i]);
		h[1] = (uint8_t)(peer_id[i] >> 16);
		h[2] = (uint8_t)(peer_id[i] >> 8);
		h[3] = (uint8_t)peer_id[i];
		rv_put_be32(h + 4, packet_id[i]);
		op_fill(q->ops[k++], state(ctx[i])->sess, m[i], h, p[i]->len, h + 4,
			ctx[i]->nonce + 4, i);
	}
	/* Stage: the device seals the burst. */
	run_ops(q, k, res);
	/* Stage: the sealed packets start at their header. */
	for (unsigned i = 0; i < n; i++)
		if (dev[i] && res[i] == RV_OK) {
			p[i]->data -= AEAD_HDR;
			p[i]->len += AEAD_HDR;
			p[i]->headroom -= AEAD_HDR;
		}
}

static enum rv_drop open_check(const struct rv_cipher_ctx *ctx, const struct rv_pkt *p)
{
	if (unlikely(ctx->encrypt))
		return RV_DROP_UNKNOWN_KEY;
	if (unlikely(p->len > MAX_WIRE || p->len < RV_DC_V2_HDR_LEN))
		return RV_DROP_MALFORMED;
	if (unlikely(p->data[0] >> 3 != RV_OP_DATA_V2))
		return RV_DROP_BAD_OPCODE;
	if (unlikely(p->len < AEAD_HDR))
		return RV_DROP_MALFORMED;
	return RV_OK;
}

void rv_cdev_open_burst(unsigned worker, struct rte_mbuf *const m[],
			struct rv_cipher_ctx *const ctx[], struct rv_pkt *const p[],
			uint32_t packet_id[], enum rv_drop res[], unsigned n)
{
	struct cdev_qp *q = &cd.q[worker];
	bool dev[RV_CDEV_BURST];
	unsigned k = 0;
	/* Stage: ops for the device's packets; the others opened now. */
	for (unsigned i = 0; i < n; i++) {
		dev[i] = on_device(ctx[i]);
		if (!dev[i]) {
			res[i] = rv_dc_open(ctx[i], p[i], &packet_id[i]);
			continue;
		}
		res[i] = open_check(ctx[i], p[i]);
		if (unlikely(res[i] != RV_OK))
			continue;
		uint8_t *h = p[i]->data;
		op_fill(q->ops[k++], state(ctx[i])->sess, m[i], h, p[i]->len - AEAD_HDR, h + 4,
			ctx[i]->nonce + 4, i);
	}
	/* Stage: the device authenticates and decrypts the burst. */
	run_ops(q, k, res);
	/* Stage: packet-id out, payload in front (the caller's replay check
	 * follows, on this worker). */
	for (unsigned i = 0; i < n; i++)
		if (dev[i] && res[i] == RV_OK) {
			packet_id[i] = rv_get_be32(p[i]->data + 4);
			p[i]->data += AEAD_HDR;
			p[i]->len -= AEAD_HDR;
			p[i]->headroom += AEAD_HDR;
		}
}

/* ---- the engine's table entry ---- */

static const char *absent(void)
{
	return cd.started ? NULL
			  : "no crypto device started (roomvpn-dataplane sets it up from "
			    "crypto_dev)";
}

static bool supports(enum rv_cipher c)
{
	return c == RV_CIPHER_AES_256_GCM || (c == RV_CIPHER_CHACHA20_POLY1305 && cd.chacha);
}

static void *make_session(const struct rv_cipher_ctx *ctx, const uint8_t key[32], uint16_t aad_len)
{
	struct rte_crypto_sym_xform x = {
	    .type = RTE_CRYPTO_SYM_XFORM_AEAD,
	    .aead = {.op = ctx->encrypt ? RTE_CRYPTO_AEAD_OP_ENCRYPT : RTE_CRYPTO_AEAD_OP_DECRYPT,
		     .algo = ctx->suite == RV_CIPHER_AES_256_GCM
				 ? RTE_CRYPTO_AEAD_AES_GCM
				 : RTE_CRYPTO_AEAD_CHACHA20_POLY1305,
		     .key = {.data = key, .length = 32},
		     .iv = {.offset = IV_OFF, .length = RV_AEAD_NONCE_LEN},
		     .digest_length = RV_AEAD_TAG_LEN,
		     .aad_length = aad_len}};
	return rte_cryptodev_sym_session_create(cd.dev, &x, cd.sess_pool);
}

/* The writer, at key install: one device session per key direction. */
static int setup(struct rv_cipher_ctx *ctx, const uint8_t key[32])
{
	memcpy(state(ctx)->key, key, 32);
	state(ctx)->sess = make_session(ctx, key, 8);
	if (!state(ctx)->sess) {
		rv_log(RV_LOG_WARN,
		       "cryptodev: cannot make a session (%s): pool of %u sessions full? raise "
		       "crypto_sessions",
		       rte_strerror(rte_errno), cd.n_sessions);
		return -1;
	}
	return 0;
}

/* After the grace period, with the context. */
static void release(struct rv_cipher_ctx *ctx)
{
	if (state(ctx)->sess)
		rte_cryptodev_sym_session_free(cd.dev, state(ctx)->sess);
	state(ctx)->sess = NULL;
}

/* One packet off the packet path (known-answer tests, the bench's bound):
 * through the device on the synchronous callers' queue pair, copied into
 * and out of one mbuf under a lock: [AAD][tag 16][data]. An AAD length
 * other than the framing's 8 (standard vectors) takes a session of its own
 * for the call. */
static int sync_op(struct rv_cipher_ctx *ctx, const uint8_t nonce[RV_AEAD_NONCE_LEN],
		   const uint8_t *aad, size_t aad_len, uint8_t *buf, size_t len, uint8_t tag[16])
{
	enum rv_drop res = RV_DROP_CRYPTO_OP;
	struct cdev_qp *q = &cd.q[cd.n_workers];
	struct rte_mbuf *m = cd.sync_m;
	void *sess =
	    aad_len == 8 ? state(ctx)->sess : make_session(ctx, state(ctx)->key, (uint16_t)aad_len);
	if (!sess)
		return -1;
	rte_spinlock_lock(&cd.sync_lock);
	rte_pktmbuf_reset(m);
	if (len > rte_pktmbuf_tailroom(m) || rte_pktmbuf_headroom(m) < aad_len + 16)
		goto out;
	uint8_t *d = rte_pktmbuf_mtod(m, uint8_t *), *t = d - 16, *a = t - aad_len;
	if (aad_len)
		memcpy(a, aad, aad_len);
	memcpy(t, tag, 16);
	if (len)
		memcpy(d, buf, len);
	m->data_len = (uint16_t)len;
	m->pkt_len = (uint32_t)len;
	struct rte_crypto_op *op = q->ops[0];
	op_fill(op, sess, m, d - AEAD_HDR, (uint32_t)len, nonce, nonce + 4, 0);
	op->sym->aead.aad.data = a;
	op->sym->aead.aad.phys_addr = rte_pktmbuf_iova(m) - 16 - aad_len;
	run_ops(q, 1, &res);
	if (res == RV_OK) {
		if (len)
			memcpy(buf, d, len);
		memcpy(tag, t, 16);
	}
	OPENSSL_cleanse(a, aad_len + 16 + len);
out:
	rte_spinlock_unlock(&cd.sync_lock);
	if (sess != state(ctx)->sess)
		rte_cryptodev_sym_session_free(cd.dev, sess);
	return res == RV_OK ? 0 : -1;
}

static int seal(struct rv_cipher_ctx *ctx, const uint8_t nonce[RV_AEAD_NONCE_LEN],
		const uint8_t *aad, size_t aad_len, uint8_t *buf, size_t len,
		uint8_t tag[RV_AEAD_TAG_LEN])
{
	memset(tag, 0, RV_AEAD_TAG_LEN);
	return sync_op(ctx, nonce, aad, aad_len, buf, len, tag);
}

static int open_(struct rv_cipher_ctx *ctx, const uint8_t nonce[RV_AEAD_NONCE_LEN],
		 const uint8_t *aad, size_t aad_len, uint8_t *buf, size_t len,
		 const uint8_t tag[RV_AEAD_TAG_LEN])
{
	uint8_t t[RV_AEAD_TAG_LEN];
	memcpy(t, tag, sizeof(t));
	return sync_op(ctx, nonce, aad, aad_len, buf, len, t);
}

/* Our line and the device session's first lines (the PMD's key state). */
static void lines(const struct rv_cipher_ctx *ctx, struct rv_cipher_lines *out)
{
	*out = (struct rv_cipher_lines){.ctx = ctx,
					.evp = state(ctx)->sess,
					.evp_len = cd.sess_pool ? cd.sess_pool->elt_size : 0};
}

static const struct rv_cipher_engine engine = {
    .name = "cryptodev",
    .absent = absent,
    .supports = supports,
    .state_len = 64,
    .setup = setup,
    .release = release,
    .seal = seal,
    .open = open_,
    .lines = lines,
};
