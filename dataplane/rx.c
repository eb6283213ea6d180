/* Classify frames from a port: ARP and ICMPv6 (neighbour discovery, echo)
 * go to the control thread, IPv4/UDP or IPv6/UDP to our address and data
 * port becomes an OPEN job (outer headers stripped, source in the job),
 * everything else is dropped and counted. */
#include <string.h>

#include <rte_byteorder.h>
#include <rte_ip.h>
#include <rte_prefetch.h>
#include <rte_udp.h>

#include "dc_frame.h"
#include "dp.h"

/* A frame refused here; traced (as a packet of no known peer) when the
 * trace has no filter. */
static void drop(struct rv_dp_worker *w, struct rte_mbuf *m, enum rv_drop why)
{
	if (unlikely(w->tracing)) {
		struct rv_job *j = rv_job(m);
		j->peer_id = RV_TRACE_NO_ID;
		j->trace = rv_trace_take(RV_TRACE_NO_ID, RV_TRACE_NO_ID);
	}
	rv_dp_drop(w, m, RV_STAGE_CLASSIFY, why);
}

/* A data packet leaves classify: traced from here unless the trace filters
 * by room (then look-up decides, once the session is known). */
static void trace_data(struct rv_dp_worker *w, struct rte_mbuf *m)
{
	struct rv_job *j = rv_job(m);
	if (rv_trace.by_room)
		return;
	j->trace = rv_trace_take(j->peer_id, RV_TRACE_NO_ID);
	if (j->trace)
		rv_trace_add(w->lcore, w->now_ns, j->trace, RV_STAGE_CLASSIFY, RV_TD_NEXT, RV_OK,
			     j->peer_id, RV_TRACE_NO_ID, 0);
}

static void to_control(struct rv_dp_worker *w, struct rte_mbuf *m)
{
	if (rte_ring_mp_enqueue(rv_dp.ctl, m) < 0)
		drop(w, m, RV_DROP_RING_FULL);
}

/* IPv4/UDP to us: strip to the UDP payload and peek the data-channel
 * header. Returns RV_OK or the drop reason. */
static enum rv_drop parse_udp(struct rte_mbuf *m, struct rv_job *job)
{
	uint32_t len = rte_pktmbuf_data_len(m);
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eh + 1);
	if (len < sizeof(*eh) + sizeof(*ip) + sizeof(struct rte_udp_hdr))
		return RV_DROP_MALFORMED;
	uint32_t ihl = (ip->version_ihl & 0xf) * 4u;
	if ((ip->version_ihl >> 4) != 4 || ihl < sizeof(*ip))
		return RV_DROP_MALFORMED;
	if (rte_be_to_cpu_32(ip->dst_addr) != rv_dp.cfg.ip || ip->next_proto_id != IPPROTO_UDP)
		return RV_DROP_NOT_FOR_US;
	if (ip->fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK))
		return RV_DROP_FRAGMENT; /* members use an MTU that avoids fragments */
	uint32_t tot = rte_be_to_cpu_16(ip->total_length);
	if (tot < ihl + sizeof(struct rte_udp_hdr) || sizeof(*eh) + tot > len)
		return RV_DROP_MALFORMED;
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)((uint8_t *)ip + ihl);
	if (rte_be_to_cpu_16(udp->dst_port) != rv_dp.cfg.udp_port)
		return RV_DROP_NOT_FOR_US;
	uint32_t ulen = rte_be_to_cpu_16(udp->dgram_len);
	if (ulen < sizeof(*udp) || ulen > tot - ihl)
		return RV_DROP_MALFORMED;
	job->src_ip = rte_be_to_cpu_32(ip->src_addr);
	if (unlikely(job->src_ip == 0))
		return RV_DROP_MALFORMED; /* unanswerable; and src_ip 0 means IPv6 */
	job->src_port = rte_be_to_cpu_16(udp->src_port);
	/* Keep only the UDP payload. */
	rte_pktmbuf_adj(m, (uint16_t)(sizeof(*eh) + ihl + sizeof(*udp)));
	rte_pktmbuf_trim(m, (uint16_t)(rte_pktmbuf_data_len(m) - (ulen - sizeof(*udp))));
	return RV_OK;
}

/* IPv6/UDP to us: the same as parse_udp. No extension headers (members
 * send none), a zero UDP checksum is refused (RFC 8200: mandatory over
 * IPv6; the data channel authenticates what follows, so the sum itself is
 * not recomputed here). ICMPv6 to us or to a multicast group goes to the
 * control thread (*to_ctl). */
