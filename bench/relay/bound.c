/* The relay bench's crypto bound (see bound.h). */
#include "bound.h"

#include <stdio.h>
#include <stdlib.h>

#include <openssl/crypto.h>
#include <rte_prefetch.h>

#include "dc_frame.h"
#include "dp.h"
#include "engine_cryptodev.h"
#include "harness.h"
#include "member.h"
#include "static_key.h"

#define OUTER_LEN 42u

/* One session's data-plane side, as the relay keeps it beside its key. */
struct bound_key {
	struct rv_cipher_ctx *dec, *enc;
	struct rv_cipher_lines dec_lines, enc_lines;
	uint32_t tx_pid;
};

static struct bound_key *keys;
static uint32_t n_keys;

void rb_bound_free(void)
{
	for (uint32_t i = 0; i < n_keys; i++) {
		rv_cipher_ctx_free(keys[i].dec);
		rv_cipher_ctx_free(keys[i].enc);
	}
	free(keys);
	keys = NULL;
	n_keys = 0;
}

int rb_bound_init(struct rh *h)
{
	rb_bound_free();
	if (!(keys = calloc(h->n_sessions, sizeof(*keys))))
		return -1;
	n_keys = h->n_sessions;
	for (uint32_t i = 0; i < n_keys; i++) {
		struct rv_key_material km;
		struct rv_key_dir tx, rx;
		rh_member_key(h, i, &km);
		rv_static_key_dirs(&km, 1, &tx, &rx); /* the data plane's side */
		keys[i].dec = rv_cipher_ctx_new(h->cfg.cipher, &rx, false);
		keys[i].enc = rv_cipher_ctx_new(h->cfg.cipher, &tx, true);
		OPENSSL_cleanse(&km, sizeof(km));
		if (!keys[i].dec || !keys[i].enc) {
			fprintf(stderr, "crypto bound: cannot build session %u's contexts\n", i);
			rb_bound_free();
			return -1;
		}
		rv_cipher_ctx_lines(keys[i].dec, &keys[i].dec_lines);
		rv_cipher_ctx_lines(keys[i].enc, &keys[i].enc_lines);
	}
	return 0;
}

/* One burst: mbufs, keys, open contexts, open; destinations' keys, seal
 * contexts, seal. Each stage's loads overlap across the burst, as in dataplane/relay.c. */
static unsigned bound_burst(const struct rh *h, struct rte_mbuf **m, unsigned n)
{
	struct bound_key *src[RV_DP_BURST], *dst[RV_DP_BURST];
	struct rv_cipher_ctx *ctx[RV_DP_BURST];
	struct rv_pkt p[RV_DP_BURST], *pp[RV_DP_BURST];
	uint32_t pid[RV_DP_BURST], peer[RV_DP_BURST];
	uint8_t kid[RV_DP_BURST] = {0};
	enum rv_drop res[RV_DP_BURST];
	unsigned ok = 0;

	/* the mbufs and frame headers, as dataplane/rx.c does on receive */
	for (unsigned i = 0; i < n; i++) {
		rte_prefetch0(m[i]);
		rte_prefetch0(&m[i]->cacheline1);
	}
	for (unsigned i = 0; i < n; i++)
		rte_prefetch0(rte_pktmbuf_mtod(m[i], void *));
	for (unsigned i = 0; i < n; i++) {
		src[i] = &keys[m[i]->hash.usr];
		rte_prefetch0(src[i]);
	}
	for (unsigned i = 0; i < n; i++) {
		rv_cipher_prefetch(&src[i]->dec_lines);
		ctx[i] = src[i]->dec;
		p[i] = (struct rv_pkt){.data = rte_pktmbuf_mtod_offset(m[i], uint8_t *, OUTER_LEN),
				       .len = rte_pktmbuf_data_len(m[i]) - OUTER_LEN,
				       .headroom = rte_pktmbuf_headroom(m[i]) + OUTER_LEN,
				       .tailroom = rte_pktmbuf_tailroom(m[i])};
		pp[i] = &p[i];
	}
	if (rv_cdev_on) /* the relay's seam: worker 0's queue pair, the relay's lcore */
		rv_cdev_open_burst(0, m, ctx, pp, pid, res, n);
	else
		rv_dc_open_burst(ctx, pp, pid, res, n);
	for (unsigned i = 0; i < n; i++) {
		ok += res[i] == RV_OK;
		peer[i] = rh_partner(h, m[i]->hash.usr);
		dst[i] = &keys[peer[i]];
		rte_prefetch0(dst[i]);
	}
	for (unsigned i = 0; i < n; i++) {
		rv_cipher_prefetch(&dst[i]->enc_lines);
		ctx[i] = dst[i]->enc;
		pid[i] = ++dst[i]->tx_pid;
	}
	if (rv_cdev_on)
		rv_cdev_seal_burst(0, m, ctx, kid, peer, pid, 1, pp, res, n);
	else
		rv_dc_seal_burst(ctx, kid, peer, pid, 1, pp, res, n);
	for (unsigned i = 0; i < n; i++)
		ok += res[i] == RV_OK;
	return ok;
}

double rb_bound_pass(const struct rh *h, struct rte_mbuf **pkts, unsigned n)
{
	/* The first eighth warms the core up, untimed: a pass's start is
	 * measurably slower (the core comes out of idle), and a bound should
	 * err on the fast side. */
	unsigned ok = 0, warm = n / 8 / RV_DP_BURST * RV_DP_BURST;
	uint64_t t0 = 0;
	for (unsigned i = 0; i < n; i++)
		if (pkts[i]->hash.usr >= n_keys)
			return 0;
	for (unsigned i = 0; i < n; i += RV_DP_BURST) {
		if (i == warm)
			t0 = rh_thread_cpu_ns();
		ok += bound_burst(h, pkts + i, n - i < RV_DP_BURST ? n - i : RV_DP_BURST);
	}
	uint64_t t = rh_thread_cpu_ns() - t0;
	return ok == 2 * n && t ? (double)(n - warm) / ((double)t / 1e3) : 0;
}
