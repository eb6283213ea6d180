/* The data plane's health in the control plane's metrics: drops by reason,
 * per-lcore and per-port (NIC) counters, the TCP fallback and the table
 * sizes, from the Stats the sync thread reads once a second (dp_cache.h).
 * Every family is a table row (name, help, field offset), so a counter the
 * data plane adds is one line here. Drop reasons are not listed at all: the
 * data plane sends one DropCount per entry of shared/drop_reasons.def and
 * each becomes a `reason` label, so a new reason needs no change here. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dp_cache.h"
#include "fleet.h"
#include "metrics_state.h"

typedef Roomvpn__Dataplane__V1__Stats pb_stats;
typedef Roomvpn__Dataplane__V1__LcoreStats pb_lcore;
typedef Roomvpn__Dataplane__V1__PortStats pb_port;
typedef Roomvpn__Dataplane__V1__TcpStats pb_tcp;

/* One series family read from a uint64 field; @label: a fixed label
 * (`reason="..."`) that families sharing a name tell apart by, or NULL. */
struct family {
	const char *name, *type, *help;
	size_t off;
	const char *label;
};

#define LCORE(n, f, h)                                                                             \
	{                                                                                          \
		"roomvpn_dataplane_" n, "counter", h, offsetof(pb_lcore, f), NULL                  \
	}
static const struct family lcore_fam[] = {
    LCORE("rx_packets_total", rx_packets, "Frames an lcore received from ports and rings."),
    LCORE("tx_packets_total", tx_packets, "Frames an lcore handed to a port or the TCP ring."),
    LCORE("rx_bytes_total", rx_bytes, "Bytes of the frames an lcore received."),
    LCORE("tx_bytes_total", tx_bytes, "Bytes of the frames an lcore sent."),
    LCORE("lcore_drops_total", dropped, "Packets an lcore dropped, all reasons."),
    LCORE("relayed_total", relayed, "Inner packets an lcore delivered to a member."),
    LCORE("broadcast_copies_total", broadcast_copies, "Copies made for room broadcasts."),
    LCORE("echo_replies_total", echo_replies, "Keepalive echo replies sent."),
    LCORE("pings_total", pings, "Keepalive pings received."),
    LCORE("handoffs_total", handoffs, "Packets passed to another worker."),
    LCORE("arp_replies_total", arp_replies, "ARP replies sent."),
    LCORE("server_ip_replies_total", server_ip_replies,
	  "ICMP echo replies from a room's server address."),
};

#define PORT(n, f, h)                                                                              \
	{                                                                                          \
		"roomvpn_dataplane_port_" n, "counter", h, offsetof(pb_port, f), NULL              \
	}
static const struct family port_fam[] = {
    PORT("rx_packets_total", rx_packets, "Frames the port received (NIC ipackets)."),
    PORT("tx_packets_total", tx_packets, "Frames the port sent (NIC opackets)."),
    PORT("rx_bytes_total", rx_bytes, "Bytes the port received."),
    PORT("tx_bytes_total", tx_bytes, "Bytes the port sent."),
    PORT("imissed_total", imissed,
	 "Frames the NIC dropped because an RX queue was full (workers too slow)."),
    PORT("rx_nombuf_total", rx_nombuf, "RX mbuf allocation failures (the mbuf pool was empty)."),
    PORT("rx_errors_total", rx_errors, "Erroneous frames received (NIC ierrors)."),
    PORT("tx_errors_total", tx_errors, "Failed transmissions (NIC oerrors)."),
};

#define TCP(n, t, f, h, l)                                                                         \
	{                                                                                          \
		"roomvpn_dataplane_tcp_" n, t, h, offsetof(pb_tcp, f), l                           \
	}
