/* Lcore loops and run-time set-up. Run-to-completion (RSS): each worker
 * polls its own RX queue and its inbox ring. Pipeline: one RX lcore polls
 * every RX queue and spreads data packets over the workers' inboxes by
 * peer-id (so one session's packets keep their order); workers transmit on
 * their own TX queues. Workers are QSBR readers: registered, online, one
 * rcu_quiescent_state() per loop pass, offline while they sleep. */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <urcu-qsbr.h>

#include "dp.h"
#include "log.h"

struct rv_dp rv_dp;
int rv_job_offset = -1;
unsigned rv_dp_idle_sleep_us = RV_DP_IDLE_SLEEP_US_DEFAULT;
unsigned rv_dp_wake_rt_priority = RV_DP_WAKE_RT_PRIORITY_DEFAULT;
bool rv_dp_log_drops;

#define DROP_LOG_GAP_NS 100000000ull

void rv_dp_drop_note(struct rv_dp_worker *w, struct rte_mbuf *m, enum rv_trace_stage stage,
		     enum rv_drop why)
{
	const struct rv_job *j = rv_job(m);
	uint32_t peer = stage == RV_STAGE_CLASSIFY ? RV_TRACE_NO_ID : j->peer_id;
	if (w->tracing && j->trace)
		rv_trace_add(w->lcore, w->now_ns, j->trace, stage, RV_TD_DROP, why, peer,
			     RV_TRACE_NO_ID, 0);
	if (rv_dp_log_drops && w->now_ns - w->drop_log_ns >= DROP_LOG_GAP_NS) {
		w->drop_log_ns = w->now_ns;
		if (peer == RV_TRACE_NO_ID)
			rv_log(RV_LOG_DEBUG, "drop: %s at %s (lcore %u)", rv_drop_name(why),
			       rv_trace_stage_name(stage), w->lcore);
		else
			rv_log(RV_LOG_DEBUG, "drop: peer-id %u: %s at %s (lcore %u)", peer,
			       rv_drop_name(why), rv_trace_stage_name(stage), w->lcore);
	}
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void pass_start(struct rv_dp_worker *w)
{
	w->now_ns = clock_ns(CLOCK_MONOTONIC);
	w->wall_ns = clock_ns(CLOCK_REALTIME);
	w->tracing = atomic_load_explicit(&rv_trace.armed, memory_order_relaxed);
	if (unlikely(w->tracing))
		rv_trace_pass(w->lcore);
}

/* Idle policy. A worker with nothing to do naps, leaving its core to the
 * programs that share it (on a small host: the clients, and the kernel's
 * packet work charged to them), but never for long: the first nap 1 us
 * after the last work, doubling up to idle_sleep_us (the most latency an
 * idle lcore adds to the next packet), with the thread's timer slack at
 * 1 us (the kernel's default of 50 us would stretch every nap by up to
 * that much). idle_sleep_us = 0: busy-poll (cores of its own). */
#define NAP_FIRST_US	   1
#define NAP_TIMER_SLACK_NS 1000

struct rv_wake {
	bool on, rt; /* SCHED_FIFO for naps wanted and allowed; taken now */
};

/* Wake priority. A thread that wakes ~20,000 times a second is charged
 * for every short run, so beside a busy program (a CPU hog in another
 * session, whose scheduling group weighs as much as ours) the scheduler
 * often does not let its wake-up preempt: the nap then ends at the next
 * scheduler tick, 4 ms later (perf sched: the worker waited 3.5-3.9 ms
 * every 30-40 ms beside `stress --cpu 2`; OpenVPN, which sleeps until a
 * packet comes, always preempted). So an lcore idle for long (its naps
 * grown to idle_sleep_us) is SCHED_FIFO at wake_rt_priority: its wake-up
 * preempts at once. It goes back to SCHED_OTHER after its first pass with
 * work, once that burst is sent: a busy poller at a
 * real-time priority would starve everything else on its core, and even
 * 16 passes at SCHED_FIFO took enough from the clients beside it to double
 * the ping p99 under an iperf3 flow (60-69 ms against 33-49). Without the
 * privilege (CAP_SYS_NICE) or with wake_rt_priority = 0 (the default, for
 * now: docs/dataplane.md "Latency") the lcore stays SCHED_OTHER. */
/* Called once by each lcore thread that may nap. */
static void idle_setup(struct rv_wake *wk)
{
	*wk = (struct rv_wake){.on = rv_dp_idle_sleep_us && rv_dp_wake_rt_priority};
	if (rv_dp_idle_sleep_us && prctl(PR_SET_TIMERSLACK, NAP_TIMER_SLACK_NS, 0, 0, 0) < 0)
		rv_log(RV_LOG_WARN,
		       "cannot set the timer slack of lcore %u: naps may be "
		       "50 us longer",
		       rte_lcore_id());
}

static void wake_policy(struct rv_wake *wk, bool rt)
{
	struct sched_param sp = {.sched_priority = rt ? (int)rv_dp_wake_rt_priority : 0};
	int rc = pthread_setschedparam(pthread_self(), rt ? SCHED_FIFO : SCHED_OTHER, &sp);
	if (rc != 0) {
		wk->on = false;
		rv_log(RV_LOG_WARN,
		       "lcore %u: cannot take SCHED_FIFO for its naps (%s; needs CAP_SYS_NICE): "
		       "beside busy programs a nap may end a scheduler tick late",
		       rte_lcore_id(), strerror(rc));
		return;
	}
	wk->rt = rt;
}

/* After each pass: @work or not; @nap_us: the last nap's length. */
static void wake_pass(struct rv_wake *wk, bool work, unsigned nap_us)
{
	if (!wk->on)
		return;
	if (work && wk->rt)
		wake_policy(wk, false); /* its burst is sent */
	else if (!work && !wk->rt && nap_us >= rv_dp_idle_sleep_us)
		wake_policy(wk, true); /* idle for long */
}

/* The next nap after *nap_us (0 after a pass with work), bounded. */
static unsigned idle_next_nap(unsigned *nap_us)
{
	unsigned n = *nap_us ? *nap_us * 2 : NAP_FIRST_US;
	if (n > rv_dp_idle_sleep_us)
		n = rv_dp_idle_sleep_us;
	*nap_us = n;
	return n;
}

/* Idle pass of a worker: offline (a QSBR reader must not block online). */
static void idle(unsigned *nap_us)
{
	if (!rv_dp_idle_sleep_us)
		return;
	unsigned us = idle_next_nap(nap_us);
	rcu_thread_offline();
	usleep(us);
	rcu_thread_online();
}

/* Inbox: jobs from other workers, the RX lcore, the control and TCP threads. */
static unsigned drain_inbox(struct rv_dp_worker *w)
{
	struct rte_mbuf *jobs[RV_DP_BURST], *open[RV_DP_BURST], *seal[RV_DP_BURST];
	unsigned n = rte_ring_sc_dequeue_burst(w->jobs, (void **)jobs, RV_DP_BURST, NULL);
	unsigned no = 0, ns = 0;
	for (unsigned i = 0; i < n; i++) {
		switch (rv_job(jobs[i])->kind) {
		case RV_JOB_OPEN_UDP:
		case RV_JOB_OPEN_TCP:
			open[no++] = jobs[i];
			break;
		case RV_JOB_SEAL:
			seal[ns++] = jobs[i];
			break;
		default:
			rv_tx_queue(w, jobs[i]);
			break;
		}
	}
	if (no)
		rv_relay_open_burst(w, open, no);
	if (ns)
		rv_relay_seal_jobs(w, seal, ns);
	return n;
}

int rv_worker_main(void *arg)
{
	struct rv_dp_worker *w = arg;
	struct rte_mbuf *pkts[RV_DP_BURST], *data[RV_DP_BURST];
	bool poll_port = rv_dp.cfg.mode == RV_DP_MODE_RSS;
	unsigned nap_us = 0;
	struct rv_wake wk;
	idle_setup(&wk);
	rcu_register_thread();
	while (!atomic_load_explicit(&rv_dp.stop, memory_order_relaxed)) {
		pass_start(w);
		unsigned work = 0;
		if (poll_port) {
			uint16_t n = rte_eth_rx_burst(rv_dp.cfg.port_id, w->rxq, pkts, RV_DP_BURST);
			unsigned nd = rv_rx_classify(w, pkts, n, data);
			if (nd)
				rv_relay_open_burst(w, data, nd);
			work += n;
		}
		work += drain_inbox(w);
		rv_tx_flush(w);
		rcu_quiescent_state();
		wake_pass(&wk, work != 0, nap_us);
		if (!work)
			idle(&nap_us);
		else
			nap_us = 0;
	}
	rcu_unregister_thread();
	return 0;
}

/* Pipeline RX lcore: spread by peer-id; it reads no table (no RCU). A full
 * worker ring drops the packet (ring_full) rather than stall the RX lcore:
 * one overloaded worker (e.g. a flood of forged packets for one peer-id)
 * must not hold up the packets of the others. */
static void spread(struct rv_dp_worker *rx, struct rte_mbuf **data, unsigned n)
{
	unsigned nw = rv_dp.cfg.n_workers;
	for (unsigned i = 0; i < n; i++) {
		unsigned to = rv_job(data[i])->peer_id % nw;
		if (unlikely(rte_ring_mp_enqueue(rv_dp.w[to].jobs, data[i]) < 0))
			rv_dp_drop(rx, data[i], RV_STAGE_CLASSIFY, RV_DROP_RING_FULL);
	}
}

int rv_rx_lcore_main(void *arg)
{
	struct rv_dp_worker *rx = arg;
	struct rte_mbuf *pkts[RV_DP_BURST], *data[RV_DP_BURST];
	unsigned nap_us = 0;
	struct rv_wake wk;
	idle_setup(&wk);
	while (!atomic_load_explicit(&rv_dp.stop, memory_order_relaxed)) {
		unsigned work = 0;
		rx->tracing = atomic_load_explicit(&rv_trace.armed, memory_order_relaxed);
		if (unlikely(rx->tracing || rv_dp_log_drops)) { /* its clock is for them only */
			rx->now_ns = clock_ns(CLOCK_MONOTONIC);
			if (rx->tracing)
				rv_trace_pass(rx->lcore);
		}
		for (uint16_t q = 0; q < rv_dp.n_rxq; q++) {
			uint16_t n = rte_eth_rx_burst(rv_dp.cfg.port_id, q, pkts, RV_DP_BURST);
			unsigned nd = rv_rx_classify(rx, pkts, n, data);
			spread(rx, data, nd);
			work += n;
		}
		wake_pass(&wk, work != 0, nap_us);
		if (!work && rv_dp_idle_sleep_us)
			usleep(idle_next_nap(&nap_us));
		else
			nap_us = 0;
	}
	return 0;
}

static int make_rings(char *err, size_t errlen)
{
	for (unsigned i = 0; i < rv_dp.cfg.n_workers; i++) {
		char name[32];
		snprintf(name, sizeof(name), "rv_jobs_%u", i);
		rv_dp.w[i].jobs =
		    rte_ring_create(name, RV_DP_JOB_RING, SOCKET_ID_ANY, RING_F_SC_DEQ);
		if (!rv_dp.w[i].jobs) {
			snprintf(err, errlen, "cannot create ring %s: %s", name,
				 rte_strerror(rte_errno));
			return -1;
		}
	}
	if (!rv_dp.cfg.tcp_enabled)
		return 0;
	rv_dp.tcp_tx = rte_ring_create("rv_tcp_tx", RV_DP_JOB_RING, SOCKET_ID_ANY, RING_F_SC_DEQ);
	rv_dp.tcp_wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!rv_dp.tcp_tx || rv_dp.tcp_wakefd < 0) {
		snprintf(err, errlen, "cannot create the TCP hand-off ring");
		return -1;
	}
	return 0;
}

