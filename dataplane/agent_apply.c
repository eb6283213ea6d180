/* The agent's request handling: decode, validate, apply to the session
 * tables, answer. Runs on the writer thread only. A request is checked in
 * full (shared/agent/agent_check.c) before any table call; each table call is itself
 * all-or-nothing (session_table.h), and a resync is built as a batch and
 * swapped in, so a refused request changes nothing. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <rte_ethdev.h>

#include "agent.h"
#include "agent_proto.h"
#include "agent_trace.h"
#include "cipher.h"
#include "ip6.h"
#include "log.h"
#include "session_table.h"
#include "static_key.h"
#include "stats.h"
#include "tcp_fallback.h"

typedef Roomvpn__Dataplane__V1__Request rv_request;
typedef Roomvpn__Dataplane__V1__Response rv_response;
typedef Roomvpn__Dataplane__V1__Status rv_status;
typedef Roomvpn__Dataplane__V1__Session pb_session;
typedef Roomvpn__Dataplane__V1__Room pb_room;
typedef Roomvpn__Dataplane__V1__Key pb_key;

#define ST(x) ROOMVPN__DATAPLANE__V1__STATUS__STATUS_##x

static_assert(sizeof(struct rv_key_material) == RV_AGENT_KEY_LEN, "key material layout");

struct reply {
	rv_status status;
	char msg[512];
};

/* Fencing (below): the highest fence seen, stale requests refused. Writer
 * thread only. */
static uint64_t fence_seen, fence_refused;

static int key_direction(Roomvpn__Dataplane__V1__KeyDirection d)
{
	switch (d) {
	case ROOMVPN__DATAPLANE__V1__KEY_DIRECTION__KEY_DIRECTION_CLIENT:
		return 0;
	case ROOMVPN__DATAPLANE__V1__KEY_DIRECTION__KEY_DIRECTION_BIDIRECTIONAL:
		return RV_KEY_DIRECTION_NONE;
	default:
		return 1;
	}
}

/* A room's rules while it is applied (agent thread only). */
static struct rv_st_rule rules_buf[RV_ST_RULES_MAX];

static uint16_t port_of(uint32_t v)
{
	return (uint16_t)(v > 65535 ? 65535 : v);
}

/* (more than RV_ST_RULES_MAX rules: n_rules says so and the table refuses
 * the room with a message; out-of-range fields are clamped to values the
 * table refuses too) */
static void rules_from_pb(const pb_room *p, struct rv_st_room *r)
{
	r->n_rules = (uint32_t)p->n_rules;
	r->rules = rules_buf;
	for (size_t i = 0; i < p->n_rules && i < RV_ST_RULES_MAX; i++) {
		const Roomvpn__Dataplane__V1__Rule *in = p->rules[i];
		rules_buf[i] = (struct rv_st_rule){
		    .src = in->src,
		    .dst = in->dst,
		    .src_plen = (uint8_t)(in->src_prefix_len > 33 ? 33 : in->src_prefix_len),
		    .dst_plen = (uint8_t)(in->dst_prefix_len > 33 ? 33 : in->dst_prefix_len),
		    .proto = (uint8_t)(in->proto > 255 ? 255 : in->proto),
		    .port_lo = port_of(in->port_lo),
		    .port_hi = in->port_hi ? port_of(in->port_hi) : 65535,
		    .deny = in->deny,
		};
		if (in->port_hi > 65535 || in->port_lo > 65535) { /* an empty range: refused */
			rules_buf[i].port_lo = 1;
			rules_buf[i].port_hi = 0;
		}
	}
}

/* IPv6 prefix and routes (lengths of the byte fields: checked by
 * rv_agent_check_room; more than RV_ST_ROUTES_MAX routes6: refused by the
 * table like routes). */
