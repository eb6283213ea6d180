/* The receive side of the loadgen: inline on the main lcore, or on a second
 * lcore so that opening packets does not slow the sender. The RX lcore owns
 * e->rxc, e->rx_trial, the clients' decrypting contexts and rx_next_seq; the
 * sender reads them only through lg_rx_collect()'s handshake. Packets the
 * RX lcore must send (ARP replies, --reflect relays) go to the sender
 * through e->txq, so that each TX queue has one user. */
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_pause.h>

#include "engine.h"

#define TXQ_SIZE 1024

static void rx_reset(struct lg_engine *e, uint32_t trial)
{
	memset(&e->rxc, 0, offsetof(struct lg_counts, lat));
	lg_hist_reset(&e->rxc.lat);
	e->rx_trial = trial;
	atomic_store_explicit(&e->rx_answered, 0, memory_order_relaxed);
}

static int rx_main(void *arg)
{
	struct lg_engine *e = arg;
	uint32_t done = atomic_load_explicit(&e->rx_ack, memory_order_relaxed);
	for (;;) {
		uint32_t cmd = atomic_load_explicit(&e->rx_cmd, memory_order_acquire);
		if (cmd != done) {
			if (atomic_load_explicit(&e->rx_quit, memory_order_relaxed)) {
				atomic_store_explicit(&e->rx_ack, cmd, memory_order_release);
				return 0;
			}
			e->rx_snap = e->rxc;
			rx_reset(e, e->rx_next_trial);
			done = cmd;
			atomic_store_explicit(&e->rx_ack, cmd, memory_order_release);
		}
		lg_traffic_poll(e);
	}
}

int lg_rx_start(struct lg_engine *e)
{
	e->rx_lcore = RTE_MAX_LCORE;
	rx_reset(e, e->trial_id);
	unsigned lc = rte_get_next_lcore(-1, 1, 0);
	if (lc >= RTE_MAX_LCORE)
		return 0; /* one lcore: receive inline */
	e->txq =
	    rte_ring_create("lg_txq", TXQ_SIZE, rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (!e->txq) {
		fprintf(stderr, "%s: cannot create the RX->TX ring: %s\n", e->o->prog,
			rte_strerror(rte_errno));
		return -1;
	}
	if (rte_eal_remote_launch(rx_main, e, lc) != 0) {
		fprintf(stderr, "%s: cannot start the RX lcore %u\n", e->o->prog, lc);
		rte_ring_free(e->txq);
		e->txq = NULL;
		return -1;
	}
	e->rx_lcore = lc;
	return 0;
}

/* Send what the RX lcore queued, each on the port it names in m->port. */
static void flush_txq(struct lg_engine *e)
{
	struct rte_mbuf *m[LG_BURST];
	unsigned n = rte_ring_sc_dequeue_burst(e->txq, (void **)m, LG_BURST, NULL);
	for (unsigned i = 0; i < n; i++)
		lg_port_tx(m[i]->port, &m[i], 1);
}

/* Ask the RX lcore for one command and wait until it is done. */
static void rx_command(struct lg_engine *e)
{
	uint32_t cmd = atomic_fetch_add_explicit(&e->rx_cmd, 1, memory_order_acq_rel) + 1;
	while (atomic_load_explicit(&e->rx_ack, memory_order_acquire) != cmd) {
		flush_txq(e);
		rte_pause();
	}
}

void lg_rx_stop(struct lg_engine *e)
{
	if (e->rx_lcore >= RTE_MAX_LCORE)
		return;
	atomic_store_explicit(&e->rx_quit, true, memory_order_relaxed);
	rx_command(e);
	rte_eal_wait_lcore(e->rx_lcore);
	flush_txq(e);
	rte_ring_free(e->txq);
	e->txq = NULL;
	e->rx_lcore = RTE_MAX_LCORE;
}

void lg_rx_collect(struct lg_engine *e, uint32_t trial, struct lg_counts *out)
{
	if (e->rx_lcore >= RTE_MAX_LCORE) {
		*out = e->rxc;
		rx_reset(e, trial);
		return;
	}
	e->rx_next_trial = trial;
	rx_command(e);
	*out = e->rx_snap;
}

void lg_rx_service(struct lg_engine *e)
{
	if (e->rx_lcore >= RTE_MAX_LCORE)
		lg_traffic_poll(e);
	else
		flush_txq(e);
}