int rv_dp_setup(const struct rv_dp_config *cfg, char *err, size_t errlen)
{
	static const struct rte_mbuf_dynfield desc = {
	    .name = "rv_job", .size = sizeof(struct rv_job), .align = __alignof__(struct rv_job)};
	if (cfg->n_workers < 1 || cfg->n_workers > RV_DP_MAX_WORKERS) {
		snprintf(err, errlen, "workers must be 1..%d (got %u)", RV_DP_MAX_WORKERS,
			 cfg->n_workers);
		return -1;
	}
	memset(&rv_dp, 0, sizeof(rv_dp));
	rv_dp.cfg = *cfg;
	rv_dp.tcp_wakefd = -1;
	rv_job_offset = rte_mbuf_dynfield_register(&desc);
	if (rv_job_offset < 0) {
		snprintf(err, errlen, "cannot register the mbuf job field");
		return -1;
	}
	rv_dp.pool = rte_pktmbuf_pool_create("rv_pool", cfg->n_mbufs, 256, 0,
					     RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	if (!rv_dp.pool) {
		snprintf(err, errlen, "cannot create a pool of %u mbufs: %s (raise -m?)",
			 cfg->n_mbufs, rte_strerror(rte_errno));
		return -1;
	}
	if (rv_arp_init(err, errlen) < 0 || make_rings(err, errlen) < 0)
		return -1;
	rv_dp.n_rxq = cfg->n_workers;
	if (rv_port_setup(cfg->port_id, rv_dp.n_rxq, rv_dp.pool, err, errlen) < 0)
		return -1;
	rte_eth_macaddr_get(cfg->port_id, &rv_dp.mac);
	for (unsigned i = 0; i < cfg->n_workers; i++) {
		rv_dp.w[i].idx = i;
		rv_dp.w[i].rxq = (uint16_t)i;
		rv_dp.w[i].txq = (uint16_t)i;
	}
	return 0;
}

void rv_dp_teardown(void)
{
	rte_eth_dev_stop(rv_dp.cfg.port_id);
	rte_eth_dev_close(rv_dp.cfg.port_id);
	if (rv_dp.tcp_wakefd >= 0)
		close(rv_dp.tcp_wakefd);
}
