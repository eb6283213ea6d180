/* The relay: a burst of data-channel packets goes through stages over whole
 * arrays: look up by peer-id -> open (authenticate + decrypt) -> replay
 * check -> payload (ping / echo / inner IPv4 or IPv6 -> room route -> access
 * rules) -> seal for the destination -> outer headers -> transmit. Inner
 * IPv6 goes through the same stages as IPv4 (inner6.h reads its header
 * chain; members are found by (room, vip6), routes6 by longest match).
 *
 * Each session has one owner worker (claimed on first use; fixed by peer-id
 * in pipeline mode) that does all of its crypto: its receive context and
 * replay window, and its send context. A packet that reaches another worker
 * is handed to the owner's ring (by peer-id, never by pointer: a pointer is
 * only valid until this worker's next quiescent state). So EVP contexts are
 * never shared between threads and the hot path takes no lock. */
#include <rte_byteorder.h>
#include <rte_ip.h>
#include <rte_prefetch.h>
#include <string.h>

#include "acl.h"
#include "dc_frame.h"
#include "engine_cryptodev.h"
#include "inet.h"
#include "inner6.h"
#include "dp.h"
#include "dp_tables.h"
#include "payload.h"
#include "room_routes.h"
#include "server_ip.h"
#include "server_ip6.h"
#include "tcp_io.h"

#define SEAL_MAX 64

_Static_assert(RV_ACL_WORKERS == RV_DP_MAX_WORKERS, "one flow cache per worker");
_Static_assert(SEAL_MAX <= RV_CDEV_BURST && RV_DP_BURST <= RV_CDEV_BURST,
	       "a burst fits the crypto device's op array");

struct open_item {
	struct rte_mbuf *m; /* NULL once dropped */
	struct rv_dp_session *s;
	struct rv_dp_key *k;
	bool none; /* TCP frame opened with cipher "none" */
	/* after opening: what the payload is and, for IPv4, where it goes */
	enum rv_payload_kind kind;
	enum rv_drop route;	   /* RV_OK or why an IP payload is dropped */
	uint32_t dst_ip;	   /* IPv4: inner destination, host order */
	struct rv_dp_session *dst; /* unicast destination; NULL = broadcast / multicast */
	struct rv_inner6 in6;	   /* IPv6: the header as check_ipv6 read it */
	bool server6;		   /* IPv6: to the room's server address */
};

struct seal_list {
	unsigned n;
	struct rte_mbuf *m[SEAL_MAX];
	struct rv_dp_session *d[SEAL_MAX];
};

static void pkt_from_mbuf(struct rte_mbuf *m, struct rv_pkt *p)
{
	p->data = rte_pktmbuf_mtod(m, uint8_t *);
	p->len = rte_pktmbuf_data_len(m);
	p->headroom = rte_pktmbuf_headroom(m);
	p->tailroom = rte_pktmbuf_tailroom(m);
}

static void mbuf_from_pkt(struct rte_mbuf *m, const struct rv_pkt *p)
{
	m->data_off = (uint16_t)(p->data - (uint8_t *)m->buf_addr);
	m->data_len = (uint16_t)p->len;
	m->pkt_len = p->len;
}

void rv_relay_handoff(struct rv_dp_worker *w, unsigned to, struct rte_mbuf *m,
		      enum rv_trace_stage stage)
{
	if (unlikely(w->tracing))
		rv_dp_trace(w, m, stage, RV_TD_HANDOFF, RV_TRACE_NO_ID, to);
	if (unlikely(rte_ring_mp_enqueue(rv_dp.w[to].jobs, m) < 0)) {
		rv_dp_drop(w, m, stage, RV_DROP_RING_FULL);
		return;
	}
	w->st->handoffs++;
}

/* ---- sealing ---- */

