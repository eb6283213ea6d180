/* roomvpn-dpctl output: tables for people, JSON (--json) for scripts. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <json-c/json.h>

#include "dpctl.h"

static const char *ip_str(uint32_t a, char buf[16])
{
	snprintf(buf, 16, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
	return buf;
}

/* The JSON scheme is the client's (client/pbjson.h), through the same
 * library (json-c): snake_case keys, counters as numbers, 64-bit ids and
 * timestamps as decimal strings (jq and JavaScript keep every digit),
 * one line per answer. */
static struct json_object *u64_string(uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return json_object_new_string(buf);
}

static void add(struct json_object *o, const char *k, struct json_object *v)
{
	json_object_object_add(o, k, v);
}

static void add_u64(struct json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_uint64(v));
}

static void add_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v ? v : ""));
}

void dpctl_json_print(struct json_object *o)
{
	puts(o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						       JSON_C_TO_STRING_NOSLASHESCAPE)
	       : "null");
	json_object_put(o);
}

static const char *transport_name(Roomvpn__Dataplane__V1__Transport t)
{
	switch (t) {
	case ROOMVPN__DATAPLANE__V1__TRANSPORT__TRANSPORT_UDP:
		return "udp";
	case ROOMVPN__DATAPLANE__V1__TRANSPORT__TRANSPORT_TCP:
		return "tcp";
	default:
		return "none";
	}
}

/* A 16-byte IPv6 field as text; @none when it is empty (or not 16 bytes). */
static const char *ip6_str(ProtobufCBinaryData b, char buf[INET6_ADDRSTRLEN], const char *none)
{
	if (b.len != 16 || !inet_ntop(AF_INET6, b.data, buf, INET6_ADDRSTRLEN))
		return none;
	return buf;
}

/* "1.2.3.4:5", "[2001:db8::1]:5", "conn:7" or "-" */
static const char *outer_str(const Roomvpn__Dataplane__V1__SessionStats *s, char buf[64])
{
	char ip[16], ip6[INET6_ADDRSTRLEN];
	if (s->transport == ROOMVPN__DATAPLANE__V1__TRANSPORT__TRANSPORT_UDP && s->outer &&
	    s->outer->addr6.len == 16)
		snprintf(buf, 64, "[%s]:%u",
			 inet_ntop(AF_INET6, s->outer->addr6.data, ip6, sizeof(ip6)),
			 s->outer->port);
	else if (s->transport == ROOMVPN__DATAPLANE__V1__TRANSPORT__TRANSPORT_UDP && s->outer)
		snprintf(buf, 64, "%s:%u", ip_str(s->outer->addr, ip), s->outer->port);
	else if (s->transport == ROOMVPN__DATAPLANE__V1__TRANSPORT__TRANSPORT_TCP && s->outer)
		snprintf(buf, 64, "conn:%u", s->outer->port);
	else
		snprintf(buf, 64, "-");
	return buf;
}

static struct json_object *session_json(const Roomvpn__Dataplane__V1__SessionStats *s)
{
	struct json_object *o = json_object_new_object();
	char ip[16], outer[64], ip6[INET6_ADDRSTRLEN];

	add_u64(o, "peer_id", s->peer_id);
	add_u64(o, "room_id", s->room_id);
	add_str(o, "vip", ip_str(s->vip, ip));
	add_str(o, "vip6", ip6_str(s->vip6, ip6, ""));
	add_str(o, "cipher", s->cipher);
	add_u64(o, "key_id", s->key_id);
	add_str(o, "transport", transport_name(s->transport));
	add_str(o, "outer", outer_str(s, outer));
	add_u64(o, "packets_in", s->packets_in);
	add_u64(o, "bytes_in", s->bytes_in);
	add_u64(o, "packets_out", s->packets_out);
	add_u64(o, "bytes_out", s->bytes_out);
	add(o, "last_seen_unix_ms", u64_string(s->last_seen_unix_ms));
	add_u64(o, "last_rtt_us", s->last_rtt_us);
	return o;
}

