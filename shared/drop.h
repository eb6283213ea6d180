/* Drop reasons of the data channel: every packet the data path refuses is
 * counted under exactly one of these. Shared by the client and the data plane
 * so that counters and docs use one vocabulary. The list is
 * shared/drop_reasons.def (name and help of each, declared once). */
#ifndef RV_DROP_H
#define RV_DROP_H

enum rv_drop {
	RV_OK = 0,
#define RV_DROP_REASON(e, name, help) RV_DROP_##e,
#include "drop_reasons.def"
#undef RV_DROP_REASON
	RV_DROP__COUNT
};

/* Stable, lower_snake_case name for metrics and logs ("unknown" if out of
 * range, "ok" for RV_OK). */
const char *rv_drop_name(enum rv_drop reason);
/* One line: the cause (docs, dpctl). */
const char *rv_drop_help(enum rv_drop reason);

#endif
