/* An inner IPv6 packet's header chain (inner6.h). */
#include "inner6.h"

#define NH_HOP_BY_HOP 0
#define NH_ROUTING    43
#define NH_FRAGMENT   44
#define NH_AH	      51
#define NH_DEST_OPTS  60

static uint16_t be16(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

/* ICMPv6 types that only make sense on a multi-access link. */
static bool is_nd(uint8_t type)
{
	return (type >= 130 && type <= 137) || type == 143;
}

enum rv_drop rv_inner6_parse(const uint8_t *p, uint32_t len, struct rv_inner6 *out)
{
	if (len < RV_INNER6_HDR_LEN || p[0] >> 4 != 6)
		return RV_DROP_V6_MALFORMED;
	uint32_t end = RV_INNER6_HDR_LEN + be16(p + 4);
	if (end == RV_INNER6_HDR_LEN && p[6] == NH_HOP_BY_HOP)
		return RV_DROP_V6_MALFORMED; /* a jumbogram: never inside a tunnel */
	if (end > len)
		return RV_DROP_V6_MALFORMED;
	*out = (struct rv_inner6){.src = p + 8, .dst = p + 24};
	uint8_t nh = p[6];
	uint32_t off = RV_INNER6_HDR_LEN;
	/* Walk the extension headers to the upper-layer one. */
	for (unsigned i = 0;; i++) {
		if (nh != NH_HOP_BY_HOP && nh != NH_ROUTING && nh != NH_FRAGMENT && nh != NH_AH &&
		    nh != NH_DEST_OPTS)
			break;
		if (i == RV_INNER6_MAX_EXT || off + 8 > end)
			return RV_DROP_V6_MALFORMED;
		uint32_t hlen = nh == NH_FRAGMENT ? 8u
				: nh == NH_AH	  ? (p[off + 1] + 2u) * 4u
						  : (p[off + 1] + 1u) * 8u;
		if (off + hlen > end)
			return RV_DROP_V6_MALFORMED;
		if (nh == NH_FRAGMENT && (be16(p + off + 2) & 0xFFF8) != 0) {
			out->proto = p[off];
			out->later_fragment = true;
			return RV_OK;
		}
		nh = p[off];
		off += hlen;
	}
	out->proto = nh;
	out->l4_off = off < end ? off : 0;
	if (nh == RV_IPPROTO_ICMPV6 && out->l4_off && is_nd(p[off]))
		return RV_DROP_V6_ND;
	return RV_OK;
}
