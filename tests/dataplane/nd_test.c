/* IPv6 outside the tunnel, in process (no port): neighbour discovery
 * (dataplane/nd.c) and the IPv6 classification of rx.c.
 *   - a solicitation for our address is answered (solicited + override
 *     advertisement to the asker, our MAC as target link-layer option,
 *     valid checksum) and the asker is learnt;
 *   - resolving a next hop sends a solicitation to the solicited-node
 *     group; the advertisement that answers it fills the cache;
 *   - junk is counted as nd_not_for_us: a solicitation for another
 *     address, an unsolicited advertisement (not learnt), a hop limit
 *     other than 255, a bad checksum;
 *   - next hops: on-link, the gateway, none;
 *   - rx: IPv6/UDP to our data port becomes an OPEN job with the IPv6
 *     source; a zero UDP checksum, an extension header, ICMPv6 to us. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

#include "dc_frame.h"
#include "dp.h"

static int failures;
#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                     \
			printf(__VA_ARGS__);                                                       \
			printf("\n");                                                              \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

#define NOW 5000000000ull

static const struct rte_ether_addr our_mac = {{0x02, 0, 0, 0, 0, 1}};
static const struct rte_ether_addr peer_mac = {{0x02, 0, 0, 0, 0, 2}};
static uint8_t our_ip[16], peer_ip[16], other_ip[16], gw_ip[16], far_ip[16];

static void ip6(const char *s, uint8_t out[16])
{
	if (inet_pton(AF_INET6, s, out) != 1)
		abort();
}

static uint64_t drops(enum rv_drop why)
{
	struct rv_lcore_stats t;
	rv_stats_read_total(&t);
	return t.drops[why];
}

/* Ethernet + IPv6 header of @proto, @plen payload bytes follow (zeroed). */
static struct rte_mbuf *frame6(const uint8_t src[16], const uint8_t dst[16], uint8_t proto,
			       uint8_t hops, uint16_t plen, const struct rte_ether_addr *edst)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(rv_dp.pool);
	uint16_t len = sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv6_hdr) + plen;
	uint8_t *p = m ? (uint8_t *)rte_pktmbuf_append(m, len) : NULL;
	if (!p)
		abort();
	memset(p, 0, len);
	struct rte_ether_hdr *eh = (struct rte_ether_hdr *)p;
	eh->dst_addr = *edst;
	eh->src_addr = peer_mac;
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6);
	struct rte_ipv6_hdr *ip = (struct rte_ipv6_hdr *)(eh + 1);
	ip->vtc_flow = rte_cpu_to_be_32(0x60000000u);
	ip->payload_len = rte_cpu_to_be_16(plen);
	ip->proto = proto;
	ip->hop_limits = hops;
	memcpy(ip->src_addr, src, 16);
	memcpy(ip->dst_addr, dst, 16);
	return m;
}

static struct rte_ipv6_hdr *ip_of(struct rte_mbuf *m)
{
	return (struct rte_ipv6_hdr *)(rte_pktmbuf_mtod(m, struct rte_ether_hdr *) + 1);
}

/* An NS (135) or NA (136) about @target with a link-layer option (@opt
 * type, @mac); checksum right unless @bad_sum. */
static struct rte_mbuf *nd_msg(uint8_t type, const uint8_t src[16], const uint8_t dst[16],
			       const uint8_t target[16], uint8_t opt, uint8_t hops, bool bad_sum)
{
	struct rte_mbuf *m = frame6(src, dst, IPPROTO_ICMPV6, hops, 32, &our_mac);
	struct rte_ipv6_hdr *ip = ip_of(m);
	uint8_t *icmp = (uint8_t *)(ip + 1);
	icmp[0] = type;
	if (type == 136)
		icmp[4] = 0x60; /* solicited, override */
	memcpy(icmp + 8, target, 16);
	icmp[24] = opt;
	icmp[25] = 1;
	memcpy(icmp + 26, peer_mac.addr_bytes, 6);
	uint16_t c = rte_ipv6_udptcp_cksum(ip, icmp);
	memcpy(icmp + 2, &c, 2);
	if (bad_sum)
		icmp[2] ^= 1;
	return m;
}

