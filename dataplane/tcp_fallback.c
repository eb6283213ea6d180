/* TCP fallback thread: TLS over TCP <-> the workers' rings (tcp_io.h).
 *
 * One epoll loop over: a stop eventfd, the listening socket, the workers'
 * wake eventfd, and every connection. Connections are non-blocking; TLS
 * (OpenSSL) runs with partial writes allowed. Per connection: a frame
 * decoder (rx) and a bounded output buffer (tx). Frames from the workers are
 * appended to the output buffer of their connection, or dropped and counted
 * when it is full or gone: the workers never wait for a TCP peer. */
#include "tcp_fallback.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "config.h"
#include "fd_reserve.h"
#include "inet.h"
#include "log.h"
#include "tcp_frame.h"
#include "tcp_io.h"

#define TAG_STOP       (1ull << 62)
#define TAG_LISTEN     (TAG_STOP + 1)
#define TAG_WAKE       (TAG_STOP + 2)
#define TAG_LISTEN6    (TAG_STOP + 3)
#define MAX_EVENTS     64
#define TX_BURST       64
#define TX_BUDGET      4096 /* frames drained per loop pass, then sockets again */
#define READ_BUF       16384
#define READ_ROUNDS    64	    /* SSL_reads per connection per event (1 MiB) */
#define SWEEP_EVERY_NS 100000000ull /* deadlines checked 10 times a second */

struct conn {
	uint32_t id;
	int fd;
	SSL *ssl;
	uint64_t handshake_deadline_ns; /* closed if TLS is not up by then */
	uint64_t accepted_ns;
	uint64_t last_rx_ns;   /* accept, authentication, then every frame */
	bool established;      /* TLS handshake done */
	bool authed;	       /* the workers sent it a frame (see the header) */
	bool read_wants_write; /* SSL_read returned WANT_WRITE */
	bool write_wants_read; /* SSL_write returned WANT_READ */
	uint32_t ev;	       /* epoll events registered */
	uint8_t *out;	       /* pending bytes: out[out_off..out_len) */
	uint32_t out_len, out_off;
	char peer[56]; /* "ip:port" or "[ip6]:port" for logs */
	struct rv_tcp_decoder dec;
};

/* Counters: written by the TCP thread, read by anyone. */
struct counters {
	_Atomic uint64_t accepted, refused_full, refused_fds, tls_failed, closed, active,
	    bad_length;
	_Atomic uint64_t shed_handshake, shed_idle, shed_unauth, frames_oversize, max_conns;
	_Atomic uint64_t frames_in, bytes_in, frames_refused, frames_out, bytes_out;
	_Atomic uint64_t out_dropped_slow, out_dropped_gone;
};

static struct {
	bool running;
	pthread_t thread;
	int ep, listen_fd, stop_fd, wake_fd;
	int listen6_fd; /* IPv6 listener (tcp-listen6), -1 = none */
	uint16_t port;
	SSL_CTX *ctx;
	struct rv_tcp_fallback_ops ops;
	struct rte_ring *tx_ring;
	unsigned max_conns;
	uint32_t out_max;
	uint64_t handshake_ns, idle_ns;
	uint32_t preauth_max;
	uint64_t now_ns; /* this loop pass's clock */
	int reserve_fd;	 /* /dev/null, given up to accept and shed at EMFILE */
	uint32_t next_id;
	struct conn **conns; /* slot = id % max_conns */
	unsigned n_conns;
	struct counters c;
} tf = {.ep = -1,
	 .listen_fd = -1,
	 .stop_fd = -1,
	 .wake_fd = -1,
	 .reserve_fd = -1,
	 .listen6_fd = -1};

#define INC(f, n) atomic_fetch_add_explicit(&tf.c.f, (n), memory_order_relaxed)

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct conn *conn_find(uint32_t id)
{
	struct conn *c = id ? tf.conns[id % tf.max_conns] : NULL;
	return c && c->id == id ? c : NULL;
}

/* Next unused id whose slot is free (the caller checked n_conns < max). */
static uint32_t conn_new_id(void)
{
	for (;;) {
		uint32_t id = ++tf.next_id;
		if (id != 0 && !tf.conns[id % tf.max_conns])
			return id;
	}
}

