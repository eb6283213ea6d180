/* Packets of the loadgen: build and seal on TX; on RX answer ARP, open with
 * the destination client's key, check the loadgen header and count; in
 * --reflect mode also relay packets addressed to the "data plane" the way
 * roomvpn-dataplane does (so the loadgen can test itself on a loopback). */
#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_udp.h>

#include "dc_frame.h"
#include "engine.h"
#include "inet.h"

#define OUTER_LEN                                                                                  \
	(sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv4_hdr) + sizeof(struct rte_udp_hdr))
#define PAYLOAD_OFF (OUTER_LEN + RV_DC_HEADROOM)

static void write_ipv4(struct rte_ipv4_hdr *ip, uint32_t src, uint32_t dst, uint16_t total)
{
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->type_of_service = 0;
	ip->total_length = rte_cpu_to_be_16(total);
	ip->packet_id = 0;
	ip->fragment_offset = 0;
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_UDP;
	ip->hdr_checksum = 0;
	ip->src_addr = rte_cpu_to_be_32(src);
	ip->dst_addr = rte_cpu_to_be_32(dst);
	ip->hdr_checksum = rte_ipv4_cksum(ip);
}

static void write_udp(struct rte_udp_hdr *u, uint16_t sport, uint16_t dport, uint16_t len)
{
	u->src_port = rte_cpu_to_be_16(sport);
	u->dst_port = rte_cpu_to_be_16(dport);
	u->dgram_len = rte_cpu_to_be_16(len);
	u->dgram_cksum = 0;
}

/* Outer Ethernet/IPv4/UDP in front of the sealed packet @p; sets the mbuf's
 * data window to the whole frame. */
static void write_outer(struct rte_mbuf *m, const struct rv_pkt *p,
			const struct rte_ether_addr *dst, const struct rte_ether_addr *src,
			uint32_t sip, uint16_t sport, uint32_t dip, uint16_t dport)
{
	uint8_t *start = p->data - OUTER_LEN;
	struct rte_ether_hdr *eh = (struct rte_ether_hdr *)start;
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eh + 1);
	eh->dst_addr = *dst;
	eh->src_addr = *src;
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	write_ipv4(ip, sip, dip, (uint16_t)(sizeof(*ip) + sizeof(struct rte_udp_hdr) + p->len));
	write_udp((struct rte_udp_hdr *)(ip + 1), sport, dport,
		  (uint16_t)(sizeof(struct rte_udp_hdr) + p->len));
	m->data_off = (uint16_t)(start - (uint8_t *)m->buf_addr);
	m->data_len = (uint16_t)(OUTER_LEN + p->len);
	m->pkt_len = m->data_len;
}

/* The bytes after the loadgen header: 8-byte words from flow and sequence
 * number, so that a changed, moved or truncated byte is seen on receive. */
static uint64_t pattern_word(uint32_t f, uint32_t seq, uint32_t k)
{
	return ((uint64_t)f << 32 | seq) ^ ((uint64_t)(k + 1) * 0x9E3779B97F4A7C15ull);
}

static void payload_fill(uint8_t *p, uint32_t len, uint32_t f, uint32_t seq)
{
	uint32_t k = 0;
	for (; (k + 1) * 8 <= len; k++) {
		uint64_t w = pattern_word(f, seq, k);
		memcpy(p + k * 8, &w, 8);
	}
	uint64_t w = pattern_word(f, seq, k);
	memcpy(p + k * 8, &w, len - k * 8);
}

static bool payload_ok(const uint8_t *p, uint32_t len, uint32_t f, uint32_t seq)
{
	uint32_t k = 0;
	for (; (k + 1) * 8 <= len; k++) {
		uint64_t w = pattern_word(f, seq, k);
		if (memcmp(p + k * 8, &w, 8))
			return false;
	}
	uint64_t w = pattern_word(f, seq, k);
	return memcmp(p + k * 8, &w, len - k * 8) == 0;
}

/* IPv6 header, @len bytes in all (--inner6). */
static void write_ipv6(uint8_t *ip, const uint8_t *src, const uint8_t *dst, uint16_t len)
{
	memset(ip, 0, 8);
	ip[0] = 0x60;
	rv_put_be16(ip + 4, (uint16_t)(len - 40));
	ip[6] = IPPROTO_UDP;
	ip[7] = 64;
	memcpy(ip + 8, src, 16);
	memcpy(ip + 24, dst, 16);
}

/* Length of the inner IP header the loadgen sends (20, or 40 with --inner6). */
static uint32_t ip_len(const struct lg_engine *e)
{
	return e->o->inner6 ? 40 : sizeof(struct rte_ipv4_hdr);
}

