/* client/tso.c and client/gro.c against reference packets built here field
 * by field, with checksums from shared/inet.c's plain RFC 1071 loop (an
 * independent implementation of the sum tso.c computes word-wise). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gro.h"
#include "inet.h"
#include "tso.h"

#define ACK 0x10
#define PSH 0x08
#define FIN 0x01
#define CWR 0x80
#define SYN 0x02
#define VH  sizeof(struct virtio_net_hdr)

#define SEQ0 0xfffff000u /* wraps inside the test packets */
#define ID0  0xfffe

struct ref {
	uint16_t id;
	uint32_t seq;
	uint8_t flags;
	uint16_t sport;
	bool udp;
	uint32_t ack_delta, tsval_delta; /* 0: the usual ACK number, timestamp */
	uint16_t win_delta;
};

static uint8_t payload_byte(uint32_t off)
{
	return (uint8_t)(off * 7 + (off >> 8) + 1);
}

/* RFC 1071 over a pseudo-header + @l4 (@n bytes): 0 when the checksum in it
 * is right. */
static uint16_t verify_l4(const uint8_t *ip, uint8_t proto, const uint8_t *l4, uint32_t n)
{
	static uint8_t tmp[12 + 70000];

	memcpy(tmp, ip + 12, 8);
	tmp[8] = 0;
	tmp[9] = proto;
	rv_put_be16(tmp + 10, (uint16_t)n);
	memcpy(tmp + 12, l4, n);
	return rv_inet_checksum(tmp, 12 + n);
}

/* A reference IPv4 packet: 20-byte IP header, TCP with 12 bytes of options
 * (NOP NOP timestamp) or UDP, payload bytes @off.. of the test stream, all
 * checksums right (computed with rv_inet_checksum). Returns its length. */
static uint32_t build(uint8_t *b, const struct ref *r, uint32_t off, uint32_t plen)
{
	uint32_t l4 = r->udp ? 8 : 32, n = 20 + l4 + plen;
	uint8_t *t = b + 20;
	uint16_t c;

	memset(b, 0, 20 + l4);
	b[0] = 0x45;
	rv_put_be16(b + 2, (uint16_t)n);
	rv_put_be16(b + 4, r->id);
	rv_put_be16(b + 6, 0x4000); /* DF */
	b[8] = 64;
	b[9] = r->udp ? 17 : 6;
	rv_put_be32(b + 12, 0x0a000001);
	rv_put_be32(b + 16, 0x0a000002);
	rv_put_be16(t, r->sport);
	rv_put_be16(t + 2, 5201);
	if (r->udp) {
		rv_put_be16(t + 4, (uint16_t)(8 + plen));
	} else {
		rv_put_be32(t + 4, r->seq);
		rv_put_be32(t + 8, 0x01020304 + r->ack_delta);
		t[12] = 8 << 4;
		t[13] = r->flags;
		rv_put_be16(t + 14, (uint16_t)(501 + r->win_delta));
		memcpy(t + 20, "\x01\x01\x08\x0a\x11\x22\x33\x44\x55\x66\x77\x88", 12);
		rv_put_be32(t + 24, 0x11223344 + r->tsval_delta);
	}
	for (uint32_t i = 0; i < plen; i++)
		b[20 + l4 + i] = payload_byte(off + i);
	memcpy(b + 10, &(uint16_t){rv_inet_checksum(b, 20)}, 2);
	c = verify_l4(b, b[9], t, l4 + plen); /* over a zero checksum field */
	memcpy(t + (r->udp ? 6 : 16), &c, 2);
	return n;
}

/* What the kernel hands over: the checksum field holds the pseudo-header
 * sum only (CHECKSUM_PARTIAL). */
static void make_partial(uint8_t *b, uint32_t n, bool udp)
{
	uint16_t ps = rv_csum_fold(rv_csum_pseudo4(b, udp ? 17 : 6, n - 20));

	memcpy(b + 20 + (udp ? 6 : 16), &ps, 2);
}

static struct virtio_net_hdr gso_hdr(uint16_t mss)
{
	return (struct virtio_net_hdr){.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
				       .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
				       .hdr_len = 52,
				       .gso_size = mss,
				       .csum_start = 20,
				       .csum_offset = 16};
}