static void conn_close(struct conn *c, const char *why)
{
	if (why) /* an attacker decides how often this happens */
		rv_log_ratelimited(RV_LOG_INFO, "tcp: conn %u from %s closed: %s", c->id, c->peer,
				   why);
	epoll_ctl(tf.ep, EPOLL_CTL_DEL, c->fd, NULL);
	if (c->established)
		SSL_shutdown(c->ssl); /* best effort close_notify, non-blocking */
	SSL_free(c->ssl);
	close(c->fd);
	tf.conns[c->id % tf.max_conns] = NULL;
	tf.n_conns--;
	INC(closed, 1);
	atomic_store_explicit(&tf.c.active, tf.n_conns, memory_order_relaxed);
	free(c->out);
	free(c);
}

static void conn_set_events(struct conn *c, uint32_t ev)
{
	if (ev == c->ev)
		return;
	struct epoll_event e = {.events = ev, .data.u64 = c->id};
	epoll_ctl(tf.ep, EPOLL_CTL_MOD, c->fd, &e);
	c->ev = ev;
}

/* EPOLLOUT only while TLS or the output buffer needs it. */
static void conn_update_events(struct conn *c, bool want_out)
{
	conn_set_events(c, EPOLLIN | EPOLLRDHUP | (want_out ? EPOLLOUT : 0u));
}

static const char *ssl_reason(void)
{
	unsigned long e = ERR_get_error();
	static char buf[160];
	if (!e)
		return strerror(errno);
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

/* ---- writing ---- */

/* Push pending output through TLS. Returns -1 when the connection died. */
static int conn_flush(struct conn *c)
{
	while (c->established && c->out_off < c->out_len) {
		int n = SSL_write(c->ssl, c->out + c->out_off, (int)(c->out_len - c->out_off));
		if (n > 0) {
			c->out_off += (uint32_t)n;
			continue;
		}
		int e = SSL_get_error(c->ssl, n);
		c->write_wants_read = e == SSL_ERROR_WANT_READ;
		if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
			conn_update_events(c, e == SSL_ERROR_WANT_WRITE);
			return 0;
		}
		conn_close(c, e == SSL_ERROR_ZERO_RETURN ? "peer closed" : ssl_reason());
		return -1;
	}
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	conn_update_events(c, c->read_wants_write);
	return 0;
}

/* Append prefix + frame, compacting first; false if it does not fit. */
static bool conn_queue(struct conn *c, const uint8_t *frame, uint32_t len)
{
	uint8_t prefix[2];
	if (rv_tcp_frame_prefix(prefix, len) < 0)
		return false;
	if (c->out_len + 2 + len > tf.out_max && c->out_off > 0) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	if (c->out_len + 2 + len > tf.out_max)
		return false;
	memcpy(c->out + c->out_len, prefix, 2);
	memcpy(c->out + c->out_len + 2, frame, len);
	c->out_len += 2 + len;
	return true;
}

/* One frame from the workers. */
static void tx_one(struct rte_mbuf *m, struct conn **dirty, unsigned *n_dirty)
{
	struct conn *c = conn_find(rv_tcp_io_conn(m));
	uint32_t len = rte_pktmbuf_pkt_len(m);
	uint8_t tmp[RV_TCP_FRAME_MAX];
	const uint8_t *data = rte_pktmbuf_read(m, 0, len <= sizeof(tmp) ? len : 0, tmp);
	if (!c || !c->established) {
		INC(out_dropped_gone, 1);
	} else if (!data || len == 0 || len > RV_TCP_FRAME_MAX || !conn_queue(c, data, len)) {
		INC(out_dropped_slow, 1);
	} else {
		if (unlikely(!c->authed)) {
			c->authed = true; /* the workers bound a session to it */
			c->last_rx_ns = tf.now_ns;
			c->dec.max_len = RV_TCP_FRAME_MAX;
		}
		INC(frames_out, 1);
		INC(bytes_out, len);
		if (c->out_len - c->out_off == 2 + len) /* first pending frame */
			dirty[(*n_dirty)++] = c;
	}
	rte_pktmbuf_free(m);
}

