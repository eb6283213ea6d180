/* The client's data channel loop: one epoll set over the TUN, the
 * transports (chan_udp.c, chan_tcp.c) and two eventfds (stop, wake-up);
 * echo probes and pings on timers, the fall-back to TLS/TCP when UDP stops
 * answering and the move back when it answers again. TUN I/O is in
 * chan_tun.c, what other threads hand over in chan_ctl.c. */
#include "chan_loop.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "log.h"
#include "payload.h"
#include "tun.h"

#define unlikely(x) __builtin_expect(!!(x), 0)

#define TCP_CONNECT_MS	 2000
#define TCP_RETRY_MAX_MS 30000
/* Traffic sent and nothing heard for this long: probe now (once per
 * PROBE_FAST_MS) instead of waiting for the next probe interval. */
#define SUSPECT_MS    1000
#define PROBE_FAST_MS 1000
#define CHAN_SOCKBUF  (4u << 20)

uint64_t chan_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void chan_sync_pid(struct rvc_chan *c, struct rv_dc_session *to)
{
	const struct rv_dc_session *from = to == &c->path[RVC_CHAN_UDP].sess
					       ? &c->path[RVC_CHAN_TCP].sess
					       : &c->path[RVC_CHAN_UDP].sess;
	uint32_t f = from->slot[from->tx_slot].tx_pid;
	uint32_t *t = &to->slot[to->tx_slot].tx_pid;

	if (f > *t)
		*t = f;
}

/* Seal payload @p with @s and send it over transport @t. */
static int seal_send_with(struct rvc_chan *c, struct rv_dc_session *s, enum rvc_chan_transport t,
			  struct rv_pkt *p)
{
	struct rvc_transport *tr = c->path[t].t;
	enum rv_drop rc;

	chan_sync_pid(c, s);
	rc = rv_dc_session_seal(s, p, (uint32_t)time(NULL));
	if (unlikely(rc != RV_OK)) {
		c->st.drops[rc]++;
		return -1;
	}
	if (!tr || tr->ops->send(tr, p) < 0)
		c->st.tx_errors++;
	return 0;
}

/* Seal payload @p with transport @t's session and send it. */
static int seal_send(struct rvc_chan *c, enum rvc_chan_transport t, struct rv_pkt *p)
{
	return seal_send_with(c, &c->path[t].sess, t, p);
}

/* An echo request over @t, sealed with @s. */
static void send_echo_with(struct rvc_chan *c, struct rv_dc_session *s, enum rvc_chan_transport t)
{
	struct rv_echo e = {.type = RV_ECHO_REQUEST, .seq = ++c->echo_seq, .ts_ns = c->now_ns};
	struct rv_pkt p = rvc_pkt_at(&c->scratch, 0);

	p.len = (uint32_t)rv_echo_build(p.data, CHAN_MAX_PKT, &e);
	p.tailroom -= p.len;
	if (seal_send_with(c, s, t, &p) == 0)
		c->st.echo_tx++;
	c->last_tx_ns = c->now_ns; /* no ping needed beside it */
	if (!c->path[t].unanswered_ns)
		c->path[t].unanswered_ns = c->now_ns;
	if (!atomic_load_explicit(&c->unanswered_ns, memory_order_relaxed))
		atomic_store_explicit(&c->unanswered_ns, c->now_ns, memory_order_relaxed);
}

static void send_echo(struct rvc_chan *c, enum rvc_chan_transport t)
{
	send_echo_with(c, &c->path[t].sess, t);
}

static void send_ping(struct rvc_chan *c, enum rvc_chan_transport t)
{
	struct rv_pkt p = rvc_pkt_at(&c->scratch, RV_PING_LEN);

	memcpy(p.data, rv_ping_payload, RV_PING_LEN);
	if (seal_send(c, t, &p) == 0)
		c->st.pings_tx++;
	c->last_tx_ns = c->now_ns;
}