static void seal_flush(struct rv_dp_worker *w, struct seal_list *l)
{
	struct rv_cipher_ctx *ctx[SEAL_MAX];
	uint8_t kid[SEAL_MAX];
	uint32_t peer[SEAL_MAX], pid[SEAL_MAX];
	struct rv_pkt pk[SEAL_MAX];
	struct rv_pkt *pp[SEAL_MAX];
	struct rv_outer_addr addr[SEAL_MAX];
	enum rv_drop res[SEAL_MAX];
	unsigned n = 0;
	/* Stage: fetch the destinations' counters for the whole list (cold
	 * with many sessions; their sealing contexts were started in
	 * deliver()), then use them. */
	for (unsigned i = 0; i < l->n; i++)
		rte_prefetch0(&l->d[i]->ctr);
	/* Stage: pick key, context and packet-id; compact the list. */
	for (unsigned i = 0; i < l->n; i++) {
		struct rte_mbuf *m = l->m[i];
		struct rv_dp_session *d = l->d[i];
		struct rv_dp_key *k = rv_dp_tx_key(d);
		if (unlikely(!k)) {
			rv_dp_drop(w, m, RV_STAGE_SEAL, RV_DROP_NO_TX_KEY);
			continue;
		}
		rv_dp_addr_load(d, &addr[n]);
		if (unlikely(addr[n].kind == RV_ADDR_NONE)) {
			rv_dp_drop(w, m, RV_STAGE_SEAL, RV_DROP_NO_ADDRESS);
			continue;
		}
		uint32_t id = atomic_fetch_add_explicit(&k->tx_pid, 1, memory_order_relaxed) + 1;
		if (unlikely(rv_pid_needs_rekey(id) || id == 0)) {
			rv_dp_drop(w, m, RV_STAGE_SEAL, RV_DROP_PID_EXHAUSTED);
			continue;
		}
		bool none = addr[n].kind == RV_ADDR_TCP &&
			    atomic_load_explicit(&d->tcp_none, memory_order_relaxed);
		ctx[n] = none ? k->enc_none : k->enc;
		if (unlikely(!ctx[n])) { /* "none" without the TCP fallback */
			rv_dp_drop(w, m, RV_STAGE_SEAL, RV_DROP_NO_TX_KEY);
			continue;
		}
		kid[n] = k->seal_key_id;
		peer[n] = d->peer_id;
		pid[n] = id;
		pkt_from_mbuf(m, &pk[n]);
		pp[n] = &pk[n];
		l->m[n] = m;
		l->d[n] = d;
		n++;
	}
	l->n = 0;
	if (!n)
		return;
	/* Stage: encrypt the burst (on the crypto device: enqueue, dequeue). */
	uint32_t now_s = (uint32_t)(w->wall_ns / 1000000000ull);
	if (unlikely(rv_cdev_on))
		rv_cdev_seal_burst(w->idx, l->m, ctx, kid, peer, pid, now_s, pp, res, n);
	else
		rv_dc_seal_burst(ctx, kid, peer, pid, now_s, pp, res, n);
	if (unlikely(w->tracing))
		for (unsigned i = 0; i < n; i++)
			if (res[i] == RV_OK)
				rv_dp_trace(w, l->m[i], RV_STAGE_SEAL, RV_TD_NEXT, RV_TRACE_NO_ID,
					    peer[i]);
	/* Stage: count and transmit. */
	for (unsigned i = 0; i < n; i++) {
		if (unlikely(res[i] != RV_OK)) {
			rv_dp_drop(w, l->m[i], RV_STAGE_SEAL, res[i]);
			continue;
		}
		mbuf_from_pkt(l->m[i], &pk[i]);
		struct rv_dp_sess_ctr *c = &l->d[i]->ctr;
		atomic_store_explicit(&c->pkts_out,
				      atomic_load_explicit(&c->pkts_out, memory_order_relaxed) + 1,
				      memory_order_relaxed);
		atomic_store_explicit(&c->bytes_out,
				      atomic_load_explicit(&c->bytes_out, memory_order_relaxed) +
					  pk[i].len,
				      memory_order_relaxed);
		rv_tx_to_member(w, l->m[i], &addr[i]);
	}
}

/* Send payload @m to member @d: sealed here if we own @d, else by its owner. */
static void deliver(struct rv_dp_worker *w, struct seal_list *l, struct rte_mbuf *m,
		    struct rv_dp_session *d)
{
	int owner = rv_dp_owner(d, (int)w->idx);
	if (owner != (int)w->idx) {
		struct rv_job *j = rv_job(m);
		j->kind = RV_JOB_SEAL;
		j->peer_id = d->peer_id;
		rv_relay_handoff(w, (unsigned)owner, m, RV_STAGE_SEAL);
		return;
	}
	if (l->n == SEAL_MAX)
		seal_flush(w, l);
	l->m[l->n] = m;
	l->d[l->n] = d;
	l->n++;
	/* its seal line was fetched a stage ago (route_burst): start on the
	 * sealing context's key state now, not in seal_flush */
	struct rv_dp_key *k = rv_dp_tx_key(d);
	if (k)
		rv_dp_ctx_prefetch(k->enc, &k->enc_hint);
}

void rv_relay_seal_jobs(struct rv_dp_worker *w, struct rte_mbuf **pkts, unsigned n)
{
	struct rv_dp_tables *t = rcu_dereference(rv_dp_root);
	struct seal_list l = {.n = 0};
	for (unsigned i = 0; i < n; i++) {
		struct rv_dp_session *d = t ? rv_dp_find_peer(t, rv_job(pkts[i])->peer_id) : NULL;
		if (unlikely(!d || atomic_load_explicit(&d->dead, memory_order_relaxed))) {
			rv_dp_drop(w, pkts[i], RV_STAGE_SEAL, RV_DROP_DEST_GONE);
			continue;
		}
		deliver(w, &l, pkts[i], d);
	}
	seal_flush(w, &l);
}