/* Drain the workers' ring; flush each touched connection once. */
static void tx_drain(void)
{
	struct rte_mbuf *m[TX_BURST];
	struct conn *dirty[TX_BUDGET + TX_BURST];
	unsigned n_dirty = 0, total = 0, n;
	if (!tf.tx_ring)
		return;
	if (tf.ops.tx_wake_ack)
		tf.ops.tx_wake_ack();
	while (total < TX_BUDGET &&
	       (n = rte_ring_dequeue_burst(tf.tx_ring, (void **)m, TX_BURST, NULL)) > 0) {
		for (unsigned i = 0; i < n; i++)
			tx_one(m[i], dirty, &n_dirty);
		total += n;
	}
	for (unsigned i = 0; i < n_dirty; i++) {
		uint32_t id = dirty[i]->id;
		if (conn_find(id) == dirty[i]) /* an earlier flush may have closed a conn */
			conn_flush(dirty[i]);
	}
}

/* ---- reading ---- */

struct rx_arg {
	struct conn *c;
};

static void rx_frame(void *arg, const uint8_t *frame, uint32_t len)
{
	struct conn *c = ((struct rx_arg *)arg)->c;
	INC(frames_in, 1);
	INC(bytes_in, len);
	if (c->authed)
		c->last_rx_ns = tf.now_ns;
	if (tf.ops.rx(c->id, frame, len) < 0)
		INC(frames_refused, 1);
}

/* Finish the handshake; -1 when the connection died. */
static int conn_handshake(struct conn *c)
{
	int n = SSL_accept(c->ssl);
	if (n == 1) {
		c->established = true;
		rv_log_ratelimited(RV_LOG_DEBUG, "tcp: conn %u from %s: TLS established", c->id,
				   c->peer);
		return conn_flush(c);
	}
	int e = SSL_get_error(c->ssl, n);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		conn_update_events(c, e == SSL_ERROR_WANT_WRITE);
		return 0;
	}
	INC(tls_failed, 1);
	conn_close(c, ssl_reason());
	return -1;
}

static int conn_read(struct conn *c)
{
	uint8_t buf[READ_BUF];
	struct rx_arg a = {c};
	c->read_wants_write = false;
	/* A budget per event: one fast sender must not starve the others. What
	 * is left in the socket is reported again (epoll is level-triggered);
	 * what OpenSSL already holds is read now. */
	for (int round = 0;; round++) {
		if (round >= READ_ROUNDS && SSL_pending(c->ssl) == 0)
			return 0;
		int n = SSL_read(c->ssl, buf, sizeof(buf));
		if (n > 0) {
			if (rv_tcp_decoder_feed(&c->dec, buf, (size_t)n, rx_frame, &a) < 0) {
				if (c->authed) {
					INC(bad_length, 1);
					conn_close(c, "bad frame length");
				} else {
					INC(frames_oversize, 1);
					conn_close(
					    c, "frame length out of range before authentication");
				}
				return -1;
			}
			continue;
		}
		int e = SSL_get_error(c->ssl, n);
		if (e == SSL_ERROR_WANT_READ)
			return 0;
		if (e == SSL_ERROR_WANT_WRITE) {
			c->read_wants_write = true;
			conn_update_events(c, true);
			return 0;
		}
		conn_close(c, e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL ? "peer closed"
										   : ssl_reason());
		return -1;
	}
}

static void conn_event(struct conn *c, uint32_t ev)
{
	if (!c->established) {
		conn_handshake(c);
		return;
	}
	bool readable = ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR);
	if ((readable || (c->read_wants_write && (ev & EPOLLOUT))) && conn_read(c) < 0)
		return;
	if ((ev & EPOLLOUT) || (c->write_wants_read && readable))
		conn_flush(c);
}

/* ---- accepting ---- */

/* At EMFILE the listener stays readable: give up the reserve descriptor,
 * accept and close the connection, take the reserve back. No spinning. */
static void shed_at_fd_limit(int listen_fd)
{
	INC(refused_fds, 1);
	rv_log_ratelimited(RV_LOG_WARN, "tcp: out of descriptors (%s): refusing connections",
			   strerror(errno));
	rv_fd_reserve_shed(listen_fd, &tf.reserve_fd);
}

/* "ip:port" or "[ip6]:port" of an accepted peer. */
static void peer_str(const struct sockaddr_storage *ss, char *out, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		snprintf(out, len, "[%s]:%u", ip, ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		snprintf(out, len, "%s:%u", ip, ntohs(s4->sin_port));
	}
}

/* The unauthenticated connection accepted first, or NULL. A scan, only
 * when the table is full. */
