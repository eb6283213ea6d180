/* Latency histogram: log-linear buckets (32 per power of two, ~3% wide),
 * so recording is O(1) without allocation and percentiles are exact to
 * within one bucket. */
#include <string.h>

#include "loadgen.h"

void lg_hist_reset(struct lg_hist *h)
{
	memset(h, 0, sizeof(*h));
}

static unsigned bucket_of(uint64_t ns)
{
	if (ns < LG_HIST_SUB)
		return (unsigned)ns;
	unsigned msb = 63 - (unsigned)__builtin_clzll(ns); /* >= 5 */
	unsigned shift = msb - 5;
	unsigned sub = (unsigned)(ns >> shift) & (LG_HIST_SUB - 1);
	unsigned b = (shift + 1) * LG_HIST_SUB + sub;
	return b < LG_HIST_POW * LG_HIST_SUB ? b : LG_HIST_POW * LG_HIST_SUB - 1;
}

/* Upper bound of bucket @b (the value reported for a percentile). */
static uint64_t bucket_top(unsigned b)
{
	if (b < LG_HIST_SUB)
		return b;
	unsigned shift = b / LG_HIST_SUB - 1;
	uint64_t sub = b % LG_HIST_SUB;
	return ((LG_HIST_SUB + sub + 1) << shift) - 1;
}

void lg_hist_add(struct lg_hist *h, uint64_t ns)
{
	h->b[bucket_of(ns)]++;
	h->count++;
	if (ns > h->max_ns)
		h->max_ns = ns;
}

/* @p in [0, 1]; 0 when empty. */
uint64_t lg_hist_percentile(const struct lg_hist *h, double p)
{
	if (h->count == 0)
		return 0;
	uint64_t rank = (uint64_t)(p * (double)h->count);
	if (rank >= h->count)
		rank = h->count - 1;
	uint64_t seen = 0;
	for (unsigned b = 0; b < LG_HIST_POW * LG_HIST_SUB; b++) {
		seen += h->b[b];
		if (seen > rank) {
			if (b == LG_HIST_POW * LG_HIST_SUB - 1)
				return h->max_ns; /* the last bucket holds everything above */
			uint64_t top = bucket_top(b);
			return top < h->max_ns ? top : h->max_ns;
		}
	}
	return h->max_ns;
}