/* ---- payloads ---- */

static bool is_broadcast(const struct rv_dp_room *r, uint32_t dst)
{
	return dst == 0xFFFFFFFFu || (dst & 0xF0000000u) == 0xE0000000u ||
	       dst == CMM_LOAD_SHARED(r->cfg.broadcast);
}

/* A copy of @m to every other live member of @s's room (@v6: every other
 * member that has an IPv6 virtual IP). */
static void broadcast(struct rv_dp_worker *w, struct seal_list *l, struct rte_mbuf *m,
		      struct rv_dp_session *s, bool v6)
{
	struct rv_dp_session *d;
	cds_list_for_each_entry_rcu(d, &s->room->members, room_link)
	{
		if (d == s || atomic_load_explicit(&d->dead, memory_order_relaxed) ||
		    (v6 && rv_ip6_is_zero(d->vip6)))
			continue;
		struct rte_mbuf *c = rte_pktmbuf_copy(m, rv_dp.pool, 0, UINT32_MAX);
		if (unlikely(!c)) { /* counted; the original goes on to the others */
			rv_stats_drop(w->st, RV_DROP_NO_MBUF);
			if (unlikely(w->tracing) && rv_job(m)->trace)
				rv_trace_add(w->lcore, w->now_ns, rv_job(m)->trace, RV_STAGE_ROUTE,
					     RV_TD_DROP, RV_DROP_NO_MBUF, s->peer_id, s->room_id,
					     d->peer_id);
			continue;
		}
		w->st->broadcast_copies++;
		deliver(w, l, c, d);
	}
	rte_pktmbuf_free(m);
}

/* An inner IPv4 packet's destination address, or why it is dropped; the
 * destination's slot in the room's host array is fetched meanwhile. */
static enum rv_drop check_ipv4(struct open_item *it)
{
	const struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod(it->m, const struct rte_ipv4_hdr *);
	if (unlikely(rte_pktmbuf_data_len(it->m) < sizeof(*ip)))
		return RV_DROP_MALFORMED;
	uint32_t src = rte_be_to_cpu_32(ip->src_addr);
	if (unlikely(src != it->s->vip) && !rv_dp_route_src_ok(it->s->room, src, it->s->vip))
		return RV_DROP_SPOOFED; /* not even from the LAN it routes for */
	it->dst_ip = rte_be_to_cpu_32(ip->dst_addr);
	rv_dp_member_prefetch(it->s->room, it->dst_ip);
	return RV_OK;
}

/* Its destination member (NULL: room broadcast, not filtered), or why it is
 * dropped: no route, or the room's access rules (acl.h). Runs over the whole
 * burst before any delivery: the destination's key-slot and counter lines
 * are fetched here, its key next, used in deliver/seal. */
static enum rv_drop resolve_ipv4(struct rv_dp_worker *w, struct open_item *it,
				 struct rv_dp_tables *t)
{
	struct rv_dp_session *s = it->s;
	it->dst = NULL;
	if (is_broadcast(s->room, it->dst_ip))
		return RV_OK;
	it->dst = rv_dp_find_member(t, s->room, it->dst_ip);
	if (unlikely(!it->dst))
		it->dst = rv_dp_route_next_hop(t, s->room, it->dst_ip); /* a managed route's via */
	if (unlikely(!it->dst || it->dst == s))
		return RV_DROP_NO_ROUTE;
	rv_cipher_prefetch_range(it->dst, sizeof(*it->dst));
	return rv_dp_acl_check(rcu_dereference(s->room->acl), rte_pktmbuf_mtod(it->m, uint8_t *),
			       rte_pktmbuf_data_len(it->m), s->room_id, w->idx,
			       (unsigned)rv_dp_owner(it->dst, (int)w->idx), w->now_ns);
}

/* An inner IPv6 packet's header chain and source, or why it is dropped. */
static enum rv_drop check_ipv6(struct open_item *it)
{
	const uint8_t *p = rte_pktmbuf_mtod(it->m, const uint8_t *);
	enum rv_drop why = rv_inner6_parse(p, rte_pktmbuf_data_len(it->m), &it->in6);
	if (unlikely(why != RV_OK))
		return why;
	const struct rv_dp_session *s = it->s;
	if (unlikely(rv_ip6_is_zero(s->vip6)))
		return RV_DROP_V6_SPOOFED; /* the member has no IPv6 */
	if (unlikely(memcmp(it->in6.src, s->vip6, 16) != 0) &&
	    !rv_dp_route6_src_ok(s->room, it->in6.src, s->vip6))
		return RV_DROP_V6_SPOOFED;
	return RV_OK;
}