static struct conn *oldest_unauthed(void)
{
	struct conn *o = NULL;
	for (unsigned i = 0; i < tf.max_conns; i++) {
		struct conn *c = tf.conns[i];
		if (c && !c->authed && (!o || c->accepted_ns < o->accepted_ns))
			o = c;
	}
	return o;
}

/* Room for one more connection: shed the oldest unauthenticated one if
 * needed. false = every connection is a member's: refuse. */
static bool make_room(void)
{
	if (tf.n_conns < tf.max_conns)
		return true;
	struct conn *o = oldest_unauthed();
	if (!o)
		return false;
	INC(shed_unauth, 1);
	conn_close(o, "oldest unauthenticated connection, shed for a new one");
	return true;
}

/* A connection on @listen_fd (IPv4 or IPv6: the same from here on). */
static void conn_accept(int listen_fd)
{
	struct sockaddr_storage sa;
	socklen_t sl = sizeof(sa);
	int fd = accept4(listen_fd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE)
			shed_at_fd_limit(listen_fd);
		return;
	}
	if (!make_room()) {
		INC(refused_full, 1);
		rv_log_ratelimited(RV_LOG_WARN, "tcp: refusing a connection: %u connections open",
				   tf.n_conns);
		close(fd);
		return;
	}
	struct conn *c = calloc(1, sizeof(*c));
	uint8_t *out = malloc(tf.out_max);
	SSL *ssl = SSL_new(tf.ctx);
	if (!c || !out || !ssl || SSL_set_fd(ssl, fd) != 1)
		goto err;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->id = conn_new_id();
	c->fd = fd;
	c->ssl = ssl;
	c->out = out;
	peer_str(&sa, c->peer, sizeof(c->peer));
	SSL_set_accept_state(ssl);
	c->ev = EPOLLIN | EPOLLRDHUP;
	c->accepted_ns = c->last_rx_ns = tf.now_ns;
	c->handshake_deadline_ns = tf.now_ns + tf.handshake_ns;
	rv_tcp_decoder_init(&c->dec, tf.preauth_max);
	struct epoll_event e = {.events = c->ev, .data.u64 = c->id};
	if (epoll_ctl(tf.ep, EPOLL_CTL_ADD, fd, &e) < 0)
		goto err;
	tf.conns[c->id % tf.max_conns] = c;
	tf.n_conns++;
	INC(accepted, 1);
	atomic_store_explicit(&tf.c.active, tf.n_conns, memory_order_relaxed);
	rv_log_ratelimited(RV_LOG_DEBUG, "tcp: conn %u from %s", c->id, c->peer);
	return;
err:
	rv_log_ratelimited(RV_LOG_WARN, "tcp: cannot set up a connection: %s", strerror(errno));
	SSL_free(ssl);
	free(out);
	free(c);
	close(fd);
}

/* ---- the thread ---- */

/* A connection that never finishes its TLS handshake, or that is idle (an
 * unauthenticated one: that never authenticates), must not hold a slot. */
static void sweep_deadlines(void)
{
	static uint64_t next;
	uint64_t now = tf.now_ns;
	if (now < next)
		return;
	next = now + SWEEP_EVERY_NS;
	for (unsigned i = 0; i < tf.max_conns; i++) {
		struct conn *c = tf.conns[i];
		if (!c)
			continue;
		if (!c->established && now > c->handshake_deadline_ns) {
			INC(shed_handshake, 1);
			conn_close(c, "TLS handshake timed out");
		} else if (c->established && now - c->last_rx_ns > tf.idle_ns) {
			INC(shed_idle, 1);
			conn_close(c, c->authed ? "idle" : "never authenticated");
		}
	}
}

/* One pass: sockets that are ready, then the workers' ring. false = stop. */
static bool tcp_pass(int timeout)
{
	struct epoll_event ev[MAX_EVENTS];
	int n = epoll_wait(tf.ep, ev, MAX_EVENTS, timeout);
	if (n < 0 && errno != EINTR) {
		rv_log(RV_LOG_ERROR, "tcp: epoll_wait: %s", strerror(errno));
		return false;
	}
	tf.now_ns = mono_ns();
	for (int i = 0; i < n; i++) {
		uint64_t tag = ev[i].data.u64;
		struct conn *c;
		if (tag == TAG_STOP)
			return false;
		if (tag == TAG_LISTEN || tag == TAG_LISTEN6)
			conn_accept(tag == TAG_LISTEN ? tf.listen_fd : tf.listen6_fd);
		else if (tag != TAG_WAKE && (c = conn_find((uint32_t)tag)))
			conn_event(c, ev[i].events);
	}
	tx_drain(); /* every pass: cheap when the ring is empty */
	sweep_deadlines();
	return true;
}

