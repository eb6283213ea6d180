/* One trial: offer packets at a fixed rate for --trial-time, then wait up to
 * --drain-time for the stragglers, counting everything that comes back. */
#include <rte_cycles.h>
#include <rte_ethdev.h>

#include "engine.h"

static void add_totals(struct lg_totals *tot, const struct lg_counts *c)
{
	tot->sent += c->sent;
	tot->received += c->received;
	tot->decrypt_errors += c->decrypt_errors;
	tot->payload_errors += c->payload_errors;
	tot->checksum_errors += c->checksum_errors;
	tot->late += c->late;
	tot->arp_replies += c->arp_replies;
}

/* A new trial: what arrived since the last one ended is late. */
static void trial_reset(struct lg_engine *e)
{
	struct lg_counts stray;
	e->trial_id++;
	lg_rx_collect(e, e->trial_id, &stray);
	stray.late += stray.received;
	stray.received = 0;
	add_totals(&e->tot, &stray);
	memset(&e->c, 0, offsetof(struct lg_counts, lat));
	lg_hist_reset(&e->c.lat);
}

/* The trial's end: the receiver's counts join the sender's. */
static void trial_collect(struct lg_engine *e)
{
	struct lg_counts rx;
	lg_rx_collect(e, e->trial_id, &rx);
	e->c.received = rx.received;
	e->c.rx_bytes = rx.rx_bytes;
	e->c.out_of_order = rx.out_of_order;
	e->c.decrypt_errors = rx.decrypt_errors;
	e->c.payload_errors = rx.payload_errors;
	e->c.checksum_errors = rx.checksum_errors;
	e->c.late = rx.late;
	e->c.foreign = rx.foreign;
	e->c.arp_replies = rx.arp_replies;
	e->c.reflected = rx.reflected;
	e->c.lat = rx.lat;
	add_totals(&e->tot, &e->c);
}

static uint64_t answered(const struct lg_engine *e)
{
	return atomic_load_explicit(&e->rx_answered, memory_order_relaxed);
}

/* Build and send up to @n packets; returns how many the port took. What the
 * port refuses (or finds no buffer for: all in flight) is freed, counted as
 * refused, not as sent. */
static unsigned send_burst(struct lg_engine *e, unsigned n)
{
	struct rte_mbuf *m[LG_BURST];
	/* zeroed: gcc -O3 cannot see that only the n built entries are read */
	uint16_t inner[LG_BURST] = {0}, wire[LG_BURST] = {0};
	if (n > LG_BURST)
		n = LG_BURST;
	if (rte_pktmbuf_alloc_bulk(e->pool, m, n) != 0) {
		e->c.no_mbuf += n; /* all buffers in flight: the far end does not drain */
		return 0;
	}
	for (unsigned i = 0; i < n; i++) {
		uint16_t len = e->size->len[e->size_pos];
		unsigned f = e->next_flow;
		e->size_pos = (e->size_pos + 1) % e->size->n;
		e->next_flow = (e->next_flow + 1) % e->o->flows;
		if (lg_traffic_build(e, f, len, m[i])) {
			rte_pktmbuf_free_bulk(m + i, n - i);
			n = i;
			break;
		}
		inner[i] = len;
		wire[i] = (uint16_t)m[i]->pkt_len;
	}
	unsigned sent = rte_eth_tx_burst(e->o->tx_port, 0, m, (uint16_t)n);
	if (sent < n)
		rte_pktmbuf_free_bulk(m + sent, n - sent);
	for (unsigned i = 0; i < sent; i++) {
		e->c.sent_bytes += inner[i];
		e->c.sent_wire_bytes += wire[i];
	}
	e->c.sent += sent;
	e->c.tx_full += n - sent;
	return sent;
}

static void progress(const struct lg_engine *e, double rate, double elapsed)
{
	fprintf(stderr, "\r  [%s B] trial %u at %.0f pps: %.1f s, sent %llu, back %llu   ",
		e->size->name, e->trial_id, rate, elapsed, (unsigned long long)e->c.sent,
		(unsigned long long)answered(e));
}

static bool all_back(const struct lg_engine *e)
{
	return answered(e) >= e->c.sent;
}