static void room6_from_pb(const pb_room *p, struct rv_st_room *r)
{
	if (p->prefix6.len == 16)
		memcpy(r->prefix6, p->prefix6.data, 16);
	r->prefix6_len = (uint8_t)(p->prefix6_len > 255 ? 255 : p->prefix6_len);
	r->n_routes6 =
	    (uint8_t)(p->n_routes6 > RV_ST_ROUTES_MAX ? RV_ST_ROUTES_MAX + 1 : p->n_routes6);
	for (size_t i = 0; i < p->n_routes6 && i < RV_ST_ROUTES_MAX; i++) {
		const Roomvpn__Dataplane__V1__Route6 *in = p->routes6[i];
		if (in->target.len == 16)
			memcpy(r->routes6[i].target, in->target.data, 16);
		if (in->via.len == 16)
			memcpy(r->routes6[i].via, in->via.data, 16);
		r->routes6[i].prefix_len = (uint8_t)(in->prefix_len > 255 ? 255 : in->prefix_len);
	}
}

/* (more than RV_ST_ROUTES_MAX routes: n_routes says one more, and the
 * table refuses the room with a message) */
static void room_from_pb(const pb_room *p, struct rv_st_room *r)
{
	memset(r, 0, sizeof(*r));
	r->room_id = p->room_id;
	r->subnet = p->subnet;
	r->prefix_len = (uint8_t)p->prefix_len;
	r->n_routes =
	    (uint8_t)(p->n_routes > RV_ST_ROUTES_MAX ? RV_ST_ROUTES_MAX + 1 : p->n_routes);
	for (size_t i = 0; i < p->n_routes && i < RV_ST_ROUTES_MAX; i++) {
		r->routes[i].target = p->routes[i]->target;
		r->routes[i].prefix_len =
		    (uint8_t)(p->routes[i]->prefix_len > 255 ? 255 : p->routes[i]->prefix_len);
		r->routes[i].via = p->routes[i]->via;
	}
	rules_from_pb(p, r);
	room6_from_pb(p, r);
}

/* Caller wipes *s after use (it holds key material). */
static void session_from_pb(const pb_session *p, struct rv_st_session *s)
{
	memset(s, 0, sizeof(*s));
	s->peer_id = p->peer_id;
	s->room_id = p->room_id;
	s->vip = p->vip;
	if (p->vip6.len == 16)
		memcpy(s->vip6, p->vip6.data, 16);
	rv_cipher_parse(p->cipher, &s->cipher); /* checked by rv_agent_check_session */
	s->key_id = (uint8_t)p->key->key_id;
	memcpy(&s->key, p->key->material.data, sizeof(s->key));
	s->key_direction = key_direction(p->key->direction);
	if (p->outer && p->outer->addr) {
		s->addr.kind = RV_ADDR_UDP;
		s->addr.ip = p->outer->addr;
		s->addr.port = (uint16_t)p->outer->port;
	} else if (p->outer && p->outer->addr6.len == 16) { /* checked by rv_agent_check_session */
		s->addr.kind = RV_ADDR_UDP6;
		memcpy(s->addr.ip6, p->outer->addr6.data, 16);
		s->addr.port = (uint16_t)p->outer->port;
	}
}

struct room_find {
	uint32_t id;
	bool found;
};

static void room_find_cb(void *arg, const struct rv_st_room_info *r)
{
	struct room_find *f = arg;
	if (r->room.room_id == f->id)
		f->found = true;
}

/* Only on error paths: picks NOT_FOUND over FAILED_PRECONDITION. */
static bool room_exists(uint32_t room_id)
{
	struct room_find f = {.id = room_id};
	rv_st_room_foreach(room_find_cb, &f);
	return f.found;
}

static bool session_exists(uint32_t peer_id)
{
	struct rv_st_session_info info;
	return rv_st_session_get(peer_id, &info) == 0;
}

static void do_upsert_session(const pb_session *p, struct reply *rp)
{
	struct rv_st_session s;
	session_from_pb(p, &s);
	if (rv_st_session_upsert(&s, rp->msg, sizeof(rp->msg)) < 0)
		rp->status = room_exists(p->room_id) ? ST(FAILED_PRECONDITION) : ST(NOT_FOUND);
	OPENSSL_cleanse(&s, sizeof(s));
}