/* resolve_ipv4 for IPv6: multicast (NULL) by its scope, else the member
 * with that vip6 or the longest routes6 match's via; then the rules. */
static enum rv_drop resolve_ipv6(struct rv_dp_worker *w, struct open_item *it,
				 struct rv_dp_tables *t)
{
	struct rv_dp_session *s = it->s;
	const uint8_t *dst = it->in6.dst;
	it->dst = NULL;
	if (rv_inner6_is_mcast(dst))
		return rv_inner6_mcast_relayed(dst) ? RV_OK : RV_DROP_V6_MCAST_SCOPE;
	if (unlikely(rv_server_ip6_is(s, dst))) {
		it->server6 = true; /* answered by dispatch (server_ip6.h) */
		return RV_OK;
	}
	it->dst = rv_dp_find_member6(t, s->room_id, dst);
	if (unlikely(!it->dst))
		it->dst = rv_dp_route6_next_hop(t, s->room, dst);
	if (unlikely(!it->dst || it->dst == s))
		return RV_DROP_V6_NO_ROUTE;
	rv_cipher_prefetch_range(it->dst, sizeof(*it->dst));
	return rv_dp_acl_check6(rcu_dereference(s->room->acl), rte_pktmbuf_mtod(it->m, uint8_t *),
				rte_pktmbuf_data_len(it->m), &it->in6, s->room_id, w->idx,
				(unsigned)rv_dp_owner(it->dst, (int)w->idx), w->now_ns);
}

static bool is_ip(enum rv_payload_kind k)
{
	return k == RV_PAYLOAD_IPV4 || k == RV_PAYLOAD_IPV6;
}

/* To the room's server address (e.g. a ping of it)? IPv4: dst_ip is known
 * once the header checks passed (check_ipv4); IPv6: resolve_ipv6 said so. */
static bool to_server(const struct open_item *it)
{
	if (it->kind == RV_PAYLOAD_IPV6)
		return it->server6;
	return it->kind == RV_PAYLOAD_IPV4 && it->route != RV_DROP_MALFORMED &&
	       it->route != RV_DROP_SPOOFED && it->dst_ip == rv_server_ip_of(it->s->room);
}

/* @why RV_OK: @it's packet, turned into the server address's reply, goes
 * back to its sender; else it is dropped. */
static void server_reply(struct rv_dp_worker *w, struct seal_list *l, const struct open_item *it,
			 enum rv_drop why)
{
	if (why != RV_OK) {
		rv_dp_drop(w, it->m, RV_STAGE_ROUTE, why);
		return;
	}
	if (unlikely(w->tracing))
		rv_dp_trace(w, it->m, RV_STAGE_ROUTE, RV_TD_REPLY, it->s->room_id, it->s->peer_id);
	deliver(w, l, it->m, it->s);
}

/* A routed IP payload (either family) to its member, or to the room. */
static void forward(struct rv_dp_worker *w, struct seal_list *l, const struct open_item *it)
{
	if (unlikely(it->route != RV_OK)) {
		rv_dp_drop(w, it->m, RV_STAGE_ROUTE, it->route);
		return;
	}
	if (!it->dst) {
		broadcast(w, l, it->m, it->s, it->kind == RV_PAYLOAD_IPV6);
		return;
	}
	if (unlikely(atomic_load_explicit(&it->dst->dead, memory_order_relaxed))) {
		rv_dp_drop(w, it->m, RV_STAGE_ROUTE, RV_DROP_DEST_GONE);
		return;
	}
	w->st->relayed++;
	deliver(w, l, it->m, it->dst);
}

static void inner_ipv4(struct rv_dp_worker *w, struct seal_list *l, const struct open_item *it)
{
	if (unlikely(to_server(it))) {
		server_reply(w, l, it, rv_server_ip_answer(w, it->m));
		return;
	}
	forward(w, l, it);
}

static void on_ping(struct rv_dp_worker *w, struct seal_list *l, struct rte_mbuf *m,
		    struct rv_dp_session *s)
{
	/* Answer a keepalive with an echo request: keeps the member's NAT and
	 * ping timer warm, and its reply gives the RTT the health API shows. */
	w->st->pings++;
	struct rv_echo e = {
	    .type = RV_ECHO_REQUEST, .seq = (uint32_t)w->st->pings, .ts_ns = w->now_ns};
	if (rte_pktmbuf_tailroom(m) + rte_pktmbuf_data_len(m) < RV_ECHO_LEN) {
		rv_dp_drop(w, m, RV_STAGE_ROUTE, RV_DROP_TOO_BIG);
		return;
	}
	if (unlikely(w->tracing))
		rv_dp_trace(w, m, RV_STAGE_ROUTE, RV_TD_REPLY, s->room_id, s->peer_id);
	m->data_len = m->pkt_len = RV_ECHO_LEN;
	rv_echo_build(rte_pktmbuf_mtod(m, uint8_t *), RV_ECHO_LEN, &e);
	deliver(w, l, m, s);
}

