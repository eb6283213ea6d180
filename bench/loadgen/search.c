/* RFC 2544-style search per packet size: binary search of the offered rate
 * for the no-drop rate (NDR, loss 0) and the partial-drop rate (PDR, loss at
 * most --pdr-loss), each bounded by --max-trials and --resolution. */
#include <math.h>

#include "dc_frame.h"
#include "engine.h"

static void fill_point(const struct lg_trial *t, struct lg_point *pt)
{
	const struct lg_counts *c = &t->c;
	pt->found = true;
	pt->pps = t->tx_pps;
	pt->mbps_inner = (double)c->sent_bytes * 8 / c->elapsed_s / 1e6;
	pt->mbps_wire = (double)c->sent_wire_bytes * 8 / c->elapsed_s / 1e6;
	pt->loss = t->loss;
	pt->sent = c->sent;
	pt->received = c->received;
	pt->ooo = c->out_of_order;
	pt->decrypt_errors = c->decrypt_errors;
	pt->payload_errors = c->payload_errors;
	pt->tx_refused = c->tx_full + c->no_mbuf;
	pt->skipped = c->skipped;
	pt->p50_ns = lg_hist_percentile(&c->lat, 0.50);
	pt->p99_ns = lg_hist_percentile(&c->lat, 0.99);
	pt->p999_ns = lg_hist_percentile(&c->lat, 0.999);
	pt->max_ns = c->lat.max_ns;
	/* Short of the asked rate: refused sends say the data plane, skipped
	 * ones the generator. */
	pt->limit = lg_limit_of(t->offered_pps, t->tx_pps, pt->tx_refused, pt->skipped);
	pt->gen_limited = pt->limit == LG_LIMIT_GENERATOR;
}

static bool passes(const struct lg_trial *t, double max_loss)
{
	return t->c.sent > 0 && t->c.decrypt_errors == 0 && t->c.payload_errors == 0 &&
	       t->c.checksum_errors == 0 && t->loss <= max_loss;
}

/* What one criterion (NDR or PDR) knows: the highest offered rate that
 * passed (its point in @best) and the lowest that failed. */
struct bounds {
	double max_loss;
	double lo, hi; /* lo passed (0 = none yet), hi failed (top + 1 = none yet) */
	struct lg_point *best;
};

/* Bounds move by offered rate; the reported point is the passing trial
 * with the highest achieved rate (they differ when the generator lags). */
static void observe(struct bounds *b, double rate, const struct lg_trial *t)
{
	if (passes(t, b->max_loss)) {
		if (rate > b->lo)
			b->lo = rate;
		if (!b->best->found || t->tx_pps > b->best->pps)
			fill_point(t, b->best);
	} else if (rate < b->hi) {
		b->hi = rate;
	}
}

static bool settled(const struct bounds *b, double top, double res)
{
	if (b->lo >= top || (b->best->found && b->best->gen_limited))
		return true; /* passed at the top, or the generator is the limit */
	return b->lo > 0 && b->hi - b->lo <= res * b->hi;
}

/* Binary search for @b; every trial also informs @other. */
static void search(struct lg_engine *e, double top, struct bounds *b, struct bounds *other,
		   struct lg_result *r)
{
	const struct lg_opts *o = e->o;
	struct lg_trial t;
	for (unsigned n = 0; n < o->max_trials && !settled(b, top, o->resolution) && !lg_stop;
	     n++) {
		double rate = b->hi > top ? top : (b->lo + b->hi) / 2;
		if (b->lo == 0 && b->hi <= top)
			rate = b->hi / 2;
		lg_trial_run(e, rate, &t, !o->quiet);
		r->trials++;
		observe(b, rate, &t);
		observe(other, rate, &t);
	}
}

void lg_search_size(struct lg_engine *e, const struct lg_size *size, struct lg_result *r)
{
	const struct lg_opts *o = e->o;
	struct lg_totals before = e->tot;
	memset(r, 0, sizeof(*r));
	r->size = *size;
	e->size = &r->size;
	e->size_pos = 0;
	if (o->fixed_rate_pps > 0) {
		struct lg_trial t;
		lg_trial_run(e, o->fixed_rate_pps, &t, !o->quiet);
		r->trials = 1;
		fill_point(&t, &r->ndr);
		fill_point(&t, &r->pdr);
		r->ndr.found = passes(&t, 0);
		r->pdr.found = passes(&t, o->pdr_loss);
	} else {
		double top = o->max_rate_pps;
		struct bounds ndr = {0, 0, top + 1, &r->ndr};
		struct bounds pdr = {o->pdr_loss, 0, top + 1, &r->pdr};
		search(e, top, &ndr, &pdr, r);
		search(e, top, &pdr, &ndr, r);
		if (r->ndr.found && r->ndr.pps > r->pdr.pps)
			r->pdr = r->ndr; /* a no-drop pass is a partial-drop pass */
		/* Latency without queueing: a trial at a tenth of the NDR. */
		struct lg_trial t;
		double low = (r->ndr.found ? r->ndr.pps : top) / 10;
		lg_trial_run(e, low > 100 ? low : 100, &t, !o->quiet);
		r->trials++;
		fill_point(&t, &r->low);
	}
	double in = 0, wire = 0;
	for (unsigned i = 0; i < size->n; i++) {
		in += size->len[i];
		wire += size->len[i] + (o->outer6 ? 62 : 42) + rv_dc_overhead(o->suite);
	}
	r->avg_inner_len = in / size->n;
	r->avg_wire_len = wire / size->n;
	r->tot.sent = e->tot.sent - before.sent;
	r->tot.received = e->tot.received - before.received;
	r->tot.late = e->tot.late - before.late;
	r->tot.decrypt_errors = e->tot.decrypt_errors - before.decrypt_errors;
	r->tot.payload_errors = e->tot.payload_errors - before.payload_errors;
	r->tot.checksum_errors = e->tot.checksum_errors - before.checksum_errors;
	if (!o->quiet)
		fprintf(stderr, "\r%*s\r", 100, "");
}