static void *tcp_main(void *arg)
{
	/* Deadlines are swept at least every 100 ms; no wake fd: poll the ring. */
	int timeout = tf.wake_fd >= 0 ? (int)(SWEEP_EVERY_NS / 1000000u) : 1;
	sigset_t pipe;
	(void)arg;
	/* An lcore id of its own: per-lcore stats and mempool caches in tcp_io.c. */
	bool registered = rte_thread_register() == 0;
	/* OpenSSL writes with write(): a peer that went away must give EPIPE on
	 * this thread, not kill the process. A blocked SIGPIPE stays pending. */
	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe, NULL);
	while (tcp_pass(timeout))
		;
	if (registered)
		rte_thread_unregister();
	return NULL;
}

static SSL_CTX *tls_server_ctx(const char *cert, const char *key, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx)
		goto err;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* abrupt close = closed; no TLS 1.2 renegotiation (a CPU sink) */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
	if (!cert || !key) {
		snprintf(err, errlen, "tcp fallback: a certificate and a key file are required");
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		snprintf(err, errlen, "tcp fallback: certificate %s: %s", cert, ssl_reason());
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "tcp fallback: key %s: %s", key, ssl_reason());
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
err:
	snprintf(err, errlen, "tcp fallback: TLS context: %s", ssl_reason());
	return NULL;
}

static int listen_on(uint32_t ip, uint16_t port, char *err, size_t errlen)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	socklen_t sl = sizeof(sa);
	int one = 1;
	sa.sin_addr.s_addr = htonl(ip);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 128) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
		snprintf(err, errlen, "tcp fallback: listen on %s:%u: %s", inet_ntoa(sa.sin_addr),
			 port, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	tf.port = ntohs(sa.sin_port);
	return fd;
}