static void on_echo(struct rv_dp_worker *w, struct seal_list *l, struct rte_mbuf *m,
		    struct rv_dp_session *s)
{
	struct rv_echo e;
	uint8_t *p = rte_pktmbuf_mtod(m, uint8_t *);
	if (rv_echo_parse(p, rte_pktmbuf_data_len(m), &e) < 0) {
		rv_dp_drop(w, m, RV_STAGE_ROUTE, RV_DROP_MALFORMED);
		return;
	}
	if (unlikely(w->tracing))
		rv_dp_trace(w, m, RV_STAGE_ROUTE,
			    e.type == RV_ECHO_REQUEST ? RV_TD_REPLY : RV_TD_CONSUMED, s->room_id,
			    s->peer_id);
	if (e.type == RV_ECHO_REQUEST) {
		rv_echo_make_reply(p);
		w->st->echo_replies++;
		deliver(w, l, m, s);
		return;
	}
	if (e.type == RV_ECHO_REPLY && e.ts_ns && e.ts_ns <= w->now_ns)
		atomic_store_explicit(&s->ctr.last_rtt_ns, w->now_ns - e.ts_ns,
				      memory_order_relaxed);
	rte_pktmbuf_free(m);
}

/* Stage 4a: classify each opened payload; check IP ones. */
static void classify(struct open_item *it)
{
	const uint8_t *p = rte_pktmbuf_mtod(it->m, const uint8_t *);
	it->kind = rv_payload_classify(p, rte_pktmbuf_data_len(it->m));
	if (it->kind == RV_PAYLOAD_IPV4)
		it->route = check_ipv4(it);
	else if (it->kind == RV_PAYLOAD_IPV6)
		it->route = check_ipv6(it);
}

/* Stage 4b: route the burst's IP payloads, in steps that each overlap
 * their cache misses across the burst: destination, then its sealing key. */
static void route_burst(struct rv_dp_worker *w, struct open_item *it, unsigned n,
			struct rv_dp_tables *t)
{
	/* IPv6 unicast: the vip6 hint slots, then the sessions they name (the
	 * IPv4 host slots were fetched by check_ipv4) */
	for (unsigned i = 0; i < n; i++)
		if (it[i].m && it[i].kind == RV_PAYLOAD_IPV6 && it[i].route == RV_OK)
			rte_prefetch0(rv_dp_vip6_slot(t, it[i].s->room_id, it[i].in6.dst));
	for (unsigned i = 0; i < n; i++)
		if (it[i].m && it[i].kind == RV_PAYLOAD_IPV6 && it[i].route == RV_OK) {
			struct rv_dp_session **set =
			    rv_dp_vip6_slot(t, it[i].s->room_id, it[i].in6.dst);
			for (int k = 0; k < RV_DP_VIP6_WAYS; k++) {
				struct rv_dp_session *d = rcu_dereference(set[k]);
				if (d)
					rte_prefetch0(d->vip6);
			}
		}
	for (unsigned i = 0; i < n; i++) {
		if (!it[i].m || it[i].route != RV_OK)
			continue;
		if (it[i].kind == RV_PAYLOAD_IPV4)
			it[i].route = resolve_ipv4(w, &it[i], t);
		else if (it[i].kind == RV_PAYLOAD_IPV6)
			it[i].route = resolve_ipv6(w, &it[i], t);
	}
	for (unsigned i = 0; i < n; i++)
		if (it[i].m && is_ip(it[i].kind) && it[i].route == RV_OK && it[i].dst) {
			struct rv_dp_key *k = rv_dp_tx_key(it[i].dst);
			if (k) /* its seal line (tx_pid, enc, enc_hint) */
				rte_prefetch0(&k->tx_pid);
		}
}

/* Tracing, once per burst: the route of the IP payloads that go on to
 * members (inner_ipv4 / forward record the server address's replies and every drop;
 * on_ping and on_echo their own packets). */
static void trace_routed(struct rv_dp_worker *w, const struct open_item *it, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (!it[i].m || !is_ip(it[i].kind) || it[i].route != RV_OK || to_server(&it[i]))
			continue;
		if (!it[i].dst)
			rv_dp_trace(w, it[i].m, RV_STAGE_ROUTE, RV_TD_BROADCAST, it[i].s->room_id,
				    0);
		else if (!atomic_load_explicit(&it[i].dst->dead, memory_order_relaxed))
			rv_dp_trace(w, it[i].m, RV_STAGE_ROUTE, RV_TD_DELIVER, it[i].s->room_id,
				    it[i].dst->peer_id);
	}
}

