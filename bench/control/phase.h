/* A setup phase: one call per item, at most `concurrency` in flight, its
 * rate and latency measured (phase.c). */
#ifndef RV_BENCH_CONTROL_PHASE_H
#define RV_BENCH_CONTROL_PHASE_H

#include <pthread.h>

#include "load.h"

struct rv_phase;
/* Start item @i's call (rv_rpc_unary with a struct rv_phase_job), or return
 * 1 to skip the item, -1 if it could not start. */
typedef int (*rv_phase_start_fn)(struct rv_phase *ph, uint32_t i);
/* The item's answer (on a completion-queue thread); returns true if it
 * counts as a success (e.g. ALREADY_EXISTS for a re-run's users). */
typedef bool (*rv_phase_done_fn)(struct rv_phase *ph, uint32_t i, grpc_status_code st,
				 const char *details, ProtobufCMessage *resp);

struct rv_phase {
	const char *name;
	uint32_t total, concurrency;
	rv_phase_start_fn start;
	rv_phase_done_fn done;
	void *ctx;
	/* results */
	_Atomic uint32_t next, finished, ok, skipped, exhausted;
	_Atomic uint32_t by_status[17];
	struct rv_hist lat;
	uint64_t t0_ns, t1_ns;
	pthread_mutex_t lock;
	pthread_cond_t over;
	char first_error[256];
};

struct rv_phase_job {
	struct rv_call c;
	struct rv_phase *ph;
	uint32_t i;
};

/* Run the phase to its end, printing progress on stderr every 2 s. */
void rv_phase_run(struct rv_phase *ph);
/* Start item i's unary call from a start function. */
int rv_phase_call(struct rv_phase *ph, uint32_t i, unsigned conn, const char *path,
		  grpc_slice bearer, const ProtobufCMessage *req,
		  const ProtobufCMessageDescriptor *resp_desc);
double rv_phase_rate(const struct rv_phase *ph); /* successes per second */

#endif
