/* Packet trace ("why was my packet dropped?"): armed by the agent
 * (roomvpn-dpctl trace start), each traced packet records one line per stage
 * it passes (classify, look-up, open, replay, route, seal, TX) with its
 * session, the decision and the drop reason. Every lcore writes its own
 * ring (no locks); the agent reads them all (rv_trace_read).
 *
 * Cost when off: each worker loads the armed flag once per pass
 * (w->tracing); on the relay path each stage tests it once per burst
 * (classify, look-up, open, replay, route, seal, TX to the port). Per
 * packet only off that path: the drop helper (which also tests the debug
 * log flag), hand-offs to another worker, the TCP ring, keepalive / echo /
 * server-address replies. A packet is traced when its job's trace id is
 * non-zero. */
#ifndef RV_DP_TRACE_H
#define RV_DP_TRACE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "drop.h"

#define RV_TRACE_RING	   512 /* records per lcore */
#define RV_TRACE_MAX_LCORE 128
#define RV_TRACE_NO_ID	   0xFFFFFFFFu /* peer / room unknown */
#define RV_TRACE_DEFAULT   50	       /* packets */
#define RV_TRACE_MAX	   1000

enum rv_trace_stage {
	RV_STAGE_CLASSIFY,
	RV_STAGE_LOOKUP,
	RV_STAGE_OPEN,
	RV_STAGE_REPLAY,
	RV_STAGE_ROUTE,
	RV_STAGE_SEAL,
	RV_STAGE_TX,
	RV_STAGE__COUNT
};

enum rv_trace_decision {
	RV_TD_DROP,	 /* dropped: see the reason */
	RV_TD_NEXT,	 /* passed on to the next stage */
	RV_TD_HANDOFF,	 /* to worker @arg's inbox (it owns the session) */
	RV_TD_DELIVER,	 /* inner packet for member @arg (peer-id) */
	RV_TD_BROADCAST, /* copied to the room's members */
	RV_TD_REPLY,	 /* answered to the sender (ping, echo, server address) */
	RV_TD_QUEUED,	 /* handed to the port (@arg 0) or the TCP ring (@arg 1) */
	RV_TD_CONSUMED,	 /* used here (an echo reply's RTT) */
	RV_TD__COUNT
};

struct rv_trace_rec {
	uint64_t ts_ns; /* CLOCK_MONOTONIC (the worker's pass clock) */
	uint32_t pkt;	/* trace id of the packet, 1.. */
	uint32_t peer_id;
	uint32_t room_id;
	uint32_t arg;
	uint8_t stage, decision, reason;
	uint8_t lcore;
};

struct rv_trace_ring {
	_Atomic uint32_t gen; /* trace run the records belong to */
	_Atomic uint32_t n;   /* records published (release) */
	uint32_t lost;	      /* records that found the ring full */
	struct rv_trace_rec rec[RV_TRACE_RING];
};

struct rv_trace_ctl {
	atomic_bool armed;
	_Atomic uint32_t gen;	  /* bumped by each start */
	_Atomic int32_t budget;	  /* packets still to trace */
	_Atomic uint32_t next_id; /* trace ids */
	/* filter, written before arming */
	bool by_peer, by_room;
	uint32_t peer_id, room_id;
};

extern struct rv_trace_ctl rv_trace;
extern struct rv_trace_ring rv_trace_rings[RV_TRACE_MAX_LCORE];

const char *rv_trace_stage_name(enum rv_trace_stage s);
const char *rv_trace_decision_name(enum rv_trace_decision d);

/* Control (the agent thread, or a test). */
struct rv_trace_filter {
	uint32_t count; /* packets; 0 = RV_TRACE_DEFAULT */
	bool by_peer, by_room;
	uint32_t peer_id, room_id;
};
void rv_trace_start(const struct rv_trace_filter *f);
void rv_trace_stop(void);
/* Copy up to @cap records of the current run into @out, ordered by packet
 * then time; returns the number copied, *@lost the records that found a
 * ring full. */
unsigned rv_trace_read(struct rv_trace_rec *out, unsigned cap, uint32_t *lost);
bool rv_trace_armed(void);

/* Packet path (lcore @lcore only). */
/* A new trace id for a packet of peer @peer / room @room (RV_TRACE_NO_ID if
 * not known yet) if it passes the filter and the budget allows; else 0. */
uint32_t rv_trace_take(uint32_t peer, uint32_t room);
/* Start of a pass while armed: a new run empties this lcore's ring. */
void rv_trace_pass(unsigned lcore);
void rv_trace_add(unsigned lcore, uint64_t now_ns, uint32_t pkt, enum rv_trace_stage stage,
		  enum rv_trace_decision d, enum rv_drop why, uint32_t peer, uint32_t room,
		  uint32_t arg);

#endif