#define TCPC(n, f, h) TCP(n, "counter", f, h, NULL)
static const struct family tcp_fam[] = {
    TCPC("accepted_total", accepted, "TCP fallback connections accepted."),
    TCP("connections", "gauge", active, "TCP fallback connections open.", NULL),
    TCP("connections_max", "gauge", max_conns, "The cap on TCP fallback connections.", NULL),
    TCPC("closed_total", closed, "TCP fallback connections closed."),
    TCP("refused_total", "counter", refused_full,
	"TCP fallback connections refused, by reason: full (the cap), fds (descriptor limit).",
	"reason=\"full\""),
    TCP("refused_total", "counter", refused_fds, NULL, "reason=\"fds\""),
    TCP("shed_total", "counter", shed_handshake,
	"TCP fallback connections shed, by reason: handshake (TLS not done in time), idle, "
	"unauth (oldest unauthenticated one, for a new connection).",
	"reason=\"handshake\""),
    TCP("shed_total", "counter", shed_idle, NULL, "reason=\"idle\""),
    TCP("shed_total", "counter", shed_unauth, NULL, "reason=\"unauth\""),
    TCPC("tls_failed_total", tls_failed, "TCP fallback TLS handshakes that failed."),
    TCPC("bad_length_total", bad_length,
	 "TCP fallback connections closed for a frame length of 0 or too large."),
    TCPC("frames_oversize_total", frames_oversize,
	 "TCP fallback connections closed for an unauthenticated frame over the limit."),
    TCPC("frames_in_total", frames_in, "Frames received over TCP fallback connections."),
    TCPC("bytes_in_total", bytes_in, "Bytes received over TCP fallback connections."),
    TCPC("frames_refused_total", frames_refused,
	 "Frames from TCP the workers' ring or mbuf pool refused."),
    TCPC("frames_out_total", frames_out, "Frames sent over TCP fallback connections."),
    TCPC("bytes_out_total", bytes_out, "Bytes sent over TCP fallback connections."),
    TCP("out_dropped_total", "counter", out_dropped_slow,
	"Frames for TCP members dropped, by reason: slow (no room on the connection), gone "
	"(the connection was closed).",
	"reason=\"slow\""),
    TCP("out_dropped_total", "counter", out_dropped_gone, NULL, "reason=\"gone\""),
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t field(const void *msg, size_t off)
{
	uint64_t v;
	memcpy(&v, (const char *)msg + off, sizeof(v));
	return v;
}

static void header(struct sbuf *b, const struct family *f)
{
	if (f->help) /* families that continue the row above have none */
		rv_metrics_printf(b, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
				  f->type);
}

/* @n messages of one repeated field, each labelled @key="<its id>". */
static void render_by_id(struct sbuf *b, const struct family *fam, size_t nfam, void *const *msgs,
			 size_t n, const char *key, size_t id_off)
{
	for (size_t f = 0; f < nfam; f++) {
		header(b, &fam[f]);
		for (size_t i = 0; i < n; i++) {
			uint32_t id;
			memcpy(&id, (const char *)msgs[i] + id_off, sizeof(id));
			rv_metrics_printf(b, "%s{%s=\"%u\"} %llu\n", fam[f].name, key, id,
					  (unsigned long long)field(msgs[i], fam[f].off));
		}
	}
}

static void render_tcp(struct sbuf *b, const pb_tcp *t)
{
	for (size_t f = 0; f < N(tcp_fam); f++) {
		header(b, &tcp_fam[f]);
		const char *l = tcp_fam[f].label;
		rv_metrics_printf(b, "%s%s%s%s %llu\n", tcp_fam[f].name, l ? "{" : "", l ? l : "",
				  l ? "}" : "", (unsigned long long)field(t, tcp_fam[f].off));
	}
}

/* Reason names are rv_drop_name()s ([a-z_]); one that is not is left out
 * rather than break the exposition. */
static bool label_safe(const char *s)
{
	return *s && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(s);
}

static void render_drops(struct sbuf *b, const pb_stats *st)
{
	rv_metrics_printf(b, "# HELP roomvpn_dataplane_drops_total Packets the data plane "
			     "dropped, by reason (docs/dataplane.md).\n"
			     "# TYPE roomvpn_dataplane_drops_total counter\n");
	for (size_t i = 0; i < st->n_drop; i++)
		if (st->drop[i]->reason && label_safe(st->drop[i]->reason))
			rv_metrics_printf(b, "roomvpn_dataplane_drops_total{reason=\"%s\"} %llu\n",
					  st->drop[i]->reason,
					  (unsigned long long)st->drop[i]->count);
}

/* Each data plane of the fleet (fleet.h), labelled by its name. */
static void render_fleet(struct sbuf *b)
{
	static const char *const states[] = {"", "up", "draining", "drained", "down"};
	struct rv_fleet_view v[RV_FLEET_MAX];
	size_t n = rv_fleet_list(v, RV_FLEET_MAX);

	rv_metrics_printf(b, "# HELP roomvpn_fleet_dataplane_state 1 for the data plane's state "
			     "(up, draining, drained, down), 0 for the others.\n"
			     "# TYPE roomvpn_fleet_dataplane_state gauge\n");
	for (size_t i = 0; i < n; i++)
		for (int s = 1; s <= 4; s++)
			rv_metrics_printf(
			    b, "roomvpn_fleet_dataplane_state{dataplane=\"%s\",state=\"%s\"} %d\n",
			    v[i].info.name, states[s], (int)v[i].state == s);
	const struct {
		const char *name, *type, *help;
	} fam[] = {
	    {"roomvpn_fleet_dataplane_sessions", "gauge", "Sessions the data plane runs."},
	    {"roomvpn_fleet_dataplane_rooms", "gauge", "Rooms placed on the data plane."},
	    {"roomvpn_fleet_dataplane_last_heard_age_seconds", "gauge",
	     "Seconds since the data plane last answered (-1: never)."},
	    {"roomvpn_fleet_dataplane_drops_total", "counter",
	     "Packets the data plane dropped, every reason summed."},
	};
	for (size_t f = 0; f < N(fam); f++) {
		rv_metrics_printf(b, "# HELP %s %s\n# TYPE %s %s\n", fam[f].name, fam[f].help,
				  fam[f].name, fam[f].type);
		for (size_t i = 0; i < n; i++) {
			double val =
			    f == 0   ? v[i].sessions
			    : f == 1 ? v[i].rooms
			    : f == 2 ? (v[i].last_heard_unix_ms ? v[i].last_heard_age_ns / 1e9 : -1)
				     : (double)v[i].drops;
			rv_metrics_printf(b, "%s{dataplane=\"%s\"} %.17g\n", fam[f].name,
					  v[i].info.name, val);
		}
	}
}

void rv_metrics_render_dataplane(struct sbuf *b)
{
	render_fleet(b);
	rv_dp_cache_lock();
	const pb_stats *st = rv_dp_cache_stats();
	if (st) {
		rv_metrics_printf(
		    b,
		    "# HELP roomvpn_dataplane_sessions Sessions the data plane "
		    "runs.\n# TYPE roomvpn_dataplane_sessions gauge\n"
		    "roomvpn_dataplane_sessions %u\n"
		    "# HELP roomvpn_dataplane_rooms Rooms the data plane runs.\n"
		    "# TYPE roomvpn_dataplane_rooms gauge\nroomvpn_dataplane_rooms %u\n",
		    st->sessions, st->rooms);
		render_drops(b, st);
		render_by_id(b, lcore_fam, N(lcore_fam), (void *const *)st->lcore, st->n_lcore,
			     "lcore", offsetof(pb_lcore, lcore_id));
		render_by_id(b, port_fam, N(port_fam), (void *const *)st->port, st->n_port, "port",
			     offsetof(pb_port, port_id));
		if (st->tcp)
			render_tcp(b, st->tcp);
	}
	rv_dp_cache_unlock();
}
