/* DPDK ports of the loadgen: set-up, ARP (answer for the simulated clients,
 * resolve the data plane; neighbour discovery with --outer6 is in nd.c),
 * transmit with a short retry. */
#include <string.h>

#include <rte_arp.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_pause.h>

#include "engine.h"

#define NB_MBUF 16383
#define NB_RXD	1024
#define NB_TXD	1024

static int setup_one(struct lg_engine *e, uint16_t port)
{
	struct rte_eth_conf conf = {0};
	struct rte_eth_dev_info info;
	uint16_t nrx = NB_RXD, ntx = NB_TXD;
	int rc = rte_eth_dev_info_get(port, &info);
	if (rc == 0)
		rc = rte_eth_dev_configure(port, 1, 1, &conf);
	if (rc == 0)
		rc = rte_eth_dev_adjust_nb_rx_tx_desc(port, &nrx, &ntx);
	if (rc == 0)
		rc = rte_eth_rx_queue_setup(port, 0, nrx, rte_eth_dev_socket_id(port), NULL,
					    e->pool);
	if (rc == 0)
		rc = rte_eth_tx_queue_setup(port, 0, ntx, rte_eth_dev_socket_id(port), NULL);
	if (rc == 0)
		rc = rte_eth_dev_start(port);
	if (rc) {
		fprintf(stderr, "%s: cannot set up port %u: %s\n", e->o->prog, port,
			rte_strerror(-rc));
		return -1;
	}
	rte_eth_promiscuous_enable(port); /* not every vdev supports it */
	return 0;
}

int lg_port_init(struct lg_engine *e)
{
	const struct lg_opts *o = e->o;
	uint16_t nports = rte_eth_dev_count_avail();
	if (o->tx_port >= nports || o->rx_port >= nports) {
		fprintf(stderr,
			"%s: port %u does not exist (%u port(s) from the EAL options; add "
			"e.g. --vdev net_memif0,role=client,socket=PATH before --)\n",
			o->prog, o->tx_port >= nports ? o->tx_port : o->rx_port, nports);
		return -1;
	}
	e->pool = rte_pktmbuf_pool_create("lg_pool", NB_MBUF, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					  rte_socket_id());
	if (!e->pool) {
		fprintf(stderr,
			"%s: cannot create the mbuf pool: %s (give the EAL more memory, "
			"-m 256)\n",
			o->prog, rte_strerror(rte_errno));
		return -1;
	}
	if (setup_one(e, o->rx_port))
		return -1;
	if (o->tx_port != o->rx_port && setup_one(e, o->tx_port))
		return -1;
	rte_eth_macaddr_get(o->rx_port, &e->mac);
	return 0;
}

void lg_port_close(struct lg_engine *e)
{
	rte_eth_dev_stop(e->o->tx_port);
	rte_eth_dev_close(e->o->tx_port);
	if (e->o->rx_port != e->o->tx_port) {
		rte_eth_dev_stop(e->o->rx_port);
		rte_eth_dev_close(e->o->rx_port);
	}
}

unsigned lg_port_tx(uint16_t port, struct rte_mbuf **pkts, unsigned n)
{
	unsigned sent = 0;
	for (int tries = 0; sent < n && tries < 4; tries++) {
		sent += rte_eth_tx_burst(port, 0, pkts + sent, (uint16_t)(n - sent));
		if (sent < n)
			rte_pause();
	}
	for (unsigned i = sent; i < n; i++)
		rte_pktmbuf_free(pkts[i]);
	return sent;
}

static bool is_ours(const struct lg_engine *e, uint32_t ip)
{
	if ((e->o->mode == LG_MODE_REFLECT && ip == e->o->dp_ip) ||
	    (e->o->gateway && ip == e->o->gateway))
		return true;
	return ip - e->o->client_net - 1 < e->o->clients;
}

bool lg_arp_answer(struct lg_engine *e, struct rte_mbuf *m)
{
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	if (m->data_len < sizeof(*eh) + sizeof(struct rte_arp_hdr))
		return false;
	struct rte_arp_hdr *a = (struct rte_arp_hdr *)(eh + 1);
	if (a->arp_opcode != rte_cpu_to_be_16(RTE_ARP_OP_REQUEST) ||
	    !is_ours(e, rte_be_to_cpu_32(a->arp_data.arp_tip)))
		return false;
	/* Reply in place: the asker becomes the target. */
	a->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
	a->arp_data.arp_tha = a->arp_data.arp_sha;
	rte_be32_t tip = a->arp_data.arp_tip;
	a->arp_data.arp_tip = a->arp_data.arp_sip;
	a->arp_data.arp_sip = tip;
	a->arp_data.arp_sha = e->mac;
	eh->dst_addr = eh->src_addr;
	eh->src_addr = e->mac;
	return true;
}

