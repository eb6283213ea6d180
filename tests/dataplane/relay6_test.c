/* Inner IPv6 through the real packet path, in process (bench/relay
 * harness, net_ring port, no root): one dual-stack room, members A, B, C
 * (sessions 0..2, each with a vip6) and N (session 9, IPv4 only). Each case
 * sends one sealed packet through the worker's steps on this thread and
 * checks where it went (which members' outer addresses the relay sent to)
 * or the one drop reason it was counted under, and that no other reason
 * moved: unicast by vip6, anti-spoofing on the IPv6 source, routes6 by
 * longest match (and their return traffic), multicast by scope (to the
 * other members with IPv6 only), neighbour discovery dropped, malformed
 * headers, fragments like IPv4's, the room's server address answering
 * ping6, and the room's access rules (any-any
 * rules apply to IPv6, rules with IPv4 prefixes do not). No timing. */
#include <stdio.h>
#include <string.h>

#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_udp.h>
#include <urcu-qsbr.h>

#include "dp_tables.h"
#include "harness.h"
#include "dc_frame.h"
#include "inet.h"
#include "member.h"
#include "session_table.h"

#define A    0u
#define B    1u
#define C    2u
#define N    9u	    /* IPv4-only member */
#define NONE 0x400u /* no member in the mask: dropped */

static struct rh h;
static struct rv_dp_worker *w;
static int failures;
static uint8_t vip6[10][16];

/* Drain the TX ring(s): a bit per member the relay sent to. */
static unsigned drain_members(unsigned *n_out)
{
	unsigned mask = 0;
	*n_out = 0;
	for (unsigned q = 0; q < h.nq; q++) {
		struct rte_mbuf *m;
		while (rte_ring_sc_dequeue(h.tx[q], (void **)&m) == 0) {
			const struct rte_ipv4_hdr *ip =
			    rte_pktmbuf_mtod_offset(m, const struct rte_ipv4_hdr *, 14);
			uint32_t dst = rte_be_to_cpu_32(ip->dst_addr);
			(*n_out)++;
			if (dst >= 0x64400000u && dst - 0x64400000u < 10)
				mask |= 1u << (dst - 0x64400000u);
			rte_pktmbuf_free(m);
		}
	}
	return mask;
}

static void run(struct rte_mbuf *m)
{
	struct rte_mbuf *data[1];
	unsigned nd = rv_rx_classify(w, &m, 1, data);
	if (nd)
		rv_relay_open_burst(w, data, nd);
	rv_tx_flush(w);
}

/* Send @len bytes of inner packet @p as session @from; it must reach
 * exactly the members in @want (a bit each), or (@want NONE) be dropped
 * under @why alone. */
static void expect(const char *what, uint32_t from, const uint8_t *p, uint32_t len, unsigned want,
		   enum rv_drop why)
{
	struct rv_lcore_stats t0, t1;
	rv_stats_read_total(&t0);
	run(rh_packet_bytes(&h, from, ++h.pid[from], p, len, from));
	rv_stats_read_total(&t1);
	unsigned sent, got = drain_members(&sent);
	uint64_t mine = 0, other = 0;
	for (int r = 1; r < RV_DROP__COUNT; r++) {
		uint64_t d = t1.drops[r] - t0.drops[r];
		if (want == NONE && r == (int)why)
			mine = d;
		else
			other += d;
	}
	bool ok = want == NONE
		      ? sent == 0 && mine == 1 && other == 0
		      : got == want && sent == (unsigned)__builtin_popcount(want) && other == 0;
	printf("%s %-52s want %-14s: sent to 0x%03x, %s %lu, other drops %lu\n",
	       ok ? "ok  " : "FAIL", what, want == NONE ? rv_drop_name(why) : "relayed", got,
	       want == NONE ? rv_drop_name(why) : "-", (unsigned long)mine, (unsigned long)other);
	failures += !ok;
}

#define BIT(x) (1u << (x))