static void do_install_key(const Roomvpn__Dataplane__V1__InstallKey *k, struct reply *rp)
{
	struct rv_st_session_info info;
	struct rv_key_material km;
	enum rv_cipher cipher;
	if (rv_st_session_get(k->peer_id, &info) < 0) {
		rp->status = ST(NOT_FOUND);
		snprintf(rp->msg, sizeof(rp->msg), "no session with peer-id %u", k->peer_id);
		return;
	}
	cipher = info.cipher;
	if (k->cipher && k->cipher[0])
		rv_cipher_parse(k->cipher, &cipher); /* checked by rv_agent_check_request */
	memcpy(&km, k->key->material.data, sizeof(km));
	if (rv_st_key_install(k->peer_id, (uint8_t)k->key->key_id, cipher, &km,
			      key_direction(k->key->direction), (uint64_t)k->grace_ms * 1000000u,
			      k->seal_after_use, rp->msg, sizeof(rp->msg)) < 0)
		rp->status = ST(FAILED_PRECONDITION);
	OPENSSL_cleanse(&km, sizeof(km));
}

static void do_resync(const Roomvpn__Dataplane__V1__Resync *r, struct reply *rp)
{
	struct rv_st_batch *b = rv_st_batch_new(rp->msg, sizeof(rp->msg));
	struct rv_st_room room;
	struct rv_st_session s;
	int rc = 0;
	if (!b) {
		rp->status = ST(RESOURCE_EXHAUSTED);
		return;
	}
	for (size_t i = 0; i < r->n_rooms && rc == 0; i++) {
		room_from_pb(r->rooms[i], &room);
		rc = rv_st_batch_room(b, &room, rp->msg, sizeof(rp->msg));
	}
	for (size_t i = 0; i < r->n_sessions && rc == 0; i++) {
		session_from_pb(r->sessions[i], &s);
		rc = rv_st_batch_session(b, &s, rp->msg, sizeof(rp->msg));
		OPENSSL_cleanse(&s, sizeof(s));
	}
	if (rc < 0) {
		rv_st_batch_free(b);
		rp->status = ST(INVALID_ARGUMENT);
		return;
	}
	if (rv_st_batch_commit(b, rp->msg, sizeof(rp->msg)) < 0)
		rp->status = ST(INTERNAL);
}

static void do_table_op(const rv_request *req, struct reply *rp)
{
	struct rv_st_room room;
	switch (req->body_case) {
	case ROOMVPN__DATAPLANE__V1__REQUEST__BODY_UPSERT_ROOM:
		room_from_pb(req->upsert_room->room, &room);
		if (rv_st_room_upsert(&room, rp->msg, sizeof(rp->msg)) < 0)
			rp->status = ST(FAILED_PRECONDITION);
		break;
	case ROOMVPN__DATAPLANE__V1__REQUEST__BODY_DELETE_ROOM:
		if (rv_st_room_delete(req->delete_room->room_id, rp->msg, sizeof(rp->msg)) < 0)
			rp->status =
			    room_exists(req->delete_room->room_id) ? ST(INTERNAL) : ST(NOT_FOUND);
		break;
	case ROOMVPN__DATAPLANE__V1__REQUEST__BODY_UPSERT_SESSION:
		do_upsert_session(req->upsert_session->session, rp);
		break;
	case ROOMVPN__DATAPLANE__V1__REQUEST__BODY_DELETE_SESSION:
		if (rv_st_session_delete(req->delete_session->peer_id, rp->msg, sizeof(rp->msg)) <
		    0)
			rp->status = ST(NOT_FOUND);
		break;
	case ROOMVPN__DATAPLANE__V1__REQUEST__BODY_INSTALL_KEY:
		do_install_key(req->install_key, rp);
		break;
	case ROOMVPN__DATAPLANE__V1__REQUEST__BODY_RETIRE_KEY:
		if (rv_st_key_retire(req->retire_key->peer_id, (uint8_t)req->retire_key->key_id,
				     rp->msg, sizeof(rp->msg)) < 0)
			rp->status = session_exists(req->retire_key->peer_id)
					 ? ST(FAILED_PRECONDITION)
					 : ST(NOT_FOUND);
		break;
	case ROOMVPN__DATAPLANE__V1__REQUEST__BODY_RESYNC:
		do_resync(req->resync, rp);
		break;
	default:
		break;
	}
}