void dpctl_show_sessions(const struct ctl *ctl, const Roomvpn__Dataplane__V1__Stats *st)
{
	char ip[16], outer[64], ip6[INET6_ADDRSTRLEN];
	if (ctl->json) {
		struct json_object *o = json_object_new_object(), *a = json_object_new_array();
		for (size_t i = 0; i < st->n_session; i++)
			json_object_array_add(a, session_json(st->session[i]));
		add(o, "sessions", a);
		dpctl_json_print(o);
		return;
	}
	printf("%-8s %-8s %-15s %-17s %-3s %-4s %-21s %10s %12s %10s %12s %13s %8s %s\n", "PEER",
	       "ROOM", "VIP", "CIPHER", "KEY", "VIA", "OUTER", "PKTS_IN", "BYTES_IN", "PKTS_OUT",
	       "BYTES_OUT", "LAST_SEEN_MS", "RTT_US", "VIP6");
	for (size_t i = 0; i < st->n_session; i++) {
		const Roomvpn__Dataplane__V1__SessionStats *s = st->session[i];
		printf("%-8u %-8u %-15s %-17s %-3u %-4s %-21s %10" PRIu64 " %12" PRIu64
		       " %10" PRIu64 " %12" PRIu64 " %13" PRIu64 " %8" PRIu64 " %s\n",
		       s->peer_id, s->room_id, ip_str(s->vip, ip), s->cipher, s->key_id,
		       transport_name(s->transport), outer_str(s, outer), s->packets_in,
		       s->bytes_in, s->packets_out, s->bytes_out, s->last_seen_unix_ms,
		       s->last_rtt_us, ip6_str(s->vip6, ip6, "-"));
	}
}

/* A room's managed routes: "T/N via V" items. */
static void route_str(const Roomvpn__Dataplane__V1__Route *r, char buf[48])
{
	char t[16], v[16];
	snprintf(buf, 48, "%s/%u via %s", ip_str(r->target, t), r->prefix_len, ip_str(r->via, v));
}

/* An IPv6 managed route: "T/N via V". */
static void route6_str(const Roomvpn__Dataplane__V1__Route6 *r, char buf[112])
{
	char t[INET6_ADDRSTRLEN], v[INET6_ADDRSTRLEN];
	snprintf(buf, 112, "%s/%u via %s", ip6_str(r->target, t, "?"), r->prefix_len,
		 ip6_str(r->via, v, "?"));
}

/* "fd00:77::/64", or @none without IPv6. */
static const char *prefix6_str(const Roomvpn__Dataplane__V1__Room *r, char buf[64],
			       const char *none)
{
	char p[INET6_ADDRSTRLEN];
	if (r->prefix6.len != 16)
		return none;
	snprintf(buf, 64, "%s/%u", ip6_str(r->prefix6, p, "?"), r->prefix6_len);
	return buf;
}

static struct json_object *room_json(const Roomvpn__Dataplane__V1__RoomStats *r, const char *subnet)
{
	struct json_object *o = json_object_new_object(), *a = json_object_new_array();
	struct json_object *a6 = json_object_new_array();
	char route[112], p6[64];

	add_u64(o, "room_id", r->room->room_id);
	add_str(o, "subnet", subnet);
	add_u64(o, "members", r->members);
	add_u64(o, "rules", r->rules);
	for (size_t i = 0; i < r->room->n_routes; i++) {
		route_str(r->room->routes[i], route);
		json_object_array_add(a, json_object_new_string(route));
	}
	add(o, "routes", a);
	add_str(o, "prefix6", prefix6_str(r->room, p6, ""));
	for (size_t i = 0; i < r->room->n_routes6; i++) {
		route6_str(r->room->routes6[i], route);
		json_object_array_add(a6, json_object_new_string(route));
	}
	add(o, "routes6", a6);
	return o;
}

void dpctl_show_rooms(const struct ctl *ctl, const Roomvpn__Dataplane__V1__Stats *st)
{
	struct json_object *a = ctl->json ? json_object_new_array() : NULL;
	char ip[16], route[112], p6[64];

	if (!ctl->json)
		printf("%-10s %-18s %-8s %-6s %-24s %s\n", "ROOM", "SUBNET", "MEMBERS", "RULES",
		       "PREFIX6", "ROUTES");
	for (size_t i = 0; i < st->n_room; i++) {
		const Roomvpn__Dataplane__V1__RoomStats *r = st->room[i];
		char subnet[24];
		if (!r->room)
			continue;
		snprintf(subnet, sizeof(subnet), "%s/%u", ip_str(r->room->subnet, ip),
			 r->room->prefix_len);
		if (a) {
			json_object_array_add(a, room_json(r, subnet));
			continue;
		}
		printf("%-10u %-18s %-8u %-6u %-24s ", r->room->room_id, subnet, r->members,
		       r->rules, prefix6_str(r->room, p6, "-"));
		for (size_t j = 0; j < r->room->n_routes; j++) {
			route_str(r->room->routes[j], route);
			printf("%s%s", j ? ", " : "", route);
		}
		for (size_t j = 0; j < r->room->n_routes6; j++) {
			route6_str(r->room->routes6[j], route);
			printf("%s%s", j || r->room->n_routes ? ", " : "", route);
		}
		printf("\n");
	}
	if (a) {
		struct json_object *o = json_object_new_object();
		add(o, "rooms", a);
		dpctl_json_print(o);
	}
}

