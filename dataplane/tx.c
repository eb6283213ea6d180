/* Transmit: outer Ethernet/IPv4/UDP or Ethernet/IPv6/UDP headers towards a
 * member's last authenticated address (next-hop MAC from the ARP or the
 * neighbour cache), or the TCP fallback ring for members attached over TCP. */
#include <string.h>
#include <unistd.h>

#include <rte_byteorder.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_udp.h>

#include "dp.h"
#include "session_table.h"
#include "tcp_io.h"

#define OUTER_LEN                                                                                  \
	(sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv4_hdr) + sizeof(struct rte_udp_hdr))
#define OUTER6_LEN                                                                                 \
	(sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv6_hdr) + sizeof(struct rte_udp_hdr))

void rv_tx_flush(struct rv_dp_worker *w)
{
	struct rv_dp_tx *tx = &w->tx;
	if (tx->n) {
		/* traced packets: handed to the port (a tx_full drop may follow) */
		if (unlikely(w->tracing))
			for (uint16_t i = 0; i < tx->n; i++)
				rv_dp_trace(w, tx->pkts[i], RV_STAGE_TX, RV_TD_QUEUED,
					    RV_TRACE_NO_ID, 0);
		uint16_t sent = rte_eth_tx_burst(rv_dp.cfg.port_id, w->txq, tx->pkts, tx->n);
		for (uint16_t i = 0; i < sent; i++) {
			w->st->tx_pkts++;
			w->st->tx_bytes += rte_pktmbuf_pkt_len(tx->pkts[i]);
		}
		for (uint16_t i = sent; i < tx->n; i++)
			rv_dp_drop(w, tx->pkts[i], RV_STAGE_TX, RV_DROP_TX_FULL);
		tx->n = 0;
	}
	if (w->tcp_queued) {
		uint64_t one = 1;
		if (write(rv_dp.tcp_wakefd, &one, sizeof(one)) < 0) {
			/* counter saturated: the TCP thread is awake anyway */
		}
		w->tcp_queued = false;
	}
}

void rv_tx_queue(struct rv_dp_worker *w, struct rte_mbuf *m)
{
	if (w->tx.n == RTE_DIM(w->tx.pkts))
		rv_tx_flush(w);
	w->tx.pkts[w->tx.n++] = m;
}

static void to_tcp(struct rv_dp_worker *w, struct rte_mbuf *m, uint32_t conn)
{
	if (unlikely(!rv_dp.tcp_tx)) {
		rv_dp_drop(w, m, RV_STAGE_TX, RV_DROP_NO_ADDRESS);
		return;
	}
	const struct rv_job *j = rv_job(m);
	uint32_t trace = j->trace, peer = j->peer_id; /* the TCP thread frees @m */
	rv_tcp_io_set_conn(m, conn);
	if (unlikely(rte_ring_mp_enqueue(rv_dp.tcp_tx, m) < 0)) {
		rv_dp_drop(w, m, RV_STAGE_TX, RV_DROP_RING_FULL);
		return;
	}
	if (unlikely(w->tracing) && trace)
		rv_trace_add(w->lcore, w->now_ns, trace, RV_STAGE_TX, RV_TD_QUEUED, RV_OK, peer,
			     RV_TRACE_NO_ID, 1);
	w->st->tx_pkts++;
	w->st->tx_bytes += rte_pktmbuf_pkt_len(m);
	w->tcp_queued = true;
}

static void write_headers(struct rte_mbuf *m, const struct rte_ether_addr *dmac,
			  const struct rv_outer_addr *a)
{
	uint16_t payload = rte_pktmbuf_data_len(m);
	struct rte_ether_hdr *eh = (struct rte_ether_hdr *)rte_pktmbuf_prepend(m, OUTER_LEN);
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eh + 1);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);
	eh->dst_addr = *dmac;
	eh->src_addr = rv_dp.mac;
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->type_of_service = 0;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(payload + sizeof(*ip) + sizeof(*udp)));
	ip->packet_id = 0;
	ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_UDP;
	ip->src_addr = rte_cpu_to_be_32(rv_dp.cfg.ip);
	ip->dst_addr = rte_cpu_to_be_32(a->ip);
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	udp->src_port = rte_cpu_to_be_16(rv_dp.cfg.udp_port);
	udp->dst_port = rte_cpu_to_be_16(a->port);
	udp->dgram_len = rte_cpu_to_be_16((uint16_t)(payload + sizeof(*udp)));
	udp->dgram_cksum = 0; /* optional over IPv4; the data channel authenticates */
}

/* The UDP checksum is mandatory over IPv6 (RFC 8200): computed here in
 * software over the pseudo-header and the sealed payload. */
