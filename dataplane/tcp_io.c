/* TCP fallback hand-off (see tcp_io.h): frames in through the workers'
 * inboxes, frames out through one multi-producer ring. */
#include <string.h>
#include <unistd.h>

#include <rte_lcore.h>

#include "dc_frame.h"
#include "dp.h"
#include "tcp_io.h"

int rv_tcp_io_rx(uint32_t conn_id, const uint8_t *frame, uint32_t len)
{
	struct rv_lcore_stats *st = rv_stats_lcore(rte_lcore_id());
	uint8_t key_id;
	uint32_t peer;
	enum rv_drop r = rv_dc_peek(frame, len, &key_id, &peer);
	if (r != RV_OK) {
		rv_stats_drop(st, r);
		return -1;
	}
	struct rte_mbuf *m = rte_pktmbuf_alloc(rv_dp.pool);
	if (!m || len + (uint32_t)RV_DC_TAILROOM > rte_pktmbuf_tailroom(m)) {
		rv_stats_drop(st, m ? RV_DROP_TOO_BIG : RV_DROP_NO_MBUF);
		rte_pktmbuf_free(m);
		return -1;
	}
	memcpy(rte_pktmbuf_append(m, (uint16_t)len), frame, len);
	rv_tcp_io_set_conn(m, conn_id);
	struct rv_job *j = rv_job(m);
	*j = (struct rv_job){.kind = RV_JOB_OPEN_TCP, .key_id = key_id, .peer_id = peer};
	st->rx_pkts++;
	st->rx_bytes += len;
	if (rte_ring_mp_enqueue(rv_dp.w[peer % rv_dp.cfg.n_workers].jobs, m) < 0) {
		rv_stats_drop(st, RV_DROP_RING_FULL);
		rte_pktmbuf_free(m);
		return -1;
	}
	return 0;
}

struct rte_ring *rv_tcp_io_tx_ring(void)
{
	return rv_dp.tcp_tx;
}

int rv_tcp_io_tx_wakefd(void)
{
	return rv_dp.tcp_wakefd;
}

void rv_tcp_io_tx_wake_ack(void)
{
	uint64_t v;
	if (rv_dp.tcp_wakefd >= 0 && read(rv_dp.tcp_wakefd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing pending */
	}
}
