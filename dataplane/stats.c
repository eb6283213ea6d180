/* Per-lcore counters, summed on read. */
#include <string.h>

#include <rte_common.h>

#include "stats.h"

struct slot {
	struct rv_lcore_stats s;
} __rte_cache_aligned;

static struct slot slots[RV_STATS_MAX_LCORES];

struct rv_lcore_stats *rv_stats_lcore(unsigned lcore)
{
	return &slots[lcore < RV_STATS_MAX_LCORES ? lcore : RV_STATS_MAX_LCORES - 1].s;
}

/* Word by word with relaxed atomic loads: a reader never sees a torn value. */
static void copy_relaxed(struct rv_lcore_stats *out, const struct rv_lcore_stats *in)
{
	const uint64_t *src = (const uint64_t *)in;
	uint64_t *dst = (uint64_t *)out;
	for (size_t i = 0; i < sizeof(*in) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

void rv_stats_read_lcore(unsigned lcore, struct rv_lcore_stats *out)
{
	if (lcore >= RV_STATS_MAX_LCORES) {
		memset(out, 0, sizeof(*out));
		return;
	}
	copy_relaxed(out, &slots[lcore].s);
}

void rv_stats_read_total(struct rv_lcore_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned l = 0; l < RV_STATS_MAX_LCORES; l++) {
		struct rv_lcore_stats one;
		copy_relaxed(&one, &slots[l].s);
		uint64_t *dst = (uint64_t *)out;
		const uint64_t *src = (const uint64_t *)&one;
		for (size_t i = 0; i < sizeof(one) / sizeof(uint64_t); i++)
			dst[i] += src[i];
	}
}

unsigned rv_stats_lcore_count(void)
{
	unsigned n = 0;
	for (unsigned l = 0; l < RV_STATS_MAX_LCORES; l++)
		n = slots[l].s.rx_pkts || slots[l].s.tx_pkts ? l + 1 : n;
	return n;
}

void rv_stats_reset(void)
{
	memset(slots, 0, sizeof(slots));
}