static struct json_object *lcore_json(const Roomvpn__Dataplane__V1__LcoreStats *l)
{
	struct json_object *o = json_object_new_object();

	add_u64(o, "lcore", l->lcore_id);
	add_u64(o, "rx_packets", l->rx_packets);
	add_u64(o, "tx_packets", l->tx_packets);
	add_u64(o, "dropped", l->dropped);
	add_u64(o, "rx_bytes", l->rx_bytes);
	add_u64(o, "tx_bytes", l->tx_bytes);
	add_u64(o, "relayed", l->relayed);
	add_u64(o, "broadcast_copies", l->broadcast_copies);
	add_u64(o, "echo_replies", l->echo_replies);
	add_u64(o, "pings", l->pings);
	add_u64(o, "handoffs", l->handoffs);
	add_u64(o, "arp_replies", l->arp_replies);
	add_u64(o, "server_ip_replies", l->server_ip_replies);
	return o;
}

static struct json_object *tcp_json(const Roomvpn__Dataplane__V1__TcpStats *t)
{
	struct json_object *o = json_object_new_object();

	add_u64(o, "accepted", t->accepted);
	add_u64(o, "active", t->active);
	add_u64(o, "closed", t->closed);
	add_u64(o, "bad_length", t->bad_length);
	add_u64(o, "tls_failed", t->tls_failed);
	add_u64(o, "frames_in", t->frames_in);
	add_u64(o, "frames_refused", t->frames_refused);
	add_u64(o, "frames_out", t->frames_out);
	add_u64(o, "out_dropped_slow", t->out_dropped_slow);
	add_u64(o, "out_dropped_gone", t->out_dropped_gone);
	add_u64(o, "refused_full", t->refused_full);
	add_u64(o, "refused_fds", t->refused_fds);
	add_u64(o, "shed_handshake", t->shed_handshake);
	add_u64(o, "shed_idle", t->shed_idle);
	add_u64(o, "shed_unauth", t->shed_unauth);
	add_u64(o, "frames_oversize", t->frames_oversize);
	add_u64(o, "max_conns", t->max_conns);
	return o;
}

static void stats_json(const Roomvpn__Dataplane__V1__Stats *st)
{
	struct json_object *o = json_object_new_object(), *a = json_object_new_array(),
			   *d = json_object_new_object();

	add_u64(o, "rooms", st->rooms);
	add_u64(o, "sessions", st->sessions);
	add(o, "crypto_engine", json_object_new_string(st->crypto_engine));
	add_u64(o, "fence", st->fence);
	add_u64(o, "fence_refused", st->fence_refused);
	for (size_t i = 0; i < st->n_lcore; i++)
		json_object_array_add(a, lcore_json(st->lcore[i]));
	add(o, "lcores", a);
	for (size_t i = 0; i < st->n_drop; i++)
		add_u64(d, st->drop[i]->reason, st->drop[i]->count);
	add(o, "drops", d);
	if (st->tcp)
		add(o, "tcp", tcp_json(st->tcp));
	dpctl_json_print(o);
}

void dpctl_show_stats(const struct ctl *ctl, const Roomvpn__Dataplane__V1__Stats *st)
{
	if (ctl->json) {
		stats_json(st);
		return;
	}
	printf("rooms %u\nsessions %u\ncrypto engine %s\nfence %" PRIu64 " (%" PRIu64
	       " stale requests refused)\n\n%-6s %12s %12s %12s %12s %10s %10s %8s %8s\n",
	       st->rooms, st->sessions, st->crypto_engine, st->fence, st->fence_refused, "LCORE",
	       "RX_PACKETS", "TX_PACKETS", "DROPPED", "RELAYED", "BCAST", "HANDOFFS", "ECHO",
	       "ARP");
	for (size_t i = 0; i < st->n_lcore; i++) {
		const Roomvpn__Dataplane__V1__LcoreStats *l = st->lcore[i];
		printf("%-6u %12" PRIu64 " %12" PRIu64 " %12" PRIu64 " %12" PRIu64 " %10" PRIu64
		       " %10" PRIu64 " %8" PRIu64 " %8" PRIu64 "\n",
		       l->lcore_id, l->rx_packets, l->tx_packets, l->dropped, l->relayed,
		       l->broadcast_copies, l->handoffs, l->echo_replies, l->arp_replies);
	}
	printf("\n%-20s %14s\n", "DROP_REASON", "COUNT");
	for (size_t i = 0; i < st->n_drop; i++)
		printf("%-20s %14" PRIu64 "\n", st->drop[i]->reason, st->drop[i]->count);
	if (!st->tcp)
		return;
	const Roomvpn__Dataplane__V1__TcpStats *t = st->tcp;
	printf("\ntcp: %" PRIu64 " active, %" PRIu64 " accepted, %" PRIu64 " closed (%" PRIu64
	       " bad length, %" PRIu64 " TLS failed)\n"
	       "tcp frames: %" PRIu64 " in (%" PRIu64 " refused), %" PRIu64 " out, dropped %" PRIu64
	       " slow reader, %" PRIu64 " connection gone\n"
	       "tcp limits: %" PRIu64 " max, refused %" PRIu64 " full + %" PRIu64
	       " out of descriptors; shed %" PRIu64 " handshake, %" PRIu64 " idle, %" PRIu64
	       " oldest unauthenticated; %" PRIu64 " oversize before authentication\n",
	       t->active, t->accepted, t->closed, t->bad_length, t->tls_failed, t->frames_in,
	       t->frames_refused, t->frames_out, t->out_dropped_slow, t->out_dropped_gone,
	       t->max_conns, t->refused_full, t->refused_fds, t->shed_handshake, t->shed_idle,
	       t->shed_unauth, t->frames_oversize);
}