/* Stage 4c: act on it. */
static void dispatch(struct rv_dp_worker *w, struct seal_list *l, const struct open_item *it)
{
	struct rte_mbuf *m = it->m;
	struct rv_dp_session *s = it->s;
	switch (it->kind) {
	case RV_PAYLOAD_IPV4:
		inner_ipv4(w, l, it);
		break;
	case RV_PAYLOAD_IPV6:
		if (unlikely(it->server6))
			server_reply(w, l, it, rv_server_ip6_answer(w, m, &it->in6));
		else
			forward(w, l, it);
		break;
	case RV_PAYLOAD_PING:
		on_ping(w, l, m, s);
		break;
	case RV_PAYLOAD_ECHO:
		on_echo(w, l, m, s);
		break;
	default: /* (an IPv6 version nibble on less than its fixed header) */
		rv_dp_drop(w, m, RV_STAGE_ROUTE,
			   rte_pktmbuf_data_len(m) &&
				   rte_pktmbuf_mtod(m, const uint8_t *)[0] >> 4 == 6
			       ? RV_DROP_V6_MALFORMED
			       : RV_DROP_NOT_IP);
		break;
	}
}

/* ---- opening ---- */

/* The address a packet came from; it becomes the session's address once the
 * packet has authenticated and passed the replay check. */
static void source_addr(struct rte_mbuf *m, struct rv_outer_addr *a)
{
	struct rv_job *j = rv_job(m);
	if (j->kind == RV_JOB_OPEN_TCP) {
		*a = (struct rv_outer_addr){.kind = RV_ADDR_TCP, .conn_id = rv_tcp_io_conn(m)};
	} else if (j->src_ip) {
		*a = (struct rv_outer_addr){
		    .kind = RV_ADDR_UDP, .ip = j->src_ip, .port = j->src_port};
	} else {
		*a = (struct rv_outer_addr){.kind = RV_ADDR_UDP6, .port = j->src_port};
		memcpy(a->ip6, j->src6, 16);
	}
}

/* A TCP frame on the connection the session is bound to may use cipher
 * "none" (no second cipher inside TLS) or the session's own cipher. "none"
 * is taken only if the frame reads as a well-formed payload of this member
 * (ping, echo, or IPv4 / IPv6 from its virtual IP with a matching length): a sealed
 * frame read that way would need its tag to forge those fields. Checked
 * without touching the buffer, so the sealed path can still run. */
static bool reads_as_none(const struct rte_mbuf *m, const struct rv_dp_session *s)
{
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *) + RV_DC_V2_HDR_LEN + 4;
	uint32_t len = rte_pktmbuf_data_len(m);
	if (len <= RV_DC_V2_HDR_LEN + 4)
		return false;
	len -= RV_DC_V2_HDR_LEN + 4;
	switch (rv_payload_classify(p, len)) {
	case RV_PAYLOAD_PING:
		return true;
	case RV_PAYLOAD_ECHO: {
		struct rv_echo e;
		return rv_echo_parse(p, len, &e) == 0;
	}
	case RV_PAYLOAD_IPV4:
		return len >= 20 && rv_get_be16(p + 2) == len && rv_get_be32(p + 12) == s->vip;
	case RV_PAYLOAD_IPV6:
		return rv_get_be16(p + 4) + 40u == len && !rv_ip6_is_zero(s->vip6) &&
		       memcmp(p + 8, s->vip6, 16) == 0;
	default:
		return false;
	}
}

/* With many sessions each packet's session, key and replay window are cold:
 * fetch them for the whole burst in steps, each step's loads overlapping
 * across the burst: the peer-id slots, then the sessions, then their keys. */
static void prefetch_sessions(struct rv_dp_tables *t, struct rte_mbuf **pkts, unsigned n,
			      struct rv_dp_session **ss)
{
	for (unsigned i = 0; i < n; i++) {
		struct rv_dp_session **slot =
		    t ? rv_dp_peer_slot(t, rv_job(pkts[i])->peer_id) : NULL;
		if (slot)
			rte_prefetch0(slot);
	}
	for (unsigned i = 0; i < n; i++) {
		ss[i] = t ? rv_dp_find_peer(t, rv_job(pkts[i])->peer_id) : NULL;
		if (ss[i]) {
			rv_cipher_prefetch_range(ss[i], sizeof(*ss[i]));
			if (ss[i]->room) /* its broadcast address */
				rte_prefetch0(&ss[i]->room->cfg);
		}
	}
	for (unsigned i = 0; i < n; i++)
		for (int x = 0; ss[i] && x < RV_DP_KEY_SLOTS; x++) {
			struct rv_dp_key *k = rcu_dereference(ss[i]->slot[x]);
			if (k) /* its open line (key-id, dec, replay, dec_hint) */
				rte_prefetch0(k);
		}
}