static enum rv_drop parse_udp6(struct rte_mbuf *m, struct rv_job *job, bool *to_ctl)
{
	uint32_t len = rte_pktmbuf_data_len(m);
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv6_hdr *ip = (struct rte_ipv6_hdr *)(eh + 1);
	*to_ctl = false;
	if (len < sizeof(*eh) + sizeof(*ip) ||
	    (ip->vtc_flow & rte_cpu_to_be_32(0xf0000000u)) != rte_cpu_to_be_32(0x60000000u))
		return RV_DROP_MALFORMED;
	uint32_t plen = rte_be_to_cpu_16(ip->payload_len);
	if (sizeof(*eh) + sizeof(*ip) + plen > len)
		return RV_DROP_MALFORMED;
	if (ip->proto == IPPROTO_ICMPV6) {
		*to_ctl = ip->dst_addr[0] == 0xff || !memcmp(ip->dst_addr, rv_dp.cfg.ip6, 16);
		return *to_ctl ? RV_OK : RV_DROP_NOT_FOR_US;
	}
	if (!rv_dp_has_ip6() || memcmp(ip->dst_addr, rv_dp.cfg.ip6, 16) != 0)
		return RV_DROP_NOT_FOR_US;
	if (ip->proto != IPPROTO_UDP)
		return ip->proto == IPPROTO_FRAGMENT ? RV_DROP_FRAGMENT
		       : ip->proto == IPPROTO_TCP    ? RV_DROP_NOT_FOR_US
						     : RV_DROP_OUTER6_EXT_HEADER;
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);
	if (plen < sizeof(*udp))
		return RV_DROP_MALFORMED;
	if (rte_be_to_cpu_16(udp->dst_port) != rv_dp.cfg.udp_port)
		return RV_DROP_NOT_FOR_US;
	uint32_t ulen = rte_be_to_cpu_16(udp->dgram_len);
	if (ulen < sizeof(*udp) || ulen > plen)
		return RV_DROP_MALFORMED;
	if (unlikely(udp->dgram_cksum == 0))
		return RV_DROP_OUTER6_NO_CHECKSUM;
	job->src_ip = 0;
	memcpy(job->src6, ip->src_addr, 16);
	job->src_port = rte_be_to_cpu_16(udp->src_port);
	rte_pktmbuf_adj(m, (uint16_t)(sizeof(*eh) + sizeof(*ip) + sizeof(*udp)));
	rte_pktmbuf_trim(m, (uint16_t)(rte_pktmbuf_data_len(m) - (ulen - sizeof(*udp))));
	return RV_OK;
}

/* The data-channel header of a stripped UDP payload: peer-id and key-id. */
static enum rv_drop peek_dc(struct rte_mbuf *m, struct rv_job *job)
{
	uint32_t peer;
	enum rv_drop r = rv_dc_peek(rte_pktmbuf_mtod(m, uint8_t *), rte_pktmbuf_data_len(m),
				    &job->key_id, &peer);
	if (r != RV_OK)
		return r;
	/* Too short for any suite: refused here, before a session look-up. */
	if (unlikely(rte_pktmbuf_data_len(m) < RV_DC_MIN_SEALED_LEN))
		return RV_DROP_MALFORMED;
	job->peer_id = peer;
	job->kind = RV_JOB_OPEN_UDP;
	job->trace = 0;
	return RV_OK;
}

/* The burst's mbufs are cold (written by the NIC or another core): fetch
 * both header lines (the job field is in the second) for the whole burst,
 * then the frames' headers, so that the misses overlap. */
static void prefetch_burst(struct rte_mbuf **pkts, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		rte_prefetch0(pkts[i]);
		rte_prefetch0(&pkts[i]->cacheline1);
	}
	for (unsigned i = 0; i < n; i++)
		rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void *));
}

unsigned rv_rx_classify(struct rv_dp_worker *w, struct rte_mbuf **pkts, unsigned n,
			struct rte_mbuf **data)
{
	unsigned nd = 0;
	prefetch_burst(pkts, n);
	for (unsigned i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		w->st->rx_pkts++;
		w->st->rx_bytes += rte_pktmbuf_pkt_len(m);
		if (unlikely(m->nb_segs != 1 ||
			     rte_pktmbuf_data_len(m) < sizeof(struct rte_ether_hdr))) {
			drop(w, m, RV_DROP_MALFORMED);
			continue;
		}
		struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
		uint16_t type = rte_be_to_cpu_16(eh->ether_type);
		if (type == RTE_ETHER_TYPE_ARP) {
			to_control(w, m);
			continue;
		}
		bool ours = rte_is_same_ether_addr(&eh->dst_addr, &rv_dp.mac);
		enum rv_drop r;
		if (type == RTE_ETHER_TYPE_IPV6 &&
		    (ours || rte_is_multicast_ether_addr(&eh->dst_addr))) {
			bool ctl;
			r = parse_udp6(m, rv_job(m), &ctl);
			if (r == RV_OK && ctl) {
				to_control(w, m);
				continue;
			}
		} else if (type == RTE_ETHER_TYPE_IPV4 && ours) {
			r = parse_udp(m, rv_job(m));
		} else {
			r = RV_DROP_NOT_FOR_US;
		}
		if (r == RV_OK)
			r = peek_dc(m, rv_job(m));
		if (unlikely(r != RV_OK)) {
			drop(w, m, r);
			continue;
		}
		data[nd++] = m;
	}
	if (unlikely(w->tracing))
		for (unsigned i = 0; i < nd; i++)
			trace_data(w, data[i]);
	return nd;
}
