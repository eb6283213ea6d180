/* The client's data channel loop: TUN <-> UDP (batched) or TLS/TCP. */
#include "dc.h"

#include <errno.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "dc_tcp.h"
#include "gro.h"
#include "inet.h"
#include "key_slots.h"
#include "log.h"
#include "payload.h"
#include "tso.h"
#include "tun.h"

#define unlikely(x) __builtin_expect(!!(x), 0)

#define DC_BATCH	 64 /* a 64 KB TSO packet is 48 segments at MTU 1400 */
#define DC_TUN_READS	 32 /* TUN reads per loop pass */
#define DC_VH		 sizeof(struct virtio_net_hdr)
#define DC_MAX_PKT	 2048 /* largest inner packet; the TUN MTU stays below it */
#define DC_PREFIX	 2    /* room for the TCP length prefix */
#define DC_OFF		 (DC_PREFIX + RV_DC_HEADROOM)
#define DC_BUF		 (DC_OFF + DC_MAX_PKT + RV_DC_TAILROOM)
#define TCP_CONNECT_MS	 2000
#define TCP_RETRY_MAX_MS 30000
#define NS_PER_MS	 1000000ull
/* Traffic sent and nothing heard for this long: probe now (once per
 * PROBE_FAST_MS) instead of waiting for the next probe interval. */
#define SUSPECT_MS    1000
#define PROBE_FAST_MS 1000
#define DC_SOCKBUF	 (4u << 20)

struct dc_buf {
	uint8_t b[DC_BUF];
};

struct rv_dc {
	struct rv_dc_params p;
	int tun, udp, ep, stopfd, wakefd;
	atomic_bool stop;
	/* a replacement session from another thread (rv_dc_replace_session) */
	pthread_mutex_t mbox_lock;
	atomic_bool mbox_full;
	struct {
		bool rekey; /* true: next key of this session; false: a new session */
		uint32_t peer_id, grace_ms;
		uint8_t key_id;
		enum rv_cipher suite;
		struct rv_key_dir tx, rx;
	} mbox;
	_Atomic uint64_t last_reply_ns; /* any echo reply, either transport */
	/* the first echo request since the last reply (either transport), 0:
	 * none unanswered (rv_dc_unanswered_ms) */
	_Atomic uint64_t unanswered_ns;
	_Atomic uint32_t rtt_us; /* st.rtt_ns for other threads (rv_dc_rtt_us) */
	/* the ping interval in use: set by any thread (rv_dc_set_keepalive),
	 * read by the loop's timers on every pass */
	_Atomic uint32_t keepalive_ms;
	_Atomic bool rekey_due; /* see rv_dc_rekey_due */
	struct rv_dc_session udp_sess, tcp_sess;
	enum rv_dc_transport active;
	bool tcp_enabled;
	struct dc_tcp tcp;
	uint64_t last_udp_reply_ns, last_tx_ns, next_probe_ns, next_tick_ns, next_tcp_try_ns;
	uint64_t last_tcp_reply_ns;
	/* per transport: the first echo request since its last reply, 0: none */
	uint64_t udp_unanswered_ns, tcp_unanswered_ns;
	uint64_t last_rx_ns;	  /* any authenticated packet from the server */
	uint64_t last_data_tx_ns; /* an IP packet from the TUN sent */
	uint64_t last_probe_ns;
	bool prefer_tcp; /* the room prefers TCP: start there, no UDP probes on it */
	uint32_t tcp_retry_ms;
	uint32_t echo_seq;
	rv_dc_tick_fn tick;
	void *tick_arg;
	struct rv_dc_stats st;
	struct mmsghdr msgs[DC_BATCH];
	struct iovec iov[DC_BATCH];
	struct sockaddr_in from[DC_BATCH];
	struct dc_buf *bufs;   /* DC_BATCH buffers, shared by both directions */
	uint8_t *tcp_out;      /* DC_BATCH frames gathered for one SSL_write */
	struct dc_buf scratch; /* one frame from the TCP decoder */
	bool vnet;	       /* TUN with IFF_VNET_HDR: TSO reads, GRO writes */
	uint8_t *tun_in;       /* DC_VH + RV_GRO_MAX: one read from the TUN */
	struct rv_gro gro;     /* pending coalesced write to the TUN */
	uint64_t now_ns;       /* of the current loop pass */
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct rv_pkt pkt_at(struct dc_buf *b, uint32_t len)
{
	return (struct rv_pkt){.data = b->b + DC_OFF,
			       .len = len,
			       .headroom = RV_DC_HEADROOM,
			       .tailroom = DC_BUF - DC_OFF - len};
}

static struct rv_dc_session *sess_of(struct rv_dc *dc, enum rv_dc_transport t)
{
	return t == RV_DC_UDP ? &dc->udp_sess : &dc->tcp_sess;
}

/* Send one sealed packet (p->data has DC_PREFIX writable bytes in front). */
static void send_sealed(struct rv_dc *dc, enum rv_dc_transport t, struct rv_pkt *p)
{
	if (t == RV_DC_UDP) {
		if (sendto(dc->udp, p->data, p->len, MSG_DONTWAIT,
			   (const struct sockaddr *)&dc->p.udp_server,
			   sizeof(dc->p.udp_server)) < 0)
			dc->st.tx_errors++;
		return;
	}
	if (dc->tcp.fd < 0 || rv_tcp_frame_prefix(p->data - DC_PREFIX, p->len) < 0 ||
	    dc_tcp_write(&dc->tcp, p->data - DC_PREFIX, p->len + DC_PREFIX) < 0)
		dc->st.tx_errors++;
}

/* The UDP and TCP sessions share one packet-id sequence (the server checks
 * both against one replay window): before sealing with one, catch up with
 * the other. */
static void sync_pid(struct rv_dc_session *to, const struct rv_dc_session *from)
{
	uint32_t f = from->slot[from->tx_slot].tx_pid;
	uint32_t *t = &to->slot[to->tx_slot].tx_pid;

	if (f > *t)
		*t = f;
}

static struct rv_dc_session *other_sess(struct rv_dc *dc, struct rv_dc_session *s)
{
	return s == &dc->udp_sess ? &dc->tcp_sess : &dc->udp_sess;
}

/* Seal payload @p with @s and send it over transport @t. */
static int seal_send_with(struct rv_dc *dc, struct rv_dc_session *s, enum rv_dc_transport t,
			  struct rv_pkt *p)
{
	enum rv_drop rc;