/* An IPv6 header from @src to @dst, @plen bytes after it, next header @nh. */
static uint32_t ip6(uint8_t *p, const uint8_t *src, const uint8_t *dst, uint8_t nh, uint16_t plen)
{
	memset(p, 0, 40 + plen);
	p[0] = 0x60;
	rv_put_be16(p + 4, plen);
	p[6] = nh;
	p[7] = 64;
	memcpy(p + 8, src, 16);
	memcpy(p + 24, dst, 16);
	return 40u + plen;
}

static uint32_t udp6(uint8_t *p, const uint8_t *src, const uint8_t *dst, uint16_t dport)
{
	uint32_t n = ip6(p, src, dst, IPPROTO_UDP, 24);
	rv_put_be16(p + 40, 40000);
	rv_put_be16(p + 42, dport);
	rv_put_be16(p + 44, 24);
	return n;
}

static uint32_t tcp6(uint8_t *p, const uint8_t *src, const uint8_t *dst, uint16_t dport)
{
	uint32_t n = ip6(p, src, dst, IPPROTO_TCP, 20);
	rv_put_be16(p + 40, 40000);
	rv_put_be16(p + 42, dport);
	return n;
}

static uint32_t icmp6(uint8_t *p, const uint8_t *src, const uint8_t *dst, uint8_t type)
{
	uint32_t n = ip6(p, src, dst, 58, 24);
	p[40] = type;
	return n;
}

/* The ICMPv6 checksum of the packet at @p (network order, as stored);
 * 0 when verifying a packet whose checksum is right. */
static uint16_t icmp6_cksum(const uint8_t *p)
{
	uint8_t buf[512] = {0};
	uint16_t len = (uint16_t)(p[4] << 8 | p[5]);
	memcpy(buf, p + 8, 32);
	rv_put_be32(buf + 32, len);
	buf[39] = 58;
	memcpy(buf + 40, p + 40, len);
	return rv_inet_checksum(buf, 40u + len);
}

/* An ICMPv6 echo request with id 0x42, sequence @seq and a valid checksum. */
static uint32_t echo6(uint8_t *p, const uint8_t *src, const uint8_t *dst, uint16_t seq)
{
	uint32_t n = icmp6(p, src, dst, 128);
	rv_put_be16(p + 44, 0x42);
	rv_put_be16(p + 46, seq);
	memcpy(p + 48, "roomvpn!", 8);
	uint16_t c = icmp6_cksum(p);
	memcpy(p + 42, &c, 2);
	return n;
}

static void addr(uint8_t *a, const char *s);

/* The room's server address (fd00:80::1) answers A's ping6: the one packet
 * out goes to A and opens, with A's key, into the echo reply from the
 * server address to A's vip6, same id, sequence and data, valid checksum. */
static void server_ping(void)
{
	uint8_t p[256], srv[16];
	addr(srv, "fd00:80::1");
	uint32_t n = echo6(p, vip6[A], srv, 7);
	run(rh_packet_bytes(&h, A, ++h.pid[A], p, n, A));
	struct rte_mbuf *m = NULL;
	bool ok = rte_ring_sc_dequeue(h.tx[0], (void **)&m) == 0 && rte_ring_count(h.tx[0]) == 0;
	uint8_t kid;
	uint32_t peer, pid;
	struct rv_pkt pk = {0};
	if (ok) {
		pk = (struct rv_pkt){.data = rte_pktmbuf_mtod(m, uint8_t *) + 42,
				     .len = rte_pktmbuf_data_len(m) - 42u,
				     .headroom = rte_pktmbuf_headroom(m) + 42u,
				     .tailroom = rte_pktmbuf_tailroom(m)};
		ok = rv_dc_peek(pk.data, pk.len, &kid, &peer) == RV_OK && peer == A &&
		     rv_dc_open(rh_member_dec(&h, A), &pk, &pid) == RV_OK && pk.len == n;
	}
	const uint8_t *r = pk.data;
	ok = ok && memcmp(r + 8, srv, 16) == 0 && memcmp(r + 24, vip6[A], 16) == 0 &&
	     r[40] == 129 && r[41] == 0 && memcmp(r + 44, p + 44, n - 44) == 0 &&
	     icmp6_cksum(r) == 0;
	if (m)
		rte_pktmbuf_free(m);
	printf("%s %-52s want the echo reply back to A\n", ok ? "ok  " : "FAIL",
	       "A ping6 the server address fd00:80::1");
	failures += !ok;
	n = echo6(p, vip6[A], srv, 8);
	p[42] ^= 1;
	expect("A ping6 the server address, bad checksum", A, p, n, NONE, RV_DROP_V6_MALFORMED);
	expect("A UDP to the server address", A, p, udp6(p, vip6[A], srv, 53), NONE,
	       RV_DROP_SERVER_IP);
}

