/* Port set-up: any ethdev (PCI NIC or vdev), one RX/TX queue pair per
 * worker, RSS over the outer 5-tuple when the device offers it (net_af_packet
 * spreads by flow hash in the kernel: PACKET_FANOUT_HASH). */
#include <stdio.h>

#include <rte_ethdev.h>

#include "dp.h"

/* 4096 RX descriptors: a client's TSO burst (up to ~1,500 packets in one
 * loop pass) overflowed net_af_xdp's 1024-entry XDP socket ring whenever
 * the worker was off its core (dp0 counted the drops; TCP retransmitted).
 * Drivers clamp it to their maximum (rte_eth_dev_adjust_nb_rx_tx_desc). */
#define RX_DESC 4096
#define TX_DESC 1024

static int configure(uint16_t port, unsigned nq, char *err, size_t errlen)
{
	struct rte_eth_dev_info info;
	int rc = rte_eth_dev_info_get(port, &info);
	if (rc < 0) {
		snprintf(err, errlen, "port %u: cannot read device info (%d)", port, rc);
		return -1;
	}
	if (nq > info.max_rx_queues || nq > info.max_tx_queues) {
		snprintf(err, errlen, "port %u (%s) has at most %u RX / %u TX queues, %u needed",
			 port, info.driver_name, info.max_rx_queues, info.max_tx_queues, nq);
		return -1;
	}
	struct rte_eth_conf conf = {0};
	uint64_t hf = info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP);
	if (nq > 1 && hf) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf = hf;
	}
	rc = rte_eth_dev_configure(port, nq, nq, &conf);
	if (rc < 0) {
		snprintf(err, errlen, "port %u: configure with %u queues failed (%d)", port, nq,
			 rc);
		return -1;
	}
	return 0;
}

int rv_port_setup(uint16_t port, unsigned nq, struct rte_mempool *pool, char *err, size_t errlen)
{
	if (!rte_eth_dev_is_valid_port(port)) {
		snprintf(err, errlen,
			 "port %u does not exist (%u ports; give --vdev or a PCI "
			 "device to EAL)",
			 port, rte_eth_dev_count_avail());
		return -1;
	}
	if (configure(port, nq, err, errlen) < 0)
		return -1;
	uint16_t nrx = RX_DESC, ntx = TX_DESC;
	rte_eth_dev_adjust_nb_rx_tx_desc(port, &nrx, &ntx);
	int socket = rte_eth_dev_socket_id(port);
	for (unsigned q = 0; q < nq; q++) {
		int rc = rte_eth_rx_queue_setup(port, q, nrx, socket, NULL, pool);
		if (rc == 0)
			rc = rte_eth_tx_queue_setup(port, q, ntx, socket, NULL);
		if (rc < 0) {
			snprintf(err, errlen, "port %u: queue %u set-up failed (%d)", port, q, rc);
			return -1;
		}
	}
	int rc = rte_eth_dev_start(port);
	if (rc < 0) {
		snprintf(err, errlen, "port %u: start failed (%d)", port, rc);
		return -1;
	}
	return 0;
}