	sync_pid(s, other_sess(dc, s));
	rc = rv_dc_session_seal(s, p, (uint32_t)time(NULL));
	if (unlikely(rc != RV_OK)) {
		dc->st.drops[rc]++;
		return -1;
	}
	send_sealed(dc, t, p);
	return 0;
}

/* Seal payload @p with transport @t's session and send it. */
static int seal_send(struct rv_dc *dc, enum rv_dc_transport t, struct rv_pkt *p)
{
	return seal_send_with(dc, sess_of(dc, t), t, p);
}

/* An echo request over @t, sealed with @s. */
static void send_echo_with(struct rv_dc *dc, struct rv_dc_session *s, enum rv_dc_transport t)
{
	struct rv_echo e = {.type = RV_ECHO_REQUEST, .seq = ++dc->echo_seq, .ts_ns = dc->now_ns};
	struct rv_pkt p = pkt_at(&dc->scratch, 0);

	p.len = (uint32_t)rv_echo_build(p.data, DC_MAX_PKT, &e);
	p.tailroom -= p.len;
	if (seal_send_with(dc, s, t, &p) == 0)
		dc->st.echo_tx++;
	dc->last_tx_ns = dc->now_ns; /* no ping needed beside it */
	if (t == RV_DC_UDP && !dc->udp_unanswered_ns)
		dc->udp_unanswered_ns = dc->now_ns;
	if (t == RV_DC_TCP && !dc->tcp_unanswered_ns)
		dc->tcp_unanswered_ns = dc->now_ns;
	if (!atomic_load_explicit(&dc->unanswered_ns, memory_order_relaxed))
		atomic_store_explicit(&dc->unanswered_ns, dc->now_ns, memory_order_relaxed);
}

static void send_echo(struct rv_dc *dc, enum rv_dc_transport t)
{
	send_echo_with(dc, sess_of(dc, t), t);
}

static void send_ping(struct rv_dc *dc, enum rv_dc_transport t)
{
	struct rv_pkt p = pkt_at(&dc->scratch, RV_PING_LEN);

	memcpy(p.data, rv_ping_payload, RV_PING_LEN);
	if (seal_send(dc, t, &p) == 0)
		dc->st.pings_tx++;
	dc->last_tx_ns = dc->now_ns;
}

static void switch_to_udp(struct rv_dc *dc, const char *why)
{
	epoll_ctl(dc->ep, EPOLL_CTL_DEL, dc->tcp.fd, NULL);
	dc_tcp_close(&dc->tcp);
	dc->active = RV_DC_UDP;
	dc->st.to_udp++;
	dc->udp_unanswered_ns = 0;
	dc->next_probe_ns = dc->now_ns; /* find out at once whether UDP answers */
	if (!dc->prefer_tcp)
		dc->tcp_retry_ms = dc->p.fallback_ms;
	rv_log(RV_LOG_INFO, "data channel: back to UDP (%s)", why);
}

static void switch_to_tcp(struct rv_dc *dc)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 3};
	char err[256];

	if (dc_tcp_connect(&dc->tcp, TCP_CONNECT_MS, err, sizeof(err)) < 0 ||
	    epoll_ctl(dc->ep, EPOLL_CTL_ADD, dc->tcp.fd, &ev) < 0) {
		dc_tcp_close(&dc->tcp);
		dc->st.tcp_connect_failures++;
		dc->next_tcp_try_ns = mono_ns() + dc->tcp_retry_ms * NS_PER_MS;
		rv_log(RV_LOG_WARN, "data channel: no UDP echo reply and TCP fallback failed: %s",
		       err);
		if (dc->tcp_retry_ms < TCP_RETRY_MAX_MS)
			dc->tcp_retry_ms *= 2;
		return;
	}
	/* The server binds the session to this connection on a first frame
	 * sealed with the real suite; "none" frames count only after that. */
	dc->tcp_unanswered_ns = 0;
	send_echo_with(dc, &dc->udp_sess, RV_DC_TCP);
	dc->active = RV_DC_TCP;
	dc->last_tcp_reply_ns = dc->now_ns;
	dc->st.to_tcp++;
	if (dc->prefer_tcp)
		rv_log(RV_LOG_INFO, "data channel: TLS over TCP (the room's transport)");
	else
		rv_log(RV_LOG_INFO, "data channel: no UDP echo reply for %u ms, using TLS over TCP",
		       dc->p.fallback_ms);
}