static uint8_t big[70000], seg[4096], want[4096];

static void check_segments(uint32_t plen, uint16_t mss, uint8_t flags)
{
	struct ref r = {.id = ID0, .seq = SEQ0, .flags = flags, .sport = 40000};
	struct virtio_net_hdr vh = gso_hdr(mss);
	uint32_t n = build(big, &r, 0, plen), nseg = (plen + mss - 1) / mss;
	struct rv_tso t;

	make_partial(big, n, false);
	assert_int_equal(rv_tso_prepare(&t, &vh, big, n), RV_OK);
	assert_int_equal(t.nseg, nseg);
	assert_int_equal(t.hlen, 52);
	for (uint32_t i = 0; i < nseg; i++) {
		uint32_t sl = i + 1 < nseg ? mss : plen - i * mss;
		struct ref ri = {.id = (uint16_t)(ID0 + i), .seq = SEQ0 + i * mss, .sport = 40000};
		uint32_t got = rv_tso_segment(&t, i, seg);

		ri.flags = flags & (uint8_t) ~(i + 1 < nseg ? FIN | PSH : 0) &
			   (uint8_t) ~(i > 0 ? CWR : 0);
		assert_int_equal(got, build(want, &ri, i * mss, sl));
		assert_memory_equal(seg, want, got);
		assert_int_equal(rv_inet_checksum(seg, 20), 0);
		assert_int_equal(verify_l4(seg, 6, seg + 20, got - 20), 0);
	}
}

static void test_segment(void **state)
{
	(void)state;
	check_segments(5000, 1348, ACK | PSH | FIN | CWR); /* 3 full + 1 short */
	check_segments(2701, 1000, ACK | PSH);		   /* odd last segment */
	check_segments(4000, 1000, ACK);		   /* exact multiple */
	check_segments(65535 - 52, 1348, ACK | PSH);	   /* largest */
	check_segments(999, 1000, ACK);			   /* one segment */
}

/* RFC 1071 over an IPv6 pseudo-header + @l4 (@n bytes): 0 when right. */
static uint16_t verify_l6(const uint8_t *ip6, const uint8_t *l4, uint32_t n)
{
	static uint8_t tmp[40 + 70000];

	memset(tmp, 0, 40);
	memcpy(tmp, ip6 + 8, 32);
	rv_put_be32(tmp + 32, n);
	tmp[39] = 6;
	memcpy(tmp + 40, l4, n);
	return rv_inet_checksum(tmp, 40 + n);
}

/* A reference IPv6/TCP packet (fd12::5 -> fd12::9, TCP as build()),
 * checksum right. Returns its length. */
static uint32_t build6(uint8_t *b, const struct ref *r, uint32_t off, uint32_t plen)
{
	uint8_t *t = b + 40;
	uint16_t c;

	memset(b, 0, 40 + 32);
	b[0] = 0x60;
	rv_put_be16(b + 4, (uint16_t)(32 + plen));
	b[6] = 6;
	b[7] = 64;
	b[8] = b[24] = 0xfd;
	b[9] = b[25] = 0x12;
	b[23] = 5;
	b[39] = 9;
	rv_put_be16(t, r->sport);
	rv_put_be16(t + 2, 5201);
	rv_put_be32(t + 4, r->seq);
	rv_put_be32(t + 8, 0x01020304);
	t[12] = 8 << 4;
	t[13] = r->flags;
	rv_put_be16(t + 14, 501);
	memcpy(t + 20, "\x01\x01\x08\x0a\x11\x22\x33\x44\x55\x66\x77\x88", 12);
	for (uint32_t i = 0; i < plen; i++)
		t[32 + i] = payload_byte(off + i);
	c = verify_l6(b, t, 32 + plen);
	memcpy(t + 16, &c, 2);
	return 40 + 32 + plen;
}

