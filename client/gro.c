/* TCP receive coalescing for the client's TUN writes (see gro.h). */
#include "gro.h"

#include <endian.h>
#include <string.h>

#include "inet.h"
#include "tso.h"

#define VH	     sizeof(struct virtio_net_hdr)
#define TCP_ACK	     0x10
#define TCP_PSH	     0x08
#define IP_DF	     0x4000
#define IP_PROTO_TCP 6

/* Header lengths of a DF, unfragmented IPv4/TCP segment with payload whose
 * only flags are ACK (and PSH); 0 if it is anything else. */
static uint32_t data_segment(const uint8_t *p, uint32_t len, uint32_t *iphl)
{
	uint32_t hlen;

	if (len < 40 || p[0] >> 4 != 4 || p[9] != IP_PROTO_TCP)
		return 0;
	*iphl = (p[0] & 15u) * 4;
	if (*iphl < 20 || len < *iphl + 20 || rv_get_be16(p + 2) != len ||
	    (rv_get_be16(p + 6) & 0x7fff) != IP_DF)
		return 0;
	hlen = *iphl + (p[*iphl + 12] >> 4) * 4u;
	if (hlen < *iphl + 20 || hlen >= len || (p[*iphl + 13] & ~TCP_PSH) != TCP_ACK)
		return 0;
	return hlen;
}

bool rv_gro_start(struct rv_gro *g, const uint8_t *p, uint32_t len)
{
	uint32_t iphl, hlen = data_segment(p, len, &iphl);

	if (!hlen || g->len)
		return false;
	memcpy(g->buf + VH, p, len);
	g->len = len;
	g->iphl = iphl;
	g->hlen = hlen;
	g->mss = len - hlen;
	g->nseg = 1;
	g->next_seq = rv_get_be32(p + iphl + 4) + g->mss;
	g->closed = p[iphl + 13] & TCP_PSH;
	return true;
}

/* Same flow and same headers but for IP length/id/checksum and TCP
 * sequence/flags/checksum. */
static bool same_headers(const uint8_t *a, const uint8_t *b, uint32_t iphl, uint32_t hlen)
{
	const uint8_t *ta = a + iphl, *tb = b + iphl;

	return !memcmp(a, b, 2) && !memcmp(a + 6, b + 6, 4) && !memcmp(a + 12, b + 12, iphl - 12) &&
	       !memcmp(ta, tb, 4) && !memcmp(ta + 8, tb + 8, 5) && !memcmp(ta + 14, tb + 14, 2) &&
	       !memcmp(ta + 20, tb + 20, hlen - iphl - 20);
}

bool rv_gro_append(struct rv_gro *g, const uint8_t *p, uint32_t len)
{
	const uint8_t *head = g->buf + VH;
	uint32_t iphl = 0, hlen, plen; /* = 0: gcc -O3 maybe-uninitialized */

	if (!g->len || g->closed || (hlen = data_segment(p, len, &iphl)) != g->hlen ||
	    iphl != g->iphl)
		return false;
	plen = len - hlen;
	if (plen > g->mss || g->len + plen > RV_GRO_MAX ||
	    rv_get_be32(p + iphl + 4) != g->next_seq || !same_headers(head, p, iphl, hlen))
		return false;
	memcpy(g->buf + VH + g->len, p + hlen, plen);
	g->len += plen;
	g->nseg++;
	g->next_seq += plen;
	g->closed = plen < g->mss || (p[iphl + 13] & TCP_PSH);
	if (p[iphl + 13] & TCP_PSH)
		g->buf[VH + iphl + 13] |= TCP_PSH;
	return true;
}

uint32_t rv_gro_finish(struct rv_gro *g)
{
	struct virtio_net_hdr vh = {0};
	uint8_t *ip = g->buf + VH;
	uint32_t n = g->len;
	uint16_t partial;

	g->len = 0;
	if (g->nseg > 1) {
		rv_put_be16(ip + 2, (uint16_t)n);
		ip[10] = ip[11] = 0;
		rv_csum_store(ip + 10, rv_csum_add(0, ip, g->iphl));
		/* CHECKSUM_PARTIAL: the pseudo-header sum, the kernel does the rest */
		partial = rv_csum_fold(rv_csum_pseudo4(ip, IP_PROTO_TCP, n - g->iphl));
		memcpy(ip + g->iphl + 16, &partial, 2);
		vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
		vh.hdr_len = htole16((uint16_t)g->hlen);
		vh.gso_size = htole16((uint16_t)g->mss);
		vh.csum_start = htole16((uint16_t)g->iphl);
		vh.csum_offset = htole16(16);
	}
	memcpy(g->buf, &vh, VH);
	return VH + n;
}