/* ---- stats ---- */

struct stats_build {
	Roomvpn__Dataplane__V1__Stats *st;
	size_t cap_sessions, cap_rooms;
	bool oom;
	uint32_t from, to; /* the peer-id range asked for (to 0: no bound) */
};

static void *grow(void *arr, size_t *cap, size_t n, size_t elem, bool *oom)
{
	if (n < *cap)
		return arr;
	size_t ncap = *cap ? *cap * 2 : 64;
	void *p = realloc(arr, ncap * elem);
	if (!p) {
		*oom = true;
		return NULL;
	}
	*cap = ncap;
	return p;
}

/* One allocation per session: the SessionStats and its Endpoint together. */
struct session_stats_mem {
	Roomvpn__Dataplane__V1__SessionStats s;
	Roomvpn__Dataplane__V1__Endpoint outer;
	uint8_t addr6[16]; /* outer.addr6's bytes */
	uint8_t vip6[16];
};

static void session_stats_cb(void *arg, const struct rv_st_session_info *i)
{
	struct stats_build *b = arg;
	Roomvpn__Dataplane__V1__Stats *st = b->st;
	if (b->oom || i->peer_id < b->from || (b->to && i->peer_id >= b->to))
		return;
	void *arr = grow(st->session, &b->cap_sessions, st->n_session, sizeof(void *), &b->oom);
	struct session_stats_mem *m = arr ? calloc(1, sizeof(*m)) : NULL;
	if (!m) {
		b->oom = true;
		return;
	}
	st->session = arr;
	roomvpn__dataplane__v1__session_stats__init(&m->s);
	roomvpn__dataplane__v1__endpoint__init(&m->outer);
	m->s.peer_id = i->peer_id;
	m->s.room_id = i->room_id;
	m->s.vip = i->vip;
	if (!rv_ip6_is_zero(i->vip6)) {
		memcpy(m->vip6, i->vip6, 16);
		m->s.vip6 = (ProtobufCBinaryData){16, m->vip6};
	}
	m->s.cipher = (char *)rv_cipher_name(i->cipher);
	m->s.key_id = i->tx_key_id;
	m->s.packets_in = i->pkts_in;
	m->s.bytes_in = i->bytes_in;
	m->s.packets_out = i->pkts_out;
	m->s.bytes_out = i->bytes_out;
	m->s.last_seen_unix_ms = i->last_seen_ns / 1000000u;
	m->s.last_rtt_us = i->last_rtt_ns / 1000u;
	bool udp6 = i->addr.kind == RV_ADDR_UDP6;
	m->s.transport = udp6 ? ROOMVPN__DATAPLANE__V1__TRANSPORT__TRANSPORT_UDP
			      : (Roomvpn__Dataplane__V1__Transport)i->addr.kind;
	m->outer.addr = i->addr.kind == RV_ADDR_UDP ? i->addr.ip : 0;
	m->outer.port = i->addr.kind == RV_ADDR_TCP ? i->addr.conn_id : i->addr.port;
	if (udp6) {
		memcpy(m->addr6, i->addr.ip6, 16);
		m->outer.addr6 = (ProtobufCBinaryData){.len = 16, .data = m->addr6};
	}
	m->s.outer = &m->outer;
	st->session[st->n_session++] = &m->s;
}