static void echo_in(struct rv_dc *dc, enum rv_dc_transport t, struct rv_pkt *p)
{
	struct rv_echo e;

	if (rv_echo_parse(p->data, p->len, &e) < 0) {
		dc->st.drops[RV_DROP_NOT_IP]++;
		return;
	}
	if (e.type == RV_ECHO_REQUEST) {
		rv_echo_make_reply(p->data);
		if (seal_send(dc, t, p) == 0)
			dc->st.echo_replies_tx++;
		return;
	}
	dc->st.echo_rx++;
	atomic_store(&dc->last_reply_ns, dc->now_ns);
	atomic_store_explicit(&dc->unanswered_ns, 0, memory_order_relaxed);
	if (t == RV_DC_UDP) {
		dc->last_udp_reply_ns = dc->now_ns;
		dc->udp_unanswered_ns = 0;
	} else {
		dc->last_tcp_reply_ns = dc->now_ns;
		dc->tcp_unanswered_ns = 0;
	}
	if (t == RV_DC_UDP && dc->active == RV_DC_TCP && !dc->prefer_tcp)
		switch_to_udp(dc, "UDP echo reply received");
	if (t == dc->active && e.ts_ns <= dc->now_ns) {
		dc->st.rtt_ns = dc->now_ns - e.ts_ns;
		atomic_store_explicit(&dc->rtt_us, (uint32_t)(dc->st.rtt_ns / 1000),
				      memory_order_relaxed);
	}
}

/* Write the pending coalesced packet to the TUN. */
static void tun_flush(struct rv_dc *dc)
{
	uint32_t n;

	if (!dc->gro.len)
		return;
	n = rv_gro_finish(&dc->gro);
	if (unlikely(write(dc->tun, dc->gro.buf, n) < 0))
		dc->st.tun_errors++;
}

/* One IPv4 packet from the server to the TUN: plain, merged into the
 * pending TCP packet, or (vnet) behind an all-zero virtio_net_hdr. */
static void tun_put(struct rv_dc *dc, const struct rv_pkt *p)
{
	static const struct virtio_net_hdr none;
	struct iovec iov[2] = {{(void *)&none, DC_VH}, {p->data, p->len}};
	ssize_t rc = 0;

	dc->st.rx_packets++;
	dc->st.rx_bytes += p->len;
	if (!dc->vnet) {
		rc = write(dc->tun, p->data, p->len);
	} else if (!rv_gro_append(&dc->gro, p->data, p->len)) {
		tun_flush(dc);
		if (!rv_gro_start(&dc->gro, p->data, p->len))
			rc = writev(dc->tun, iov, 2);
	}
	if (unlikely(rc < 0))
		dc->st.tun_errors++;
}

/* One wire packet from the server, in place in a buffer with DC_PREFIX +
 * headroom in front (so that an echo request can be answered in place). */
static void deliver(struct rv_dc *dc, enum rv_dc_transport t, struct rv_pkt *p)
{
	enum rv_drop rc = rv_dc_session_open(sess_of(dc, t), p, dc->now_ns);

	if (unlikely(rc != RV_OK)) {
		dc->st.drops[rc]++;
		return;
	}
	dc->last_rx_ns = dc->now_ns;
	switch (rv_payload_classify(p->data, p->len)) {
	case RV_PAYLOAD_IPV4:
		tun_put(dc, p);
		return;
	case RV_PAYLOAD_PING:
		dc->st.pings_rx++;
		return;
	case RV_PAYLOAD_ECHO:
		echo_in(dc, t, p);
		return;
	default:
		dc->st.drops[RV_DROP_NOT_IP]++;
	}
}

static bool from_server(const struct rv_dc *dc, const struct sockaddr_in *sa)
{
	return sa->sin_addr.s_addr == dc->p.udp_server.sin_addr.s_addr &&
	       sa->sin_port == dc->p.udp_server.sin_port;
}

static void udp_rx(struct rv_dc *dc)
{
	int n;

	do {
		for (int i = 0; i < DC_BATCH; i++) {
			dc->iov[i] = (struct iovec){dc->bufs[i].b + DC_OFF, DC_MAX_PKT};
			dc->msgs[i].msg_hdr = (struct msghdr){.msg_name = &dc->from[i],
							      .msg_namelen = sizeof(dc->from[i]),
							      .msg_iov = &dc->iov[i],
							      .msg_iovlen = 1};
		}
		n = recvmmsg(dc->udp, dc->msgs, DC_BATCH, MSG_DONTWAIT, NULL);
		for (int i = 0; i < n; i++) {
			struct rv_pkt p = pkt_at(&dc->bufs[i], dc->msgs[i].msg_len);
			if (unlikely(!from_server(dc, &dc->from[i])))
				dc->st.drops[RV_DROP_NOT_FOR_US]++;
			else if (unlikely(dc->msgs[i].msg_hdr.msg_flags & MSG_TRUNC))
				dc->st.drops[RV_DROP_TOO_BIG]++;
			else
				deliver(dc, RV_DC_UDP, &p);
		}
	} while (n == DC_BATCH);
	tun_flush(dc);
}

static void tcp_frame(void *arg, const uint8_t *frame, uint32_t len)
{
	struct rv_dc *dc = arg;
	struct rv_pkt p;

	if (len > DC_MAX_PKT) {
		dc->st.drops[RV_DROP_TOO_BIG]++;
		return;
	}
	p = pkt_at(&dc->scratch, len);
	memcpy(p.data, frame, len);
	deliver(dc, RV_DC_TCP, &p);
}