/* IPv6 super-packets (TUN_F_TSO6): segments as the reference builds them. */
static void check_segments6(uint32_t plen, uint16_t mss, uint8_t flags)
{
	struct ref r = {.seq = SEQ0, .flags = flags, .sport = 40000};
	struct virtio_net_hdr vh = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
				    .gso_type = VIRTIO_NET_HDR_GSO_TCPV6,
				    .hdr_len = 72,
				    .gso_size = mss,
				    .csum_start = 40,
				    .csum_offset = 16};
	uint32_t n = build6(big, &r, 0, plen), nseg = (plen + mss - 1) / mss;
	uint16_t ps = rv_csum_fold(rv_csum_pseudo6(big, 6, n - 40));
	struct rv_tso t;

	memcpy(big + 40 + 16, &ps, 2); /* partial, as the kernel hands it over */
	assert_int_equal(rv_tso_prepare(&t, &vh, big, n), RV_OK);
	assert_int_equal(t.nseg, nseg);
	assert_int_equal(t.hlen, 72);
	for (uint32_t i = 0; i < nseg; i++) {
		uint32_t sl = i + 1 < nseg ? mss : plen - i * mss;
		struct ref ri = {.seq = SEQ0 + i * mss, .sport = 40000};
		uint32_t got = rv_tso_segment(&t, i, seg);

		ri.flags = flags & (uint8_t) ~(i + 1 < nseg ? FIN | PSH : 0) &
			   (uint8_t) ~(i > 0 ? CWR : 0);
		assert_int_equal(got, build6(want, &ri, i * mss, sl));
		assert_memory_equal(seg, want, got);
		assert_int_equal(verify_l6(seg, seg + 40, got - 40), 0);
	}
	/* the version and the GSO type must agree; extension headers are not cut */
	vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	assert_int_equal(rv_tso_prepare(&t, &vh, big, n), RV_DROP_MALFORMED);
	vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
	big[6] = 0; /* hop-by-hop options first */
	assert_int_equal(rv_tso_prepare(&t, &vh, big, n), RV_DROP_MALFORMED);
}

static void test_segment6(void **state)
{
	(void)state;
	check_segments6(5000, 1328, ACK | PSH | FIN | CWR);
	check_segments6(2701, 1000, ACK | PSH);
	check_segments6(65535 - 72, 1328, ACK | PSH);
	check_segments6(999, 1000, ACK);
}

static void test_complete_csum(void **state)
{
	struct ref u = {.id = 1, .sport = 53, .udp = true}, t = {.id = 2, .seq = 9, .flags = ACK};
	struct virtio_net_hdr vh = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 20};
	uint32_t n;
	(void)state;

	for (uint32_t plen = 0; plen < 40; plen += 7) {
		n = build(want, &u, 3, plen);
		memcpy(seg, want, n);
		make_partial(seg, n, true);
		vh.csum_offset = 6;
		assert_int_equal(rv_tso_complete_csum(&vh, seg, n), RV_OK);
		assert_int_equal(verify_l4(seg, 17, seg + 20, n - 20), 0);
		if (memcmp(want + 26, "\0\0", 2)) /* 0 is sent as 0xffff */
			assert_memory_equal(seg, want, n);
		n = build(want, &t, 5, plen);
		memcpy(seg, want, n);
		make_partial(seg, n, false);
		vh.csum_offset = 16;
		assert_int_equal(rv_tso_complete_csum(&vh, seg, n), RV_OK);
		assert_int_equal(verify_l4(seg, 6, seg + 20, n - 20), 0);
	}
	/* a sum that comes out as 0 goes out as 0xffff: make the last word
	 * the packet's checksum, which turns the checksum into 0 */
	n = build(want, &u, 3, 20);
	memset(want + n - 2, 0, 2);
	memset(want + 26, 0, 2);
	memcpy(want + n - 2, &(uint16_t){verify_l4(want, 17, want + 20, n - 20)}, 2);
	memcpy(want + 26, &(uint16_t){verify_l4(want, 17, want + 20, n - 20)}, 2);
	assert_memory_equal(want + 26, "\0\0", 2);
	memcpy(seg, want, n);
	make_partial(seg, n, true);
	vh.csum_offset = 6;
	assert_int_equal(rv_tso_complete_csum(&vh, seg, n), RV_OK);
	assert_memory_equal(seg + 26, "\xff\xff", 2);
	assert_int_equal(verify_l4(seg, 17, seg + 20, n - 20), 0);
	/* no NEEDS_CSUM: untouched */
	memcpy(seg, want, n);
	vh.flags = 0;
	assert_int_equal(rv_tso_complete_csum(&vh, seg, n), RV_OK);
	assert_memory_equal(seg, want, n);
	/* the checksum position outside the packet */
	vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	vh.csum_start = (uint16_t)(n - 1);
	assert_int_equal(rv_tso_complete_csum(&vh, seg, n), RV_DROP_MALFORMED);
	vh.csum_start = (uint16_t)n;
	vh.csum_offset = 0;
	assert_int_equal(rv_tso_complete_csum(&vh, seg, n), RV_DROP_MALFORMED);
}

