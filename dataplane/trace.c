/* Packet trace rings (see trace.h). */
#include "trace.h"

#include <stdlib.h>
#include <string.h>

struct rv_trace_ctl rv_trace;
struct rv_trace_ring rv_trace_rings[RV_TRACE_MAX_LCORE];

static const char *const stage_names[RV_STAGE__COUNT] = {"classify", "look-up", "open", "replay",
							 "route",    "seal",	"tx"};
static const char *const decision_names[RV_TD__COUNT] = {
    "drop", "next", "handoff", "deliver", "broadcast", "reply", "queued", "consumed"};

const char *rv_trace_stage_name(enum rv_trace_stage s)
{
	return (unsigned)s < RV_STAGE__COUNT ? stage_names[s] : "?";
}

const char *rv_trace_decision_name(enum rv_trace_decision d)
{
	return (unsigned)d < RV_TD__COUNT ? decision_names[d] : "?";
}

void rv_trace_start(const struct rv_trace_filter *f)
{
	uint32_t count = f->count ? f->count : RV_TRACE_DEFAULT;
	atomic_store(&rv_trace.armed, false);
	rv_trace.by_peer = f->by_peer;
	rv_trace.by_room = f->by_room;
	rv_trace.peer_id = f->peer_id;
	rv_trace.room_id = f->room_id;
	atomic_store(&rv_trace.budget, (int32_t)(count > RV_TRACE_MAX ? RV_TRACE_MAX : count));
	atomic_fetch_add(&rv_trace.gen, 1);
	atomic_store(&rv_trace.armed, true); /* seq_cst: publishes the filter */
}

void rv_trace_stop(void)
{
	atomic_store(&rv_trace.armed, false);
}

bool rv_trace_armed(void)
{
	return atomic_load(&rv_trace.armed);
}

uint32_t rv_trace_take(uint32_t peer, uint32_t room)
{
	if (rv_trace.by_peer && peer != rv_trace.peer_id)
		return 0;
	if (rv_trace.by_room && room != rv_trace.room_id)
		return 0;
	if (atomic_load_explicit(&rv_trace.budget, memory_order_relaxed) <= 0 ||
	    atomic_fetch_sub_explicit(&rv_trace.budget, 1, memory_order_relaxed) <= 0)
		return 0;
	return atomic_fetch_add_explicit(&rv_trace.next_id, 1, memory_order_relaxed) + 1;
}

void rv_trace_pass(unsigned lcore)
{
	struct rv_trace_ring *r = &rv_trace_rings[lcore % RV_TRACE_MAX_LCORE];
	uint32_t gen = atomic_load_explicit(&rv_trace.gen, memory_order_acquire);
	if (atomic_load_explicit(&r->gen, memory_order_relaxed) == gen)
		return;
	atomic_store_explicit(&r->n, 0, memory_order_relaxed);
	r->lost = 0;
	atomic_store_explicit(&r->gen, gen, memory_order_release);
}

void rv_trace_add(unsigned lcore, uint64_t now_ns, uint32_t pkt, enum rv_trace_stage stage,
		  enum rv_trace_decision d, enum rv_drop why, uint32_t peer, uint32_t room,
		  uint32_t arg)
{
	struct rv_trace_ring *r = &rv_trace_rings[lcore % RV_TRACE_MAX_LCORE];
	uint32_t n = atomic_load_explicit(&r->n, memory_order_relaxed);
	if (n >= RV_TRACE_RING) {
		r->lost++;
		return;
	}
	r->rec[n] = (struct rv_trace_rec){.ts_ns = now_ns,
					  .pkt = pkt,
					  .peer_id = peer,
					  .room_id = room,
					  .arg = arg,
					  .stage = (uint8_t)stage,
					  .decision = (uint8_t)d,
					  .reason = (uint8_t)why,
					  .lcore = (uint8_t)lcore};
	atomic_store_explicit(&r->n, n + 1, memory_order_release);
}

static int by_packet(const void *a, const void *b)
{
	const struct rv_trace_rec *x = a, *y = b;
	if (x->pkt != y->pkt)
		return x->pkt < y->pkt ? -1 : 1;
	if (x->ts_ns != y->ts_ns)
		return x->ts_ns < y->ts_ns ? -1 : 1;
	return x->stage < y->stage ? -1 : x->stage > y->stage;
}

unsigned rv_trace_read(struct rv_trace_rec *out, unsigned cap, uint32_t *lost)
{
	uint32_t gen = atomic_load(&rv_trace.gen);
	unsigned k = 0;
	*lost = 0;
	for (unsigned l = 0; l < RV_TRACE_MAX_LCORE; l++) {
		struct rv_trace_ring *r = &rv_trace_rings[l];
		if (atomic_load_explicit(&r->gen, memory_order_acquire) != gen)
			continue;
		uint32_t n = atomic_load_explicit(&r->n, memory_order_acquire);
		unsigned take = n < cap - k ? n : cap - k;
		memcpy(out + k, r->rec, take * sizeof(*out));
		/* a new run may have emptied the ring meanwhile: drop the copy */
		if (atomic_load_explicit(&r->gen, memory_order_acquire) != gen)
			continue;
		k += take;
		*lost += r->lost + (n - take);
	}
	qsort(out, k, sizeof(*out), by_packet);
	return k;
}