struct room_stats_mem {
	Roomvpn__Dataplane__V1__RoomStats rs;
	Roomvpn__Dataplane__V1__Room room;
	Roomvpn__Dataplane__V1__Route rt[RV_ST_ROUTES_MAX], *rtp[RV_ST_ROUTES_MAX];
	Roomvpn__Dataplane__V1__Route6 rt6[RV_ST_ROUTES_MAX], *rt6p[RV_ST_ROUTES_MAX];
	struct rv_st_room cfg; /* the byte fields point into it */
};

/* The room's managed routes into its stats entry. */
static void room_stats_routes(struct room_stats_mem *m, const struct rv_st_room *r)
{
	for (unsigned i = 0; i < r->n_routes && i < RV_ST_ROUTES_MAX; i++) {
		roomvpn__dataplane__v1__route__init(&m->rt[i]);
		m->rt[i].target = r->routes[i].target;
		m->rt[i].prefix_len = r->routes[i].prefix_len;
		m->rt[i].via = r->routes[i].via;
		m->rtp[i] = &m->rt[i];
	}
	m->room.n_routes = r->n_routes;
	m->room.routes = m->rtp;
	m->cfg = *r;
	if (!m->cfg.prefix6_len)
		return;
	m->room.prefix6 = (ProtobufCBinaryData){16, m->cfg.prefix6};
	m->room.prefix6_len = m->cfg.prefix6_len;
	for (unsigned i = 0; i < m->cfg.n_routes6 && i < RV_ST_ROUTES_MAX; i++) {
		roomvpn__dataplane__v1__route6__init(&m->rt6[i]);
		m->rt6[i].target = (ProtobufCBinaryData){16, m->cfg.routes6[i].target};
		m->rt6[i].prefix_len = m->cfg.routes6[i].prefix_len;
		m->rt6[i].via = (ProtobufCBinaryData){16, m->cfg.routes6[i].via};
		m->rt6p[i] = &m->rt6[i];
	}
	m->room.n_routes6 = m->cfg.n_routes6;
	m->room.routes6 = m->rt6p;
}

static void room_stats_cb(void *arg, const struct rv_st_room_info *r)
{
	struct stats_build *b = arg;
	Roomvpn__Dataplane__V1__Stats *st = b->st;
	if (b->oom)
		return;
	void *arr = grow(st->room, &b->cap_rooms, st->n_room, sizeof(void *), &b->oom);
	struct room_stats_mem *m = arr ? calloc(1, sizeof(*m)) : NULL;
	if (!m) {
		b->oom = true;
		return;
	}
	st->room = arr;
	roomvpn__dataplane__v1__room_stats__init(&m->rs);
	roomvpn__dataplane__v1__room__init(&m->room);
	m->room.room_id = r->room.room_id;
	m->room.subnet = r->room.subnet;
	m->room.prefix_len = r->room.prefix_len;
	room_stats_routes(m, &r->room);
	m->rs.room = &m->room;
	m->rs.members = r->n_members;
	m->rs.rules = r->room.n_rules;
	st->room[st->n_room++] = &m->rs;
}

static uint64_t drop_sum(const struct rv_lcore_stats *s)
{
	uint64_t n = 0;
	for (int r = 1; r < RV_DROP__COUNT; r++)
		n += s->drops[r];
	return n;
}

