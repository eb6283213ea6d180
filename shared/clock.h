/* Clocks in nanoseconds, for every program (control, data plane, tools). */
#ifndef RV_CLOCK_H
#define RV_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC: intervals, deadlines, timeouts. */
uint64_t rv_clock_mono_ns(void);
/* CLOCK_REALTIME: timestamps stored or shown (ns since the Unix epoch). */
uint64_t rv_clock_real_ns(void);

#endif