/* The one frame the control thread queued for transmission, or NULL. */
static struct rte_mbuf *sent(void)
{
	void *m = NULL;
	if (rte_ring_dequeue(rv_dp.w[0].jobs, &m) < 0)
		return NULL;
	CHECK(rv_job(m)->kind == RV_JOB_TX_RAW, "queued as a raw frame");
	return m;
}

static bool icmp_sum_ok(struct rte_ipv6_hdr *ip)
{
	uint32_t plen = rte_be_to_cpu_16(ip->payload_len);
	uint32_t s = (uint32_t)rte_raw_cksum(ip + 1, plen) + rte_ipv6_phdr_cksum(ip, 0);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return s == 0xffff;
}

static void test_solicitation_answered(void)
{
	rv_nd_handle(nd_msg(135, peer_ip, our_ip, our_ip, 1, 255, false), NOW);
	struct rte_mbuf *m = sent();
	CHECK(m != NULL, "an NS for our address is answered");
	if (!m)
		return;
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv6_hdr *ip = ip_of(m);
	uint8_t *na = (uint8_t *)(ip + 1);
	CHECK(rte_is_same_ether_addr(&eh->dst_addr, &peer_mac) &&
		  rte_is_same_ether_addr(&eh->src_addr, &our_mac),
	      "Ethernet: to the asker's link-layer address, from ours");
	CHECK(!memcmp(ip->src_addr, our_ip, 16) && !memcmp(ip->dst_addr, peer_ip, 16) &&
		  ip->hop_limits == 255 && ip->proto == IPPROTO_ICMPV6,
	      "IPv6: ours -> asker, hop limit 255");
	CHECK(na[0] == 136 && na[1] == 0 && na[4] == 0x60, "NA, solicited + override: %u %x", na[0],
	      na[4]);
	CHECK(!memcmp(na + 8, our_ip, 16), "target: our address");
	CHECK(na[24] == 2 && na[25] == 1 && !memcmp(na + 26, our_mac.addr_bytes, 6),
	      "target link-layer option: our MAC");
	CHECK(icmp_sum_ok(ip), "ICMPv6 checksum valid");
	rte_pktmbuf_free(m);
	struct rte_ether_addr mac;
	uint64_t exp;
	CHECK(rv_nd_lookup_exp(peer_ip, NOW, &mac, &exp) && rte_is_same_ether_addr(&mac, &peer_mac),
	      "the asker is learnt");
}

static void test_resolution(void)
{
	struct rte_ether_addr mac;
	uint64_t exp;
	CHECK(!rv_nd_lookup_exp(other_ip, NOW, &mac, &exp), "unknown neighbour: a miss");
	rv_nd_resolve(other_ip);
	CHECK(rv_nd_poll_requests(NOW) == 1, "the resolution ask reaches the control thread");
	struct rte_mbuf *m = sent();
	CHECK(m != NULL, "a solicitation is sent");
	if (m) {
		struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
		struct rte_ipv6_hdr *ip = ip_of(m);
		uint8_t *ns = (uint8_t *)(ip + 1);
		uint8_t group[16];
		ip6("ff02::1:ff00:3", group);
		struct rte_ether_addr mcast = {{0x33, 0x33, 0xff, 0, 0, 3}};
		CHECK(!memcmp(ip->dst_addr, group, 16) &&
			  rte_is_same_ether_addr(&eh->dst_addr, &mcast),
		      "to the solicited-node group ff02::1:ff00:3");
		CHECK(ns[0] == 135 && !memcmp(ns + 8, other_ip, 16) && ns[24] == 1 &&
			  !memcmp(ns + 26, our_mac.addr_bytes, 6) && ip->hop_limits == 255,
		      "NS for the target with our source link-layer option");
		CHECK(icmp_sum_ok(ip), "ICMPv6 checksum valid");
		rte_pktmbuf_free(m);
	}
	rv_nd_resolve(other_ip);
	rv_nd_poll_requests(NOW + 1000);
	CHECK(sent() == NULL, "a second ask within a second sends nothing");
	/* the answer fills the entry */
	rv_nd_handle(nd_msg(136, other_ip, our_ip, other_ip, 2, 255, false), NOW + 2000);
	CHECK(rv_nd_lookup_exp(other_ip, NOW + 3000, &mac, &exp) &&
		  rte_is_same_ether_addr(&mac, &peer_mac),
	      "the advertisement answering our solicitation fills the cache");
	CHECK(sent() == NULL, "an advertisement is not answered");
}