int lg_traffic_build(struct lg_engine *e, unsigned f, uint16_t len, struct rte_mbuf *m)
{
	struct lg_client *c = &e->clients[f];
	const struct lg_client *d = &e->clients[c->dst];
	uint8_t *in = rte_pktmbuf_mtod(m, uint8_t *) + PAYLOAD_OFF;
	uint32_t iph = ip_len(e);
	if (e->o->inner6)
		write_ipv6(in, c->vip6, d->vip6, len);
	else
		write_ipv4((struct rte_ipv4_hdr *)in, c->vip, d->vip, len);
	write_udp((struct rte_udp_hdr *)(in + iph), LG_INNER_UDP_PORT, LG_INNER_UDP_PORT,
		  (uint16_t)(len - iph));
	uint8_t *h = in + iph + sizeof(struct rte_udp_hdr);
	rv_put_be32(h, LG_MAGIC);
	rv_put_be32(h + 4, e->trial_id);
	rv_put_be32(h + 8, f);
	rv_put_be32(h + 12, c->tx_seq);
	payload_fill(h + LG_HDR_LEN, len - (iph + 8 + LG_HDR_LEN), f, c->tx_seq++);
	uint64_t tsc = rte_rdtsc();
	memcpy(h + 16, &tsc, sizeof(tsc));

	struct rv_pkt p = {
	    .data = in, .len = len, .headroom = RV_DC_HEADROOM, .tailroom = RV_DC_TAILROOM};
	if (rv_dc_seal(c->enc, e->o->key_id, c->peer_id, ++c->tx_pid, 0, &p) != RV_OK)
		return -1;
	write_outer(m, &p, &e->dp_mac, &e->mac, c->outer_ip, c->outer_port, e->o->dp_ip,
		    e->o->dp_port);
	return 0;
}

/* The UDP payload of an IPv4/UDP frame, or false. */
static bool udp_payload(struct rte_mbuf *m, struct rte_ipv4_hdr **ipp, struct rte_udp_hdr **up,
			struct rv_pkt *p)
{
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	if (m->data_len < OUTER_LEN || eh->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4))
		return false;
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eh + 1);
	if (ip->version_ihl != RTE_IPV4_VHL_DEF || ip->next_proto_id != IPPROTO_UDP)
		return false;
	struct rte_udp_hdr *u = (struct rte_udp_hdr *)(ip + 1);
	uint16_t ulen = rte_be_to_cpu_16(u->dgram_len);
	if (ulen < sizeof(*u) || OUTER_LEN + ulen - sizeof(*u) > m->data_len)
		return false;
	p->data = (uint8_t *)(u + 1);
	p->len = ulen - sizeof(*u);
	p->headroom = (uint32_t)(p->data - (uint8_t *)m->buf_addr);
	p->tailroom = (uint32_t)(m->buf_len - p->headroom - p->len);
	*ipp = ip;
	*up = u;
	return true;
}

/* Checks the inner packet @p that client @dst received; counts it. */
static void count_inner(struct lg_engine *e, const struct lg_client *dst, const struct rv_pkt *p,
			uint64_t now)
{
	const struct rte_ipv4_hdr *ip = (const struct rte_ipv4_hdr *)p->data;
	uint32_t iph = ip_len(e), min = iph + 8 + LG_HDR_LEN;
	const uint8_t *h = p->data + iph + sizeof(struct rte_udp_hdr);
	bool addressed = e->o->inner6 ? p->len >= min && p->data[0] >> 4 == 6 &&
					    memcmp(p->data + 24, dst->vip6, 16) == 0
				      : p->len >= min && ip->version_ihl == RTE_IPV4_VHL_DEF &&
					    rte_be_to_cpu_32(ip->dst_addr) == dst->vip;
	if (!addressed || rv_get_be32(h) != LG_MAGIC) {
		e->rxc.decrypt_errors++; /* authenticated, but not what was sent */
		return;
	}
	uint32_t trial = rv_get_be32(h + 4), f = rv_get_be32(h + 8), seq = rv_get_be32(h + 12);
	if (trial != e->rx_trial || f >= e->o->clients) {
		e->rxc.late++;
		return;
	}
	if (!payload_ok(h + LG_HDR_LEN, p->len - min, f, seq)) {
		e->rxc.payload_errors++; /* authenticated and addressed right, changed */
		return;
	}
	struct lg_client *src = &e->clients[f];
	if (seq < src->rx_next_seq)
		e->rxc.out_of_order++;
	else
		src->rx_next_seq = seq + 1;
	uint64_t tsc;
	memcpy(&tsc, h + 16, sizeof(tsc));
	lg_hist_add(&e->rxc.lat, (now - tsc) * 1000000000ull / e->tsc_hz);
	e->rxc.received++;
	e->rxc.rx_bytes += p->len;
}

static void rx_for_client(struct lg_engine *e, long idx, struct rv_pkt *p, uint64_t now)
{
	const struct lg_client *c = &e->clients[idx];
	uint8_t key_id;
	uint32_t peer_id, pid;
	if (rv_dc_peek(p->data, p->len, &key_id, &peer_id) != RV_OK || peer_id != c->peer_id ||
	    rv_dc_open(c->dec, p, &pid) != RV_OK) {
		e->rxc.decrypt_errors++;
		return;
	}
	count_inner(e, c, p, now);
}