static void test_prepare_rejects(void **state)
{
	struct ref r = {.id = 1, .seq = 1, .flags = ACK, .sport = 1};
	struct virtio_net_hdr vh = gso_hdr(1000);
	uint32_t n = build(big, &r, 0, 3000);
	struct rv_tso t;
	(void)state;

	vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV6; /* an IPv4 packet */
	assert_int_equal(rv_tso_prepare(&t, &vh, big, n), RV_DROP_MALFORMED);
	vh = gso_hdr(0);
	assert_int_equal(rv_tso_prepare(&t, &vh, big, n), RV_DROP_MALFORMED);
	vh = gso_hdr(1000);
	vh.gso_type = VIRTIO_NET_HDR_GSO_UDP;
	assert_int_equal(rv_tso_prepare(&t, &vh, big, n), RV_DROP_MALFORMED);
	vh = gso_hdr(1000);
	assert_int_equal(rv_tso_prepare(&t, &vh, big, 51), RV_DROP_MALFORMED); /* cut options */
	assert_int_equal(rv_tso_prepare(&t, &vh, big, 52), RV_DROP_MALFORMED); /* no payload */
	big[6] = 0x20;							       /* MF */
	assert_int_equal(rv_tso_prepare(&t, &vh, big, n), RV_DROP_MALFORMED);
	big[6] = 0x40;
	big[9] = 17;
	assert_int_equal(rv_tso_prepare(&t, &vh, big, n), RV_DROP_MALFORMED);
	big[9] = 6;
	big[0] = 0x60; /* IPv6 under a TCPV4 header */
	assert_int_equal(rv_tso_prepare(&t, &vh, big, n), RV_DROP_MALFORMED);
	big[0] = 0x35;
	assert_int_equal(rv_tso_prepare(&t, &vh, big, n), RV_DROP_NOT_IP);
	big[0] = 0x45;
	big[32] = 4 << 4; /* TCP data offset below 20 */
	assert_int_equal(rv_tso_prepare(&t, &vh, big, n), RV_DROP_MALFORMED);
	big[32] = 15 << 4; /* TCP header beyond the packet */
	assert_int_equal(rv_tso_prepare(&t, &vh, big, 70), RV_DROP_MALFORMED);
	big[32] = 8 << 4;
	assert_int_equal(rv_tso_prepare(&t, &vh, big, n), RV_OK);
}

static uint8_t gbuf[VH + RV_GRO_MAX];

/* GRO of the TSO segments of a super-packet gives back that super-packet
 * (but for the partial checksum), and TSO of it the same segments. */
