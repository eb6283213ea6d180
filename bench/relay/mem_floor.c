/* The memory system's floor under the relay with many sessions: how many
 * cache lines of per-session state one relayed packet of a cold session
 * touches (what the relay prefetches: both sessions, both keys, the open and
 * seal cipher contexts with their OpenSSL state, the index slots and the
 * replay word), and how fast this machine serves cold lines when 32
 * prefetched loads are in flight (the relay's burst). Their product is
 * the time per packet that no implementation keeping per-session keys in
 * memory can avoid once the sessions outgrow the caches. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "dp_tables.h"
#include "mem_floor.h"

static unsigned lines(const void *p, size_t len)
{
	if (!p || !len)
		return 0;
	uintptr_t a = (uintptr_t)p;
	return (unsigned)((a + len - 1) / 64 - a / 64 + 1);
}

/* A context's first line and what its hint names (dp_tables.h). */
static unsigned ctx_lines(const struct rv_cipher_ctx *ctx, const struct rv_dp_ctx_hint *h)
{
	return lines(ctx, 64) + lines(h->evp, h->evp_len) + lines(h->hot, h->hot_len);
}

unsigned mf_lines_per_packet(uint32_t from_peer, uint32_t to_peer)
{
	rcu_read_lock();
	struct rv_dp_session *a = rv_dp_find_peer(rv_dp_root, from_peer);
	struct rv_dp_session *b = rv_dp_find_peer(rv_dp_root, to_peer);
	struct rv_dp_key *ka = a ? rv_dp_tx_key(a) : NULL;
	struct rv_dp_key *kb = b ? rv_dp_tx_key(b) : NULL;
	unsigned n = 0;
	if (ka && kb)
		/* the sender's key: its open line; the destination's: its seal line */
		n = lines(a, sizeof(*a)) + lines(b, sizeof(*b)) + lines(ka, 64) +
		    lines(&kb->tx_pid, 64) + ctx_lines(ka->dec, &ka->dec_hint) +
		    ctx_lines(kb->enc, &kb->enc_hint) +
		    3; /* peer-id slot, host slot, replay bitmap word */
	rcu_read_unlock();
	return n;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

double mf_cold_line_ns(void)
{
	const size_t bytes = (size_t)512 << 20, n = bytes / 64;
	uint64_t *a = aligned_alloc(2u << 20, bytes);
	if (!a)
		return 0;
	madvise(a, bytes, MADV_HUGEPAGE); /* as the relay's heap (shared/heap.h) */
	memset(a, 1, bytes);
	uint32_t r = 12345;
	uint64_t sum = 0;
	const unsigned batches = 40000;
	double t0 = now_s();
	for (unsigned b = 0; b < batches; b++) {
		size_t idx[32];
		for (unsigned k = 0; k < 32; k++) {
			r = r * 1664525u + 1013904223u;
			idx[k] = ((size_t)r * 2654435761u) % n * 8;
			__builtin_prefetch(&a[idx[k]]);
		}
		for (unsigned k = 0; k < 32; k++)
			sum += a[idx[k]];
	}
	double ns = (now_s() - t0) * 1e9 / (batches * 32.0);
	free(a);
	return sum ? ns : ns; /* sum keeps the loads */
}