static void test_junk(void)
{
	uint64_t before = drops(RV_DROP_ND_NOT_FOR_US);
	struct rte_ether_addr mac;
	uint64_t exp;
	rv_nd_handle(nd_msg(135, peer_ip, our_ip, far_ip, 1, 255, false), NOW); /* other target */
	rv_nd_handle(nd_msg(136, far_ip, our_ip, far_ip, 2, 255, false), NOW);	/* unsolicited */
	rv_nd_handle(nd_msg(135, peer_ip, our_ip, our_ip, 1, 64, false), NOW);	/* hop limit */
	rv_nd_handle(nd_msg(135, peer_ip, our_ip, our_ip, 1, 255, true), NOW);	/* checksum */
	rv_nd_handle(nd_msg(128, peer_ip, our_ip, our_ip, 1, 255, false), NOW); /* echo */
	CHECK(drops(RV_DROP_ND_NOT_FOR_US) == before + 5, "5 junk messages counted, got %llu",
	      (unsigned long long)(drops(RV_DROP_ND_NOT_FOR_US) - before));
	CHECK(sent() == NULL, "junk is not answered");
	CHECK(!rv_nd_lookup_exp(far_ip, NOW, &mac, &exp),
	      "an unsolicited advertisement is not learnt");
}

static void test_next_hop(void)
{
	uint8_t hop[16];
	CHECK(rv_nd_next_hop(peer_ip, hop) && !memcmp(hop, peer_ip, 16), "on-link: itself");
	CHECK(!rv_nd_next_hop(far_ip, hop), "off-link without gateway6: none");
	memcpy(rv_dp.cfg.gateway6, gw_ip, 16);
	CHECK(rv_nd_next_hop(far_ip, hop) && !memcmp(hop, gw_ip, 16), "off-link: gateway6");
	memset(rv_dp.cfg.gateway6, 0, 16);
}

/* An IPv6/UDP datagram to our data port carrying a P_DATA_V2 header. */
static struct rte_mbuf *udp6(uint8_t proto, bool zero_sum)
{
	uint16_t dc = RV_DC_MIN_SEALED_LEN + 16;
	struct rte_mbuf *m =
	    frame6(peer_ip, our_ip, proto, 64, sizeof(struct rte_udp_hdr) + dc, &our_mac);
	struct rte_ipv6_hdr *ip = ip_of(m);
	struct rte_udp_hdr *u = (struct rte_udp_hdr *)(ip + 1);
	u->src_port = rte_cpu_to_be_16(40000);
	u->dst_port = rte_cpu_to_be_16(1194);
	u->dgram_len = rte_cpu_to_be_16((uint16_t)(sizeof(*u) + dc));
	uint8_t *p = (uint8_t *)(u + 1);
	p[0] = (9 << 3) | 2; /* P_DATA_V2, key-id 2 */
	p[3] = 7;	     /* peer-id 7 */
	u->dgram_cksum = zero_sum ? 0 : rte_ipv6_udptcp_cksum(ip, u);
	return m;
}