static void write_headers6(struct rte_mbuf *m, const struct rte_ether_addr *dmac,
			   const struct rv_outer_addr *a)
{
	uint16_t payload = rte_pktmbuf_data_len(m);
	struct rte_ether_hdr *eh = (struct rte_ether_hdr *)rte_pktmbuf_prepend(m, OUTER6_LEN);
	struct rte_ipv6_hdr *ip = (struct rte_ipv6_hdr *)(eh + 1);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);
	eh->dst_addr = *dmac;
	eh->src_addr = rv_dp.mac;
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6);
	ip->vtc_flow = rte_cpu_to_be_32(0x60000000u);
	ip->payload_len = rte_cpu_to_be_16((uint16_t)(payload + sizeof(*udp)));
	ip->proto = IPPROTO_UDP;
	ip->hop_limits = 64;
	memcpy(ip->src_addr, rv_dp.cfg.ip6, 16);
	memcpy(ip->dst_addr, a->ip6, 16);
	udp->src_port = rte_cpu_to_be_16(rv_dp.cfg.udp_port);
	udp->dst_port = rte_cpu_to_be_16(a->port);
	udp->dgram_len = ip->payload_len;
	udp->dgram_cksum = 0;
	udp->dgram_cksum = rte_ipv6_udptcp_cksum(ip, udp);
}

/* Next-hop MAC for an IPv6 member, or the drop reason. */
static enum rv_drop next_hop6(struct rv_dp_worker *w, const struct rv_outer_addr *a,
			      struct rte_ether_addr *dmac)
{
	uint8_t hop[16];
	uint64_t exp;
	if (unlikely(!rv_nd_next_hop(a->ip6, hop)))
		return RV_DROP_ND_NO_GATEWAY;
	if (unlikely(!rv_nd_lookup_exp(hop, w->now_ns, dmac, &exp))) {
		rv_nd_resolve(hop);
		return RV_DROP_ND_UNRESOLVED;
	}
	/* refresh as for ARP below */
	uint64_t tenth = (uint64_t)rv_dp.cfg.arp_timeout_s * 100000000ull;
	if (unlikely((int64_t)(exp - w->now_ns) < (int64_t)tenth &&
		     w->now_ns - w->arp_refresh_ns > 1000000ull)) {
		w->arp_refresh_ns = w->now_ns;
		rv_nd_resolve(hop);
	}
	return RV_OK;
}

static void to_member6(struct rv_dp_worker *w, struct rte_mbuf *m, const struct rv_outer_addr *a)
{
	struct rte_ether_addr dmac;
	if (unlikely(rte_pktmbuf_headroom(m) < OUTER6_LEN)) {
		rv_dp_drop(w, m, RV_STAGE_TX, RV_DROP_TOO_BIG);
		return;
	}
	enum rv_drop why = next_hop6(w, a, &dmac);
	if (unlikely(why != RV_OK)) {
		rv_dp_drop(w, m, RV_STAGE_TX, why);
		return;
	}
	write_headers6(m, &dmac, a);
	rv_tx_queue(w, m);
}

void rv_tx_to_member(struct rv_dp_worker *w, struct rte_mbuf *m, const struct rv_outer_addr *a)
{
	if (a->kind == RV_ADDR_TCP) {
		to_tcp(w, m, a->conn_id);
		return;
	}
	if (a->kind == RV_ADDR_UDP6) {
		to_member6(w, m, a);
		return;
	}
	if (unlikely(rte_pktmbuf_headroom(m) < OUTER_LEN)) {
		rv_dp_drop(w, m, RV_STAGE_TX, RV_DROP_TOO_BIG);
		return;
	}
	struct rte_ether_addr dmac;
	uint64_t exp;
	uint32_t hop = rv_arp_next_hop(a->ip);
	if (unlikely(!hop)) {
		rv_dp_drop(w, m, RV_STAGE_TX, RV_DROP_NO_GATEWAY);
		return;
	}
	if (unlikely(!rv_arp_lookup_exp(hop, w->now_ns, &dmac, &exp))) {
		rv_arp_resolve(hop);
		rv_dp_drop(w, m, RV_STAGE_TX, RV_DROP_ARP_UNRESOLVED);
		return;
	}
	/* Refresh an entry in use during its last tenth or once stale
	 * (at most once a millisecond per worker; the control thread also
	 * rate-limits requests per address). */
	uint64_t tenth = (uint64_t)rv_dp.cfg.arp_timeout_s * 100000000ull;
	if (unlikely((int64_t)(exp - w->now_ns) < (int64_t)tenth &&
		     w->now_ns - w->arp_refresh_ns > 1000000ull)) {
		w->arp_refresh_ns = w->now_ns;
		rv_arp_resolve(hop);
	}
	write_headers(m, &dmac, a);
	rv_tx_queue(w, m);
}
