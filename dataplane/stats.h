/* Data-plane counters: one cache-aligned block per lcore, written only by
 * that lcore (plain stores, no atomics on the packet path), summed on read.
 * Readers (the agent, any thread) may see a counter a few packets behind. */
#ifndef RV_DP_STATS_H
#define RV_DP_STATS_H

#include <stdint.h>

#include "drop.h"

#define RV_STATS_MAX_LCORES 128

struct rv_lcore_stats {
	uint64_t rx_pkts; /* frames received from ports / rings */
	uint64_t rx_bytes;
	uint64_t tx_pkts; /* frames handed to a port or the TCP ring */
	uint64_t tx_bytes;
	uint64_t relayed; /* inner packets delivered to a member */
	uint64_t broadcast_copies;
	uint64_t echo_replies;
	uint64_t pings;
	uint64_t handoffs;	    /* packets passed to another worker's ring */
	uint64_t arp_replies;	    /* ARP replies we sent */
	uint64_t server_ip_replies; /* ICMP echo replies from a room's server address */
	uint64_t drops[RV_DROP__COUNT];
};

/* Called by lcore @lcore only (worker, RX lcore or control thread). */
struct rv_lcore_stats *rv_stats_lcore(unsigned lcore);
static inline void rv_stats_drop(struct rv_lcore_stats *s, enum rv_drop why)
{
	s->drops[why]++;
}

/* Readers (any thread). */
void rv_stats_read_lcore(unsigned lcore, struct rv_lcore_stats *out);
/* Sum over all lcores. */
void rv_stats_read_total(struct rv_lcore_stats *out);
/* 1 + the highest lcore id that received or sent something (0 = none). */
unsigned rv_stats_lcore_count(void);
void rv_stats_reset(void); /* tests/bench only: workers must be stopped */

#endif
