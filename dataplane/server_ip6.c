/* The room's IPv6 server address answers ICMPv6 echo (server_ip6.h):
 * check (echo request after the fixed header, valid checksum) -> rate
 * bound (the IPv4 server address's per-worker token bucket: one budget
 * for echo replies of both families) -> rewrite in place (swap addresses,
 * echo reply, checksum). No locks, no allocation, no logging. */
#include "server_ip6.h"

#include <string.h>

#include <rte_ip.h>

#include "ip6.h"
#include "server_ip.h"

#define ICMP6_ECHO_REQUEST 128
#define ICMP6_ECHO_REPLY   129

bool rv_server_ip6_is(const struct rv_dp_session *s, const uint8_t *dst)
{
	unsigned plen = CMM_LOAD_SHARED(s->room->cfg.prefix6_len);
	if (!plen)
		return false;
	struct rv_ip6 m = rv_ip6_mask(plen), a = rv_ip6_load(dst);
	struct rv_ip6 net = rv_ip6_and(rv_ip6_load(s->vip6), m);
	return a.hi == net.hi && a.lo == (net.lo | 1);
}

/* The one's complement sum of the pseudo-header and the ICMPv6 message. */
static uint16_t icmp6_sum(const struct rte_ipv6_hdr *ip, const void *icmp, uint32_t len)
{
	uint32_t sum = rte_ipv6_phdr_cksum(ip, 0) + rte_raw_cksum(icmp, len);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

enum rv_drop rv_server_ip6_answer(struct rv_dp_worker *w, struct rte_mbuf *m,
				  const struct rv_inner6 *in)
{
	struct rte_ipv6_hdr *ip = rte_pktmbuf_mtod(m, struct rte_ipv6_hdr *);
	uint32_t len = rte_be_to_cpu_16(ip->payload_len);
	uint8_t *icmp = (uint8_t *)(ip + 1);
	if (unlikely(in->proto != RV_IPPROTO_ICMPV6 || in->l4_off != sizeof(*ip) || len < 8 ||
		     icmp[0] != ICMP6_ECHO_REQUEST || icmp[1] != 0))
		return RV_DROP_SERVER_IP; /* not an echo request (or behind extension headers) */
	if (unlikely(icmp6_sum(ip, icmp, len) != 0xffff))
		return RV_DROP_V6_MALFORMED;
	if (unlikely(!rv_server_ip_take_token(w)))
		return RV_DROP_RATE_LIMITED;
	/* Rewrite: the reply goes from the server address to the sender. */
	uint8_t a[16];
	memcpy(a, ip->src_addr, 16);
	memcpy(ip->src_addr, ip->dst_addr, 16);
	memcpy(ip->dst_addr, a, 16);
	ip->hop_limits = 64;
	icmp[0] = ICMP6_ECHO_REPLY;
	icmp[2] = icmp[3] = 0;
	uint16_t c = (uint16_t)~icmp6_sum(ip, icmp, len);
	memcpy(icmp + 2, &c, 2);
	/* Drop whatever trailed the IPv6 packet (padding). */
	m->data_len = m->pkt_len = (uint16_t)(sizeof(*ip) + len);
	w->st->server_ip_replies++;
	return RV_OK;
}