static int add_lcores(Roomvpn__Dataplane__V1__Stats *st)
{
	st->lcore = calloc(RV_STATS_MAX_LCORES, sizeof(*st->lcore));
	Roomvpn__Dataplane__V1__LcoreStats *mem = calloc(RV_STATS_MAX_LCORES, sizeof(*mem));
	if (!st->lcore || !mem) {
		free(mem);
		return -1;
	}
	for (unsigned l = 0; l < RV_STATS_MAX_LCORES; l++) {
		struct rv_lcore_stats s;
		rv_stats_read_lcore(l, &s);
		uint64_t dropped = drop_sum(&s);
		if (!s.rx_pkts && !s.tx_pkts && !dropped)
			continue;
		Roomvpn__Dataplane__V1__LcoreStats *m = &mem[st->n_lcore];
		roomvpn__dataplane__v1__lcore_stats__init(m);
		m->lcore_id = l;
		m->rx_packets = s.rx_pkts;
		m->tx_packets = s.tx_pkts;
		m->dropped = dropped;
		m->rx_bytes = s.rx_bytes;
		m->tx_bytes = s.tx_bytes;
		m->relayed = s.relayed;
		m->broadcast_copies = s.broadcast_copies;
		m->echo_replies = s.echo_replies;
		m->pings = s.pings;
		m->server_ip_replies = s.server_ip_replies;
		m->handoffs = s.handoffs;
		m->arp_replies = s.arp_replies;
		st->lcore[st->n_lcore++] = m;
	}
	if (st->n_lcore == 0)
		free(mem); /* else freed through st->lcore[0] */
	return 0;
}

static int add_drops(Roomvpn__Dataplane__V1__Stats *st)
{
	struct rv_lcore_stats tot;
	rv_stats_read_total(&tot);
	st->drop = calloc(RV_DROP__COUNT, sizeof(*st->drop));
	Roomvpn__Dataplane__V1__DropCount *mem = calloc(RV_DROP__COUNT, sizeof(*mem));
	if (!st->drop || !mem) {
		free(mem);
		return -1;
	}
	for (int r = 1; r < RV_DROP__COUNT; r++) {
		Roomvpn__Dataplane__V1__DropCount *d = &mem[st->n_drop];
		roomvpn__dataplane__v1__drop_count__init(d);
		d->reason = (char *)rv_drop_name((enum rv_drop)r);
		d->count = tot.drops[r];
		st->drop[st->n_drop++] = d;
	}
	return 0;
}

/* Every ethdev port's counters, the NIC's own drops (imissed, rx_nombuf)
 * included. Ports whose stats cannot be read are left out. */
static int add_ports(Roomvpn__Dataplane__V1__Stats *st)
{
	unsigned n = rte_eth_dev_count_avail();
	if (!n)
		return 0;
	st->port = calloc(n, sizeof(*st->port));
	Roomvpn__Dataplane__V1__PortStats *mem = calloc(n, sizeof(*mem));
	if (!st->port || !mem) {
		free(mem);
		return -1;
	}
	uint16_t p;
	RTE_ETH_FOREACH_DEV(p)
	{
		struct rte_eth_stats s;
		if (st->n_port == n || rte_eth_stats_get(p, &s) != 0)
			continue;
		Roomvpn__Dataplane__V1__PortStats *m = &mem[st->n_port];
		roomvpn__dataplane__v1__port_stats__init(m);
		m->port_id = p;
		m->rx_packets = s.ipackets;
		m->tx_packets = s.opackets;
		m->rx_bytes = s.ibytes;
		m->tx_bytes = s.obytes;
		m->imissed = s.imissed;
		m->rx_errors = s.ierrors;
		m->tx_errors = s.oerrors;
		m->rx_nombuf = s.rx_nombuf;
		st->port[st->n_port++] = m;
	}
	if (st->n_port == 0)
		free(mem); /* else freed through st->port[0] */
	return 0;
}

static void stats_free(Roomvpn__Dataplane__V1__Stats *st)
{
	for (size_t i = 0; i < st->n_session; i++)
		free(st->session[i]); /* first member of session_stats_mem */
	for (size_t i = 0; i < st->n_room; i++)
		free(st->room[i]);
	if (st->n_lcore)
		free(st->lcore[0]);
	if (st->n_drop)
		free(st->drop[0]);
	if (st->n_port)
		free(st->port[0]);
	free(st->port);
	free(st->session);
	free(st->room);
	free(st->lcore);
	free(st->drop);
}

