/* TCP receive coalescing for writes to a TUN device opened with
 * IFF_VNET_HDR: consecutive, in-order segments of one TCP flow (as they
 * arrive in one batch from the server) are merged into one GSO packet with
 * a virtio_net_hdr (GSO_TCPV4, NEEDS_CSUM), so that the kernel takes one
 * write and one trip through its stack for up to 64 KB, as it would from a
 * NIC's GRO. Only plain data segments merge (ACK, PSH on the last one);
 * anything else goes out on its own. No allocation: the caller owns the
 * buffer. */
#ifndef RV_CLIENT_GRO_H
#define RV_CLIENT_GRO_H

#include <linux/virtio_net.h>
#include <stdbool.h>
#include <stdint.h>

#define RV_GRO_MAX 65535 /* largest IPv4 packet */

struct rv_gro {
	/* a virtio_net_hdr, then the merged packet: sizeof(struct
	 * virtio_net_hdr) + RV_GRO_MAX bytes, set by the caller */
	uint8_t *buf;
	uint32_t len; /* of the pending packet; 0: none */
	uint32_t iphl, hlen, mss, nseg;
	uint32_t next_seq;
	bool closed; /* a short or PSH segment ended it */
};

/* Append IPv4 packet @p (@len bytes) to the pending one if it continues it.
 * Returns true if it was taken. */
bool rv_gro_append(struct rv_gro *g, const uint8_t *p, uint32_t len);

/* Start a pending packet with @p if it is a TCP data segment that a next
 * one could continue. Returns true if it was taken (g->len was 0). */
bool rv_gro_start(struct rv_gro *g, const uint8_t *p, uint32_t len);

/* Finish the pending packet: headers fixed, vnet header written in front.
 * Returns the bytes to write from g->buf (header included); g->len is 0
 * again. A single segment goes out unchanged with an all-zero header. */
uint32_t rv_gro_finish(struct rv_gro *g);

#endif