static void test_rx(void)
{
	struct rv_lcore_stats st = {0};
	struct rv_dp_worker w = {.lcore = 0, .st = &st, .now_ns = NOW};
	struct rte_mbuf *in[4] = {udp6(IPPROTO_UDP, false), udp6(IPPROTO_UDP, true),
				  udp6(IPPROTO_DSTOPTS, false),
				  nd_msg(135, peer_ip, our_ip, our_ip, 1, 255, false)};
	struct rte_mbuf *data[4];
	unsigned n = rv_rx_classify(&w, in, 4, data);
	CHECK(n == 1, "one data packet of four: %u", n);
	if (n == 1) {
		struct rv_job *j = rv_job(data[0]);
		CHECK(j->kind == RV_JOB_OPEN_UDP && j->peer_id == 7 && j->key_id == 2,
		      "OPEN job for peer-id 7 key 2");
		CHECK(j->src_ip == 0 && !memcmp(j->src6, peer_ip, 16) && j->src_port == 40000,
		      "IPv6 source in the job");
		CHECK(rte_pktmbuf_mtod(data[0], uint8_t *)[0] == ((9 << 3) | 2),
		      "outer headers stripped");
		rte_pktmbuf_free(data[0]);
	}
	CHECK(st.drops[RV_DROP_OUTER6_NO_CHECKSUM] == 1, "zero UDP checksum counted");
	CHECK(st.drops[RV_DROP_OUTER6_EXT_HEADER] == 1, "extension header counted");
	void *m = NULL;
	CHECK(rte_ring_dequeue(rv_dp.ctl, &m) == 0, "ICMPv6 to us goes to the control thread");
	if (m)
		rte_pktmbuf_free(m);
}

int main(void)
{
	char prefix[64], err[256] = "";
	snprintf(prefix, sizeof(prefix), "rv-nd-%d", getpid());
	char *eal[] = {"nd_test",  "--no-huge",	  "-m",	   "64",
		       "--no-pci", "-l",	  "0",	   "--file-prefix",
		       prefix,	   "--log-level", "error", "--no-telemetry"};
	if (rte_eal_init((int)(sizeof(eal) / sizeof(eal[0])), eal) < 0) {
		printf("FAIL: EAL init\n");
		return 1;
	}
	static const struct rte_mbuf_dynfield desc = {
	    .name = "rv_job", .size = sizeof(struct rv_job), .align = __alignof__(struct rv_job)};
	rv_job_offset = rte_mbuf_dynfield_register(&desc);
	rv_dp.pool =
	    rte_pktmbuf_pool_create("nd", 1023, 0, 0, 2048 + RTE_PKTMBUF_HEADROOM, SOCKET_ID_ANY);
	rv_dp.w[0].jobs = rte_ring_create("nd_jobs", 64, SOCKET_ID_ANY, 0);
	ip6("2001:db8::1", our_ip);
	ip6("2001:db8::2", peer_ip);
	ip6("2001:db8::3", other_ip);
	ip6("2001:db8::fe", gw_ip);
	ip6("2001:db8:ffff::9", far_ip);
	memcpy(rv_dp.cfg.ip6, our_ip, 16);
	rv_dp.cfg.prefix6_len = 64;
	rv_dp.cfg.udp_port = 1194;
	rv_dp.cfg.arp_timeout_s = 300;
	rv_dp.mac = our_mac;
	if (!rv_dp.pool || !rv_dp.w[0].jobs || rv_job_offset < 0 || rv_arp_init(err, sizeof(err))) {
		printf("FAIL: set-up: %s\n", err);
		return 1;
	}
	test_solicitation_answered();
	test_resolution();
	test_junk();
	test_next_hop();
	test_rx();
	rte_eal_cleanup();
	printf(failures ? "%d check(s) failed\n" : "all neighbour discovery checks passed\n",
	       failures);
	return failures ? 1 : 0;
}