static void add_tcp(Roomvpn__Dataplane__V1__Stats *st, Roomvpn__Dataplane__V1__TcpStats *t)
{
	struct rv_tcp_fallback_stats s;
	if (!rv_tcp_fallback_running())
		return;
	rv_tcp_fallback_read_stats(&s);
	t->accepted = s.accepted;
	t->active = s.active;
	t->closed = s.closed;
	t->refused_full = s.refused_full;
	t->tls_failed = s.tls_failed;
	t->bad_length = s.bad_length;
	t->frames_in = s.frames_in;
	t->bytes_in = s.bytes_in;
	t->frames_refused = s.frames_refused;
	t->frames_out = s.frames_out;
	t->bytes_out = s.bytes_out;
	t->out_dropped_slow = s.out_dropped_slow;
	t->out_dropped_gone = s.out_dropped_gone;
	t->refused_fds = s.refused_fds;
	t->shed_handshake = s.shed_handshake;
	t->shed_idle = s.shed_idle;
	t->shed_unauth = s.shed_unauth;
	t->frames_oversize = s.frames_oversize;
	t->max_conns = s.max_conns;
	st->tcp = t;
}

static void do_read_stats(const Roomvpn__Dataplane__V1__ReadStats *r,
			  Roomvpn__Dataplane__V1__Stats *st, Roomvpn__Dataplane__V1__TcpStats *tcp,
			  struct reply *rp)
{
	struct stats_build b = {.st = st, .from = r->peer_id_from, .to = r->peer_id_to};
	/* Linked objects only (rv_st_counts also counts those awaiting call_rcu). */
	st->rooms = rv_st_room_foreach(room_stats_cb, &b);
	st->sessions = r->sessions ? rv_st_session_foreach_range(b.from, b.to, session_stats_cb, &b)
				   : rv_st_session_count();
	add_tcp(st, tcp);
	st->crypto_engine = (char *)rv_cipher_engine_name(rv_cipher_engine_current());
	st->fence = fence_seen;
	st->fence_refused = fence_refused;
	if (b.oom || add_lcores(st) < 0 || add_drops(st) < 0 || add_ports(st) < 0) {
		rp->status = ST(RESOURCE_EXHAUSTED);
		snprintf(rp->msg, sizeof(rp->msg), "out of memory building stats");
	}
}

/* ---- fencing ----
 * Several control replicas may believe, for a moment, that they drive this
 * data plane (a lease that expired while its holder was paused). Each owner
 * sends its fence, the etcd revision of its election: higher is newer. The
 * highest seen wins; a lower one is a deposed owner and is refused whole. */

static bool reads_only(const rv_request *req)
{
	return req->body_case == ROOMVPN__DATAPLANE__V1__REQUEST__BODY_READ_STATS ||
	       rv_agent_trace_request(req);
}

static rv_status check_fence(const rv_request *req, char *msg, size_t len)
{
	if (req->fence >= fence_seen && (req->fence || !fence_seen)) {
		fence_seen = req->fence;
		return ST(OK);
	}
	if (!req->fence && reads_only(req)) /* dpctl, monitoring: never fenced */
		return ST(OK);
	fence_refused++;
	if (req->fence)
		snprintf(msg, len,
			 "stale fence %llu: this data plane has seen fence %llu (another control "
			 "replica drives it now)",
			 (unsigned long long)req->fence, (unsigned long long)fence_seen);
	else
		snprintf(msg, len,
			 "fence 0 refused: this data plane has seen fence %llu (a control replica "
			 "on etcd drives it; give that fence, e.g. roomvpn-dpctl --fence)",
			 (unsigned long long)fence_seen);
	rv_log_ratelimited(RV_LOG_WARN, "agent: request %llu (body %d) refused: %s",
			   (unsigned long long)req->request_id, (int)req->body_case, msg);
	return ST(STALE_FENCE);
}

/* ---- entry point ---- */

/* Key material sits in the decoded request: wipe it before it is freed. */
static void wipe_key(pb_key *k)
{
	if (k && k->material.data)
		OPENSSL_cleanse(k->material.data, k->material.len);
}