static void id_str(const char *what, uint32_t v, char *buf, size_t len)
{
	if (v == 0xFFFFFFFFu)
		buf[0] = 0;
	else
		snprintf(buf, len, " %s %u", what, v);
}

/* An unset peer-id or room (0xFFFFFFFF) is -1. */
static struct json_object *id_or_none(uint32_t v)
{
	return json_object_new_int64(v == 0xFFFFFFFFu ? -1 : (int64_t)v);
}

static void trace_json(const Roomvpn__Dataplane__V1__Trace *tr)
{
	struct json_object *o = json_object_new_object(), *a = json_object_new_array();

	add(o, "armed", json_object_new_boolean(tr && tr->armed));
	add_u64(o, "lost", tr ? tr->lost : 0);
	for (size_t i = 0; tr && i < tr->n_record; i++) {
		const Roomvpn__Dataplane__V1__TraceRecord *r = tr->record[i];
		struct json_object *e = json_object_new_object();
		add_u64(e, "packet", r->packet);
		add_u64(e, "lcore", r->lcore);
		add(e, "time_ns", u64_string(r->time_ns));
		add_str(e, "stage", r->stage);
		add_str(e, "decision", r->decision);
		add_str(e, "reason", r->reason);
		add(e, "peer_id", id_or_none(r->peer_id));
		add(e, "room_id", id_or_none(r->room_id));
		add_u64(e, "arg", r->arg);
		json_object_array_add(a, e);
	}
	add(o, "records", a);
	dpctl_json_print(o);
}

void dpctl_show_trace(const struct ctl *ctl, const Roomvpn__Dataplane__V1__Trace *tr)
{
	if (ctl->json) {
		trace_json(tr);
		return;
	}
	if (!tr || tr->n_record == 0) {
		printf("No packets traced%s.\n", tr && tr->armed ? " yet (tracing is on)" : "");
		return;
	}
	uint64_t t0 = tr->record[0]->time_ns;
	for (size_t i = 0; i < tr->n_record; i++)
		if (tr->record[i]->time_ns < t0)
			t0 = tr->record[i]->time_ns;
	for (size_t i = 0; i < tr->n_record; i++) {
		const Roomvpn__Dataplane__V1__TraceRecord *r = tr->record[i];
		char peer[24], room[24];
		if (i == 0 || tr->record[i - 1]->packet != r->packet)
			printf("%sPacket %u\n", i ? "\n" : "", r->packet);
		id_str("peer-id", r->peer_id, peer, sizeof(peer));
		id_str("room", r->room_id, room, sizeof(room));
		uint64_t dt = r->time_ns - t0;
		printf("  %02" PRIu64 ":%02" PRIu64 ".%06" PRIu64 " lcore %-2u %-8s ",
		       (uint64_t)(dt / 60000000000u), (uint64_t)(dt / 1000000000u % 60),
		       (uint64_t)(dt / 1000 % 1000000), r->lcore, r->stage);
		if (strcmp(r->decision, "drop") == 0)
			printf("drop: %s", r->reason);
		else if (strcmp(r->decision, "handoff") == 0)
			printf("handoff to worker %u", r->arg);
		else if (strcmp(r->decision, "deliver") == 0)
			printf("deliver to peer-id %u", r->arg);
		else if (strcmp(r->decision, "queued") == 0)
			printf("queued on the %s", r->arg ? "TCP ring" : "port");
		else
			printf("%s", r->decision);
		printf("%s%s\n", peer, room);
	}
	if (tr->lost)
		printf("\n(%u records lost: a worker's trace ring was full)\n", tr->lost);
	if (tr->armed)
		printf("\n(tracing is still on: roomvpn-dpctl trace stop)\n");
}