void lg_trial_run(struct lg_engine *e, double rate_pps, struct lg_trial *t, bool show)
{
	const struct lg_opts *o = e->o;
	uint64_t hz = e->tsc_hz, start, now, last_show = 0;
	trial_reset(e);
	start = now = rte_rdtsc();
	uint64_t tx_end = start + (uint64_t)(o->trial_s * (double)hz);
	double backlog = rate_pps / 1000 > 2 * LG_BURST ? rate_pps / 1000 : 2 * LG_BURST;
	while (now < tx_end && !lg_stop) {
		/* Packets due by now at the offered rate, minus those tried. A
		 * backlog beyond 1 ms (the generator lost its CPU) is skipped,
		 * not sent as a burst: it lowers the achieved rate instead. */
		double due = rate_pps * (double)(now - start) / (double)hz;
		double tried = (double)(e->c.sent + e->c.tx_full + e->c.no_mbuf + e->c.skipped);
		if (due - tried > backlog) {
			e->c.skipped += (uint64_t)(due - tried - backlog);
			tried = (double)(e->c.sent + e->c.tx_full + e->c.no_mbuf + e->c.skipped);
		}
		if (due > tried)
			send_burst(e, due - tried >= LG_BURST ? LG_BURST
							      : (unsigned)(due - tried) + 1);
		lg_rx_service(e);
		now = rte_rdtsc();
		if (show && now - last_show > hz / 4) {
			progress(e, rate_pps, (double)(now - start) / (double)hz);
			last_show = now;
		}
	}
	e->c.elapsed_s = (double)(now - start) / (double)hz;
	uint64_t drain_end = now + (uint64_t)(o->drain_s * (double)hz);
	while (!all_back(e) && rte_rdtsc() < drain_end && !lg_stop)
		lg_rx_service(e);
	trial_collect(e);
	t->offered_pps = rate_pps;
	t->tx_pps = (double)e->c.sent / e->c.elapsed_s;
	/* what the port refused is lost too: the data plane did not take it */
	uint64_t offered = e->c.sent + e->c.tx_full + e->c.no_mbuf;
	uint64_t back = e->c.received < e->c.sent ? e->c.received : e->c.sent;
	t->loss = offered ? (double)(offered - back) / (double)offered : 1.0;
	t->c = e->c;
}

void lg_trial_final_drain(struct lg_engine *e)
{
	uint64_t hz = e->tsc_hz, now = rte_rdtsc(), quiet_since = now;
	uint64_t end = now + (uint64_t)(e->o->drain_s * (double)hz);
	uint64_t seen = 0;
	trial_reset(e);
	while (now < end && now - quiet_since < hz / 20) { /* 50 ms without a packet */
		lg_rx_service(e);
		now = rte_rdtsc();
		if (answered(e) != seen) {
			seen = answered(e);
			quiet_since = now;
		}
	}
	trial_collect(e);
}

int lg_trial_probe(struct lg_engine *e)
{
	const struct lg_opts *o = e->o;
	uint64_t hz = e->tsc_hz;
	trial_reset(e);
	uint64_t end = rte_rdtsc() + (uint64_t)(o->reply_timeout_s * (double)hz), last = 0;
	while (answered(e) == 0 && rte_rdtsc() < end && !lg_stop) {
		if (rte_rdtsc() - last > hz / 10 && e->c.sent < 64) { /* 10 packets a second */
			send_burst(e, 1);
			last = rte_rdtsc();
		}
		lg_rx_service(e);
	}
	/* A few more for the reply to the last probe packet. */
	for (uint64_t t = rte_rdtsc(); rte_rdtsc() - t < hz / 100;)
		lg_rx_service(e);
	trial_collect(e);
	if (e->c.received > 0 && e->c.decrypt_errors == 0 && e->c.checksum_errors == 0)
		return 0;
	if (e->c.checksum_errors) {
		fprintf(stderr,
			"%s: %llu IPv6/UDP packet(s) arrived with a wrong UDP checksum (not "
			"opened): the figures are not of a working relay\n",
			o->prog, (unsigned long long)e->c.checksum_errors);
		return -1;
	}
	if (e->c.received > 0) {
		fprintf(stderr,
			"%s: %llu relayed packet(s) failed to decrypt: keys or cipher "
			"differ from the data plane's sessions\n",
			o->prog, (unsigned long long)e->c.decrypt_errors);
		return -1;
	}
	char dp[64];
	fprintf(stderr,
		"%s: data plane unreachable: none of %llu packet(s) sent to %s came "
		"back within %.1f s (%llu failed to decrypt, %llu other frame(s) received; "
		"are the sessions provisioned and the ports connected?)\n",
		o->prog, (unsigned long long)e->c.sent, lg_dp_str(o, dp, sizeof(dp)),
		o->reply_timeout_s, (unsigned long long)e->c.decrypt_errors,
		(unsigned long long)e->c.foreign);
	return -1;
}