/* A fragment of UDP to @dport: first (offset 0, its UDP header inside) or
 * a later one (offset 1000 bytes, no UDP header). */
static uint32_t frag6(uint8_t *p, const uint8_t *src, const uint8_t *dst, bool first,
		      uint16_t dport)
{
	uint32_t n = ip6(p, src, dst, 44, 8 + 16);
	p[40] = IPPROTO_UDP;
	rv_put_be16(p + 42, first ? 0x0001 : (uint16_t)(125 << 3)); /* offset, M */
	rv_put_be32(p + 44, 0x1234);
	if (first) {
		rv_put_be16(p + 48, 40000);
		rv_put_be16(p + 50, dport);
		rv_put_be16(p + 52, 1000);
	}
	return n;
}

static void addr(uint8_t *a, const char *s)
{
	inet_pton(AF_INET6, s, a);
}

static int set_room(const struct rv_st_route6 *r6, uint8_t n6, const struct rv_st_rule *rules,
		    uint32_t n_rules)
{
	char err[256];
	struct rv_st_room room = {.room_id = 0,
				  .subnet = rh_vip(&h, 0) & 0xFF800000u,
				  .prefix_len = 9,
				  .prefix6_len = 64,
				  .n_routes6 = n6,
				  .rules = rules,
				  .n_rules = n_rules};
	addr(room.prefix6, "fd00:80::");
	memcpy(room.routes6, r6, n6 * sizeof(*r6));
	if (rv_st_room_upsert(&room, err, sizeof(err)) < 0) {
		printf("FAIL room refused: %s\n", err);
		return -1;
	}
	return 0;
}

/* Session N: IPv4 only, the shared key, outer address member 9. */
static int add_v4_only(void)
{
	char err[256];
	struct rv_st_session s = {
	    .peer_id = N,
	    .room_id = 0,
	    .vip = rh_vip(&h, 0) + 50,
	    .cipher = h.cfg.cipher,
	    .key = h.key,
	    .key_direction = 1,
	    .addr = {.kind = RV_ADDR_UDP, .ip = 0x64400000u + N, .port = 5000}};
	if (rv_st_session_upsert(&s, err, sizeof(err)) < 0) {
		printf("FAIL session %u refused: %s\n", N, err);
		return -1;
	}
	return 0;
}

static void unicast_cases(void)
{
	uint8_t p[256], x[16], ll[16];
	expect("A -> B UDP", A, p, udp6(p, vip6[A], vip6[B], 9), BIT(B), RV_OK);
	expect("B -> C TCP", B, p, tcp6(p, vip6[B], vip6[C], 80), BIT(C), RV_OK);
	expect("A -> B from B's vip6", A, p, udp6(p, vip6[B], vip6[B], 9), NONE,
	       RV_DROP_V6_SPOOFED);
	expect("N (no vip6) -> B", N, p, udp6(p, vip6[A], vip6[B], 9), NONE, RV_DROP_V6_SPOOFED);
	addr(x, "fd00:80::ffff");
	expect("A -> nobody's address", A, p, udp6(p, vip6[A], x, 9), NONE, RV_DROP_V6_NO_ROUTE);
	expect("A -> itself", A, p, udp6(p, vip6[A], vip6[A], 9), NONE, RV_DROP_V6_NO_ROUTE);
	addr(ll, "fe80::1");
	addr(x, "ff02::1:ff00:3");
	expect("A neighbour solicitation", A, p, icmp6(p, ll, x, 135), NONE, RV_DROP_V6_ND);
	addr(x, "ff02::2");
	expect("A router solicitation", A, p, icmp6(p, vip6[A], x, 133), NONE, RV_DROP_V6_ND);
	expect("A neighbour advertisement to B", A, p, icmp6(p, vip6[A], vip6[B], 136), NONE,
	       RV_DROP_V6_ND);
	addr(x, "ff02::16");
	expect("A MLDv2 report", A, p, icmp6(p, ll, x, 143), NONE, RV_DROP_V6_ND);
	expect("A -> B ping6", A, p, icmp6(p, vip6[A], vip6[B], 128), BIT(B), RV_OK);
}

