/* rv-relay-bench: its options, the timed rounds relay_bench.c runs, and
 * the modes beside the table (relay_modes.c). */
#ifndef RB_RELAY_MODES_H
#define RB_RELAY_MODES_H

#include <stdbool.h>
#include <stdint.h>

#include "harness.h"

#define ROUND_PKTS	 16000u
#define ROUND_TIMEOUT_NS 30000000000ull

struct rb_opts {
	unsigned workers;
	enum rv_dp_mode mode;
	unsigned rounds;
	bool quick;
	enum rv_cipher cipher;
	uint32_t only_sessions; /* 0 = the three session counts */
	bool garbage;		/* the cost of each rejection instead of the relay table */
	bool trace;		/* tracing off vs on for one session instead of the table */
	unsigned rules;		/* --rules N: no rules vs N rules instead of the table */
	bool corrupt_dest_key;	/* test: one destination member holds a wrong key */
	bool inner6;		/* IPv4 vs IPv6 inner packets instead of the table */
	bool cdev;		/* --engine cryptodev: started after the EAL */
};

/* ---- relay_bench.c ---- */
struct rh *rb_harness(void);
uint64_t rb_drops_total(void);
/* Generate @k packets from the @senders first sessions, round robin. */
unsigned rb_generate(struct rte_mbuf **pkts, unsigned k, uint32_t senders, uint32_t payload);
/* One timed round of @n pre-built packets (see relay_bench.c). Wall ns, 0
 * on timeout; *@out packets out checked intact, *@cpu the lcores' CPU ns. */
uint64_t rb_timed_round(struct rte_mbuf **pkts, unsigned n, bool io, uint32_t payload,
			uint64_t *out, uint64_t *cpu);
/* Remember each packet's sender (the peer-id in its header) in hash.usr. */
void rb_tag_senders(struct rte_mbuf **pkts, unsigned n);

/* ---- relay_modes.c: each prints its table; 0, or 1 on a failed check ---- */
int rb_run_garbage(const struct rb_opts *o, uint32_t senders);
int rb_run_trace(const struct rb_opts *o, uint32_t senders);
int rb_run_rules(const struct rb_opts *o, uint32_t senders);
int rb_run_inner6(const struct rb_opts *o, uint32_t senders);

#endif