void chan_switch_to_udp(struct rvc_chan *c, const char *why)
{
	struct rvc_transport *tcp = c->path[RVC_CHAN_TCP].t;

	if (tcp) {
		epoll_ctl(c->ep, EPOLL_CTL_DEL, tcp->ops->fd(tcp), NULL);
		tcp->ops->close(tcp);
	}
	c->active = RVC_CHAN_UDP;
	c->st.to_udp++;
	c->path[RVC_CHAN_UDP].unanswered_ns = 0;
	c->next_probe_ns = c->now_ns; /* find out at once whether UDP answers */
	if (!c->prefer_tcp)
		c->tcp_retry_ms = c->p.fallback_ms;
	rv_log(RV_LOG_INFO, "data channel: back to UDP (%s)", why);
}

/* Only called with the TCP transport configured (tcp_enabled). */
static void switch_to_tcp(struct rvc_chan *c)
{
	struct rvc_transport *tcp = c->path[RVC_CHAN_TCP].t;
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = EV_TCP};
	char err[256];

	if (tcp->ops->open(tcp, TCP_CONNECT_MS, err, sizeof(err)) < 0 ||
	    epoll_ctl(c->ep, EPOLL_CTL_ADD, tcp->ops->fd(tcp), &ev) < 0) {
		tcp->ops->close(tcp);
		c->st.tcp_connect_failures++;
		c->next_tcp_try_ns = chan_mono_ns() + c->tcp_retry_ms * NS_PER_MS;
		rv_log(RV_LOG_WARN, "data channel: no UDP echo reply and TCP fallback failed: %s",
		       err);
		if (c->tcp_retry_ms < TCP_RETRY_MAX_MS)
			c->tcp_retry_ms *= 2;
		return;
	}
	/* The server binds the session to this connection on a first frame
	 * sealed with the real suite; "none" frames count only after that. */
	c->path[RVC_CHAN_TCP].unanswered_ns = 0;
	send_echo_with(c, &c->path[RVC_CHAN_UDP].sess, RVC_CHAN_TCP);
	c->active = RVC_CHAN_TCP;
	c->st.to_tcp++;
	if (c->prefer_tcp)
		rv_log(RV_LOG_INFO, "data channel: TLS over TCP (the room's transport)");
	else
		rv_log(RV_LOG_INFO, "data channel: no UDP echo reply for %u ms, using TLS over TCP",
		       c->p.fallback_ms);
}

static void echo_in(struct rvc_chan *c, enum rvc_chan_transport t, struct rv_pkt *p)
{
	struct rv_echo e;

	if (rv_echo_parse(p->data, p->len, &e) < 0) {
		c->st.drops[RV_DROP_NOT_IP]++;
		return;
	}
	if (e.type == RV_ECHO_REQUEST) {
		rv_echo_make_reply(p->data);
		if (seal_send(c, t, p) == 0)
			c->st.echo_replies_tx++;
		return;
	}
	c->st.echo_rx++;
	atomic_store(&c->last_reply_ns, c->now_ns);
	atomic_store_explicit(&c->unanswered_ns, 0, memory_order_relaxed);
	c->path[t].unanswered_ns = 0;
	if (t == RVC_CHAN_UDP && c->active == RVC_CHAN_TCP && !c->prefer_tcp)
		chan_switch_to_udp(c, "UDP echo reply received");
	if (t == c->active && e.ts_ns <= c->now_ns) {
		c->st.rtt_ns = c->now_ns - e.ts_ns;
		atomic_store_explicit(&c->rtt_us, (uint32_t)(c->st.rtt_ns / 1000),
				      memory_order_relaxed);
	}
}

/* One wire packet from the server over @t, in place in an rvc_buf.
 * Returns whether it authenticated. */
static bool deliver(struct rvc_chan *c, enum rvc_chan_transport t, struct rv_pkt *p)
{
	enum rv_drop rc = rv_dc_session_open(&c->path[t].sess, p, c->now_ns);

	if (unlikely(rc != RV_OK)) {
		c->st.drops[rc]++;
		return false;
	}
	c->last_rx_ns = c->now_ns;
	if (unlikely(c->old.t != NULL))
		chan_old_close(c, "the new data plane answers");
	switch (rv_payload_classify(p->data, p->len)) {
	case RV_PAYLOAD_IPV4:
	case RV_PAYLOAD_IPV6:
		chan_tun_put(c, p);
		break;
	case RV_PAYLOAD_PING:
		c->st.pings_rx++;
		break;
	case RV_PAYLOAD_ECHO:
		echo_in(c, t, p);
		break;
	default:
		c->st.drops[RV_DROP_NOT_IP]++;
	}
	return true;
}

