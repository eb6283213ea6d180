/* Names of the drop reasons, for metrics and logs. */
#include "drop.h"

static const char *const names[RV_DROP__COUNT] = {
    [RV_OK] = "ok",
    [RV_DROP_MALFORMED] = "malformed",
    [RV_DROP_BAD_OPCODE] = "bad_opcode",
    [RV_DROP_UNKNOWN_PEER] = "unknown_peer",
    [RV_DROP_UNKNOWN_KEY] = "unknown_key",
    [RV_DROP_AUTH] = "auth",
    [RV_DROP_REPLAY] = "replay",
    [RV_DROP_SPOOFED] = "spoofed",
    [RV_DROP_NO_ROUTE] = "no_route",
    [RV_DROP_NOT_IP] = "not_ip",
    [RV_DROP_TOO_BIG] = "too_big",
    [RV_DROP_PID_EXHAUSTED] = "pid_exhausted",
    [RV_DROP_NOT_FOR_US] = "not_for_us",
    [RV_DROP_TX_FULL] = "tx_full",
    [RV_DROP_ARP] = "arp",
    [RV_DROP_SERVER_IP] = "server_ip",
    [RV_DROP_RATE_LIMITED] = "rate_limited",
};

const char *rv_drop_name(enum rv_drop reason)
{
	if ((unsigned)reason >= RV_DROP__COUNT)
		return "unknown";
	return names[reason];
}
