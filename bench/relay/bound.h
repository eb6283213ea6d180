/* The crypto bound of the relay bench: what one open and one re-seal per
 * packet cost on the relay's core with nothing else of the relay, done the
 * way the relay does them, so that the relay cannot beat it: bursts of
 * RV_DP_BURST through the burst API, each burst's contexts prefetched one
 * stage ahead, and one context pair per session (the sender's opening
 * context, the destination's sealing context), as many as the relay holds,
 * as cold as the relay's with many sessions. */
#ifndef RV_RELAY_BOUND_H
#define RV_RELAY_BOUND_H

#include <stdint.h>

#include <rte_mbuf.h>

struct rh;

/* The data plane's side of every session's key (h->n_sessions of them);
 * replaces what an earlier call built. 0, or -1 with the error printed. */
int rb_bound_init(struct rh *h);
void rb_bound_free(void);
/* Open and re-seal @n member packets in place (sender's session index in
 * hash.usr, as rh_packet() built them); on this thread. Returns Mpps per
 * CPU-second of this thread over all but the first eighth (a warm-up), or 0
 * if any packet failed. */
double rb_bound_pass(const struct rh *h, struct rte_mbuf **pkts, unsigned n);

#endif
