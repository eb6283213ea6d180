/* Prometheus registry and HTTPS exposition (metrics.h). Per-method series
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
#include "metrics.h"
#include "dp_sync.h"
#include "store.h"

#define N_SLOTS	     64
#define N_ALLOW	     16 /* metrics_allow prefixes */
#define CONN_LIMIT   64 /* libmicrohttpd refuses connections past this */
#define CONN_CAP     48 /* at this many, the oldest unanswered one is closed */
#define CONN_TIMEOUT 5	/* seconds a connection may sit without progress */
#define N_CODES	     17 /* grpc status codes 0..16 */
#define NAME_MAX_LEN 96

static const double bucket_le[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
				   0.1,	   0.25,  0.5,	  1,	 2.5,  5,     10};
#define N_BUCKETS (sizeof(bucket_le) / sizeof(bucket_le[0]))

enum slot_state { SLOT_FREE, SLOT_CLAIMED, SLOT_READY };

struct method_slot {
	atomic_int state;
	char name[NAME_MAX_LEN];
	atomic_uint_fast64_t by_code[N_CODES];
	atomic_uint_fast64_t bucket[N_BUCKETS]; /* non-cumulative; summed on render */
	atomic_uint_fast64_t count;
	atomic_uint_fast64_t sum_ns;
};

struct rv_metrics {
	struct method_slot slots[N_SLOTS]; /* the last one is "other" */
	atomic_uint_fast64_t logins_ok, logins_failed;
	atomic_int_fast64_t open_streams;
	uint64_t start_unix_ns;
	struct MHD_Daemon *httpd;
	int port;
	bool mtls;
	char *cert_pem, *key_pem, *ca_pem;
	char token[256]; /* metrics_token_file's first line; "" none */
	struct prefix {
		int family;
		uint8_t addr[16];
		unsigned len;
	} allow[N_ALLOW];
	unsigned n_allow;
	/* open connections, oldest first; only the daemon's one thread
	 * (notify and request callbacks) touches them */
	struct scrape_conn {
		struct MHD_Connection *conn;
		int fd;
		bool answered, shut;
	} conns[CONN_LIMIT];
	unsigned n_conns;
	struct rv_control *ctl;
};

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
	m->start_unix_ns = rv_control_now_real();
	m->ctl = ctl;
	ctl->metrics = m;
	ctl->on_rpc_done = hook_rpc_done;
	ctl->on_login = hook_login;
	ctl->on_stream = hook_stream;
	return 0;
}

/* ---- rendering ------------------------------------------------------------ */

struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

__attribute__((format(printf, 2, 3))) static void sb_printf(struct sbuf *b, const char *fmt, ...)
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
	sb_printf(b, "# HELP %s %s\n# TYPE %s gauge\n%s %lld\n", name, help, name, name, v);
}

static void render_rpcs(struct sbuf *b, struct rv_metrics *m)
{
	sb_printf(b, "# HELP roomvpn_control_rpcs_total RPCs answered, by method and "
		     "status code.\n# TYPE roomvpn_control_rpcs_total counter\n");
	for (int i = 0; i < N_SLOTS; i++) {
		struct method_slot *s = &m->slots[i];
		if (atomic_load_explicit(&s->state, memory_order_acquire) != SLOT_READY)
			continue;
		for (int c = 0; c < N_CODES; c++) {
			uint64_t v = atomic_load_explicit(&s->by_code[c], memory_order_relaxed);
			if (v)
				sb_printf(b,
					  "roomvpn_control_rpcs_total{method=\"%s\",code=\"%s\"} "
					  "%llu\n",
					  s->name, code_name[c], (unsigned long long)v);
		}
	}
}