/* What opening @m will touch: the key's cipher context with its key state
 * (inline for ipsec-mb, behind two pointers for OpenSSL), and the replay window's bitmap word (AEAD
 * packets carry their packet-id in clear after the header). */
static void prefetch_open(struct rte_mbuf *m, const struct rv_dp_key *k, bool none)
{
	if (!none)
		rv_dp_ctx_prefetch(k->dec, &k->dec_hint);
	if (!rv_cipher_is_aead(k->suite) || rte_pktmbuf_data_len(m) < RV_DC_V2_HDR_LEN + 4)
		return;
	uint32_t pid = rv_get_be32(rte_pktmbuf_mtod(m, const uint8_t *) + RV_DC_V2_HDR_LEN);
	rv_replay_prefetch(&k->replay, pid);
}

/* Tracing: a packet not traced yet (a TCP frame, or the trace filters by
 * room) may start here; the look-up's outcome is recorded. */
static void trace_look_up(struct rv_dp_worker *w, struct rte_mbuf *m, const struct rv_dp_session *s)
{
	struct rv_job *j = rv_job(m);
	bool live = s && !atomic_load_explicit(&s->dead, memory_order_relaxed);
	uint32_t room = live ? s->room_id : RV_TRACE_NO_ID;
	if (!j->trace && (j->kind == RV_JOB_OPEN_TCP || rv_trace.by_room)) {
		j->trace = rv_trace_take(j->peer_id, room);
		if (j->trace && j->kind == RV_JOB_OPEN_UDP)
			rv_trace_add(w->lcore, w->now_ns, j->trace, RV_STAGE_CLASSIFY, RV_TD_NEXT,
				     RV_OK, j->peer_id, RV_TRACE_NO_ID, 0);
	}
	if (j->trace && live)
		rv_trace_add(w->lcore, w->now_ns, j->trace, RV_STAGE_LOOKUP, RV_TD_NEXT, RV_OK,
			     j->peer_id, room, j->key_id);
}

static void trace_opened(struct rv_dp_worker *w, const struct open_item *it,
			 const enum rv_drop *res, unsigned k)
{
	for (unsigned i = 0; i < k; i++)
		if (res[i] == RV_OK)
			rv_dp_trace(w, it[i].m, RV_STAGE_OPEN, RV_TD_NEXT, it[i].s->room_id,
				    it[i].k->key_id);
}

/* The packets the replay window accepted (the others were dropped). */
static void trace_accepted(struct rv_dp_worker *w, const struct open_item *it, const uint32_t *pid,
			   unsigned k)
{
	for (unsigned i = 0; i < k; i++)
		if (it[i].m)
			rv_dp_trace(w, it[i].m, RV_STAGE_REPLAY, RV_TD_NEXT, it[i].s->room_id,
				    pid[i]);
}

/* Stage 1: session and key for each packet; hands off packets we don't own. */
static unsigned look_up(struct rv_dp_worker *w, struct rv_dp_tables *t, struct rte_mbuf **pkts,
			unsigned n, struct open_item *it, struct rv_cipher_ctx **ctx)
{
	struct rv_dp_session *ss[RV_DP_BURST];
	unsigned k = 0;
	prefetch_sessions(t, pkts, n, ss);
	if (unlikely(w->tracing))
		for (unsigned i = 0; i < n; i++)
			trace_look_up(w, pkts[i], ss[i]);
	for (unsigned i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		struct rv_job *j = rv_job(m);
		struct rv_dp_session *s = ss[i];
		if (unlikely(!s || atomic_load_explicit(&s->dead, memory_order_relaxed))) {
			rv_dp_drop(w, m, RV_STAGE_LOOKUP, RV_DROP_UNKNOWN_PEER);
			continue;
		}
		int owner = rv_dp_owner(s, (int)w->idx);
		if (owner != (int)w->idx) {
			rv_relay_handoff(w, (unsigned)owner, m, RV_STAGE_LOOKUP);
			continue;
		}
		struct rv_dp_key *key = rv_dp_rx_key(s, j->key_id, w->now_ns);
		if (unlikely(!key)) {
			rv_dp_drop(w, m, RV_STAGE_LOOKUP, RV_DROP_UNKNOWN_KEY);
			continue;
		}
		/* An unbound TCP connection must first authenticate with the real
		 * cipher; that binds it (the address moves in stage 3). */
		struct rv_outer_addr from;
		source_addr(m, &from);
		bool none =
		    j->kind == RV_JOB_OPEN_TCP && rv_dp_addr_is(s, &from) && reads_as_none(m, s);
		ctx[k] = none ? key->dec_none : key->dec;
		if (unlikely(!ctx[k])) {
			rv_dp_drop(w, m, RV_STAGE_LOOKUP, RV_DROP_UNKNOWN_KEY);
			continue;
		}
		prefetch_open(m, key, none);
		it[k] = (struct open_item){.m = m, .s = s, .k = key, .none = none};
		k++;
	}
	return k;
}

