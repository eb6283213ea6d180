/* TCP segmentation and checksum completion for packets read from a TUN
 * device opened with IFF_VNET_HDR and TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6:
 * the kernel hands over IPv4/TCP and IPv6/TCP "super-packets" of up to 64
 * KB with a virtio_net_hdr (gso_size = MSS) and a partial checksum; the
 * client cuts them into the MTU-sized segments the wire carries, as a NIC
 * would (RFC 793 sequence numbers, RFC 791 ids and lengths, RFC 8200
 * payload lengths, RFC 1071 checksums). Pure functions on
 * caller buffers: no allocation, no state. */
#ifndef RV_CLIENT_TSO_H
#define RV_CLIENT_TSO_H

#include <linux/virtio_net.h>
#include <stdbool.h>
#include <stdint.h>

#include "drop.h"

/* One validated super-packet, ready to be cut. */
struct rv_tso {
	const uint8_t *pkt; /* IP header, TCP header, payload */
	uint32_t len;
	uint32_t iphl, hlen; /* IP header; IP + TCP headers */
	bool v6;	     /* IPv6 (no extension headers) */
	uint32_t mss;	     /* payload bytes per segment */
	uint32_t nseg;
};

/* Validate @pkt (@len bytes, after the vnet header @vh) as an IPv4/TCP or
 * IPv6/TCP GSO packet (TCPV4/TCPV6, matching the IP version; IPv6 without
 * extension headers) and fill @t. Returns RV_OK, RV_DROP_MALFORMED
 * (lengths, gso_size, type or headers inconsistent) or RV_DROP_NOT_IP
 * (neither IPv4 nor IPv6). */
enum rv_drop rv_tso_prepare(struct rv_tso *t, const struct virtio_net_hdr *vh, const uint8_t *pkt,
			    uint32_t len);

/* Write segment @i (< t->nseg) to @out (room for t->hlen + t->mss bytes):
 * headers copied, IPv4 length/id/checksum or IPv6 payload length, and TCP
 * sequence/flags/checksum set. Returns its length. */
uint32_t rv_tso_segment(const struct rv_tso *t, uint32_t i, uint8_t *out);

/* A packet without GSO: if @vh asks for it (VIRTIO_NET_HDR_F_NEEDS_CSUM),
 * complete the transport checksum in place. Returns RV_OK or
 * RV_DROP_MALFORMED (checksum position outside the packet). */
enum rv_drop rv_tso_complete_csum(const struct virtio_net_hdr *vh, uint8_t *pkt, uint32_t len);

/* Internet checksum helpers on native-order 64-bit accumulators (the
 * one's-complement sum does not care about byte order as long as it is
 * folded and stored the same way). */
uint64_t rv_csum_add(uint64_t sum, const void *data, uint32_t len);
/* Fold @sum and store its complement (network order) at @where. */
void rv_csum_store(uint8_t *where, uint64_t sum);
/* Sum of the IPv4 pseudo-header (addresses from @ip, protocol, @l4len). */
uint64_t rv_csum_pseudo4(const uint8_t *ip, uint8_t proto, uint32_t l4len);
/* Sum of the IPv6 pseudo-header (RFC 8200 8.1; @l4len < 65536). */
uint64_t rv_csum_pseudo6(const uint8_t *ip6, uint8_t proto, uint32_t l4len);
/* Fold @sum to 16 bits (native order, not complemented). */
uint16_t rv_csum_fold(uint64_t sum);

#endif
