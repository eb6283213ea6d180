/* Clocks (clock.h). */
#include "clock.h"

#include <time.h>

static uint64_t read_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t rv_clock_mono_ns(void)
{
	return read_ns(CLOCK_MONOTONIC);
}

uint64_t rv_clock_real_ns(void)
{
	return read_ns(CLOCK_REALTIME);
}

struct timespec rv_clock_deadline(clockid_t id, uint64_t ns)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	ts.tv_sec += (time_t)(ns / 1000000000ull);
	ts.tv_nsec += (long)(ns % 1000000000ull);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}
