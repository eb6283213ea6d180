/* Payloads the data channel carries besides IP packets: OpenVPN's keepalive
 * ping and roomvpn's echo request/reply (RTT for the health API). */
#ifndef RV_PAYLOAD_H
#define RV_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RV_PING_LEN 16
extern const uint8_t rv_ping_payload[RV_PING_LEN];

/* Echo: magic "\xfeRVECHO\x01" (8) | type (1) | zero (3) | seq (4, BE) |
 * timestamp ns (8, BE). The first byte 0xfe can't start an IPv4/IPv6 packet. */
#define RV_ECHO_LEN	24
#define RV_ECHO_REQUEST 1
#define RV_ECHO_REPLY	2

struct rv_echo {
	uint8_t type;
	uint32_t seq;
	uint64_t ts_ns;
};

enum rv_payload_kind {
	RV_PAYLOAD_IPV4,
	RV_PAYLOAD_IPV6,
	RV_PAYLOAD_PING,
	RV_PAYLOAD_ECHO,
	RV_PAYLOAD_OTHER,
};

enum rv_payload_kind rv_payload_classify(const uint8_t *p, uint32_t len);
bool rv_payload_is_ping(const uint8_t *p, uint32_t len);
/* Writes RV_ECHO_LEN bytes; returns RV_ECHO_LEN, or 0 if @cap is too small. */
size_t rv_echo_build(uint8_t *buf, size_t cap, const struct rv_echo *e);
/* Returns 0 and fills @e, or -1 if this is not a well-formed echo. */
int rv_echo_parse(const uint8_t *p, uint32_t len, struct rv_echo *e);
/* Turn a request into its reply in place (the timestamp is kept). */
void rv_echo_make_reply(uint8_t *p);

#endif