/* The IPv6 listener (IPV6_V6ONLY: the IPv4 one is separate), or -1. */
static int listen_on6(const uint8_t ip[16], uint16_t port, char *err, size_t errlen)
{
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
	char ip_s[INET6_ADDRSTRLEN];
	int one = 1;
	memcpy(&sa.sin6_addr, ip, 16);
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 128) < 0) {
		inet_ntop(AF_INET6, ip, ip_s, sizeof(ip_s));
		snprintf(err, errlen, "tcp fallback: listen on [%s]:%u: %s", ip_s, port,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int epoll_add(int fd, uint64_t tag)
{
	struct epoll_event e = {.events = EPOLLIN, .data.u64 = tag};
	return fd < 0 ? 0 : epoll_ctl(tf.ep, EPOLL_CTL_ADD, fd, &e);
}

/* Descriptors open in this process now. */
static unsigned fds_open(void)
{
	unsigned n = 0;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n > 2 ? n - 3 : 0; /* ".", ".." and the directory's own fd */
}

/* Connections the descriptor limit allows, keeping RV_TCP_FD_RESERVE free;
 * the soft limit is raised to the hard one first. */
static unsigned fd_budget(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return RV_TCP_DEFAULT_MAX_CONNS;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	/* one for the reserve descriptor */
	uint64_t used = (uint64_t)fds_open() + RV_TCP_FD_RESERVE + 1;
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > used + (1u << 20))
		return 1u << 20;
	return rl.rlim_cur > used ? (unsigned)(rl.rlim_cur - used) : 1;
}

/* The hand-off and the limits, defaults filled in. */
static int take_params(const struct rv_tcp_fallback_params *p,
		       const struct rv_tcp_fallback_ops *ops, char *err, size_t errlen)
{
	if (tf.running) {
		snprintf(err, errlen, "tcp fallback already running");
		return -1;
	}
	if (!ops || !ops->rx || !ops->tx_ring) {
		snprintf(err, errlen, "tcp fallback: no hand-off to the workers (rx, tx_ring)");
		return -1;
	}
	tf.ops = *ops;
	tf.tx_ring = tf.ops.tx_ring();
	tf.wake_fd = tf.ops.tx_wakefd ? tf.ops.tx_wakefd() : -1;
	tf.max_conns = p->max_conns ? p->max_conns : RV_TCP_DEFAULT_MAX_CONNS;
	unsigned budget = fd_budget();
	if (tf.max_conns > budget) {
		rv_log(RV_LOG_WARN,
		       "tcp fallback: %u connections capped to %u by the descriptor limit "
		       "(raise LimitNOFILE / ulimit -n)",
		       tf.max_conns, budget);
		tf.max_conns = budget;
	}
	atomic_store(&tf.c.max_conns, tf.max_conns);
	tf.idle_ns = (uint64_t)(p->idle_timeout_ms ? p->idle_timeout_ms : RV_TCP_DEFAULT_IDLE_MS) *
		     1000000ull;
	tf.preauth_max = p->preauth_frame_max ? p->preauth_frame_max : RV_TCP_DEFAULT_PREAUTH_MAX;
	tf.out_max = p->out_max ? p->out_max : RV_TCP_DEFAULT_OUT_MAX;
	if (tf.out_max < 2 + RV_TCP_FRAME_MAX)
		tf.out_max = 2 + RV_TCP_FRAME_MAX; /* room for the largest frame */
	tf.handshake_ns = (uint64_t)(p->handshake_timeout_ms ? p->handshake_timeout_ms
							     : RV_TCP_DEFAULT_HANDSHAKE_MS) *
			  1000000ull;
	if (!tf.tx_ring) {
		snprintf(err, errlen, "tcp fallback: the data plane has no TCP ring");
		return -1;
	}
	return 0;
}

int rv_tcp_fallback_start(const struct rv_tcp_fallback_params *p,
			  const struct rv_tcp_fallback_ops *ops, char *err, size_t errlen)
{
	if (take_params(p, ops, err, errlen) < 0)
		return -1;
	tf.conns = calloc(tf.max_conns, sizeof(*tf.conns));
	if (!tf.conns) {
		snprintf(err, errlen, "tcp fallback: out of memory");
		return -1;
	}
	tf.ctx = tls_server_ctx(p->cert_file, p->key_file, err, errlen);
	if (!tf.ctx)
		goto err_conns;
	tf.listen_fd = listen_on(p->listen_ip, p->listen_port, err, errlen);
	if (tf.listen_fd < 0)
		goto err_ctx;
	/* the IPv6 listener takes the IPv4 one's port when given none */
	if (p->has_listen6 && (tf.listen6_fd = listen_on6(p->listen6_ip,
							   p->listen6_port ? p->listen6_port
									   : tf.port,
							   err, errlen)) < 0) {
		close(tf.listen_fd);
		tf.listen_fd = -1;
		goto err_ctx;
	}
	tf.stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	tf.ep = epoll_create1(EPOLL_CLOEXEC);
	tf.reserve_fd = rv_fd_reserve_open();
	tf.now_ns = mono_ns();
	if (tf.stop_fd < 0 || tf.ep < 0 || tf.reserve_fd < 0 ||
	    epoll_add(tf.stop_fd, TAG_STOP) < 0 || epoll_add(tf.listen_fd, TAG_LISTEN) < 0 ||
	    epoll_add(tf.listen6_fd, TAG_LISTEN6) < 0 ||
	    epoll_add(tf.wake_fd, TAG_WAKE) < 0) {
		snprintf(err, errlen, "tcp fallback: epoll: %s", strerror(errno));
		goto err_fds;
	}
	int rc = pthread_create(&tf.thread, NULL, tcp_main, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "tcp fallback: pthread_create: %s", strerror(rc));
		goto err_fds;
	}
	pthread_setname_np(tf.thread, "rv-tcp");
	tf.running = true;
	return 0;
err_fds:
	if (tf.reserve_fd >= 0)
		close(tf.reserve_fd);
	if (tf.ep >= 0)
		close(tf.ep);
	if (tf.stop_fd >= 0)
		close(tf.stop_fd);
	close(tf.listen_fd);
	if (tf.listen6_fd >= 0)
		close(tf.listen6_fd);
	tf.ep = tf.stop_fd = tf.listen_fd = tf.reserve_fd = tf.listen6_fd = -1;
err_ctx:
	SSL_CTX_free(tf.ctx);
	tf.ctx = NULL;
err_conns:
	free(tf.conns);
	tf.conns = NULL;
	return -1;
}

