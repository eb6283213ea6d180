/* Prometheus registry and rendering (metrics.h); the HTTPS endpoint is
 * metrics_http.c. Per-method series
 * live in a fixed slot table: a slot is claimed once with a CAS and its name
 * published with a release store, so observing never locks. Methods past
 * the table share the "other" slot (bounded label cardinality even if
 * clients call made-up paths). Users/rooms/members are counted from the
 * store at scrape time, so they are right after a restart too. */
#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "listener.h"
#include "clock.h"
#include "metrics.h"
#include "dp_owner.h"
#include "dp_sync.h"
#include "replica.h"
#include "tunnels.h"
#include "metrics_state.h"
#include "presence.h"
#include "store.h"
#include "version.h"

static const double bucket_le[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
				   0.1,	   0.25,  0.5,	  1,	 2.5,  5,     10};
_Static_assert(sizeof(bucket_le) / sizeof(bucket_le[0]) == N_BUCKETS, "N_BUCKETS");

static const char *code_name[N_CODES] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

/* ---- registry ------------------------------------------------------------ */

static struct method_slot *slot_for(struct rv_metrics *m, const char *method)
{
	struct method_slot *other = &m->slots[N_SLOTS - 1];
	/* Names that would need escaping in a label value are not ours. */
	if (!method || strlen(method) >= NAME_MAX_LEN || strpbrk(method, "\"\\\n"))
		return other;
	for (int i = 0; i < N_SLOTS - 1; i++) {
		struct method_slot *s = &m->slots[i];
		int st = atomic_load_explicit(&s->state, memory_order_acquire);
		if (st == SLOT_READY) {
			if (strcmp(s->name, method) == 0)
				return s;
			continue;
		}
		if (st == SLOT_FREE) {
			int expect = SLOT_FREE;
			if (atomic_compare_exchange_strong(&s->state, &expect, SLOT_CLAIMED)) {
				snprintf(s->name, sizeof(s->name), "%s", method);
				atomic_store_explicit(&s->state, SLOT_READY, memory_order_release);
				return s;
			}
		}
		/* Being claimed by another thread right now: wait for its name. */
		while (atomic_load_explicit(&s->state, memory_order_acquire) != SLOT_READY)
			;
		if (strcmp(s->name, method) == 0)
			return s;
	}
	return other;
}