static struct rte_mbuf *arp_request(struct lg_engine *e)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(e->pool);
	if (!m)
		return NULL;
	size_t len = sizeof(struct rte_ether_hdr) + sizeof(struct rte_arp_hdr);
	struct rte_ether_hdr *eh = (struct rte_ether_hdr *)rte_pktmbuf_append(m, (uint16_t)len);
	struct rte_arp_hdr *a = (struct rte_arp_hdr *)(eh + 1);
	memset(&eh->dst_addr, 0xff, sizeof(eh->dst_addr));
	eh->src_addr = e->mac;
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
	a->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	a->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	a->arp_hlen = RTE_ETHER_ADDR_LEN;
	a->arp_plen = 4;
	a->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
	a->arp_data.arp_sha = e->mac;
	/* The data plane learns the asker: the gateway, or the first client. */
	a->arp_data.arp_sip =
	    rte_cpu_to_be_32(e->o->gateway ? e->o->gateway : e->o->client_net + 1);
	memset(&a->arp_data.arp_tha, 0, sizeof(a->arp_data.arp_tha));
	a->arp_data.arp_tip = rte_cpu_to_be_32(e->o->dp_ip);
	return m;
}

/* True (and e->dp_mac set) if @m is the data plane's ARP reply. */
static bool is_dp_reply(struct lg_engine *e, struct rte_mbuf *m)
{
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	if (m->data_len < sizeof(*eh) + sizeof(struct rte_arp_hdr) ||
	    eh->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP))
		return false;
	struct rte_arp_hdr *a = (struct rte_arp_hdr *)(eh + 1);
	if (a->arp_opcode != rte_cpu_to_be_16(RTE_ARP_OP_REPLY) ||
	    rte_be_to_cpu_32(a->arp_data.arp_sip) != e->o->dp_ip)
		return false;
	e->dp_mac = a->arp_data.arp_sha;
	return true;
}

int lg_port_resolve_dp(struct lg_engine *e)
{
	const struct lg_opts *o = e->o;
	uint64_t hz = rte_get_tsc_hz(), start = rte_get_tsc_cycles(), last = 0;
	uint64_t end = start + (uint64_t)(o->reply_timeout_s * (double)hz);
	while (rte_get_tsc_cycles() < end) {
		if (rte_get_tsc_cycles() - last > hz / 4) { /* ask 4 times a second */
			struct rte_mbuf *m = o->outer6 ? lg_nd_solicit_dp(e) : arp_request(e);
			if (m)
				lg_port_tx(o->tx_port, &m, 1);
			last = rte_get_tsc_cycles();
		}
		struct rte_mbuf *pkts[LG_BURST];
		uint16_t n = rte_eth_rx_burst(o->rx_port, 0, pkts, LG_BURST);
		bool found = false;
		for (uint16_t i = 0; i < n; i++) {
			if (!found &&
			    (o->outer6 ? lg_nd_is_dp_advert(e, pkts[i]) : is_dp_reply(e, pkts[i])))
				found = true;
			else if (lg_arp_answer(e, pkts[i]) ||
				 (o->outer6 && lg_nd_answer(e, pkts[i]))) {
				lg_port_tx(o->rx_port, &pkts[i], 1);
				continue;
			}
			rte_pktmbuf_free(pkts[i]);
		}
		if (found)
			return 0;
	}
	char dp[64];
	lg_dp_str(o, dp, sizeof(dp));
	*strrchr(dp, ':') = '\0'; /* the address alone */
	fprintf(stderr,
		"%s: data plane unreachable: no %s from %s on port %u within %.1f s (is "
		"roomvpn-dataplane running on the other end%s? or give --dp-mac)\n",
		o->prog, o->outer6 ? "neighbour advertisement" : "ARP reply", dp, o->rx_port,
		o->reply_timeout_s, o->outer6 ? ", with ip6 set" : "");
	return -1;
}
