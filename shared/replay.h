/* Replay window: a sliding bitmap over packet-ids. Check only packets that
 * have already authenticated. One writer per window. */
#ifndef RV_REPLAY_H
#define RV_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "drop.h"

#define RV_REPLAY_DEFAULT_WINDOW 2048u
#define RV_REPLAY_MAX_WINDOW	 65536u
/* Past this packet-id a sender must re-key (OpenVPN never wraps). */
#define RV_PID_REKEY_THRESHOLD 0xFF000000u

struct rv_replay {
	uint32_t highest; /* highest accepted packet-id, 0 = none yet */
	uint32_t window;  /* size in packets, a power of two */
	uint64_t *bits;	  /* window/64 words, bit (id % window) */
};

/* @window is rounded up to a power of two >= 64; 0 means the default.
 * Returns 0, or -1 if @window exceeds RV_REPLAY_MAX_WINDOW or on ENOMEM. */
int rv_replay_init(struct rv_replay *r, uint32_t window);
void rv_replay_free(struct rv_replay *r);
void rv_replay_reset(struct rv_replay *r);

/* Accept @pid (and remember it) or return RV_DROP_REPLAY: id 0, already
 * seen, or older than the window. No allocation. */
enum rv_drop rv_replay_accept(struct rv_replay *r, uint32_t pid);

/* A hint before rv_replay_accept(@pid): fetch the bitmap word it uses. */
static inline void rv_replay_prefetch(const struct rv_replay *r, uint32_t pid)
{
	__builtin_prefetch(&r->bits[(pid & (r->window - 1)) / 64]);
}

static inline bool rv_pid_needs_rekey(uint32_t pid)
{
	return pid >= RV_PID_REKEY_THRESHOLD;
}

#endif