static void multicast_cases(void)
{
	uint8_t p[256], x[16];
	addr(x, "ff02::1");
	expect("A -> ff02::1 (all other members with IPv6)", A, p, udp6(p, vip6[A], x, 9),
	       BIT(B) | BIT(C), RV_OK);
	addr(x, "ff05::1:3");
	expect("B -> ff05::1:3", B, p, udp6(p, vip6[B], x, 547), BIT(A) | BIT(C), RV_OK);
	addr(x, "ff0e::fb");
	expect("C -> ff0e::fb (global scope)", C, p, udp6(p, vip6[C], x, 5353), BIT(A) | BIT(B),
	       RV_OK);
	addr(x, "ff12::1234");
	expect("A -> ff12::1234 (transient, link scope)", A, p, udp6(p, vip6[A], x, 9),
	       BIT(B) | BIT(C), RV_OK);
	addr(x, "ff01::1");
	expect("A -> ff01::1 (interface-local)", A, p, udp6(p, vip6[A], x, 9), NONE,
	       RV_DROP_V6_MCAST_SCOPE);
	addr(x, "ff00::1");
	expect("A -> ff00::1 (reserved scope 0)", A, p, udp6(p, vip6[A], x, 9), NONE,
	       RV_DROP_V6_MCAST_SCOPE);
}

static void malformed_cases(void)
{
	uint8_t p[256];
	uint32_t n = udp6(p, vip6[A], vip6[B], 9);
	rv_put_be16(p + 4, 200); /* payload length beyond the packet */
	expect("payload length beyond the packet", A, p, n, NONE, RV_DROP_V6_MALFORMED);
	n = udp6(p, vip6[A], vip6[B], 9);
	expect("shorter than the fixed header", A, p, 30, NONE, RV_DROP_V6_MALFORMED);
	n = ip6(p, vip6[A], vip6[B], 0, 8); /* hop-by-hop claiming 3 x 8 bytes */
	p[41] = 2;
	expect("extension header past the end", A, p, n, NONE, RV_DROP_V6_MALFORMED);
	n = ip6(p, vip6[A], vip6[B], 60, 8 + 8); /* destination options, then UDP */
	p[40] = IPPROTO_UDP;
	expect("A -> B UDP after destination options", A, p, n, BIT(B), RV_OK);
	n = ip6(p, vip6[A], vip6[B], 0, 9 * 8); /* nine hop-by-hop headers */
	for (int i = 0; i < 9; i++)
		p[40 + 8 * i] = i < 8 ? 0 : 59;
	expect("more than 8 extension headers", A, p, n, NONE, RV_DROP_V6_MALFORMED);
}

static void route_cases(void)
{
	uint8_t p[256], x[16], lan[16];
	struct rv_st_route6 r6[2] = {{.prefix_len = 48}, {.prefix_len = 64}};
	addr(r6[0].target, "2001:db8:1::");
	memcpy(r6[0].via, vip6[B], 16);
	addr(r6[1].target, "2001:db8:1:2::");
	memcpy(r6[1].via, vip6[C], 16);
	if (set_room(r6, 2, NULL, 0) < 0) {
		failures++;
		return;
	}
	addr(x, "2001:db8:1:5::9");
	expect("A -> 2001:db8:1:5::9 (route /48 via B)", A, p, udp6(p, vip6[A], x, 9), BIT(B),
	       RV_OK);
	addr(x, "2001:db8:1:2::9");
	expect("A -> 2001:db8:1:2::9 (longer /64 via C)", A, p, udp6(p, vip6[A], x, 9), BIT(C),
	       RV_OK);
	addr(lan, "2001:db8:1:5::9");
	expect("B from its LAN -> A (return traffic)", B, p, udp6(p, lan, vip6[A], 9), BIT(A),
	       RV_OK);
	expect("C from B's LAN -> A", C, p, udp6(p, lan, vip6[A], 9), NONE, RV_DROP_V6_SPOOFED);
	addr(x, "2001:db8:2::1");
	expect("A -> 2001:db8:2::1 (no route)", A, p, udp6(p, vip6[A], x, 9), NONE,
	       RV_DROP_V6_NO_ROUTE);
	set_room(NULL, 0, NULL, 0);
	addr(x, "2001:db8:1:5::9");
	expect("routes6 removed: A -> 2001:db8:1:5::9", A, p, udp6(p, vip6[A], x, 9), NONE,
	       RV_DROP_V6_NO_ROUTE);
}

