/* What held a trial's achieved rate below its offered rate: the generator's
 * own loop (it could not build and hand over packets fast enough, or lost
 * its CPU: due packets skipped), or the data plane (the port refused sends:
 * its ring or the memif was full, or every buffer was still in flight). The
 * larger count decides. */
#include "loadgen.h"

enum lg_limit lg_limit_of(double offered_pps, double tx_pps, uint64_t refused, uint64_t skipped)
{
	if (tx_pps >= LG_LIMIT_FRACTION * offered_pps)
		return LG_LIMIT_NONE;
	return refused > skipped ? LG_LIMIT_DATA_PLANE : LG_LIMIT_GENERATOR;
}

const char *lg_limit_name(enum lg_limit l)
{
	switch (l) {
	case LG_LIMIT_GENERATOR:
		return "generator";
	case LG_LIMIT_DATA_PLANE:
		return "data_plane";
	default:
		return "none";
	}
}
