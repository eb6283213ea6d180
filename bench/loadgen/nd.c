/* IPv6 neighbour discovery of the loadgen (--outer6), the twin of its ARP
 * (port.c): advertise the simulated clients' IPv6 outer addresses (and
 * --gateway6) when the data plane solicits them, and solicit the data
 * plane's address to learn its MAC. Only what RFC 4861 needs for that: NS
 * and NA with a link-layer address option, hop limit 255, checksums. */
#include <rte_byteorder.h>
#include <rte_ip.h>

#include "engine.h"
#include "inet.h"
#include "nd_wire.h"

#define ND_FRAME_LEN                                                                               \
	(sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv6_hdr) + sizeof(struct rv_nd_msg_ll))
#define ND_MIN_LEN (ND_FRAME_LEN - 8) /* an NS from :: carries no option */

static bool is_ours6(const struct lg_engine *e, const uint8_t ip[16])
{
	static const uint8_t zero[16];
	const struct lg_opts *o = e->o;
	if ((o->mode == LG_MODE_REFLECT && memcmp(ip, o->dp_ip6, 16) == 0) ||
	    (memcmp(o->gateway6, zero, 16) && memcmp(ip, o->gateway6, 16) == 0))
		return true;
	uint32_t i = rv_get_be32(ip + 12) - rv_get_be32(o->client_net6 + 12) - 1;
	return i < o->clients && memcmp(ip, o->client_net6, 12) == 0;
}

/* The ND message of an Ethernet/IPv6/ICMPv6 frame of @type with a valid
 * checksum and hop limit 255, or NULL. */
static struct rv_nd_msg_ll *nd_of(struct rte_mbuf *m, uint8_t type, struct rte_ipv6_hdr **ipp)
{
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	if (m->data_len < ND_MIN_LEN || eh->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6))
		return NULL;
	struct rte_ipv6_hdr *ip = (struct rte_ipv6_hdr *)(eh + 1);
	struct rv_nd_msg_ll *nd = (struct rv_nd_msg_ll *)(ip + 1);
	uint32_t plen = rte_be_to_cpu_16(ip->payload_len);
	if (ip->proto != IPPROTO_ICMPV6 || ip->hop_limits != 255 || nd->m.type != type ||
	    plen < ND_MIN_LEN - sizeof(*eh) - sizeof(*ip) ||
	    sizeof(*eh) + sizeof(*ip) + plen > m->data_len || !lg_ipv6_l4_sum_ok(ip, nd))
		return NULL;
	*ipp = ip;
	return nd;
}

/* Fill @m (the frame's first bytes) with Ethernet/IPv6/ICMPv6 @type about
 * @target from @src to @dst, our MAC in the option. */
static void fill_nd(struct lg_engine *e, struct rte_mbuf *m, uint8_t type, uint32_t flags,
		    const uint8_t target[16], const uint8_t src[16], const uint8_t dst[16],
		    const struct rte_ether_addr *eth_dst)
{
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv6_hdr *ip = (struct rte_ipv6_hdr *)(eh + 1);
	struct rv_nd_msg_ll *nd = (struct rv_nd_msg_ll *)(ip + 1);
	uint8_t t[16], s[16], d[16]; /* the arguments may point into @m */
	memcpy(t, target, 16);
	memcpy(s, src, 16);
	memcpy(d, dst, 16);
	eh->dst_addr = *eth_dst;
	eh->src_addr = e->mac;
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6);
	ip->vtc_flow = rte_cpu_to_be_32(0x60000000u);
	ip->payload_len = rte_cpu_to_be_16(sizeof(*nd));
	ip->proto = IPPROTO_ICMPV6;
	ip->hop_limits = 255;
	memcpy(ip->src_addr, s, 16);
	memcpy(ip->dst_addr, d, 16);
	nd->m.type = type;
	nd->m.code = 0;
	nd->m.flags = rte_cpu_to_be_32(flags);
	memcpy(nd->m.target, t, 16);
	nd->opt.type = type == RV_ND_NS ? RV_ND_OPT_SRC_LL : RV_ND_OPT_TGT_LL;
	nd->opt.len = 1;
	memcpy(nd->opt.mac, e->mac.addr_bytes, RTE_ETHER_ADDR_LEN);
	nd->m.cksum = 0;
	nd->m.cksum = rte_ipv6_udptcp_cksum(ip, nd);
	m->data_len = m->pkt_len = ND_FRAME_LEN;
}

bool lg_nd_answer(struct lg_engine *e, struct rte_mbuf *m)
{
	struct rte_ipv6_hdr *ip;
	struct rv_nd_msg_ll *nd = nd_of(m, RV_ND_NS, &ip);
	if (!nd || !is_ours6(e, nd->m.target) ||
	    rte_pktmbuf_tailroom(m) + m->data_len < ND_FRAME_LEN)
		return false;
	static const uint8_t all_nodes[16] = {0xff, 0x02, [15] = 1}, zero[16];
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ether_addr to = eh->src_addr;
	uint32_t flags = RV_ND_F_SOLICITED | RV_ND_F_OVERRIDE;
	const uint8_t *dst = ip->src_addr;
	if (memcmp(dst, zero, 16) == 0) { /* duplicate address detection: to all nodes */
		dst = all_nodes;
		to = (struct rte_ether_addr){{0x33, 0x33, 0, 0, 0, 1}};
		flags = RV_ND_F_OVERRIDE;
	} else if (rte_be_to_cpu_16(ip->payload_len) >= sizeof(*nd) &&
		   nd->opt.type == RV_ND_OPT_SRC_LL && nd->opt.len == 1) {
		memcpy(to.addr_bytes, nd->opt.mac, RTE_ETHER_ADDR_LEN);
	}
	fill_nd(e, m, RV_ND_NA, flags, nd->m.target, nd->m.target, dst, &to);
	return true;
}

struct rte_mbuf *lg_nd_solicit_dp(struct lg_engine *e)
{
	static const uint8_t zero[16];
	struct rte_mbuf *m = rte_pktmbuf_alloc(e->pool);
	if (!m)
		return NULL;
	const uint8_t *t = e->o->dp_ip6;
	/* to its solicited-node group ff02::1:ffXX:XXXX; the data plane
	 * learns the asker: the gateway6, or the first client */
	uint8_t group[16] = {0xff, 0x02, [11] = 0x01, [12] = 0xff, t[13], t[14], t[15]};
	struct rte_ether_addr mcast = {{0x33, 0x33, 0xff, t[13], t[14], t[15]}};
	const uint8_t *src =
	    memcmp(e->o->gateway6, zero, 16) ? e->o->gateway6 : e->clients[0].outer_ip6;
	rte_pktmbuf_append(m, ND_FRAME_LEN);
	fill_nd(e, m, RV_ND_NS, 0, t, src, group, &mcast);
	return m;
}

bool lg_nd_is_dp_advert(struct lg_engine *e, struct rte_mbuf *m)
{
	struct rte_ipv6_hdr *ip;
	struct rv_nd_msg_ll *nd = nd_of(m, RV_ND_NA, &ip);
	if (!nd || memcmp(nd->m.target, e->o->dp_ip6, 16) != 0)
		return false;
	bool tll = rte_be_to_cpu_16(ip->payload_len) >= sizeof(*nd) &&
		   nd->opt.type == RV_ND_OPT_TGT_LL && nd->opt.len == 1;
	if (tll)
		memcpy(e->dp_mac.addr_bytes, nd->opt.mac, RTE_ETHER_ADDR_LEN);
	else
		e->dp_mac = rte_pktmbuf_mtod(m, struct rte_ether_hdr *)->src_addr;
	return true;
}