static void wipe_request(rv_request *req)
{
	switch (req->body_case) {
	case ROOMVPN__DATAPLANE__V1__REQUEST__BODY_UPSERT_SESSION:
		if (req->upsert_session->session)
			wipe_key(req->upsert_session->session->key);
		break;
	case ROOMVPN__DATAPLANE__V1__REQUEST__BODY_INSTALL_KEY:
		wipe_key(req->install_key->key);
		break;
	case ROOMVPN__DATAPLANE__V1__REQUEST__BODY_RESYNC:
		for (size_t i = 0; i < req->resync->n_sessions; i++)
			if (req->resync->sessions[i])
				wipe_key(req->resync->sessions[i]->key);
		break;
	default:
		break;
	}
}

int rv_agent_process(const uint8_t *body, size_t len, uint8_t **out, size_t *outlen)
{
	rv_response resp = ROOMVPN__DATAPLANE__V1__RESPONSE__INIT;
	Roomvpn__Dataplane__V1__Stats st = ROOMVPN__DATAPLANE__V1__STATS__INIT;
	Roomvpn__Dataplane__V1__TcpStats tcp = ROOMVPN__DATAPLANE__V1__TCP_STATS__INIT;
	Roomvpn__Dataplane__V1__Trace tr = ROOMVPN__DATAPLANE__V1__TRACE__INIT;
	struct reply rp = {.status = ST(OK)};
	rv_request *req = roomvpn__dataplane__v1__request__unpack(NULL, len, body);
	if (!req) {
		rp.status = ST(MALFORMED);
		snprintf(rp.msg, sizeof(rp.msg), "cannot decode a Request (%zu bytes)", len);
	} else {
		resp.request_id = req->request_id;
		rp.status = check_fence(req, rp.msg, sizeof(rp.msg));
	}
	if (rp.status == ST(OK))
		rp.status = rv_agent_check_request(req, rp.msg, sizeof(rp.msg));
	if (rp.status == ST(OK)) {
		struct rv_st_counts n;
		rv_st_counts(&n);
		bool is_new =
		    req->body_case == ROOMVPN__DATAPLANE__V1__REQUEST__BODY_UPSERT_SESSION &&
		    !session_exists(req->upsert_session->session->peer_id);
		rp.status = rv_agent_check_size(req, rv_agent_max_sessions(), n.sessions, is_new,
						rp.msg, sizeof(rp.msg));
	}
	if (rp.status == ST(OK) &&
	    req->body_case == ROOMVPN__DATAPLANE__V1__REQUEST__BODY_READ_STATS) {
		do_read_stats(req->read_stats, &st, &tcp, &rp);
		if (rp.status == ST(OK))
			resp.stats = &st;
	} else if (rp.status == ST(OK) && rv_agent_trace_request(req)) {
		if (rv_agent_trace_apply(req, &tr) < 0) {
			rp.status = ST(RESOURCE_EXHAUSTED);
			snprintf(rp.msg, sizeof(rp.msg), "out of memory reading the trace");
		} else if (req->body_case == ROOMVPN__DATAPLANE__V1__REQUEST__BODY_TRACE_SHOW) {
			resp.trace = &tr;
		}
	} else if (rp.status == ST(OK)) {
		do_table_op(req, &rp);
	}
	if (req) {
		wipe_request(req);
		roomvpn__dataplane__v1__request__free_unpacked(req, NULL);
	}
	resp.status = rp.status;
	resp.message = rp.status == ST(OK) ? "" : rp.msg;
	int rc = rv_agent_pack(&resp.base, out, outlen);
	if (rc < 0 && resp.stats) { /* too large: say so instead */
		resp.stats = NULL;
		resp.status = ST(RESOURCE_EXHAUSTED);
		resp.message = "stats reply larger than the message limit";
		rc = rv_agent_pack(&resp.base, out, outlen);
	}
	stats_free(&st);
	rv_agent_trace_free(&tr);
	return rc;
}
