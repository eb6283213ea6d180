/* Garbage at the data port (rv-relay-bench --garbage): packets a hostile
 * network sends, built from a valid member packet and spoiled in one way
 * each, so that the bench can state what each rejection costs the worker
 * and check that it is counted under the expected reason. */
#include "garbage.h"

#include <rte_ip.h>
#include <rte_udp.h>

#define DC_OFF 42u /* Ethernet + IPv4 + UDP: where the data-channel packet starts */

static const struct rb_garbage_kind kinds[] = {
    {"valid", RV_OK, "a member's packet, relayed (the baseline)"},
    {"not_for_us", RV_DROP_NOT_FOR_US, "UDP to another port of the data plane's address"},
    {"malformed", RV_DROP_MALFORMED, "a data-channel packet cut after its 4-byte header"},
    {"bad_opcode", RV_DROP_BAD_OPCODE, "opcode P_CONTROL_V1 instead of P_DATA_V2"},
    {"unknown_peer", RV_DROP_UNKNOWN_PEER, "a peer-id no session has"},
    {"bad_tag", RV_DROP_AUTH, "a session's packet with one bit of its tag flipped"},
};

const struct rb_garbage_kind *rb_garbage_kinds(unsigned *n)
{
	*n = sizeof(kinds) / sizeof(kinds[0]);
	return kinds;
}

/* Cut the data-channel packet to @dc_len bytes and fix the outer lengths. */
static void truncate_dc(struct rte_mbuf *m, uint16_t dc_len)
{
	struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);

	m->data_len = (uint16_t)(DC_OFF + dc_len);
	m->pkt_len = m->data_len;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(dc_len + 28));
	udp->dgram_len = rte_cpu_to_be_16((uint16_t)(dc_len + 8));
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
}

struct rte_mbuf *rb_garbage_packet(struct rh *h, unsigned kind, uint32_t src, uint32_t payload)
{
	const char *name = kinds[kind].name;
	struct rte_mbuf *m;
	uint8_t *dc;

	if (name[0] == 'u') /* unknown_peer: sealed right, under a peer-id nobody has */
		return rh_packet_raw(h, 0xABCDEF, ++h->pid[src], rh_vip(h, src),
				     rh_vip(h, rh_partner(h, src)), src, payload);
	m = rh_packet(h, src, payload);
	if (!m)
		return NULL;
	dc = rte_pktmbuf_mtod_offset(m, uint8_t *, DC_OFF);
	switch (name[0]) {
	case 'n': /* not_for_us */
		rte_pktmbuf_mtod_offset(m, struct rte_udp_hdr *, 34)->dst_port =
		    rte_cpu_to_be_16(1195);
		break;
	case 'm': /* malformed */
		truncate_dc(m, 4);
		break;
	case 'b':
		if (name[4] == 'o')				 /* bad_opcode */
			dc[0] = (uint8_t)(4 << 3 | (dc[0] & 7)); /* P_CONTROL_V1 */
		else						 /* bad_tag: the first tag byte */
			dc[8] ^= 0x01;
		break;
	default: /* valid */
		break;
	}
	return m;
}
