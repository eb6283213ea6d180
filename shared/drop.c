/* Names and help of the drop reasons (from drop_reasons.def). */
#include "drop.h"

static const char *const names[RV_DROP__COUNT] = {
    [RV_OK] = "ok",
#define RV_DROP_REASON(e, name, help) [RV_DROP_##e] = #name,
#include "drop_reasons.def"
#undef RV_DROP_REASON
};

static const char *const helps[RV_DROP__COUNT] = {
    [RV_OK] = "not dropped",
#define RV_DROP_REASON(e, name, help) [RV_DROP_##e] = help,
#include "drop_reasons.def"
#undef RV_DROP_REASON
};

const char *rv_drop_name(enum rv_drop reason)
{
	if ((unsigned)reason >= RV_DROP__COUNT)
		return "unknown";
	return names[reason];
}

const char *rv_drop_help(enum rv_drop reason)
{
	if ((unsigned)reason >= RV_DROP__COUNT)
		return "unknown reason";
	return helps[reason];
}
