/* Non-IP payloads of the data channel: OpenVPN's keepalive ping and the
 * roomvpn echo request/reply (layout in payload.h and docs/protocol.md). */
#include <string.h>

#include "inet.h"
#include "payload.h"

const uint8_t rv_ping_payload[RV_PING_LEN] = {
    0x2a, 0x18, 0x7b, 0xf3, 0x64, 0x1e, 0xb4, 0xcb, 0x07, 0xed, 0x2d, 0x0a, 0x98, 0x1f, 0xc7, 0x48,
};

static const uint8_t echo_magic[8] = {0xfe, 'R', 'V', 'E', 'C', 'H', 'O', 0x01};

bool rv_payload_is_ping(const uint8_t *p, uint32_t len)
{
	return len == RV_PING_LEN && memcmp(p, rv_ping_payload, RV_PING_LEN) == 0;
}

enum rv_payload_kind rv_payload_classify(const uint8_t *p, uint32_t len)
{
	struct rv_echo e;

	if (len >= 20 && p[0] >> 4 == 4)
		return RV_PAYLOAD_IPV4;
	if (len >= 40 && p[0] >> 4 == 6)
		return RV_PAYLOAD_IPV6;
	if (rv_payload_is_ping(p, len))
		return RV_PAYLOAD_PING;
	if (rv_echo_parse(p, len, &e) == 0)
		return RV_PAYLOAD_ECHO;
	return RV_PAYLOAD_OTHER;
}

size_t rv_echo_build(uint8_t *buf, size_t cap, const struct rv_echo *e)
{
	if (cap < RV_ECHO_LEN)
		return 0;
	memcpy(buf, echo_magic, sizeof(echo_magic));
	buf[8] = e->type;
	buf[9] = buf[10] = buf[11] = 0;
	rv_put_be32(buf + 12, e->seq);
	rv_put_be32(buf + 16, (uint32_t)(e->ts_ns >> 32));
	rv_put_be32(buf + 20, (uint32_t)e->ts_ns);
	return RV_ECHO_LEN;
}

int rv_echo_parse(const uint8_t *p, uint32_t len, struct rv_echo *e)
{
	if (len != RV_ECHO_LEN || memcmp(p, echo_magic, sizeof(echo_magic)) != 0)
		return -1;
	if ((p[8] != RV_ECHO_REQUEST && p[8] != RV_ECHO_REPLY) || p[9] || p[10] || p[11])
		return -1;
	e->type = p[8];
	e->seq = rv_get_be32(p + 12);
	e->ts_ns = (uint64_t)rv_get_be32(p + 16) << 32 | rv_get_be32(p + 20);
	return 0;
}

void rv_echo_make_reply(uint8_t *p)
{
	p[8] = RV_ECHO_REPLY;
}