static void rule_cases(void)
{
	uint8_t p[256];
	const struct rv_st_rule rules[] = {
	    /* IPv4 prefixes: never IPv6 */
	    {.src = rh_vip(&h, A), .src_plen = 32, .port_hi = 65535, .deny = true},
	    /* any-any: both families */
	    {.proto = IPPROTO_TCP, .port_lo = 22, .port_hi = 22, .deny = true},
	    {.proto = IPPROTO_UDP, .port_lo = 9, .port_hi = 9, .deny = true},
	};
	if (set_room(NULL, 0, rules, 3) < 0) {
		failures++;
		return;
	}
	expect("rules: A -> B TCP/22 (any-any deny)", A, p, tcp6(p, vip6[A], vip6[B], 22), NONE,
	       RV_DROP_ACL);
	expect("rules: A -> B TCP/80 (A's IPv4 rule: not IPv6)", A, p,
	       tcp6(p, vip6[A], vip6[B], 80), BIT(B), RV_OK);
	expect("rules: A -> B UDP/9 first fragment", A, p, frag6(p, vip6[A], vip6[B], true, 9),
	       NONE, RV_DROP_ACL);
	expect("rules: A -> B UDP later fragment (no ports)", A, p,
	       frag6(p, vip6[A], vip6[B], false, 9), BIT(B), RV_OK);
	expect("rules: A -> B UDP/10 first fragment", A, p, frag6(p, vip6[A], vip6[B], true, 10),
	       BIT(B), RV_OK);
	set_room(NULL, 0, NULL, 0);
	expect("rules removed: A -> B TCP/22", A, p, tcp6(p, vip6[A], vip6[B], 22), BIT(B), RV_OK);
}

int main(int argc, char **argv)
{
	(void)argc;
	if (rh_eal_init(argv[0], "rv_relay6", 1, 256) < 0)
		return 2;
	struct rh_config cfg = {.file_prefix = "rv_relay6",
				.n_workers = 1,
				.mode = RV_DP_MODE_RSS,
				.n_mbufs = 4095,
				.ring_size = 1024,
				.cipher = RV_CIPHER_AES_256_GCM,
				.dual_stack = true};
	if (rh_setup(&h, &cfg) < 0 || rh_populate(&h, 3, 1) < 0)
		return 2;
	w = &rv_dp.w[0];
	w->lcore = rte_lcore_id();
	w->st = rv_stats_lcore(w->lcore);
	w->now_ns = rh_now_ns();
	w->wall_ns = w->now_ns;
	for (uint32_t i = 0; i < 3; i++)
		rh_vip6(&h, i, vip6[i]);
	if (set_room(NULL, 0, NULL, 0) < 0 || add_v4_only() < 0)
		return 1;
	uint32_t cap = 16;
	h.pid = realloc(h.pid, cap * sizeof(*h.pid)); /* session N's packet-ids too */
	memset(h.pid + 3, 0, (cap - 3) * sizeof(*h.pid));
	unicast_cases();
	server_ping();
	multicast_cases();
	malformed_cases();
	route_cases();
	rule_cases();
	printf("%s\n", failures ? "FAILED" : "inner IPv6 relayed, checked and counted");
	return failures ? 1 : 0;
}
