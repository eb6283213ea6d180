/* Setup phases (users, rooms, logins, joins, bootstraps): a window of
 * `concurrency` calls, each completion starting the next item. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "phase.h"

#define CALL_TIMEOUT_MS 60000

static void finish_one(struct rv_phase *ph)
{
	if (atomic_fetch_add(&ph->finished, 1) + 1 == ph->total) {
		pthread_mutex_lock(&ph->lock);
		ph->t1_ns = rv_now_ns();
		pthread_cond_broadcast(&ph->over);
		pthread_mutex_unlock(&ph->lock);
	}
}

/* Start items until one call is in flight (or none is left). */
static void start_next(struct rv_phase *ph)
{
	for (;;) {
		uint32_t i = atomic_fetch_add(&ph->next, 1);
		if (i >= ph->total)
			return;
		int rc = ph->start(ph, i);
		if (rc == 0)
			return;
		if (rc > 0) {
			atomic_fetch_add(&ph->skipped, 1);
		} else {
			atomic_fetch_add(&ph->by_status[GRPC_STATUS_INTERNAL], 1);
			pthread_mutex_lock(&ph->lock);
			if (!ph->first_error[0])
				snprintf(ph->first_error, sizeof(ph->first_error),
					 "item %u: the call could not start", i);
			pthread_mutex_unlock(&ph->lock);
		}
		finish_one(ph);
	}
}

static void job_done(struct rv_call *c, grpc_status_code st, const char *details,
		     ProtobufCMessage *resp)
{
	struct rv_phase_job *j = c->arg;
	struct rv_phase *ph = j->ph;
	uint64_t lat = rv_now_ns() - c->started_ns;

	atomic_fetch_add(&ph->by_status[(unsigned)st < 17 ? st : GRPC_STATUS_UNKNOWN], 1);
	if (ph->done(ph, j->i, st, details, resp)) {
		atomic_fetch_add(&ph->ok, 1);
		rv_hist_add(&ph->lat, lat);
	} else {
		if (st == GRPC_STATUS_RESOURCE_EXHAUSTED)
			atomic_fetch_add(&ph->exhausted, 1);
		pthread_mutex_lock(&ph->lock);
		if (!ph->first_error[0])
			snprintf(ph->first_error, sizeof(ph->first_error), "%s: status %d: %s",
				 ph->name, (int)st, details);
		pthread_mutex_unlock(&ph->lock);
	}
	free(j);
	finish_one(ph);
	start_next(ph);
}

int rv_phase_call(struct rv_phase *ph, uint32_t i, unsigned conn, const char *path,
		  grpc_slice bearer, const ProtobufCMessage *req,
		  const ProtobufCMessageDescriptor *resp_desc)
{
	struct rv_phase_job *j = calloc(1, sizeof(*j));

	if (!j)
		return -1;
	j->ph = ph;
	j->i = i;
	j->c.arg = j;
	j->c.done = job_done;
	if (rv_rpc_unary(&j->c, conn, path, bearer, req, resp_desc, CALL_TIMEOUT_MS) < 0) {
		free(j);
		return -1;
	}
	return 0;
}

void rv_phase_run(struct rv_phase *ph)
{
	struct timespec until;

	pthread_mutex_init(&ph->lock, NULL);
	pthread_cond_init(&ph->over, NULL);
	ph->t0_ns = rv_now_ns();
	if (!ph->total) {
		ph->t1_ns = ph->t0_ns;
		return;
	}
	for (uint32_t k = 0; k < ph->concurrency && k < ph->total; k++)
		start_next(ph);
	pthread_mutex_lock(&ph->lock);
	while (atomic_load(&ph->finished) < ph->total) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 2;
		if (pthread_cond_timedwait(&ph->over, &ph->lock, &until) != 0)
			fprintf(stderr, "  %s: %u/%u done, %u ok\n", ph->name,
				atomic_load(&ph->finished), ph->total, atomic_load(&ph->ok));
	}
	pthread_mutex_unlock(&ph->lock);
	fprintf(stderr, "%s: %u ok of %u (%u skipped) in %.2f s: %.0f/s\n", ph->name,
		atomic_load(&ph->ok), ph->total, atomic_load(&ph->skipped),
		(double)(ph->t1_ns - ph->t0_ns) / 1e9, rv_phase_rate(ph));
	if (ph->first_error[0])
		fprintf(stderr, "  first refusal: %s\n", ph->first_error);
}

double rv_phase_rate(const struct rv_phase *ph)
{
	double s = (double)(ph->t1_ns - ph->t0_ns) / 1e9;
	return s > 0 ? atomic_load(&ph->ok) / s : 0;
}
