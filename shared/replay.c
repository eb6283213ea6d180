/* Replay window: bit (id % window) of a ring of window bits remembers
 * whether id was seen, for ids in (highest - window, highest]. */
#include <stdlib.h>
#include <string.h>

#include "replay.h"

int rv_replay_init(struct rv_replay *r, uint32_t window)
{
	uint32_t w = 64;

	memset(r, 0, sizeof(*r));
	if (window == 0)
		window = RV_REPLAY_DEFAULT_WINDOW;
	if (window > RV_REPLAY_MAX_WINDOW)
		return -1;
	while (w < window)
		w <<= 1;
	r->bits = calloc(w / 64, sizeof(uint64_t));
	if (!r->bits)
		return -1;
	r->window = w;
	return 0;
}

void rv_replay_free(struct rv_replay *r)
{
	free(r->bits);
	r->bits = NULL;
	r->window = 0;
	r->highest = 0;
}

void rv_replay_reset(struct rv_replay *r)
{
	if (r->bits)
		memset(r->bits, 0, r->window / 8);
	r->highest = 0;
}

static void clear_bit(struct rv_replay *r, uint32_t id)
{
	uint32_t b = id & (r->window - 1);

	r->bits[b / 64] &= ~(1ull << (b % 64));
}

/* Forget ids (highest, pid]: they are new, their bits still hold ids one
 * window older. Whole words are cleared where possible. */
static void advance(struct rv_replay *r, uint32_t pid)
{
	uint32_t diff = pid - r->highest;
	uint32_t id = r->highest + 1;

	if (diff >= r->window) {
		memset(r->bits, 0, r->window / 8);
		return;
	}
	while (id != pid + 1) {
		uint32_t b = id & (r->window - 1);
		if (b % 64 == 0 && pid - id >= 63) {
			r->bits[b / 64] = 0;
			id += 64;
		} else {
			clear_bit(r, id);
			id++;
		}
	}
}

enum rv_drop rv_replay_accept(struct rv_replay *r, uint32_t pid)
{
	uint32_t b;
	uint64_t m;

	if (pid == 0)
		return RV_DROP_REPLAY;
	if (pid > r->highest) {
		advance(r, pid);
		r->highest = pid;
	} else if (r->highest - pid >= r->window) {
		return RV_DROP_REPLAY;
	}
	b = pid & (r->window - 1);
	m = 1ull << (b % 64);
	if (r->bits[b / 64] & m)
		return RV_DROP_REPLAY;
	r->bits[b / 64] |= m;
	return RV_OK;
}
