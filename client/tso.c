/* Software TSO for the client's TUN device (see tso.h). */
#include "tso.h"

#include <arpa/inet.h>
#include <endian.h>
#include <string.h>

#include "inet.h"

#define IP_PROTO_TCP 6
#define TCP_FIN	     0x01
#define TCP_PSH	     0x08
#define TCP_CWR	     0x80

/* Chunks passed one after another must all have an even length but the
 * last, so that every byte keeps its place in its 16-bit word. */
uint64_t rv_csum_add(uint64_t sum, const void *data, uint32_t len)
{
	const uint8_t *p = data;
	uint32_t w;
	uint16_t h;

	for (; len >= 4; p += 4, len -= 4) {
		memcpy(&w, p, 4);
		sum += w;
	}
	if (len >= 2) {
		memcpy(&h, p, 2);
		sum += h;
		p += 2;
		len -= 2;
	}
	if (len) /* the odd last byte is the first byte of a 16-bit word */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		sum += p[0];
#else
		sum += (uint32_t)p[0] << 8;
#endif
	return sum;
}

uint16_t rv_csum_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

void rv_csum_store(uint8_t *where, uint64_t sum)
{
	uint16_t v = (uint16_t)~rv_csum_fold(sum);

	memcpy(where, &v, 2);
}

uint64_t rv_csum_pseudo4(const uint8_t *ip, uint8_t proto, uint32_t l4len)
{
	return rv_csum_add(0, ip + 12, 8) + htons(proto) + htons((uint16_t)l4len);
}

uint64_t rv_csum_pseudo6(const uint8_t *ip6, uint8_t proto, uint32_t l4len)
{
	/* the 32-bit length and next-header words: their upper halves are 0 */
	return rv_csum_add(0, ip6 + 8, 32) + htons(proto) + htons((uint16_t)l4len);
}

/* The IPv4 or IPv6 + TCP headers of @pkt; RV_OK when both are whole and
 * sane. */
static enum rv_drop parse_headers(struct rv_tso *t, const uint8_t *pkt, uint32_t len)
{
	unsigned version = len ? pkt[0] >> 4 : 0;

	if (version != 4 && version != 6)
		return RV_DROP_NOT_IP;
	t->v6 = version == 6;
	if (t->v6) {
		t->iphl = 40; /* TCP right behind: no extension headers */
		if (len < 60 || pkt[6] != IP_PROTO_TCP)
			return RV_DROP_MALFORMED;
	} else {
		t->iphl = (pkt[0] & 15u) * 4;
		if (len < 40 || t->iphl < 20 || pkt[9] != IP_PROTO_TCP || len < t->iphl + 20)
			return RV_DROP_MALFORMED;
		if (rv_get_be16(pkt + 6) & 0x3fff) /* MF or a fragment offset */
			return RV_DROP_MALFORMED;
	}
	t->hlen = t->iphl + (pkt[t->iphl + 12] >> 4) * 4u;
	if (t->hlen < t->iphl + 20 || t->hlen > len)
		return RV_DROP_MALFORMED;
	return RV_OK;
}

enum rv_drop rv_tso_prepare(struct rv_tso *t, const struct virtio_net_hdr *vh, const uint8_t *pkt,
			    uint32_t len)
{
	uint8_t type = vh->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
	enum rv_drop rc;

	if ((type != VIRTIO_NET_HDR_GSO_TCPV4 && type != VIRTIO_NET_HDR_GSO_TCPV6) ||
	    le16toh(vh->gso_size) == 0)
		return RV_DROP_MALFORMED;
	rc = parse_headers(t, pkt, len);
	if (rc != RV_OK)
		return rc;
	if (t->v6 != (type == VIRTIO_NET_HDR_GSO_TCPV6))
		return RV_DROP_MALFORMED;
	if (len == t->hlen)
		return RV_DROP_MALFORMED; /* GSO without payload */
	t->pkt = pkt;
	t->len = len;
	t->mss = le16toh(vh->gso_size);
	t->nseg = (len - t->hlen + t->mss - 1) / t->mss;
	return RV_OK;
}

uint32_t rv_tso_segment(const struct rv_tso *t, uint32_t i, uint8_t *out)
{
	uint32_t off = t->hlen + i * t->mss;
	uint32_t plen = t->len - off < t->mss ? t->len - off : t->mss;
	uint32_t total = t->hlen + plen;
	uint8_t *tcp = out + t->iphl;

	memcpy(out, t->pkt, t->hlen);
	memcpy(out + t->hlen, t->pkt + off, plen);
	if (t->v6) { /* IPv6: the payload length; no id, no header checksum */
		rv_put_be16(out + 4, (uint16_t)(total - t->iphl));
	} else { /* IPv4: length, id (one per segment, as the kernel's own GSO), checksum */
		rv_put_be16(out + 2, (uint16_t)total);
		rv_put_be16(out + 4, (uint16_t)(rv_get_be16(t->pkt + 4) + i));
		out[10] = out[11] = 0;
		rv_csum_store(out + 10, rv_csum_add(0, out, t->iphl));
	}
	/* TCP: sequence number; FIN/PSH only on the last, CWR only on the first */
	rv_put_be32(tcp + 4, rv_get_be32(t->pkt + t->iphl + 4) + i * t->mss);
	if (i + 1 < t->nseg)
		tcp[13] &= (uint8_t) ~(TCP_FIN | TCP_PSH);
	if (i > 0)
		tcp[13] &= (uint8_t)~TCP_CWR;
	tcp[16] = tcp[17] = 0;
	uint64_t ps = t->v6 ? rv_csum_pseudo6(out, IP_PROTO_TCP, total - t->iphl)
			    : rv_csum_pseudo4(out, IP_PROTO_TCP, total - t->iphl);
	rv_csum_store(tcp + 16, rv_csum_add(ps, tcp, total - t->iphl));
	return total;
}

enum rv_drop rv_tso_complete_csum(const struct virtio_net_hdr *vh, uint8_t *pkt, uint32_t len)
{
	uint32_t start = le16toh(vh->csum_start), at = start + le16toh(vh->csum_offset);
	uint16_t v;

	if (!(vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		return RV_OK;
	if (start >= len || at + 2 > len)
		return RV_DROP_MALFORMED;
	/* the field already holds the pseudo-header sum */
	v = (uint16_t)~rv_csum_fold(rv_csum_add(0, pkt + start, len - start));
	if (v == 0)
		v = 0xffff; /* UDP: 0 means "no checksum"; the same value for TCP */
	memcpy(pkt + at, &v, 2);
	return RV_OK;
}
