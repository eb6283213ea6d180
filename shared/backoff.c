/* Capped exponential backoff with jitter (backoff.h). */
#include "backoff.h"

#include <stdlib.h>

uint64_t rv_backoff_ms(unsigned attempt, uint64_t first_ms, uint64_t max_ms)
{
	uint64_t ms = first_ms;
	for (unsigned i = 1; i < attempt && ms < max_ms; i++)
		ms *= 2;
	if (ms > max_ms)
		ms = max_ms;
	return ms * 8 / 10 + arc4random_uniform((uint32_t)(ms * 4 / 10) + 1);
}