void rv_tcp_fallback_stop(void)
{
	uint64_t one = 1;
	if (!tf.running)
		return;
	if (write(tf.stop_fd, &one, sizeof(one)) < 0)
		rv_log(RV_LOG_ERROR, "tcp: cannot signal stop: %s", strerror(errno));
	pthread_join(tf.thread, NULL);
	for (unsigned i = 0; i < tf.max_conns; i++) {
		if (!tf.conns[i])
			continue;
		tf.conns[i]->established = false; /* no close_notify from this thread */
		conn_close(tf.conns[i], NULL);
	}
	close(tf.ep);
	close(tf.stop_fd);
	close(tf.listen_fd);
	if (tf.listen6_fd >= 0)
		close(tf.listen6_fd);
	if (tf.reserve_fd >= 0)
		close(tf.reserve_fd);
	SSL_CTX_free(tf.ctx);
	free(tf.conns);
	tf.conns = NULL;
	tf.ctx = NULL;
	tf.ep = tf.stop_fd = tf.listen_fd = tf.wake_fd = tf.reserve_fd = tf.listen6_fd = -1;
	tf.running = false;
}

int rv_tcp_fallback_config_key(struct rv_tcp_fallback_params *p, const char *key, const char *value,
			       char *err, size_t errlen)
{
	if (strcmp(key, "tcp-listen") == 0) {
		if (rv_parse_hostport(value, &p->listen_ip, &p->listen_port) < 0) {
			snprintf(err, errlen, "tcp-listen: expected A.B.C.D:PORT, got '%s'", value);
			return -1;
		}
		return 0;
	}
	if (strcmp(key, "tcp-listen6") == 0) {
		if (rv_parse_hostport6(value, p->listen6_ip, &p->listen6_port) < 0) {
			snprintf(err, errlen, "tcp-listen6: expected [IPv6]:PORT, got '%s'",
				 value);
			return -1;
		}
		p->has_listen6 = true;
		return 0;
	}
	if (strcmp(key, "tcp-cert") == 0 || strcmp(key, "tcp-key") == 0) {
		const char **dst = key[4] == 'c' ? &p->cert_file : &p->key_file;
		free((char *)*dst);
		*dst = strdup(value);
		return *dst ? 0 : (snprintf(err, errlen, "out of memory"), -1);
	}
	if (strcmp(key, "tcp-max-conns") == 0)
		return rv_parse_u32(value, 1, 1u << 20, &p->max_conns, err, errlen);
	if (strcmp(key, "tcp-out-max") == 0)
		return rv_parse_u32(value, 2 + RV_TCP_FRAME_MAX, 1u << 30, &p->out_max, err,
				    errlen);
	if (strcmp(key, "tcp-preauth-frame-max") == 0)
		return rv_parse_u32(value, 64, RV_TCP_FRAME_MAX, &p->preauth_frame_max, err,
				    errlen);
	if (strcmp(key, "tcp-handshake-timeout") == 0 || strcmp(key, "tcp-idle-timeout") == 0) {
		uint64_t ns;
		uint32_t *dst = key[4] == 'h' ? &p->handshake_timeout_ms : &p->idle_timeout_ms;
		if (rv_parse_duration_ns(value, &ns, err, errlen) < 0)
			return -1;
		if (ns < 1000000ull || ns > 86400ull * 1000000000ull) {
			snprintf(err, errlen, "%s: %s is outside 1ms..24h", key, value);
			return -1;
		}
		*dst = (uint32_t)(ns / 1000000ull);
		return 0;
	}
	return -2;
}

uint16_t rv_tcp_fallback_port(void)
{
	return tf.port;
}

int rv_tcp_fallback_running(void)
{
	return tf.running;
}

void rv_tcp_fallback_read_stats(struct rv_tcp_fallback_stats *o)
{
#define RD(f) o->f = atomic_load_explicit(&tf.c.f, memory_order_relaxed)
	RD(accepted);
	RD(refused_full);
	RD(refused_fds);
	RD(tls_failed);
	RD(shed_handshake);
	RD(shed_idle);
	RD(shed_unauth);
	RD(frames_oversize);
	RD(max_conns);
	RD(closed);
	RD(active);
	RD(bad_length);
	RD(frames_in);
	RD(bytes_in);
	RD(frames_refused);
	RD(frames_out);
	RD(bytes_out);
	RD(out_dropped_slow);
	RD(out_dropped_gone);
#undef RD
}