static bool deliver_udp(void *arg, struct rv_pkt *p)
{
	return deliver(arg, RVC_CHAN_UDP, p);
}

static bool deliver_tcp(void *arg, struct rv_pkt *p)
{
	return deliver(arg, RVC_CHAN_TCP, p);
}

/* Drain transport @t's fd. Returns 1 when it has data buffered still. */
static int transport_rx(struct rvc_chan *c, enum rvc_chan_transport t)
{
	struct rvc_transport *tr = c->path[t].t;
	int rc =
	    tr->ops->on_readable(tr, t == RVC_CHAN_UDP ? deliver_udp : deliver_tcp, c, c->st.drops);

	chan_tun_flush(c);
	if (rc < 0 && t == RVC_CHAN_TCP && c->active == RVC_CHAN_TCP) {
		rv_log(RV_LOG_WARN, "data channel: TCP connection to the server lost");
		chan_switch_to_udp(c, "TCP connection lost");
		c->next_tcp_try_ns = c->now_ns + c->tcp_retry_ms * NS_PER_MS;
		return 0;
	}
	return rc > 0;
}

/* The echo probe interval: the room's keepalive interval unless the
 * owner set one (rvc_chan_params.probe_ms). */
static uint64_t probe_interval_ns(const struct rvc_chan *c)
{
	uint32_t ms = c->p.probe_ms;

	if (!ms)
		ms = atomic_load_explicit(&c->keepalive_ms, memory_order_relaxed);
	return ms * NS_PER_MS;
}

/* Probe without waiting for the interval (once per PROBE_FAST_MS): the
 * last probe on the active transport is unanswered (one lost reply is not
 * a dead path: fallback and re-bootstrap need several in a row), or
 * traffic went out and nothing came back for SUSPECT_MS (the session or the
 * path may be gone). */
static bool suspect(const struct rvc_chan *c, uint64_t now)
{
	uint64_t unanswered = c->path[c->active].unanswered_ns;

	if (now - c->last_probe_ns < PROBE_FAST_MS * NS_PER_MS)
		return false;
	return unanswered || (c->last_data_tx_ns > c->last_rx_ns &&
			      now - c->last_rx_ns >= SUSPECT_MS * NS_PER_MS);
}

static bool timed_out(uint64_t since, uint64_t now, uint32_t ms)
{
	return since && now - since >= ms * NS_PER_MS;
}

static void timers(struct rvc_chan *c)
{
	uint64_t now = c->now_ns;
	bool tcp_enabled = c->path[RVC_CHAN_TCP].t != NULL;

	/* probes: UDP unless the room's TCP is in use, TCP while active */
	if (now >= c->next_probe_ns || suspect(c, now)) {
		c->next_probe_ns = now + probe_interval_ns(c);
		c->last_probe_ns = now;
		if (c->active == RVC_CHAN_UDP || !c->prefer_tcp)
			send_echo(c, RVC_CHAN_UDP);
		if (c->active == RVC_CHAN_TCP)
			send_echo(c, RVC_CHAN_TCP);
	}
	/* to TCP: the room's choice, or UDP stopped answering */
	if (c->prefer_tcp && c->active == RVC_CHAN_UDP && now >= c->next_tcp_try_ns) {
		switch_to_tcp(c); /* on failure: the next try after a backoff */
	} else if (c->active == RVC_CHAN_UDP && tcp_enabled && now >= c->next_tcp_try_ns &&
		   timed_out(c->path[RVC_CHAN_UDP].unanswered_ns, now, c->p.fallback_ms)) {
		switch_to_tcp(c);
	}
	if (c->active == RVC_CHAN_TCP &&
	    timed_out(c->path[RVC_CHAN_TCP].unanswered_ns, now, c->p.fallback_ms)) {
		/* the connection is up but nothing answers on it: start over */
		chan_switch_to_udp(c, "no echo reply over TCP either");
		c->next_tcp_try_ns = c->prefer_tcp ? now + c->tcp_retry_ms * NS_PER_MS : now;
	}
	if (c->old.t && now - c->old.since_ns >= RVC_CHAN_OLD_KEEP_MS * NS_PER_MS)
		chan_old_close(c, "the new data plane has not answered yet");
	/* keepalive, then the once-a-second work */
	if (now - c->last_tx_ns >=
	    atomic_load_explicit(&c->keepalive_ms, memory_order_relaxed) * NS_PER_MS)
		send_ping(c, c->active);
	if (now >= c->next_tick_ns) {
		c->next_tick_ns = now + 1000 * NS_PER_MS;
		rv_dc_session_expire(&c->path[RVC_CHAN_UDP].sess, now);
		rv_dc_session_expire(&c->path[RVC_CHAN_TCP].sess, now);
		atomic_store(&c->rekey_due,
			     rv_dc_session_rekey_due(&c->path[RVC_CHAN_UDP].sess) ||
				 rv_dc_session_rekey_due(&c->path[RVC_CHAN_TCP].sess));
		if (c->tick)
			c->tick(c, c->tick_arg);
	}
}