static void test_gro_round_trip(void **state)
{
	struct ref r = {.id = ID0, .seq = SEQ0, .flags = ACK | PSH, .sport = 40000};
	struct virtio_net_hdr vh = gso_hdr(1348), got;
	uint32_t plen = 65535 - 52, n = build(big, &r, 0, plen);
	static uint8_t segs[64][1500];
	uint32_t lens[64];
	struct rv_gro g = {.buf = gbuf};
	struct rv_tso t, t2;
	(void)state;

	assert_int_equal(rv_tso_prepare(&t, &vh, big, n), RV_OK);
	for (uint32_t i = 0; i < t.nseg; i++)
		lens[i] = rv_tso_segment(&t, i, segs[i]);
	assert_true(rv_gro_start(&g, segs[0], lens[0]));
	assert_false(rv_gro_start(&g, segs[1], lens[1])); /* one pending at a time */
	for (uint32_t i = 1; i < t.nseg; i++)
		assert_true(rv_gro_append(&g, segs[i], lens[i]));
	assert_int_equal(rv_gro_finish(&g), VH + n);
	assert_int_equal(g.len, 0);
	memcpy(&got, gbuf, VH);
	assert_int_equal(got.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(got.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
	assert_int_equal(got.gso_size, 1348);
	assert_int_equal(got.hdr_len, 52);
	assert_int_equal(got.csum_start, 20);
	assert_int_equal(got.csum_offset, 16);
	make_partial(big, n, false);
	assert_memory_equal(gbuf + VH, big, n);
	assert_int_equal(rv_tso_prepare(&t2, &got, gbuf + VH, n), RV_OK);
	for (uint32_t i = 0; i < t2.nseg; i++) {
		assert_int_equal(rv_tso_segment(&t2, i, seg), lens[i]);
		assert_memory_equal(seg, segs[i], lens[i]);
	}
}

/* Build the packet @r with @plen payload bytes (@ttl: 0 = the usual) and
 * offer it to rv_gro_append (@start false) or rv_gro_start. */
static bool offer(struct rv_gro *g, const struct ref *r, uint32_t plen, uint8_t ttl, bool start)
{
	static uint8_t b[1500];
	uint32_t n = build(b, r, 0, plen);

	if (ttl)
		b[8] = ttl;
	return start ? rv_gro_start(g, b, n) : rv_gro_append(g, b, n);
}

static void test_gro_refuses(void **state)
{
	const struct ref first = {.id = 1, .seq = 1000, .flags = ACK, .sport = 40000};
	struct ref next = first, r;
	struct rv_gro g = {.buf = gbuf};
	uint8_t a[1500];
	uint32_t na;
	(void)state;

	/* a single segment goes out unchanged, with an all-zero vnet header */
	na = build(a, &first, 0, 1000);
	assert_true(rv_gro_start(&g, a, na));
	assert_int_equal(rv_gro_finish(&g), VH + na);
	assert_memory_equal(gbuf + VH, a, na);
	for (unsigned i = 0; i < VH; i++)
		assert_int_equal(gbuf[i], 0);
	/* not merged: out of order, another port, ACK number, window,
	 * timestamp, TTL, a SYN, a bigger segment */
	assert_true(rv_gro_start(&g, a, na));
	next.seq = 2000;
	r = next, r.seq = 3000;
	assert_false(offer(&g, &r, 1000, 0, false));
	r = next, r.sport = 40001;
	assert_false(offer(&g, &r, 1000, 0, false));
	r = next, r.ack_delta = 1;
	assert_false(offer(&g, &r, 1000, 0, false));
	r = next, r.win_delta = 1;
	assert_false(offer(&g, &r, 1000, 0, false));
	r = next, r.tsval_delta = 1;
	assert_false(offer(&g, &r, 1000, 0, false));
	assert_false(offer(&g, &next, 1000, 63, false));
	r = next, r.flags = ACK | SYN;
	assert_false(offer(&g, &r, 1000, 0, false));
	assert_false(offer(&g, &next, 1001, 0, false));
	/* a short segment is taken but ends the packet */
	assert_true(offer(&g, &next, 500, 0, false));
	r = next, r.seq = 2500;
	assert_false(offer(&g, &r, 500, 0, false));
	assert_int_equal(rv_gro_finish(&g), VH + na + 500);
	/* pure ACKs, SYNs and UDP do not start one */
	assert_false(offer(&g, &next, 0, 0, true));
	r = next, r.flags = SYN;
	assert_false(offer(&g, &r, 10, 0, true));
	r = next, r.udp = true;
	assert_false(offer(&g, &r, 100, 0, true));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_segment),	    cmocka_unit_test(test_complete_csum),
	    cmocka_unit_test(test_prepare_rejects), cmocka_unit_test(test_gro_round_trip),
	    cmocka_unit_test(test_gro_refuses),	    cmocka_unit_test(test_segment6),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
