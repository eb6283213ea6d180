/* Clocks in nanoseconds, for every program (control, data plane, tools). */
#ifndef RV_CLOCK_H
#define RV_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC: intervals, deadlines, timeouts. */
uint64_t rv_clock_mono_ns(void);
/* CLOCK_REALTIME: timestamps stored or shown (ns since the Unix epoch). */
uint64_t rv_clock_real_ns(void);
/* The absolute time @ns from now on clock @id, for pthread_cond_timedwait
 * (CLOCK_REALTIME unless the condition variable was set to another clock). */
struct timespec rv_clock_deadline(clockid_t id, uint64_t ns);

#endif