static void render_latency(struct sbuf *b, struct rv_metrics *m)
{
	const char *n = "roomvpn_control_rpc_duration_seconds";
	sb_printf(b,
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
			sb_printf(b, "%s_bucket{method=\"%s\",le=\"%g\"} %llu\n", n, s->name,
				  bucket_le[k], (unsigned long long)cum);
		}
		/* +Inf must equal _count; read count once and never report less. */
		if (count < cum)
			count = cum;
		sb_printf(b, "%s_bucket{method=\"%s\",le=\"+Inf\"} %llu\n", n, s->name,
			  (unsigned long long)count);
		sb_printf(b, "%s_sum{method=\"%s\"} %.9f\n", n, s->name,
			  (double)atomic_load_explicit(&s->sum_ns, memory_order_relaxed) / 1e9);
		sb_printf(b, "%s_count{method=\"%s\"} %llu\n", n, s->name,
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
	int n = rv_dp_sync_status(true, 0, &v, &dp_ok), up = 0;
	char room[160];

	render_gauge(b, "roomvpn_dataplane_up",
		     "1 when the data plane answered the last stats read.", dp_ok);
	struct rv_dp_sync_counters c;
	rv_dp_sync_counters(&c);
	(void)ctl;
	render_gauge(b, "roomvpn_control_dp_sync_backlog",
		     "Data-plane deltas queued for the sync thread.", (long long)c.backlog);
	sb_printf(b,
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
	for (int i = 0; i < n; i++) {
		up += v[i].up;
		for (int j = 0; j < i && v[i].on_dataplane; j++) /* one series per label set */
			if (v[j].on_dataplane && v[j].device_id == v[i].device_id &&
			    !strcmp(v[j].room, v[i].room))
				v[i].on_dataplane = false;
	}
	render_gauge(b, "roomvpn_tunnels", "Tunnels the control plane knows of.", n < 0 ? -1 : n);
	render_gauge(b, "roomvpn_tunnels_up", "Tunnels that saw a packet recently.", up);
	for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
		sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", fam[f].name, fam[f].help, fam[f].name,
			  fam[f].type);
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
			sb_printf(b, "%s{room=\"%s\",device=\"%016llx\"} %.17g\n", fam[f].name,
				  room, (unsigned long long)t->device_id, val[f]);
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
	sb_printf(b,
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
	render_rpcs(&b, m);
	render_latency(&b, m);
	sb_printf(&b,
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
	render_connections(&b);
	sb_printf(&b,
		  "# HELP roomvpn_control_start_time_seconds Start time of the process "
		  "since the Unix epoch.\n# TYPE roomvpn_control_start_time_seconds gauge\n"
		  "roomvpn_control_start_time_seconds %.3f\n",
		  (double)m->start_unix_ns / 1e9);
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}

/* ---- HTTPS endpoint -------------------------------------------------------- */

static char *read_file(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "metrics: cannot read %s: %m", path);
		return NULL;
	}
	char *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len + 4096 + 1 > cap) {
			cap = (cap + 4096 + 1) * 2;
			char *p = realloc(buf, cap);
			if (!p)
				break;
			buf = p;
		}
		size_t n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0)
			break;
	}
	bool bad = ferror(f) || !buf || len > (1u << 20);
	fclose(f);
	if (bad) {
		snprintf(err, errlen, "metrics: cannot read %s", path);
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	return buf;
}

/* "host:port" or "[v6]:port" into a socket address. */
static int parse_listen(const char *s, struct sockaddr_storage *ss, char *err, size_t errlen)
{
	char host[RV_CTL_ADDR];
	const char *colon = strrchr(s, ':');
	const char *h = s;
	size_t hl = colon ? (size_t)(colon - s) : 0;
	if (colon && s[0] == '[' && hl >= 2 && s[hl - 1] == ']') {
		h = s + 1;
		hl -= 2;
	}
	char *end;
	long port = colon ? strtol(colon + 1, &end, 10) : -1;
	if (!colon || hl == 0 || hl >= sizeof(host) || *end || end == colon + 1 || port < 0 ||
	    port > 65535) {
		snprintf(err, errlen, "metrics_listen '%s' is not host:port", s);
		return -1;
	}
	memcpy(host, h, hl);
	host[hl] = '\0';
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
	} else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
	} else {
		snprintf(err, errlen, "metrics_listen '%s': '%s' is not an IP address", s, host);
		return -1;
	}
	return 0;
}

/* mTLS: the client must have sent a certificate that the configured CA
 * signed (GnuTLS checks it against the trust list given to the daemon). */
static bool client_cert_ok(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (!ci || !ci->tls_session)
		return false;
	gnutls_session_t tls = (gnutls_session_t)ci->tls_session;
	unsigned n = 0;
	if (!gnutls_certificate_get_peers(tls, &n) || n == 0)
		return false;
	unsigned status = 0;
	return gnutls_certificate_verify_peers2(tls, &status) == 0 && status == 0;
}

/* ---- who may scrape ------------------------------------------------------ */

/* metrics_allow: "10.0.0.0/8, ::1, 192.0.2.7" (no length: one address). */
static int parse_allow(struct rv_metrics *m, const char *list, char *err, size_t errlen)
{
	char copy[sizeof(m->ctl->cfg.metrics_allow)];

	snprintf(copy, sizeof(copy), "%s", list);
	for (char *save = NULL, *t = strtok_r(copy, ", ", &save); t;
	     t = strtok_r(NULL, ", ", &save)) {
		struct prefix *p = &m->allow[m->n_allow];
		char *slash = strchr(t, '/'), *end = NULL;
		if (m->n_allow == N_ALLOW) {
			snprintf(err, errlen, "metrics_allow: more than %d prefixes", N_ALLOW);
			return -1;
		}
		if (slash)
			*slash = '\0';
		p->family = strchr(t, ':') ? AF_INET6 : AF_INET;
		unsigned max = p->family == AF_INET6 ? 128 : 32;
		p->len = slash ? (unsigned)strtoul(slash + 1, &end, 10) : max;
		if (inet_pton(p->family, t, p->addr) != 1 || p->len > max ||
		    (slash && (end == slash + 1 || *end))) {
			snprintf(err, errlen, "metrics_allow: '%s' is not an address or prefix", t);
			return -1;
		}
		m->n_allow++;
	}
	return 0;
}