static void drain_wake(struct rvc_chan *c)
{
	uint64_t v;

	if (read(c->wakefd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing to drain */
	}
}

/* The loop sleeps until the next probe or the next tick (<= 1 s), timers()
 * checks the rest at that pace. */
static uint64_t next_timer(const struct rvc_chan *c)
{
	uint64_t t = c->next_probe_ns < c->next_tick_ns ? c->next_probe_ns : c->next_tick_ns;

	return t > c->now_ns ? t : c->now_ns;
}

int rvc_chan_run(struct rvc_chan *c)
{
	struct epoll_event evs[8];
	int more = 0;

	while (!atomic_load(&c->stop)) {
		int n, timeout;
		c->now_ns = chan_mono_ns();
		if (atomic_load(&c->mbox_full))
			chan_apply_mbox(c);
		timers(c);
		timeout = more ? 0 : (int)((next_timer(c) - c->now_ns) / NS_PER_MS) + 1;
		n = epoll_wait(c->ep, evs, 8, timeout);
		if (n < 0 && errno != EINTR) {
			rv_log(RV_LOG_ERROR, "data channel: epoll_wait: %s", strerror(errno));
			return -1;
		}
		c->now_ns = chan_mono_ns();
		more = 0;
		for (int i = 0; i < n; i++) {
			switch (evs[i].data.u32) {
			case EV_TUN:
				chan_tun_rx(c);
				break;
			case EV_UDP:
				transport_rx(c, RVC_CHAN_UDP);
				break;
			case EV_TCP:
				more = transport_rx(c, RVC_CHAN_TCP);
				break;
			case EV_WAKE:
				drain_wake(c);
				break;
			case EV_OLD:
				chan_old_rx(c);
				break;
			default:
				break; /* EV_STOP */
			}
		}
	}
	return 0;
}

void rvc_chan_stop(struct rvc_chan *c)
{
	uint64_t one = 1;

	atomic_store(&c->stop, true);
	if (write(c->stopfd, &one, sizeof(one)) < 0) {
		/* the flag alone stops the loop within one probe interval */
	}
}

static int watch(struct rvc_chan *c, int fd, uint32_t what)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = what};

	return epoll_ctl(c->ep, EPOLL_CTL_ADD, fd, &ev);
}