static int tcp_rx(struct rv_dc *dc)
{
	int rc;

	if (dc->tcp.fd < 0) /* closed earlier in this pass (moved back to UDP) */
		return 0;
	rc = dc_tcp_read(&dc->tcp, tcp_frame, dc);
	tun_flush(dc);
	if (rc < 0 && dc->active == RV_DC_TCP) {
		rv_log(RV_LOG_WARN, "data channel: TCP connection to the server lost");
		switch_to_udp(dc, "TCP connection lost");
		dc->last_udp_reply_ns = 0; /* fall back again unless UDP answers */
		dc->next_tcp_try_ns = dc->now_ns + dc->tcp_retry_ms * NS_PER_MS;
		return 0;
	}
	return rc > 0;
}

/* Send the @n sealed packets of the batch over the active transport. */
static void flush(struct rv_dc *dc, struct rv_pkt *pk, unsigned n)
{
	unsigned sent = 0, len = 0;

	if (dc->active == RV_DC_TCP) {
		for (unsigned i = 0; i < n; i++) {
			rv_tcp_frame_prefix(dc->tcp_out + len, pk[i].len);
			memcpy(dc->tcp_out + len + DC_PREFIX, pk[i].data, pk[i].len);
			len += pk[i].len + DC_PREFIX;
		}
		if (dc->tcp.fd < 0 || dc_tcp_write(&dc->tcp, dc->tcp_out, len) < 0)
			dc->st.tx_errors += n;
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		dc->iov[i] = (struct iovec){pk[i].data, pk[i].len};
		dc->msgs[i].msg_hdr = (struct msghdr){.msg_name = &dc->p.udp_server,
						      .msg_namelen = sizeof(dc->p.udp_server),
						      .msg_iov = &dc->iov[i],
						      .msg_iovlen = 1};
	}
	while (sent < n) {
		int rc = sendmmsg(dc->udp, dc->msgs + sent, n - sent, MSG_DONTWAIT);
		if (rc <= 0) {
			dc->st.tx_errors += n - sent; /* ECONNREFUSED, ENOBUFS, ... */
			return;
		}
		sent += (unsigned)rc;
	}
}

/* Seal IPv4 packet @p (in dc->bufs) into the batch @pk; send the batch when
 * it is full. */
static void batch_add(struct rv_dc *dc, struct rv_dc_session *s, struct rv_pkt *pk, unsigned *n,
		      struct rv_pkt *p, uint32_t now_s)
{
	uint32_t len = p->len;
	enum rv_drop rc;

	if (unlikely(rv_payload_classify(p->data, p->len) != RV_PAYLOAD_IPV4)) {
		dc->st.drops[RV_DROP_NOT_IP]++;
		return;
	}
	rc = rv_dc_session_seal(s, p, now_s);
	if (unlikely(rc != RV_OK)) {
		dc->st.drops[rc]++;
		return;
	}
	dc->st.tx_packets++;
	dc->st.tx_bytes += len;
	pk[(*n)++] = *p;
	if (*n == DC_BATCH) {
		flush(dc, pk, *n);
		*n = 0;
	}
}

/* One read from a vnet TUN: a packet (its checksum completed if the kernel
 * left it partial) or a TCP super-packet cut into segments, each into the
 * batch. */
static void tun_in_vnet(struct rv_dc *dc, struct rv_dc_session *s, struct rv_pkt *pk, unsigned *n,
			uint32_t len, uint32_t now_s)
{
	struct virtio_net_hdr vh;
	uint8_t *ip = dc->tun_in + DC_VH;
	struct rv_tso t;
	enum rv_drop rc;
	struct rv_pkt p;

	memcpy(&vh, dc->tun_in, DC_VH);
	len -= (uint32_t)DC_VH;
	if (vh.gso_type == VIRTIO_NET_HDR_GSO_NONE) {
		rc = len > DC_MAX_PKT ? RV_DROP_TOO_BIG : rv_tso_complete_csum(&vh, ip, len);
		if (unlikely(rc != RV_OK)) {
			dc->st.drops[rc]++;
			return;
		}
		p = pkt_at(&dc->bufs[*n], len);
		memcpy(p.data, ip, len);
		batch_add(dc, s, pk, n, &p, now_s);
		return;
	}
	rc = rv_tso_prepare(&t, &vh, ip, len);
	if (rc == RV_OK && t.hlen + t.mss > DC_MAX_PKT)
		rc = RV_DROP_TOO_BIG;
	if (unlikely(rc != RV_OK)) {
		dc->st.drops[rc]++;
		return;
	}
	for (uint32_t i = 0; i < t.nseg; i++) {
		p = pkt_at(&dc->bufs[*n], 0);
		p.len = rv_tso_segment(&t, i, p.data);
		p.tailroom -= p.len;
		batch_add(dc, s, pk, n, &p, now_s);
	}
}

/* Read from the TUN (up to DC_TUN_READS reads), seal and send. */
static void tun_rx(struct rv_dc *dc)
{
	struct rv_dc_session *s = sess_of(dc, dc->active);
	struct rv_pkt pk[DC_BATCH];
	uint32_t now_s = (uint32_t)time(NULL);
	uint64_t before = dc->st.tx_packets;
	unsigned n = 0;

	sync_pid(s, other_sess(dc, s));
	for (int reads = 0; reads < DC_TUN_READS; reads++) {
		ssize_t r = dc->vnet ? read(dc->tun, dc->tun_in, DC_VH + RV_GRO_MAX)
				     : read(dc->tun, dc->bufs[n].b + DC_OFF, DC_MAX_PKT);
		struct rv_pkt p;
		if (r <= 0) {
			if (r < 0 && errno != EAGAIN)
				dc->st.tun_errors++;
			break;
		}
		if (dc->vnet) {
			if (unlikely((size_t)r < DC_VH))
				dc->st.drops[RV_DROP_MALFORMED]++;
			else
				tun_in_vnet(dc, s, pk, &n, (uint32_t)r, now_s);
			continue;
		}
		p = pkt_at(&dc->bufs[n], (uint32_t)r);
		batch_add(dc, s, pk, &n, &p, now_s);
	}
	if (n)
		flush(dc, pk, n);
	if (dc->st.tx_packets != before)
		dc->last_tx_ns = dc->last_data_tx_ns = dc->now_ns;
}

