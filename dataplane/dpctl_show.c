/* roomvpn-dpctl output: tables for people, JSON (--json) for scripts. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "dpctl.h"

static const char *ip_str(uint32_t a, char buf[16])
{
	snprintf(buf, 16, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
	return buf;
}

void dpctl_json_str(const char *s)
{
	putchar('"');
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
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

/* "udp 1.2.3.4:5", "tcp conn 7" or "-" */
static const char *outer_str(const Roomvpn__Dataplane__V1__SessionStats *s, char buf[48])
{
	char ip[16];
	if (s->transport == ROOMVPN__DATAPLANE__V1__TRANSPORT__TRANSPORT_UDP && s->outer)
		snprintf(buf, 48, "%s:%u", ip_str(s->outer->addr, ip), s->outer->port);
	else if (s->transport == ROOMVPN__DATAPLANE__V1__TRANSPORT__TRANSPORT_TCP && s->outer)
		snprintf(buf, 48, "conn:%u", s->outer->port);
	else
		snprintf(buf, 48, "-");
	return buf;
}

static void session_json(const Roomvpn__Dataplane__V1__SessionStats *s)
{
	char ip[16], outer[48];
	printf("{\"peer_id\":%u,\"room_id\":%u,\"vip\":\"%s\",\"cipher\":", s->peer_id, s->room_id,
	       ip_str(s->vip, ip));
	dpctl_json_str(s->cipher);
	printf(",\"key_id\":%u,\"transport\":\"%s\",\"outer\":\"%s\","
	       "\"packets_in\":%" PRIu64 ",\"bytes_in\":%" PRIu64 ",\"packets_out\":%" PRIu64
	       ",\"bytes_out\":%" PRIu64 ",\"last_seen_unix_ms\":%" PRIu64
	       ",\"last_rtt_us\":%" PRIu64 "}",
	       s->key_id, transport_name(s->transport), outer_str(s, outer), s->packets_in,
	       s->bytes_in, s->packets_out, s->bytes_out, s->last_seen_unix_ms, s->last_rtt_us);
}

void dpctl_show_sessions(const struct ctl *ctl, const Roomvpn__Dataplane__V1__Stats *st)
{
	char ip[16], outer[48];
	if (ctl->json) {
		printf("{\"sessions\":[");
		for (size_t i = 0; i < st->n_session; i++) {
			printf(i ? "," : "");
			session_json(st->session[i]);
		}
		printf("]}\n");
		return;
	}
	printf("%-8s %-8s %-15s %-17s %-3s %-4s %-21s %10s %12s %10s %12s %13s %8s\n", "PEER",
	       "ROOM", "VIP", "CIPHER", "KEY", "VIA", "OUTER", "PKTS_IN", "BYTES_IN", "PKTS_OUT",
	       "BYTES_OUT", "LAST_SEEN_MS", "RTT_US");
	for (size_t i = 0; i < st->n_session; i++) {
		const Roomvpn__Dataplane__V1__SessionStats *s = st->session[i];
		printf("%-8u %-8u %-15s %-17s %-3u %-4s %-21s %10" PRIu64 " %12" PRIu64
		       " %10" PRIu64 " %12" PRIu64 " %13" PRIu64 " %8" PRIu64 "\n",
		       s->peer_id, s->room_id, ip_str(s->vip, ip), s->cipher, s->key_id,
		       transport_name(s->transport), outer_str(s, outer), s->packets_in,
		       s->bytes_in, s->packets_out, s->bytes_out, s->last_seen_unix_ms,
		       s->last_rtt_us);
	}
}

/* A room's managed routes: "T/N via V" items, JSON strings or words. */
static void show_routes(const struct ctl *ctl, const Roomvpn__Dataplane__V1__Room *r)
{
	char t[16], v[16];
	for (size_t i = 0; i < r->n_routes; i++)
		printf(ctl->json ? "%s\"%s/%u via %s\"" : "%s%s/%u via %s",
		       i ? (ctl->json ? "," : ", ") : "", ip_str(r->routes[i]->target, t),
		       r->routes[i]->prefix_len, ip_str(r->routes[i]->via, v));
}

void dpctl_show_rooms(const struct ctl *ctl, const Roomvpn__Dataplane__V1__Stats *st)
{
	char ip[16];
	if (ctl->json)
		printf("{\"rooms\":[");
	else
		printf("%-10s %-18s %-8s %s\n", "ROOM", "SUBNET", "MEMBERS", "ROUTES");
	for (size_t i = 0; i < st->n_room; i++) {
		const Roomvpn__Dataplane__V1__RoomStats *r = st->room[i];
		char subnet[24];
		if (!r->room)
			continue;
		snprintf(subnet, sizeof(subnet), "%s/%u", ip_str(r->room->subnet, ip),
			 r->room->prefix_len);
		if (ctl->json)
			printf("%s{\"room_id\":%u,\"subnet\":\"%s\",\"members\":%u,\"routes\":[",
			       i ? "," : "", r->room->room_id, subnet, r->members);
		else
			printf("%-10u %-18s %-8u ", r->room->room_id, subnet, r->members);
		show_routes(ctl, r->room);
		printf(ctl->json ? "]}" : "\n");
	}
	if (ctl->json)
		printf("]}\n");
}

