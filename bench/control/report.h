/* The load client's figures and their JSON report (rv-control-load, one
 * object on stdout; json-c, the client's naming scheme). */
#ifndef RV_LOAD_REPORT_H
#define RV_LOAD_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "load.h"
#include "phase.h"

/* What the measurements found (main.c fills it). */
struct figures {
	struct rv_proc before, up, w0, w1;
	bool have_proc;
	double window_s, hb_per_s, cpu_pct;
	uint64_t hb_p50_ns, hb_p99_ns, hb_max_ns;
	uint32_t up_n, acked_n; /* acked_n: tunnels with an ack inside the window */
	double up_s;
	struct rv_hist kick, list0, list_joined, list_n, list_quiet;
	uint32_t kicks_done, kicks_lost;
	double resync_s, restart_s;
	long resync_want, resync_got;
	bool resync_run;
	uint64_t ended_early; /* streams over before the kick step */
};

/* The run's parameters, as the report names them. */
struct rv_report_run {
	uint32_t tunnels, users, rooms, connections, concurrency, keepalive_s, list_calls;
};

/* Prints the figures of phases @ph[0..nph) (users, rooms, login, join,
 * bootstrap) and @f as one JSON object on stdout. */
void rv_report_print(const struct rv_phase *ph, size_t nph, const struct figures *f,
		     const struct rv_report_run *run);

#endif