/* The echo probe interval: the room's keepalive interval unless the
 * owner set one (rv_dc_params.probe_ms). */
static uint64_t probe_interval_ns(const struct rv_dc *dc)
{
	uint32_t ms = dc->p.probe_ms;

	if (!ms)
		ms = atomic_load_explicit(&dc->keepalive_ms, memory_order_relaxed);
	return ms * NS_PER_MS;
}

/* Probe without waiting for the interval (once per PROBE_FAST_MS): the
 * last probe on the active transport is unanswered (one lost reply is not
 * a dead path: fallback and re-bootstrap need several in a row), or
 * traffic went out and nothing came back for SUSPECT_MS (the session or the
 * path may be gone). */
static bool suspect(const struct rv_dc *dc, uint64_t now)
{
	uint64_t unanswered =
	    dc->active == RV_DC_TCP ? dc->tcp_unanswered_ns : dc->udp_unanswered_ns;

	if (now - dc->last_probe_ns < PROBE_FAST_MS * NS_PER_MS)
		return false;
	return unanswered || (dc->last_data_tx_ns > dc->last_rx_ns &&
			      now - dc->last_rx_ns >= SUSPECT_MS * NS_PER_MS);
}

static bool timed_out(uint64_t since, uint64_t now, uint32_t ms)
{
	return since && now - since >= ms * NS_PER_MS;
}

static void timers(struct rv_dc *dc)
{
	uint64_t now = dc->now_ns;

	if (now >= dc->next_probe_ns || suspect(dc, now)) {
		dc->next_probe_ns = now + probe_interval_ns(dc);
		dc->last_probe_ns = now;
		if (dc->active == RV_DC_UDP || !dc->prefer_tcp)
			send_echo(dc, RV_DC_UDP);
		if (dc->active == RV_DC_TCP)
			send_echo(dc, RV_DC_TCP);
	}
	if (dc->prefer_tcp && dc->active == RV_DC_UDP && now >= dc->next_tcp_try_ns) {
		switch_to_tcp(dc); /* on failure: the next try after a backoff */
	} else if (dc->active == RV_DC_UDP && dc->tcp_enabled && now >= dc->next_tcp_try_ns &&
		   timed_out(dc->udp_unanswered_ns, now, dc->p.fallback_ms)) {
		switch_to_tcp(dc);
	}
	if (dc->active == RV_DC_TCP && timed_out(dc->tcp_unanswered_ns, now, dc->p.fallback_ms)) {
		/* the connection is up but nothing answers on it: start over */
		switch_to_udp(dc, "no echo reply over TCP either");
		dc->next_tcp_try_ns = dc->prefer_tcp ? now + dc->tcp_retry_ms * NS_PER_MS : now;
	}
	if (now - dc->last_tx_ns >=
	    atomic_load_explicit(&dc->keepalive_ms, memory_order_relaxed) * NS_PER_MS)
		send_ping(dc, dc->active);
	if (now >= dc->next_tick_ns) {
		dc->next_tick_ns = now + 1000 * NS_PER_MS;
		rv_dc_session_expire(&dc->udp_sess, now);
		rv_dc_session_expire(&dc->tcp_sess, now);
		atomic_store(&dc->rekey_due, rv_dc_session_rekey_due(&dc->udp_sess) ||
						 rv_dc_session_rekey_due(&dc->tcp_sess));
		if (dc->tick)
			dc->tick(dc, dc->tick_arg);
	}
}

static int install(struct rv_dc *dc, uint8_t key_id, enum rv_cipher suite,
		   const struct rv_key_dir *tx, const struct rv_key_dir *rx, uint64_t grace_ns);

