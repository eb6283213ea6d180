/* The room's server address answers ICMP echo (see server_ip.h). Stages of
 * one packet: check (IPv4 header, no fragment, ICMP echo request with a
 * valid checksum) -> rate bound (per-worker token bucket) -> rewrite in
 * place (swap addresses, echo reply, checksums). No locks, no allocation,
 * no logging. */
#include "server_ip.h"

#include <rte_byteorder.h>
#include <rte_icmp.h>
#include <rte_ip.h>

#include "inet.h"

/* Tokens per worker lcore: written by that worker only. */
struct bucket {
	uint64_t tokens_ns; /* tokens, in units of ns worth of refill */
	uint64_t last_ns;
} __rte_cache_aligned;

static struct bucket buckets[RTE_MAX_LCORE];

/* One token = NS_PER_S / RV_SERVER_IP_PPS of elapsed time. */
bool rv_server_ip_take_token(struct rv_dp_worker *w)
{
	const uint64_t cost = NS_PER_S / RV_SERVER_IP_PPS;
	const uint64_t cap = cost * RV_SERVER_IP_BURST;
	struct bucket *b = &buckets[w->lcore];
	uint64_t add = w->now_ns - b->last_ns;
	b->last_ns = w->now_ns;
	b->tokens_ns = add >= cap || b->tokens_ns + add >= cap ? cap : b->tokens_ns + add;
	if (b->tokens_ns < cost)
		return false;
	b->tokens_ns -= cost;
	return true;
}

/* The echo request's IPv4 header and ICMP length, or why it is dropped. */
static enum rv_drop check_echo(struct rte_mbuf *m, struct rte_ipv4_hdr **ipp, uint32_t *icmp_len)
{
	uint32_t len = rte_pktmbuf_data_len(m);
	struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod(m, struct rte_ipv4_hdr *);
	uint32_t hl = (uint32_t)(ip->version_ihl & 0x0f) * 4;
	uint32_t tot = rte_be_to_cpu_16(ip->total_length);
	if (unlikely(len < sizeof(*ip) || (ip->version_ihl >> 4) != 4 || hl < sizeof(*ip) ||
		     tot > len || tot < hl + sizeof(struct rte_icmp_hdr)))
		return RV_DROP_MALFORMED;
	if (unlikely(ip->next_proto_id != IPPROTO_ICMP ||
		     (rte_be_to_cpu_16(ip->fragment_offset) & 0x3fff) != 0))
		return RV_DROP_SERVER_IP; /* not ICMP, or a fragment */
	const struct rte_icmp_hdr *icmp = (const void *)((const uint8_t *)ip + hl);
	if (unlikely(icmp->icmp_type != RTE_IP_ICMP_ECHO_REQUEST || icmp->icmp_code != 0))
		return RV_DROP_SERVER_IP;
	if (unlikely(rte_raw_cksum(icmp, tot - hl) != 0xffff))
		return RV_DROP_MALFORMED;
	*ipp = ip;
	*icmp_len = tot - hl;
	return RV_OK;
}

enum rv_drop rv_server_ip_answer(struct rv_dp_worker *w, struct rte_mbuf *m)
{
	struct rte_ipv4_hdr *ip;
	uint32_t icmp_len;
	enum rv_drop why = check_echo(m, &ip, &icmp_len);
	if (why != RV_OK)
		return why;
	if (unlikely(!rv_server_ip_take_token(w)))
		return RV_DROP_RATE_LIMITED;
	/* Rewrite: the reply goes from the server address to the sender. */
	uint32_t hl = (uint32_t)(ip->version_ihl & 0x0f) * 4;
	struct rte_icmp_hdr *icmp = (void *)((uint8_t *)ip + hl);
	rte_be32_t src = ip->src_addr;
	ip->src_addr = ip->dst_addr;
	ip->dst_addr = src;
	ip->time_to_live = 64;
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	icmp->icmp_type = RTE_IP_ICMP_ECHO_REPLY;
	icmp->icmp_cksum = 0;
	icmp->icmp_cksum = (uint16_t)~rte_raw_cksum(icmp, icmp_len);
	/* Drop whatever trailed the IP packet (padding). */
	m->data_len = m->pkt_len = (uint16_t)(hl + icmp_len);
	w->st->server_ip_replies++;
	return RV_OK;
}