void rv_metrics_rpc_observe(struct rv_metrics *m, const char *method, int status, double seconds)
{
	struct method_slot *s = slot_for(m, method);
	if (status < 0 || status >= N_CODES)
		status = 2; /* UNKNOWN */
	atomic_fetch_add_explicit(&s->by_code[status], 1, memory_order_relaxed);
	size_t b = 0;
	while (b < N_BUCKETS && seconds > bucket_le[b])
		b++;
	if (b < N_BUCKETS)
		atomic_fetch_add_explicit(&s->bucket[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
	uint64_t ns = seconds > 0 ? (uint64_t)(seconds * 1e9) : 0;
	atomic_fetch_add_explicit(&s->sum_ns, ns, memory_order_relaxed);
}

void rv_metrics_login(struct rv_metrics *m, bool ok)
{
	atomic_fetch_add_explicit(ok ? &m->logins_ok : &m->logins_failed, 1, memory_order_relaxed);
}

void rv_metrics_stream(struct rv_metrics *m, int delta)
{
	atomic_fetch_add_explicit(&m->open_streams, delta, memory_order_relaxed);
}

static void hook_rpc_done(struct rv_control *ctl, const char *method, int status,
			  uint64_t latency_ns)
{
	if (ctl->metrics)
		rv_metrics_rpc_observe(ctl->metrics, method, status, (double)latency_ns / 1e9);
}

static void hook_login(struct rv_control *ctl, bool ok)
{
	if (ctl->metrics)
		rv_metrics_login(ctl->metrics, ok);
}

static void hook_stream(struct rv_control *ctl, int delta)
{
	if (ctl->metrics)
		rv_metrics_stream(ctl->metrics, delta);
}

int rv_metrics_init(struct rv_control *ctl)
{
	struct rv_metrics *m = calloc(1, sizeof(*m));
	if (!m)
		return -1;
	snprintf(m->slots[N_SLOTS - 1].name, NAME_MAX_LEN, "other");
	atomic_store(&m->slots[N_SLOTS - 1].state, SLOT_READY);
	m->start_unix_ns = rv_clock_real_ns();
	m->ctl = ctl;
	ctl->metrics = m;
	ctl->on_rpc_done = hook_rpc_done;
	ctl->on_login = hook_login;
	ctl->on_stream = hook_stream;
	return 0;
}

/* ---- rendering ------------------------------------------------------------ */

void rv_metrics_printf(struct sbuf *b, const char *fmt, ...)
{
	for (int tries = 0; tries < 2 && !b->oom; tries++) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = (b->cap + (size_t)n + 1) * 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
}

static long long count_keys(struct rv_store *st, const char *prefix)
{
	uint64_t n = 0;
	if (!st || rv_store_count_prefix(st, prefix, strlen(prefix), &n) < 0)
		return -1;
	return (long long)n;
}

static void render_gauge(struct sbuf *b, const char *name, const char *help, long long v)
{
	if (v < 0)
		return; /* unknown (store error): leave it out rather than lie */
	rv_metrics_printf(b, "# HELP %s %s\n# TYPE %s gauge\n%s %lld\n", name, help, name, name, v);
}

static void render_counter(struct sbuf *b, const char *name, const char *help, uint64_t v)
{
	rv_metrics_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
			  (unsigned long long)v);
}

/* Read first in a scrape: the scrape's own counts (below) come after. */
static void render_store_ops(struct sbuf *b, struct rv_store *st)
{
	struct rv_store_ops o;
	if (!st)
		return;
	rv_store_ops(st, &o);
	rv_metrics_printf(b,
			  "# HELP roomvpn_control_store_ops_total Store operations since start, by "
			  "kind (each one round trip on etcd; a read of several keys at once "
			  "counts one get).\n# TYPE roomvpn_control_store_ops_total counter\n"
			  "roomvpn_control_store_ops_total{op=\"get\"} %llu\n"
			  "roomvpn_control_store_ops_total{op=\"scan\"} %llu\n"
			  "roomvpn_control_store_ops_total{op=\"write\"} %llu\n",
			  (unsigned long long)o.gets, (unsigned long long)o.scans,
			  (unsigned long long)o.writes);
}

static void render_rpcs(struct sbuf *b, struct rv_metrics *m)
{
	rv_metrics_printf(b, "# HELP roomvpn_control_rpcs_total RPCs answered, by method and "
			     "status code.\n# TYPE roomvpn_control_rpcs_total counter\n");
	for (int i = 0; i < N_SLOTS; i++) {
		struct method_slot *s = &m->slots[i];
		if (atomic_load_explicit(&s->state, memory_order_acquire) != SLOT_READY)
			continue;
		for (int c = 0; c < N_CODES; c++) {
			uint64_t v = atomic_load_explicit(&s->by_code[c], memory_order_relaxed);
			if (v)
				rv_metrics_printf(
				    b,
				    "roomvpn_control_rpcs_total{method=\"%s\",code=\"%s\"} "
				    "%llu\n",
				    s->name, code_name[c], (unsigned long long)v);
		}
	}
}

static void render_latency(struct sbuf *b, struct rv_metrics *m)
{
	const char *n = "roomvpn_control_rpc_duration_seconds";
	rv_metrics_printf(b,
			  "# HELP %s Time from a call's arrival to its status, by method.\n"
			  "# TYPE %s histogram\n",
			  n, n);
	for (int i = 0; i < N_SLOTS; i++) {
		struct method_slot *s = &m->slots[i];
		uint64_t count = atomic_load_explicit(&s->count, memory_order_relaxed);
		if (atomic_load_explicit(&s->state, memory_order_acquire) != SLOT_READY || !count)
			continue;
		uint64_t cum = 0;
		for (size_t k = 0; k < N_BUCKETS; k++) {
			cum += atomic_load_explicit(&s->bucket[k], memory_order_relaxed);
			rv_metrics_printf(b, "%s_bucket{method=\"%s\",le=\"%g\"} %llu\n", n,
					  s->name, bucket_le[k], (unsigned long long)cum);
		}
		/* +Inf must equal _count; read count once and never report less. */
		if (count < cum)
			count = cum;
		rv_metrics_printf(b, "%s_bucket{method=\"%s\",le=\"+Inf\"} %llu\n", n, s->name,
				  (unsigned long long)count);
		rv_metrics_printf(b, "%s_sum{method=\"%s\"} %.9f\n", n, s->name,
				  (double)atomic_load_explicit(&s->sum_ns, memory_order_relaxed) /
				      1e9);
		rv_metrics_printf(b, "%s_count{method=\"%s\"} %llu\n", n, s->name,
				  (unsigned long long)count);
	}
}

/* Room names are [A-Za-z0-9._-] but escape anyway (label value rules). */
static void label_esc(const char *in, char *out, size_t len)
{
	size_t o = 0;
	for (; *in && o + 3 < len; in++) {
		if (*in == '"' || *in == '\\' || *in == '\n')
			out[o++] = '\\';
		out[o++] = *in == '\n' ? 'n' : *in;
	}
	out[o] = 0;
}

/* Tunnels (control plane's registry + the data plane's stats): one series
 * per (room, device) the data plane runs, so at most one per tunnel. */
static int by_device_room(const void *a, const void *b)
{
	const struct rv_tunnel_status *x = a, *y = b;
	if (x->device_id != y->device_id)
		return x->device_id < y->device_id ? -1 : 1;
	int c = strcmp(x->room, y->room);
	return c ? c : (int)y->on_dataplane - (int)x->on_dataplane; /* the one on it first */
}

static void render_tunnels(struct sbuf *b, struct rv_control *ctl)
{
	static const struct {
		const char *name, *type, *help;
	} fam[] = {
	    {"roomvpn_tunnel_up", "gauge", "1 when the tunnel saw a packet recently."},
	    {"roomvpn_tunnel_rx_bytes_total", "counter", "Bytes received from the device."},
	    {"roomvpn_tunnel_tx_bytes_total", "counter", "Bytes sent to the device."},
	    {"roomvpn_tunnel_rx_packets_total", "counter", "Packets received from the device."},
	    {"roomvpn_tunnel_tx_packets_total", "counter", "Packets sent to the device."},
	    {"roomvpn_tunnel_rtt_seconds", "gauge", "Last measured round trip to the device."},
	    {"roomvpn_tunnel_last_seen_seconds", "gauge", "Unix time of the device's last packet."},
	};
	struct rv_tunnel_status *v = NULL;
	bool dp_ok = false;
	int n = rv_tunnels_status(true, 0, &v, &dp_ok), up = 0;
	char room[160];

	render_gauge(b, "roomvpn_dataplane_up",
		     "1 when the data plane answered the last stats read.", dp_ok);
	struct rv_dp_sync_counters c;
	rv_dp_sync_counters(&c);
	render_gauge(b, "roomvpn_control_dp_sync_backlog",
		     "Data-plane deltas queued for the sync thread.", (long long)c.backlog);
	rv_metrics_printf(
	    b,
	    "# HELP roomvpn_control_dp_sync_dropped_total Data-plane deltas dropped: "
	    "backlog full.\n# TYPE roomvpn_control_dp_sync_dropped_total counter\n"
	    "roomvpn_control_dp_sync_dropped_total %llu\n"
	    "# HELP roomvpn_control_dp_sync_failed_total Data-plane deltas or re-pushes "
	    "the data plane did not take.\n# TYPE roomvpn_control_dp_sync_failed_total "
	    "counter\nroomvpn_control_dp_sync_failed_total %llu\n"
	    "# HELP roomvpn_control_dp_sync_resyncs_total Re-pushes to a data plane that "
	    "lacked sessions.\n# TYPE roomvpn_control_dp_sync_resyncs_total counter\n"
	    "roomvpn_control_dp_sync_resyncs_total %llu\n",
	    (unsigned long long)c.dropped, (unsigned long long)c.failed,
	    (unsigned long long)c.resyncs);
	render_gauge(b, "roomvpn_control_dp_owner",
		     "1 while this replica drives the data planes (always, on RocksDB).",
		     rv_dp_owner_is_me());
	render_gauge(b, "roomvpn_control_dp_owner_fence",
		     "The fence this replica sends with its agent requests (0: none).",
		     rv_dp_owner_is_me() ? (long long)rv_dp_owner_fence() : 0);
	render_counter(b, "roomvpn_control_dp_sync_not_owner_total",
		       "Data-plane deltas not sent: another replica drives the data planes.",
		       c.not_owner);
	render_gauge(b, "roomvpn_control_replica_records_queued",
		     "Tunnel-record changes waiting to be written to etcd.",
		     (long long)rv_replica_records_queued());
	render_counter(b, "roomvpn_control_replica_records_dropped_total",
		       "Tunnel-record changes refused: the queue was full (etcd unreachable).",
		       rv_replica_records_dropped());
	struct rv_presence_counters pc;
	rv_presence_counters(&pc);
	render_counter(b, "roomvpn_control_presence_dropped_total",
		       "Presence changes not sent: out of memory.", pc.dropped);
	render_counter(b, "roomvpn_control_presence_omitted_total",
		       "Presence changes left out of a full batch (it keeps the newest), told as "
		       "its omitted count.",
		       pc.omitted);
	render_counter(b, "roomvpn_control_presence_deferred_total",
		       "Room presence batches held to a later flush by presence_budget.",
		       pc.deferred);
	/* one series per label set: sorted, a repeat of (device, room) is not on it */
	if (n > 1)
		qsort(v, (size_t)n, sizeof(*v), by_device_room);
	for (int i = 0; i < n; i++) {
		up += v[i].up;
		if (i && v[i].on_dataplane && v[i - 1].device_id == v[i].device_id &&
		    !strcmp(v[i - 1].room, v[i].room))
			v[i].on_dataplane = false;
	}
	render_gauge(b, "roomvpn_tunnels", "Tunnels the control plane knows of.", n < 0 ? -1 : n);
	render_gauge(b, "roomvpn_tunnels_up", "Tunnels that saw a packet recently.", up);
	/* per-tunnel series only up to metrics_tunnel_series (cardinality) */
	bool per_tunnel = n >= 0 && (uint32_t)n <= ctl->cfg.metrics_tunnel_series;
	render_gauge(b, "roomvpn_tunnel_series_omitted",
		     "1 when there are more tunnels than metrics_tunnel_series: no "
		     "per-tunnel series.",
		     !per_tunnel);
	for (size_t f = 0; per_tunnel && f < sizeof(fam) / sizeof(fam[0]); f++) {
		rv_metrics_printf(b, "# HELP %s %s\n# TYPE %s %s\n", fam[f].name, fam[f].help,
				  fam[f].name, fam[f].type);
		for (int i = 0; i < n; i++) {
			const struct rv_tunnel_status *t = &v[i];
			double val[] = {t->up,
					(double)t->bytes_in,
					(double)t->bytes_out,
					(double)t->packets_in,
					(double)t->packets_out,
					(double)t->rtt_us / 1e6,
					(double)t->last_seen_unix_ms / 1e3};
			if (!t->on_dataplane ||
			    ((f == 5 && !t->rtt_us) || (f == 6 && !t->last_seen_unix_ms)))
				continue;
			label_esc(t->room, room, sizeof(room));
			rv_metrics_printf(b, "%s{room=\"%s\",device=\"%016llx\"} %.17g\n",
					  fam[f].name, room, (unsigned long long)t->device_id,
					  val[f]);
		}
	}
	free(v);
}

/* The gRPC listener's connections (listener.c). */
static void render_connections(struct sbuf *b)
{
	struct rv_listener_stats st;

	rv_listener_stats(&st);
	render_gauge(b, "roomvpn_control_connections", "Live gRPC connections.",
		     (long long)st.live);
	render_gauge(b, "roomvpn_control_connections_max",
		     "The cap on live gRPC connections (max_connections).", (long long)st.cap);
	rv_metrics_printf(b,
			  "# HELP roomvpn_control_connections_closed_total gRPC connections closed "
			  "by the cap, by reason.\n"
			  "# TYPE roomvpn_control_connections_closed_total counter\n"
			  "roomvpn_control_connections_closed_total{reason=\"evicted\"} %llu\n"
			  "roomvpn_control_connections_closed_total{reason=\"refused\"} %llu\n",
			  (unsigned long long)st.evicted, (unsigned long long)st.refused);
}

char *rv_metrics_render(struct rv_control *ctl, size_t *len)
{
	struct rv_metrics *m = ctl->metrics;
	struct sbuf b = {0};
	if (!m)
		return NULL;
	render_store_ops(&b, ctl->store);
	render_rpcs(&b, m);
	render_latency(&b, m);
	rv_metrics_printf(&b,
			  "# HELP roomvpn_control_logins_total Login attempts, by result.\n"
			  "# TYPE roomvpn_control_logins_total counter\n"
			  "roomvpn_control_logins_total{result=\"ok\"} %llu\n"
			  "roomvpn_control_logins_total{result=\"failed\"} %llu\n",
			  (unsigned long long)atomic_load(&m->logins_ok),
			  (unsigned long long)atomic_load(&m->logins_failed));
	render_gauge(&b, "roomvpn_control_open_streams", "Streaming calls in progress.",
		     (long long)atomic_load(&m->open_streams));
	render_gauge(&b, "roomvpn_control_users", "Users in the store.",
		     count_keys(ctl->store, "u/"));
	render_gauge(&b, "roomvpn_control_rooms", "Rooms in the store.",
		     count_keys(ctl->store, "r/"));
	render_gauge(&b, "roomvpn_control_room_members", "Devices currently in a room.",
		     count_keys(ctl->store, "m/"));
	render_tunnels(&b, ctl);
	rv_metrics_render_dataplane(&b);
	render_connections(&b);
	rv_metrics_render_process(&b, m);
	rv_metrics_printf(&b,
			  "# HELP roomvpn_control_start_time_seconds Start time of the process "
			  "since the Unix epoch.\n# TYPE roomvpn_control_start_time_seconds gauge\n"
			  "roomvpn_control_start_time_seconds %.3f\n",
			  (double)m->start_unix_ns / 1e9);
	rv_metrics_printf(&b,
			  "# HELP roomvpn_build_info The running build; always 1.\n"
			  "# TYPE roomvpn_build_info gauge\nroomvpn_build_info{version=\"%s\"} 1\n",
			  RV_VERSION);
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}