static void drain_wake(struct rv_dc *dc)
{
	uint64_t v;

	if (read(dc->wakefd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing to drain */
	}
}

/* Install the session handed over by rv_dc_replace_session(). */
static void apply_mbox(struct rv_dc *dc)
{
	uint32_t peer_id, grace_ms;
	uint8_t key_id;
	enum rv_cipher suite;
	struct rv_key_dir tx, rx;
	bool rekey;

	pthread_mutex_lock(&dc->mbox_lock);
	rekey = dc->mbox.rekey;
	grace_ms = dc->mbox.grace_ms;
	peer_id = dc->mbox.peer_id;
	key_id = dc->mbox.key_id;
	suite = dc->mbox.suite;
	tx = dc->mbox.tx;
	rx = dc->mbox.rx;
	OPENSSL_cleanse(&dc->mbox, sizeof(dc->mbox));
	atomic_store(&dc->mbox_full, false);
	pthread_mutex_unlock(&dc->mbox_lock);
	if (rekey) {
		if (rv_dc_rekey(dc, key_id, suite, &tx, &rx, grace_ms) < 0)
			rv_log(RV_LOG_ERROR, "data channel: cannot install key-id %u", key_id);
		else
			rv_log(RV_LOG_INFO, "data channel: re-keyed, key-id %u", key_id);
		goto out;
	}
	if (dc->active == RV_DC_TCP)
		switch_to_udp(dc, "new session"); /* a new connection binds the new one */
	rv_dc_session_destroy(&dc->udp_sess);
	rv_dc_session_destroy(&dc->tcp_sess);
	if (rv_dc_session_init(&dc->udp_sess, peer_id, dc->p.replay_window) < 0 ||
	    rv_dc_session_init(&dc->tcp_sess, peer_id, dc->p.replay_window) < 0 ||
	    install(dc, key_id, suite, &tx, &rx, 0) < 0)
		rv_log(RV_LOG_ERROR, "data channel: cannot install the new session");
	else
		rv_log(RV_LOG_INFO, "data channel: new session, peer-id %u, key-id %u", peer_id,
		       key_id);
	dc->p.peer_id = peer_id;
	dc->p.key_id = key_id;
	dc->p.suite = suite;
	dc->last_udp_reply_ns = dc->now_ns;
	dc->udp_unanswered_ns = dc->tcp_unanswered_ns = 0;
	dc->next_probe_ns = dc->now_ns; /* does the new session answer? */
	atomic_store(&dc->last_reply_ns, dc->now_ns);
	atomic_store(&dc->unanswered_ns, 0);
out:
	OPENSSL_cleanse(&tx, sizeof(tx));
	OPENSSL_cleanse(&rx, sizeof(rx));
}

/* Hand a session or key to the loop (any thread). */
static int post(struct rv_dc *dc, bool rekey, uint32_t peer_id, uint8_t key_id,
		enum rv_cipher suite, const struct rv_key_dir *tx, const struct rv_key_dir *rx,
		uint32_t grace_ms)
{
	uint64_t one = 1;

	if (peer_id > 0xFFFFFE || key_id > 7)
		return -1;
	pthread_mutex_lock(&dc->mbox_lock);
	dc->mbox.rekey = rekey;
	dc->mbox.grace_ms = grace_ms;
	dc->mbox.peer_id = peer_id;
	dc->mbox.key_id = key_id;
	dc->mbox.suite = suite;
	dc->mbox.tx = *tx;
	dc->mbox.rx = *rx;
	atomic_store(&dc->mbox_full, true);
	pthread_mutex_unlock(&dc->mbox_lock);
	if (write(dc->wakefd, &one, sizeof(one)) < 0) {
		/* the loop sees mbox_full within one probe interval anyway */
	}
	return 0;
}

int rv_dc_replace_session(struct rv_dc *dc, uint32_t peer_id, uint8_t key_id, enum rv_cipher suite,
			  const struct rv_key_dir *tx, const struct rv_key_dir *rx)
{
	return post(dc, false, peer_id, key_id, suite, tx, rx, 0);
}

int rv_dc_rekey_async(struct rv_dc *dc, uint8_t key_id, enum rv_cipher suite,
		      const struct rv_key_dir *tx, const struct rv_key_dir *rx, uint32_t grace_ms)
{
	return post(dc, true, 0, key_id, suite, tx, rx, grace_ms);
}

int rv_dc_set_keepalive(struct rv_dc *dc, uint32_t keepalive_ms)
{
	uint64_t one = 1;

	if (keepalive_ms < 1000 || keepalive_ms > 3600000u)
		return -1;
	atomic_store(&dc->keepalive_ms, keepalive_ms);
	if (write(dc->wakefd, &one, sizeof(one)) < 0) {
		/* the loop reads the new value on its next pass anyway */
	}
	return 0;
}

uint32_t rv_dc_keepalive_ms(const struct rv_dc *dc)
{
	return atomic_load(&dc->keepalive_ms);
}

bool rv_dc_rekey_due(const struct rv_dc *dc)
{
	return atomic_load(&dc->rekey_due);
}

uint32_t rv_dc_rtt_us(const struct rv_dc *dc)
{
	return atomic_load_explicit(&dc->rtt_us, memory_order_relaxed);
}

uint64_t rv_dc_reply_age_ms(const struct rv_dc *dc)
{
	return (mono_ns() - atomic_load(&dc->last_reply_ns)) / NS_PER_MS;
}

uint64_t rv_dc_unanswered_ms(const struct rv_dc *dc)
{
	uint64_t since = atomic_load(&dc->unanswered_ns);

	return since ? (mono_ns() - since) / NS_PER_MS : 0;
}

/* The loop sleeps until the next probe or the next tick (<= 1 s), timers()
 * checks the rest at that pace. */
static uint64_t next_timer(const struct rv_dc *dc)
{
	uint64_t t = dc->next_probe_ns < dc->next_tick_ns ? dc->next_probe_ns : dc->next_tick_ns;

	return t > dc->now_ns ? t : dc->now_ns;
}

int rv_dc_run(struct rv_dc *dc)
{
	struct epoll_event evs[8];
	int more = 0;

	while (!atomic_load(&dc->stop)) {
		int n, timeout;
		dc->now_ns = mono_ns();
		if (atomic_load(&dc->mbox_full))
			apply_mbox(dc);
		timers(dc);
		timeout = more ? 0 : (int)((next_timer(dc) - dc->now_ns) / NS_PER_MS) + 1;
		n = epoll_wait(dc->ep, evs, 8, timeout);
		if (n < 0 && errno != EINTR) {
			rv_log(RV_LOG_ERROR, "data channel: epoll_wait: %s", strerror(errno));
			return -1;
		}
		dc->now_ns = mono_ns();
		more = 0;
		for (int i = 0; i < n; i++) {
			switch (evs[i].data.u32) {
			case 0:
				tun_rx(dc);
				break;
			case 1:
				udp_rx(dc);
				break;
			case 3:
				more = tcp_rx(dc);
				break;
			case 4:
				drain_wake(dc);
				break;
			default:
				break; /* stop eventfd */
			}
		}
	}
	return 0;
}

void rv_dc_stop(struct rv_dc *dc)
{
	uint64_t one = 1;

	atomic_store(&dc->stop, true);
	if (write(dc->stopfd, &one, sizeof(one)) < 0) {
		/* the flag alone stops the loop within one probe interval */
	}
}

static int install(struct rv_dc *dc, uint8_t key_id, enum rv_cipher suite,
		   const struct rv_key_dir *tx, const struct rv_key_dir *rx, uint64_t grace_ns)
{
	uint64_t now = mono_ns();

	if (rv_dc_session_install(&dc->udp_sess, key_id, suite, tx, rx, now, grace_ns) < 0)
		return -1;
	if (rv_dc_session_install(&dc->tcp_sess, key_id, RV_CIPHER_NONE, tx, rx, now, grace_ns) < 0)
		return -1;
	return 0;
}

int rv_dc_rekey(struct rv_dc *dc, uint8_t key_id, enum rv_cipher suite, const struct rv_key_dir *tx,
		const struct rv_key_dir *rx, uint32_t grace_ms)
{
	dc->p.suite = suite;
	dc->p.key_id = key_id;
	return install(dc, key_id, suite, tx, rx, grace_ms * NS_PER_MS);
}

/* Large UDP socket buffers: a TCP burst through the tunnel arrives faster
 * than one loop pass drains it, and the kernel default (~208 KB) overflows.
 * SO_*BUFFORCE (root) goes past net.core.[rw]mem_max; otherwise the plain
 * option, which the kernel caps at that maximum. */
static void set_sockbuf(int fd, int force_opt, int opt, uint32_t bytes)
{
	int v = bytes > INT32_MAX / 2 ? INT32_MAX / 2 : (int)bytes;

	if (setsockopt(fd, SOL_SOCKET, force_opt, &v, sizeof(v)) == 0)
		return;
	if (setsockopt(fd, SOL_SOCKET, opt, &v, sizeof(v)) < 0)
		rv_log(RV_LOG_WARN, "data channel: UDP socket buffer of %d bytes: %s", v,
		       strerror(errno));
}

static int open_udp(struct rv_dc *dc, char *err, size_t errlen)
{
	dc->udp = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	/* Not connect()ed: a missing route at start-up must not be fatal, and
	 * the source of every datagram is checked instead. */
	if (dc->udp < 0) {
		snprintf(err, errlen, "UDP socket to the server: %s", strerror(errno));
		return -1;
	}
	set_sockbuf(dc->udp, SO_RCVBUFFORCE, SO_RCVBUF, dc->p.udp_sockbuf);
	set_sockbuf(dc->udp, SO_SNDBUFFORCE, SO_SNDBUF, dc->p.udp_sockbuf);
	return 0;
}

static int setup_epoll(struct rv_dc *dc, char *err, size_t errlen)
{
	struct epoll_event ev = {.events = EPOLLIN};

	dc->ep = epoll_create1(EPOLL_CLOEXEC);
	dc->stopfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	dc->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (dc->ep < 0 || dc->stopfd < 0 || dc->wakefd < 0)
		goto err;
	ev.data.u32 = 0;
	if (epoll_ctl(dc->ep, EPOLL_CTL_ADD, dc->tun, &ev) < 0)
		goto err;
	ev.data.u32 = 1;
	if (epoll_ctl(dc->ep, EPOLL_CTL_ADD, dc->udp, &ev) < 0)
		goto err;
	ev.data.u32 = 2;
	if (epoll_ctl(dc->ep, EPOLL_CTL_ADD, dc->stopfd, &ev) < 0)
		goto err;
	ev.data.u32 = 4;
	if (epoll_ctl(dc->ep, EPOLL_CTL_ADD, dc->wakefd, &ev) < 0)
		goto err;
	return 0;
err:
	snprintf(err, errlen, "epoll set-up: %s", strerror(errno));
	return -1;
}

static void set_defaults(struct rv_dc_params *p)
{
	if (!p->keepalive_ms)
		p->keepalive_ms = 10000;
	if (!p->fallback_ms)
		p->fallback_ms = 3000;
	if (!p->udp_sockbuf)
		p->udp_sockbuf = DC_SOCKBUF;
}

int rv_dc_create(const struct rv_dc_params *p, int tun_fd, struct rv_dc **out, char *err,
		 size_t errlen)
{
	struct rv_dc *dc = calloc(1, sizeof(*dc));

	if (!dc) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	dc->p = *p;
	set_defaults(&dc->p);
	atomic_init(&dc->keepalive_ms, dc->p.keepalive_ms);
	dc->tun = tun_fd;
	dc->udp = dc->ep = dc->stopfd = dc->wakefd = -1;
	pthread_mutex_init(&dc->mbox_lock, NULL);
	dc->tcp.fd = -1;
	dc->bufs = calloc(DC_BATCH, sizeof(*dc->bufs));
	dc->tcp_out = malloc(DC_BATCH * sizeof(struct dc_buf));
	dc->vnet = rv_tun_vnet_hdr(tun_fd);
	if (dc->vnet) {
		dc->tun_in = malloc(DC_VH + RV_GRO_MAX);
		dc->gro.buf = malloc(DC_VH + RV_GRO_MAX);
	}
	if (!dc->bufs || !dc->tcp_out || (dc->vnet && (!dc->tun_in || !dc->gro.buf))) {
		snprintf(err, errlen, "out of memory");
		goto err_free;
	}
	if (rv_dc_session_init(&dc->udp_sess, p->peer_id, p->replay_window) < 0 ||
	    rv_dc_session_init(&dc->tcp_sess, p->peer_id, p->replay_window) < 0 ||
	    install(dc, p->key_id, p->suite, &p->tx, &p->rx, 0) < 0) {
		snprintf(err, errlen, "cannot install the %s key (key-id %u, peer-id %u)",
			 rv_cipher_name(p->suite), p->key_id, p->peer_id);
		goto err_free;
	}
	dc->udp_sess.slot[dc->udp_sess.tx_slot].tx_pid = p->first_pid;
	dc->tcp_sess.slot[dc->tcp_sess.tx_slot].tx_pid = p->first_pid;
	dc->tcp_enabled = p->tcp_server.sin_port && (p->tls_pin_set || p->tls_ca_file);
	if (dc->tcp_enabled && dc_tcp_init(&dc->tcp, &dc->p, err, errlen) < 0)
		goto err_free;
	if (open_udp(dc, err, errlen) < 0 || setup_epoll(dc, err, errlen) < 0)
		goto err_free;
	rv_log(RV_LOG_INFO, "data channel: TUN %s",
	       dc->vnet ? "offloads on (TSO4 reads cut into segments, coalesced TCP writes)"
			: "in plain mode (one packet per read and write)");
	dc->now_ns = mono_ns();
	dc->last_udp_reply_ns = dc->now_ns; /* give UDP one fallback period */
	atomic_store(&dc->last_reply_ns, dc->now_ns);
	dc->last_tx_ns = dc->now_ns;
	dc->last_rx_ns = dc->now_ns;
	dc->tcp_retry_ms = dc->p.fallback_ms;
	dc->prefer_tcp = p->start == RV_DC_TCP && dc->tcp_enabled;
	*out = dc;
	return 0;
err_free:
	rv_dc_destroy(dc);
	return -1;
}

void rv_dc_destroy(struct rv_dc *dc)
{
	if (!dc)
		return;
	if (dc->tcp.ctx)
		dc_tcp_free(&dc->tcp);
	rv_dc_session_destroy(&dc->udp_sess);
	rv_dc_session_destroy(&dc->tcp_sess);
	if (dc->udp >= 0)
		close(dc->udp);
	if (dc->ep >= 0)
		close(dc->ep);
	if (dc->stopfd >= 0)
		close(dc->stopfd);
	if (dc->wakefd >= 0)
		close(dc->wakefd);
	pthread_mutex_destroy(&dc->mbox_lock);
	OPENSSL_cleanse(&dc->mbox, sizeof(dc->mbox));
	free(dc->bufs);
	free(dc->tcp_out);
	free(dc->tun_in);
	free(dc->gro.buf);
	OPENSSL_cleanse(&dc->p, sizeof(dc->p));
	free(dc);
}

void rv_dc_set_tick(struct rv_dc *dc, rv_dc_tick_fn fn, void *arg)
{
	dc->tick = fn;
	dc->tick_arg = arg;
}

enum rv_dc_transport rv_dc_transport(const struct rv_dc *dc)
{
	return dc->active;
}

const char *rv_dc_transport_name(enum rv_dc_transport t)
{
	return t == RV_DC_TCP ? "tcp" : "udp";
}

uint8_t rv_dc_key_id(const struct rv_dc *dc)
{
	return dc->p.key_id;
}

const struct rv_dc_stats *rv_dc_stats(const struct rv_dc *dc)
{
	return &dc->st;
}

int rv_dc_stats_json(const struct rv_dc *dc, char *buf, size_t cap)
{
	const struct rv_dc_stats *s = &dc->st;
	size_t n;
	int w;

	w = snprintf(buf, cap,
		     "{\"transport\":\"%s\",\"key_id\":%u,\"cipher\":\"%s\",\"rtt_us\":%" PRIu64
		     ",\"tx_packets\":%" PRIu64 ",\"tx_bytes\":%" PRIu64 ",\"rx_packets\":%" PRIu64
		     ",\"rx_bytes\":%" PRIu64 ",\"pings_tx\":%" PRIu64 ",\"pings_rx\":%" PRIu64
		     ",\"echo_tx\":%" PRIu64 ",\"echo_rx\":%" PRIu64 ",\"to_tcp\":%" PRIu64
		     ",\"to_udp\":%" PRIu64 ",\"tcp_connect_failures\":%" PRIu64
		     ",\"tun_errors\":%" PRIu64 ",\"tx_errors\":%" PRIu64
		     ",\"keepalive_ms\":%u,\"rekey_due\":%s,\"drops\":{",
		     rv_dc_transport_name(dc->active), dc->p.key_id, rv_cipher_name(dc->p.suite),
		     s->rtt_ns / 1000, s->tx_packets, s->tx_bytes, s->rx_packets, s->rx_bytes,
		     s->pings_tx, s->pings_rx, s->echo_tx, s->echo_rx, s->to_tcp, s->to_udp,
		     s->tcp_connect_failures, s->tun_errors, s->tx_errors, rv_dc_keepalive_ms(dc),
		     atomic_load(&dc->rekey_due) ? "true" : "false");
	if (w < 0 || (size_t)w >= cap)
		return -1;
	n = (size_t)w;
	for (int r = 1; r < RV_DROP__COUNT; r++) {
		w = snprintf(buf + n, cap - n, "%s\"%s\":%" PRIu64, r > 1 ? "," : "",
			     rv_drop_name((enum rv_drop)r), s->drops[r]);
		if (w < 0 || (size_t)w >= cap - n)
			return -1;
		n += (size_t)w;
	}
	if (cap - n < 3)
		return -1;
	memcpy(buf + n, "}}", 3);
	return (int)n + 2;
}