/* --reflect: relay as the data plane would. Returns true if @m was turned
 * into the relayed packet. */
static bool reflect(struct lg_engine *e, struct rte_mbuf *m, const struct rte_ipv4_hdr *ip,
		    const struct rte_udp_hdr *u, struct rv_pkt *p)
{
	long si =
	    lg_client_by_outer(e, rte_be_to_cpu_32(ip->src_addr), rte_be_to_cpu_16(u->src_port));
	uint32_t pid;
	if (si < 0 || rv_dc_open(e->clients[si].srv_dec, p, &pid) != RV_OK || p->len < ip_len(e))
		return false;
	const struct rte_ipv4_hdr *in = (const struct rte_ipv4_hdr *)p->data;
	/* test (--test-corrupt-payload N): a relay that changes the payload */
	if (e->o->corrupt_every && ++e->reflected_total % e->o->corrupt_every == 0 &&
	    p->len > ip_len(e) + 8 + LG_HDR_LEN)
		p->data[p->len - 1] ^= 0x01;
	long di = e->o->inner6 ? lg_client_by_vip6(e, p->data + 24)
			       : lg_client_by_vip(e, rte_be_to_cpu_32(in->dst_addr));
	if (di < 0 || e->clients[di].room_id != e->clients[si].room_id)
		return false;
	struct lg_client *d = &e->clients[di];
	p->headroom = RV_DC_HEADROOM;
	if (rv_dc_seal(d->srv_enc, e->o->key_id, d->peer_id, ++d->srv_tx_pid, 0, p) != RV_OK)
		return false;
	write_outer(m, p, &e->mac, &e->mac, e->o->dp_ip, e->o->dp_port, d->outer_ip, d->outer_port);
	e->rxc.reflected++;
	return true;
}

enum rx_verdict { RX_FREE, RX_ARP_REPLY, RX_RELAYED };

/* One received frame: consumed, or to be sent back (ARP reply, relayed). */
static enum rx_verdict rx_one(struct lg_engine *e, struct rte_mbuf *m, uint64_t now)
{
	struct rte_ipv4_hdr *ip;
	struct rte_udp_hdr *u;
	struct rv_pkt p;
	if (lg_arp_answer(e, m)) {
		e->rxc.arp_replies++;
		return RX_ARP_REPLY;
	}
	if (!udp_payload(m, &ip, &u, &p)) {
		e->rxc.foreign++;
		return RX_FREE;
	}
	uint32_t dip = rte_be_to_cpu_32(ip->dst_addr);
	uint16_t dport = rte_be_to_cpu_16(u->dst_port);
	if (e->o->mode == LG_MODE_REFLECT && dip == e->o->dp_ip && dport == e->o->dp_port)
		return reflect(e, m, ip, u, &p) ? RX_RELAYED : RX_FREE;
	long idx = lg_client_by_outer(e, dip, dport);
	if (idx < 0)
		e->rxc.foreign++;
	else
		rx_for_client(e, idx, &p, now);
	return RX_FREE;
}

/* Transmit now (inline receiving), or hand to the sender (RX lcore). */
static void send_out(struct lg_engine *e, uint16_t port, struct rte_mbuf **m, unsigned n)
{
	if (n == 0)
		return;
	if (!e->txq) {
		lg_port_tx(port, m, n);
		return;
	}
	for (unsigned i = 0; i < n; i++)
		m[i]->port = port;
	unsigned q = rte_ring_sp_enqueue_burst(e->txq, (void **)m, n, NULL);
	if (q < n)
		rte_pktmbuf_free_bulk(m + q, n - q);
}

void lg_traffic_rx(struct lg_engine *e, struct rte_mbuf **pkts, unsigned n)
{
	struct rte_mbuf *arp[LG_BURST], *relay[LG_BURST];
	unsigned narp = 0, nrelay = 0;
	uint64_t now = rte_rdtsc();
	for (unsigned i = 0; i < n && i < LG_BURST; i++) {
		switch (rx_one(e, pkts[i], now)) {
		case RX_ARP_REPLY:
			arp[narp++] = pkts[i];
			break;
		case RX_RELAYED:
			relay[nrelay++] = pkts[i];
			break;
		default:
			rte_pktmbuf_free(pkts[i]);
		}
	}
	send_out(e, e->o->rx_port, arp, narp);
	send_out(e, e->o->tx_port, relay, nrelay);
	atomic_store_explicit(&e->rx_answered,
			      e->rxc.received + e->rxc.decrypt_errors + e->rxc.payload_errors,
			      memory_order_relaxed);
}

unsigned lg_traffic_poll(struct lg_engine *e)
{
	struct rte_mbuf *pkts[LG_BURST];
	uint16_t n = rte_eth_rx_burst(e->o->rx_port, 0, pkts, LG_BURST);
	if (n)
		lg_traffic_rx(e, pkts, n);
	return n;
}