static void lcore_json(const Roomvpn__Dataplane__V1__LcoreStats *l)
{
	printf("{\"lcore\":%u,\"rx_packets\":%" PRIu64 ",\"tx_packets\":%" PRIu64
	       ",\"dropped\":%" PRIu64 ",\"rx_bytes\":%" PRIu64 ",\"tx_bytes\":%" PRIu64
	       ",\"relayed\":%" PRIu64 ",\"broadcast_copies\":%" PRIu64 ",\"echo_replies\":%" PRIu64
	       ",\"pings\":%" PRIu64 ",\"handoffs\":%" PRIu64 ",\"arp_replies\":%" PRIu64
	       ",\"server_ip_replies\":%" PRIu64 "}",
	       l->lcore_id, l->rx_packets, l->tx_packets, l->dropped, l->rx_bytes, l->tx_bytes,
	       l->relayed, l->broadcast_copies, l->echo_replies, l->pings, l->handoffs,
	       l->arp_replies, l->server_ip_replies);
}

static void stats_json(const Roomvpn__Dataplane__V1__Stats *st)
{
	printf("{\"rooms\":%u,\"sessions\":%u,\"lcores\":[", st->rooms, st->sessions);
	for (size_t i = 0; i < st->n_lcore; i++) {
		printf(i ? "," : "");
		lcore_json(st->lcore[i]);
	}
	printf("],\"drops\":{");
	for (size_t i = 0; i < st->n_drop; i++) {
		printf(i ? "," : "");
		dpctl_json_str(st->drop[i]->reason);
		printf(":%" PRIu64, st->drop[i]->count);
	}
	printf("}");
	if (st->tcp)
		printf(",\"tcp\":{\"accepted\":%" PRIu64 ",\"active\":%" PRIu64
		       ",\"closed\":%" PRIu64 ",\"bad_length\":%" PRIu64 ",\"tls_failed\":%" PRIu64
		       ",\"frames_in\":%" PRIu64 ",\"frames_refused\":%" PRIu64
		       ",\"frames_out\":%" PRIu64 ",\"out_dropped_slow\":%" PRIu64
		       ",\"out_dropped_gone\":%" PRIu64 ",\"refused_full\":%" PRIu64
		       ",\"refused_fds\":%" PRIu64 ",\"shed_handshake\":%" PRIu64
		       ",\"shed_idle\":%" PRIu64 ",\"shed_unauth\":%" PRIu64
		       ",\"frames_oversize\":%" PRIu64 ",\"max_conns\":%" PRIu64 "}",
		       st->tcp->accepted, st->tcp->active, st->tcp->closed, st->tcp->bad_length,
		       st->tcp->tls_failed, st->tcp->frames_in, st->tcp->frames_refused,
		       st->tcp->frames_out, st->tcp->out_dropped_slow, st->tcp->out_dropped_gone,
		       st->tcp->refused_full, st->tcp->refused_fds, st->tcp->shed_handshake,
		       st->tcp->shed_idle, st->tcp->shed_unauth, st->tcp->frames_oversize,
		       st->tcp->max_conns);
	printf("}\n");
}

void dpctl_show_stats(const struct ctl *ctl, const Roomvpn__Dataplane__V1__Stats *st)
{
	if (ctl->json) {
		stats_json(st);
		return;
	}
	printf("rooms %u\nsessions %u\n\n%-6s %12s %12s %12s %12s %10s %10s %8s %8s\n", st->rooms,
	       st->sessions, "LCORE", "RX_PACKETS", "TX_PACKETS", "DROPPED", "RELAYED", "BCAST",
	       "HANDOFFS", "ECHO", "ARP");
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

static void trace_json(const Roomvpn__Dataplane__V1__Trace *tr)
{
	printf("{\"armed\":%s,\"lost\":%u,\"records\":[", tr && tr->armed ? "true" : "false",
	       tr ? tr->lost : 0);
	for (size_t i = 0; tr && i < tr->n_record; i++) {
		const Roomvpn__Dataplane__V1__TraceRecord *r = tr->record[i];
		printf("%s{\"packet\":%u,\"lcore\":%u,\"time_ns\":%" PRIu64 ",\"stage\":", i ? "," : "",
		       r->packet, r->lcore, r->time_ns);
		dpctl_json_str(r->stage);
		printf(",\"decision\":");
		dpctl_json_str(r->decision);
		printf(",\"reason\":");
		dpctl_json_str(r->reason);
		printf(",\"peer_id\":%" PRId64 ",\"room_id\":%" PRId64 ",\"arg\":%u}",
		       r->peer_id == 0xFFFFFFFFu ? -1 : (int64_t)r->peer_id,
		       r->room_id == 0xFFFFFFFFu ? -1 : (int64_t)r->room_id, r->arg);
	}
	printf("]}\n");
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