/* Stage 3: replay window, address move, counters. */
static bool accept_packet(struct rv_dp_worker *w, struct open_item *it, uint32_t pid)
{
	if (unlikely(rv_replay_accept(&it->k->replay, pid) != RV_OK)) {
		rv_dp_drop(w, it->m, RV_STAGE_REPLAY, RV_DROP_REPLAY);
		return false;
	}
	struct rv_dp_session *s = it->s;
	struct rv_outer_addr a;
	source_addr(it->m, &a);
	if (!rv_dp_addr_is(s, &a))
		rv_dp_addr_store(s, &a); /* the agent thread writing: next packet */
	if (rv_job(it->m)->kind == RV_JOB_OPEN_TCP)
		atomic_store_explicit(&s->tcp_none, it->none, memory_order_relaxed);
	rv_dp_key_used(s, it->k);
	struct rv_dp_sess_ctr *c = &s->ctr;
	atomic_store_explicit(&c->pkts_in,
			      atomic_load_explicit(&c->pkts_in, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	atomic_store_explicit(&c->bytes_in,
			      atomic_load_explicit(&c->bytes_in, memory_order_relaxed) +
				  rte_pktmbuf_data_len(it->m),
			      memory_order_relaxed);
	atomic_store_explicit(&c->last_seen_ns, w->wall_ns, memory_order_relaxed);
	return true;
}

/* Stage 2 on the crypto device (engine_cryptodev.h): the burst is
 * enqueued on this worker's queue pair and dequeued in submission order;
 * the replay check (stage 3) stays after it, here, on the owner worker. */
static void open_on_device(struct rv_dp_worker *w, const struct open_item *it,
			   struct rv_cipher_ctx *const *ctx, struct rv_pkt *const *pp,
			   uint32_t *pid, enum rv_drop *res, unsigned k)
{
	struct rte_mbuf *m[RV_DP_BURST];
	for (unsigned i = 0; i < k; i++)
		m[i] = it[i].m;
	rv_cdev_open_burst(w->idx, m, ctx, pp, pid, res, k);
}

void rv_relay_open_burst(struct rv_dp_worker *w, struct rte_mbuf **pkts, unsigned n)
{
	struct rv_dp_tables *t = rcu_dereference(rv_dp_root);
	struct open_item it[RV_DP_BURST];
	struct rv_cipher_ctx *ctx[RV_DP_BURST];
	struct rv_pkt pk[RV_DP_BURST];
	struct rv_pkt *pp[RV_DP_BURST];
	uint32_t pid[RV_DP_BURST];
	enum rv_drop res[RV_DP_BURST];
	struct seal_list l = {.n = 0};
	while (n) {
		unsigned chunk = n < RV_DP_BURST ? n : RV_DP_BURST;
		unsigned k = look_up(w, t, pkts, chunk, it, ctx);
		for (unsigned i = 0; i < k; i++) {
			pkt_from_mbuf(it[i].m, &pk[i]);
			pp[i] = &pk[i];
		}
		/* Stage 2: authenticate and decrypt the whole burst. */
		if (unlikely(rv_cdev_on))
			open_on_device(w, it, ctx, pp, pid, res, k);
		else
			rv_dc_open_burst(ctx, pp, pid, res, k);
		if (unlikely(w->tracing))
			trace_opened(w, it, res, k);
		for (unsigned i = 0; i < k; i++) {
			if (unlikely(res[i] != RV_OK)) {
				rv_dp_drop(w, it[i].m, RV_STAGE_OPEN, res[i]);
				it[i].m = NULL;
				continue;
			}
			mbuf_from_pkt(it[i].m, &pk[i]);
			if (accept_packet(w, &it[i], pid[i]))
				classify(&it[i]);
			else
				it[i].m = NULL;
		}
		route_burst(w, it, k, t);
		if (unlikely(w->tracing)) {
			trace_accepted(w, it, pid, k);
			trace_routed(w, it, k);
		}
		for (unsigned i = 0; i < k; i++)
			if (it[i].m)
				dispatch(w, &l, &it[i]);
		pkts += chunk;
		n -= chunk;
	}
	seal_flush(w, &l);
}
