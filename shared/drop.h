/* Drop reasons of the data channel: every packet the data path refuses is
 * counted under exactly one of these. Shared by the client and the data plane
 * so that counters and docs use one vocabulary. */
#ifndef RV_DROP_H
#define RV_DROP_H

enum rv_drop {
	RV_OK = 0,
	RV_DROP_MALFORMED,     /* too short, bad length, bad padding */
	RV_DROP_BAD_OPCODE,    /* not P_DATA_V2 (or not the mode's format) */
	RV_DROP_UNKNOWN_PEER,  /* peer-id not in the session table */
	RV_DROP_UNKNOWN_KEY,   /* key-id has no installed key in this session */
	RV_DROP_AUTH,	       /* tag / HMAC did not verify */
	RV_DROP_REPLAY,	       /* packet-id 0, already seen, or too old */
	RV_DROP_SPOOFED,       /* inner source is not the sender's virtual IP */
	RV_DROP_NO_ROUTE,      /* inner destination not a member of the room */
	RV_DROP_NOT_IP,	       /* payload is neither IPv4 nor a keepalive/echo */
	RV_DROP_TOO_BIG,       /* no room in the buffer for the framing */
	RV_DROP_PID_EXHAUSTED, /* sender's packet-id space is used up (re-key) */
	RV_DROP_NOT_FOR_US,    /* outer frame not addressed to the data port */
	RV_DROP_TX_FULL,       /* transmit queue or ring full */
	RV_DROP_ARP,	       /* ARP not for us / next hop unresolved */
	RV_DROP_SERVER_IP,     /* to the room's server address, not an ICMP echo request */
	RV_DROP_RATE_LIMITED,  /* over a rate bound (server address echo replies) */
	RV_DROP__COUNT
};

/* Stable, lower_snake_case name for metrics and logs. */
const char *rv_drop_name(enum rv_drop reason);

#endif
