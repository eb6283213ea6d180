/* Fuzz the client's TUN offload parsers (client/tso.c, client/gro.c) with
 * what a TUN device or, after decryption, a room member could hand them.
 * Byte 0 picks the path:
 *   0: a vnet header + super-packet: validated, then every segment cut; each
 *      segment must fit hlen + mss, carry its own length in the IP header
 *      (IPv4 with a correct header checksum, IPv6 payload length) and a
 *      TCP checksum that verifies over the pseudo-header;
 *   1: a vnet header + packet: checksum completion in place;
 *   2: packets (2-byte big-endian length each) coalesced like TUN writes;
 *      the merged packet must fit the buffer and be no longer than its parts.
 * The sanitizers catch any out-of-bounds access. */
#include <stdlib.h>
#include <string.h>

#include "gro.h"
#include "inet.h"
#include "tso.h"

static uint8_t out[65536 + 128];
static uint8_t work[65536];
static uint8_t gro_buf[sizeof(struct virtio_net_hdr) + RV_GRO_MAX];

static void cut(const uint8_t *d, size_t n)
{
	struct virtio_net_hdr vh;
	struct rv_tso t;
	if (n < sizeof(vh) || n - sizeof(vh) > 65535)
		return;
	memcpy(&vh, d, sizeof(vh));
	if (rv_tso_prepare(&t, &vh, d + sizeof(vh), (uint32_t)(n - sizeof(vh))) != RV_OK)
		return;
	for (uint32_t i = 0; i < t.nseg && i < 2048; i++) {
		uint32_t len = rv_tso_segment(&t, i, out);
		if (len > t.hlen + t.mss || len < t.hlen)
			abort();
		uint32_t l4 = len - t.iphl;
		uint64_t sum;
		if (t.v6) {
			if (((uint32_t)out[4] << 8 | out[5]) != len - 40)
				abort(); /* IPv6 payload length */
			sum = rv_csum_pseudo6(out, 6, l4);
		} else {
			if (rv_csum_fold(rv_csum_add(0, out, t.iphl)) != 0xFFFF)
				abort(); /* the IPv4 header checksum must verify */
			if (((uint32_t)out[2] << 8 | out[3]) != len)
				abort(); /* IPv4 total length */
			sum = rv_csum_pseudo4(out, 6, l4);
		}
		if (rv_csum_fold(rv_csum_add(sum, out + t.iphl, l4)) != 0xFFFF)
			abort(); /* the TCP checksum must verify */
	}
}

static void complete(const uint8_t *d, size_t n)
{
	struct virtio_net_hdr vh;
	if (n < sizeof(vh) || n - sizeof(vh) > sizeof(work))
		return;
	memcpy(&vh, d, sizeof(vh));
	memcpy(work, d + sizeof(vh), n - sizeof(vh));
	rv_tso_complete_csum(&vh, work, (uint32_t)(n - sizeof(vh)));
}

static void coalesce(const uint8_t *d, size_t n)
{
	struct rv_gro g = {.buf = gro_buf};
	size_t in_bytes = 0;
	while (n >= 2) {
		size_t len = (size_t)d[0] << 8 | d[1];
		d += 2;
		n -= 2;
		if (len > n)
			len = n;
		if (!rv_gro_append(&g, d, (uint32_t)len)) {
			if (g.len) {
				uint32_t w = rv_gro_finish(&g);
				if (w > sizeof(gro_buf) ||
				    w > in_bytes + sizeof(struct virtio_net_hdr))
					abort();
			}
			in_bytes = 0;
			if (rv_gro_start(&g, d, (uint32_t)len))
				in_bytes = len;
		} else {
			in_bytes += len;
		}
		d += len;
		n -= len;
	}
	if (g.len && rv_gro_finish(&g) > sizeof(gro_buf))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		cut(data + 1, size - 1);
		break;
	case 1:
		complete(data + 1, size - 1);
		break;
	default:
		coalesce(data + 1, size - 1);
		break;
	}
	return 0;
}