static bool prefix_match(const struct prefix *p, const uint8_t *addr)
{
	unsigned bytes = p->len / 8, bits = p->len % 8;
	if (memcmp(p->addr, addr, bytes) != 0)
		return false;
	return !bits || ((p->addr[bytes] ^ addr[bytes]) & (0xff00 >> bits)) == 0;
}

static bool source_allowed(const struct rv_metrics *m, struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	uint8_t v4[4];
	const uint8_t *v6 = NULL;

	if (!sa)
		return false;
	if (sa->sa_family == AF_INET) {
		memcpy(v4, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		v6 = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)v6)) {
			memcpy(v4, v6 + 12, 4);
			v6 = NULL;
		}
	} else {
		return false;
	}
	for (unsigned i = 0; i < m->n_allow; i++) {
		const struct prefix *p = &m->allow[i];
		if (p->family == AF_INET6 ? v6 && prefix_match(p, v6) : !v6 && prefix_match(p, v4))
			return true;
	}
	return false;
}

/* "Authorization: Bearer <metrics token>", compared in constant time. */
static bool token_ok(const struct rv_metrics *m, struct MHD_Connection *conn)
{
	const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
	size_t n = strlen(m->token);
	unsigned diff = 0;

	if (!n || !h || strncasecmp(h, "Bearer ", 7) != 0 || strlen(h + 7) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(h[7 + i] ^ m->token[i]);
	return diff == 0;
}

/* Any one of the configured ways in: a client certificate from
 * metrics_client_ca, the bearer token, or an allowed source address. */
static bool scraper_ok(const struct rv_metrics *m, struct MHD_Connection *conn)
{
	return (m->mtls && client_cert_ok(conn)) || token_ok(m, conn) || source_allowed(m, conn);
}

static int load_token(struct rv_metrics *m, const char *path, char *err, size_t errlen)
{
	char *text = read_file(path, err, errlen);
	if (!text)
		return -1;
	text[strcspn(text, "\r\n")] = '\0';
	size_t n = strlen(text);
	if (n < 16 || n >= sizeof(m->token) || strpbrk(text, " \t")) {
		snprintf(err, errlen,
			 "metrics_token_file %s: the first line must be a token of 16 to %zu "
			 "characters without blanks",
			 path, sizeof(m->token) - 1);
		free(text);
		return -1;
	}
	memcpy(m->token, text, n + 1);
	OPENSSL_cleanse(text, n);
	free(text);
	return 0;
}

/* ---- connections ----------------------------------------------------------- */

/* The daemon's thread, for every connection opened or closed. At CONN_CAP
 * open connections a new one shuts down (shutdown(2)) the oldest one that
 * has not sent an admitted request yet, so idle or slow connections cannot starve scrapes;
 * libmicrohttpd then closes it. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
			  enum MHD_ConnectionNotificationCode code)
{
	struct rv_metrics *m = cls;
	(void)socket_ctx;

	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		for (unsigned i = 0; i < m->n_conns; i++)
			if (m->conns[i].conn == conn) {
				memmove(&m->conns[i], &m->conns[i + 1],
					(m->n_conns - i - 1) * sizeof(m->conns[0]));
				m->n_conns--;
				break;
			}
		return;
	}
	unsigned live = 0;
	for (unsigned i = 0; i < m->n_conns; i++)
		live += !m->conns[i].shut;
	for (unsigned i = 0; live >= CONN_CAP && i < m->n_conns; i++) {
		struct scrape_conn *c = &m->conns[i];
		if (c->shut || c->answered)
			continue;
		shutdown(c->fd, SHUT_RDWR);
		c->shut = true;
		live--;
	}
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (m->n_conns < CONN_LIMIT && ci)
		m->conns[m->n_conns++] = (struct scrape_conn){.conn = conn, .fd = ci->connect_fd};
}

static void mark_answered(struct rv_metrics *m, struct MHD_Connection *conn)
{
	for (unsigned i = 0; i < m->n_conns; i++)
		if (m->conns[i].conn == conn)
			m->conns[i].answered = true;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned code, const char *text)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
	enum MHD_Result ret = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_len, void **con_cls)
{
	struct rv_metrics *m = cls;
	(void)version;
	(void)upload;
	(void)con_cls;
	if (*upload_len)
		return reply(conn, MHD_HTTP_BAD_REQUEST, "no request body expected\n");
	if (scraper_ok(m, conn))
		mark_answered(m, conn); /* not the first to go any more */
	else
		return reply(conn, MHD_HTTP_FORBIDDEN,
			     "metrics need a client certificate from metrics_client_ca, "
			     "\"Authorization: Bearer <token of metrics_token_file>\", or a "
			     "source address in metrics_allow\n");
	if (strcmp(url, "/metrics") != 0)
		return reply(conn, MHD_HTTP_NOT_FOUND, "not found; try /metrics\n");
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET\n");
	size_t len;
	char *text = rv_metrics_render(m->ctl, &len);
	if (!text)
		return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	struct MHD_Response *r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static int load_pems(struct rv_metrics *m, const struct rv_control_config *c, char *err,
		     size_t errlen)
{
	char cert[RV_CTL_PATH + 32], key[RV_CTL_PATH + 32];
	if (c->metrics_cert[0]) {
		snprintf(cert, sizeof(cert), "%s", c->metrics_cert);
		snprintf(key, sizeof(key), "%s", c->metrics_key);
	} else if (c->tls_cert[0]) {
		snprintf(cert, sizeof(cert), "%s", c->tls_cert);
		snprintf(key, sizeof(key), "%s", c->tls_key);
	} else {
		snprintf(cert, sizeof(cert), "%s/tls/server.crt", c->state_dir);
		snprintf(key, sizeof(key), "%s/tls/server.key", c->state_dir);
	}
	if (!(m->cert_pem = read_file(cert, err, errlen)) ||
	    !(m->key_pem = read_file(key, err, errlen)))
		return -1;
	if (c->metrics_client_ca[0]) {
		if (!(m->ca_pem = read_file(c->metrics_client_ca, err, errlen)))
			return -1;
		m->mtls = true;
	}
	if (c->metrics_token_file[0] && load_token(m, c->metrics_token_file, err, errlen) < 0)
		return -1;
	if (parse_allow(m, c->metrics_allow, err, errlen) < 0)
		return -1;
	if (!m->mtls && !m->token[0] && !m->n_allow)
		rv_log(RV_LOG_WARN, "metrics: every scrape is refused: set metrics_token_file, "
				    "metrics_client_ca or metrics_allow (docs/metrics.md)");
	return 0;
}

int rv_metrics_start(struct rv_control *ctl, char *err, size_t errlen)
{
	struct rv_metrics *m = ctl->metrics;
	const struct rv_control_config *c = &ctl->cfg;
	struct sockaddr_storage ss;

	if (!m || !c->metrics_listen[0])
		return 0;
	if (parse_listen(c->metrics_listen, &ss, err, errlen) < 0 ||
	    load_pems(m, c, err, errlen) < 0)
		return -1;
	unsigned flags = MHD_USE_TLS | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	m->httpd = MHD_start_daemon(
	    flags, 0, NULL, NULL, on_request, m, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_HTTPS_MEM_CERT, m->cert_pem, MHD_OPTION_HTTPS_MEM_KEY, m->key_pem,
	    MHD_OPTION_HTTPS_MEM_TRUST, m->mtls ? m->ca_pem : NULL, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)CONN_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT,
	    MHD_OPTION_NOTIFY_CONNECTION, on_connection, m, MHD_OPTION_END);
	if (!m->httpd) {
		snprintf(err, errlen,
			 "metrics: cannot serve HTTPS on %s (address in use, or a bad "
			 "certificate/key/CA PEM)",
			 c->metrics_listen);
		return -1;
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(m->httpd, MHD_DAEMON_INFO_BIND_PORT);
	m->port = di ? di->port : 0;
	rv_log(RV_LOG_INFO, "metrics: https://%s/metrics (port %d); scrapers: %s%s%s",
	       c->metrics_listen, m->port, m->mtls ? "client certificate, " : "",
	       m->token[0] ? "bearer token, " : "", m->n_allow ? "allowed addresses" : "");
	return 0;
}

int rv_metrics_port(const struct rv_metrics *m)
{
	return m ? m->port : 0;
}

void rv_metrics_fini(struct rv_control *ctl)
{
	struct rv_metrics *m = ctl->metrics;
	if (!m)
		return;
	ctl->on_rpc_done = NULL;
	ctl->on_login = NULL;
	ctl->on_stream = NULL;
	if (m->httpd)
		MHD_stop_daemon(m->httpd);
	ctl->metrics = NULL;
	free(m->cert_pem);
	free(m->key_pem);
	free(m->ca_pem);
	OPENSSL_cleanse(m->token, sizeof(m->token));
	free(m);
}