static int setup_epoll(struct rvc_chan *c, char *err, size_t errlen)
{
	struct rvc_transport *udp = c->path[RVC_CHAN_UDP].t;

	c->ep = epoll_create1(EPOLL_CLOEXEC);
	c->stopfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	c->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (c->ep < 0 || c->stopfd < 0 || c->wakefd < 0 || watch(c, c->tun, EV_TUN) < 0 ||
	    watch(c, udp->ops->fd(udp), EV_UDP) < 0 || watch(c, c->stopfd, EV_STOP) < 0 ||
	    watch(c, c->wakefd, EV_WAKE) < 0) {
		snprintf(err, errlen, "epoll set-up: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void set_defaults(struct rvc_chan_params *p)
{
	if (!p->keepalive_ms)
		p->keepalive_ms = 10000;
	if (!p->fallback_ms)
		p->fallback_ms = 3000;
	if (!p->udp_sockbuf)
		p->udp_sockbuf = CHAN_SOCKBUF;
}

/* The transports: UDP always, TCP with a server port and a way to check
 * its certificate. */
static int open_transports(struct rvc_chan *c, char *err, size_t errlen)
{
	const struct rvc_chan_params *p = &c->p;

	if (rvc_addr_set(&p->tcp_server) && (p->tls_pin_set || p->tls_ca_file) &&
	    rvc_chan_tcp_create(p, &c->path[RVC_CHAN_TCP].t, err, errlen) < 0)
		return -1;
	return rvc_chan_udp_create(p, &c->path[RVC_CHAN_UDP].t, err, errlen);
}

static int init_sessions(struct rvc_chan *c, char *err, size_t errlen)
{
	const struct rvc_chan_params *p = &c->p;

	if (rv_dc_session_init(&c->path[RVC_CHAN_UDP].sess, p->peer_id, p->replay_window) < 0 ||
	    rv_dc_session_init(&c->path[RVC_CHAN_TCP].sess, p->peer_id, p->replay_window) < 0 ||
	    chan_install(c, p->key_id, p->suite, &p->tx, &p->rx, 0) < 0) {
		snprintf(err, errlen, "cannot install the %s key (key-id %u, peer-id %u)",
			 rv_cipher_name(p->suite), p->key_id, p->peer_id);
		return -1;
	}
	for (int t = RVC_CHAN_UDP; t <= RVC_CHAN_TCP; t++) {
		struct rv_dc_session *s = &c->path[t].sess;
		s->slot[s->tx_slot].tx_pid = p->first_pid;
	}
	return 0;
}

int rvc_chan_create(const struct rvc_chan_params *p, int tun_fd, struct rvc_chan **out, char *err,
		    size_t errlen)
{
	struct rvc_chan *c = calloc(1, sizeof(*c));

	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	c->p = *p;
	set_defaults(&c->p);
	atomic_init(&c->keepalive_ms, c->p.keepalive_ms);
	c->tun = tun_fd;
	c->ep = c->stopfd = c->wakefd = -1;
	pthread_mutex_init(&c->mbox_lock, NULL);
	c->bufs = calloc(CHAN_BATCH, sizeof(*c->bufs));
	c->vnet = rv_tun_vnet_hdr(tun_fd);
	if (c->vnet) {
		c->tun_in = malloc(sizeof(struct virtio_net_hdr) + RV_GRO_MAX);
		c->gro.buf = malloc(sizeof(struct virtio_net_hdr) + RV_GRO_MAX);
	}
	if (!c->bufs || (c->vnet && (!c->tun_in || !c->gro.buf))) {
		snprintf(err, errlen, "out of memory");
		goto err_free;
	}
	if (init_sessions(c, err, errlen) < 0 || open_transports(c, err, errlen) < 0 ||
	    setup_epoll(c, err, errlen) < 0)
		goto err_free;
	rv_log(RV_LOG_INFO, "data channel: TUN %s",
	       c->vnet ? "offloads on (TSO4 reads cut into segments, coalesced TCP writes)"
		       : "in plain mode (one packet per read and write)");
	c->now_ns = chan_mono_ns();
	atomic_store(&c->last_reply_ns, c->now_ns);
	c->last_tx_ns = c->now_ns;
	c->last_rx_ns = c->now_ns;
	c->tcp_retry_ms = c->p.fallback_ms;
	c->prefer_tcp = p->start == RVC_CHAN_TCP && c->path[RVC_CHAN_TCP].t;
	*out = c;
	return 0;
err_free:
	rvc_chan_destroy(c);
	return -1;
}

void rvc_chan_destroy(struct rvc_chan *c)
{
	if (!c)
		return;
	chan_old_close(c, "the data channel ends");
	for (int t = RVC_CHAN_UDP; t <= RVC_CHAN_TCP; t++) {
		if (c->path[t].t)
			c->path[t].t->ops->destroy(c->path[t].t);
		rv_dc_session_destroy(&c->path[t].sess);
	}
	if (c->ep >= 0)
		close(c->ep);
	if (c->stopfd >= 0)
		close(c->stopfd);
	if (c->wakefd >= 0)
		close(c->wakefd);
	pthread_mutex_destroy(&c->mbox_lock);
	OPENSSL_cleanse(&c->mbox, sizeof(c->mbox));
	free(c->bufs);
	free(c->tun_in);
	free(c->gro.buf);
	OPENSSL_cleanse(&c->p, sizeof(c->p));
	free(c);
}
