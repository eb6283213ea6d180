/* Garbage packets for rv-relay-bench --garbage: one kind per rejection
 * reason a hostile network can trigger cheaply. */
#ifndef RV_RELAY_GARBAGE_H
#define RV_RELAY_GARBAGE_H

#include "drop.h"
#include "harness.h"

struct rb_garbage_kind {
	const char *name;
	enum rv_drop reason; /* RV_OK: relayed, not dropped */
	const char *what;
};

/* The kinds, in the order of the bench's table. */
const struct rb_garbage_kind *rb_garbage_kinds(unsigned *n);
/* One packet of kind @kind (an index into rb_garbage_kinds) "from"
 * session @src, @payload bytes of inner packet before sealing; NULL if out
 * of mbufs. */
struct rte_mbuf *rb_garbage_packet(struct rh *h, unsigned kind, uint32_t src, uint32_t payload);

#endif
