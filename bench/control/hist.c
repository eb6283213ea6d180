/* Log-linear histogram: 16 sub-buckets per power of two (≤ 6.25% error). */
#include <string.h>

#include "load.h"

static unsigned bucket(uint64_t v)
{
	if (v < 16)
		return (unsigned)v;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v);
	unsigned sub = (unsigned)(v >> (msb - 4)) & 15u;
	return (msb - 3) * 16 + sub;
}

static uint64_t bucket_value(unsigned i)
{
	if (i < 16)
		return i;
	unsigned msb = i / 16 + 3, sub = i % 16;
	return ((uint64_t)(16 + sub) << (msb - 4)) + ((1ull << (msb - 4)) >> 1);
}

void rv_hist_add(struct rv_hist *h, uint64_t ns)
{
	unsigned i = bucket(ns);
	if (i >= RV_HIST_BUCKETS)
		i = RV_HIST_BUCKETS - 1;
	atomic_fetch_add_explicit(&h->b[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->n, 1, memory_order_relaxed);
}

void rv_hist_reset(struct rv_hist *h)
{
	for (unsigned i = 0; i < RV_HIST_BUCKETS; i++)
		atomic_store(&h->b[i], 0);
	atomic_store(&h->n, 0);
}

uint64_t rv_hist_pct(const struct rv_hist *h, double p)
{
	uint64_t n = 0, seen = 0, want;

	for (unsigned i = 0; i < RV_HIST_BUCKETS; i++)
		n += atomic_load(&h->b[i]);
	if (!n)
		return 0;
	want = (uint64_t)(p / 100.0 * (double)n + 0.5);
	if (want < 1)
		want = 1;
	for (unsigned i = 0; i < RV_HIST_BUCKETS; i++) {
		seen += atomic_load(&h->b[i]);
		if (seen >= want)
			return bucket_value(i);
	}
	return bucket_value(RV_HIST_BUCKETS - 1);
}
