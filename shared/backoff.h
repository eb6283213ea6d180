/* Reconnect backoff, one rule for every program that dials again (the
 * client's keepalive stream, a data plane's link to the control plane). */
#ifndef RV_BACKOFF_H
#define RV_BACKOFF_H

#include <stdint.h>

/* The wait before attempt @attempt (1, 2, ...): @first_ms doubling up to
 * @max_ms, then ±20% jitter so that many peers do not come back at once. */
uint64_t rv_backoff_ms(unsigned attempt, uint64_t first_ms, uint64_t max_ms);

#endif
