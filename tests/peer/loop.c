/* rvpeer's event loop: epoll over the TUN, the transport, signals and
 * timers. Per packet: one read into a preallocated buffer with headroom,
 * seal or open in place, one write. Every refused packet is counted by
 * reason (drop.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "payload.h"
#include "rvpeer.h"

#define BURST	64 /* packets read per readiness event before polling again */
#define TICK_NS 1000000000ull

enum ev_tag { EV_TUN, EV_UDP, EV_TLS, EV_SIG, EV_PING, EV_ECHO, EV_TICK };

struct peer {
	const struct peer_opts *o;
	struct peer_channel ch;
	struct peer_stats st;
	int epfd, tun, udp, sig, ping_t, echo_t, tick_t;
	struct peer_tls *tls;
	int tls_polled;			/* fd currently registered for the TLS transport */
	struct sockaddr_storage remote; /* UDP: IPv4 or IPv6 */
	bool remote_known, running, ch_ready;
	uint32_t echo_seq;
	uint32_t sealed;	   /* for --duplicate-every */
	uint8_t rx[PEER_BUF_SIZE]; /* network -> TUN */
	uint8_t tx[PEER_BUF_SIZE]; /* TUN -> network, pings, echos */
};

uint64_t peer_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint32_t wall_s(void)
{
	return (uint32_t)time(NULL);
}

static const char *mode_name(const struct peer *pr)
{
	if (pr->o->mode == PEER_MODE_STATIC)
		return "static";
	return rv_cipher_name(pr->o->cipher);
}

static void report(const struct peer *pr)
{
	peer_stats_report(&pr->st, mode_name(pr), peer_channel_engine(&pr->ch),
			  peer_channel_tx_key_id(&pr->ch), pr->o->stats_file);
}

static void count_drop(struct peer *pr, enum rv_drop r)
{
	pr->st.drops[r < RV_DROP__COUNT ? r : RV_DROP_MALFORMED]++;
	if (pr->o->verbose)
		rv_log_ratelimited(RV_LOG_DEBUG, "drop: %s", rv_drop_name(r));
}

/* A payload area at the start of @buf with headroom for the framing. */
static struct rv_pkt payload_at(uint8_t *buf, uint32_t len)
{
	return (struct rv_pkt){
	    .data = buf + PEER_PREFIX_ROOM + RV_DC_HEADROOM,
	    .len = len,
	    .headroom = RV_DC_HEADROOM,
	    .tailroom = PEER_MAX_PAYLOAD - len + RV_DC_TAILROOM,
	};
}

static socklen_t addr_len(const struct sockaddr_storage *a)
{
	return a->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

static void transmit(struct peer *pr, const struct rv_pkt *p)
{
	if (pr->tls) {
		if (peer_tls_send(pr->tls, p->data, p->len) != 0) {
			pr->st.tx_errors++;
			return;
		}
	} else if (!pr->remote_known) {
		count_drop(pr, RV_DROP_NO_ROUTE);
		return;
	} else if (sendto(pr->udp, p->data, p->len, 0, (struct sockaddr *)&pr->remote,
			  addr_len(&pr->remote)) < 0) {
		if (errno == EAGAIN || errno == ENOBUFS)
			count_drop(pr, RV_DROP_TX_FULL);
		else
			pr->st.tx_errors++;
		return;
	}
	pr->st.packets_out++;
	pr->st.bytes_out += p->len;
}

/* Seal the payload in @p and send it. */
static void seal_and_send(struct peer *pr, struct rv_pkt *p)
{
	enum rv_drop r;

	if (p->headroom < RV_DC_HEADROOM) {
		count_drop(pr, RV_DROP_TOO_BIG);
		return;
	}
	r = peer_channel_seal(&pr->ch, p, wall_s());
	if (r != RV_OK) {
		count_drop(pr, r);
		return;
	}
	transmit(pr, p);
	if (pr->o->duplicate_every && ++pr->sealed % pr->o->duplicate_every == 0) {
		transmit(pr, p); /* the same bytes again: a replay */
		pr->st.duplicates_out++;
	}
}

static void send_ping(struct peer *pr)
{
	struct rv_pkt p = payload_at(pr->tx, RV_PING_LEN);

	memcpy(p.data, rv_ping_payload, RV_PING_LEN);
	seal_and_send(pr, &p);
	pr->st.pings_out++;
}

static void send_echo(struct peer *pr, const uint8_t *reply)
{
	struct rv_pkt p = payload_at(pr->tx, RV_ECHO_LEN);
	struct rv_echo e = {.type = RV_ECHO_REQUEST, .seq = ++pr->echo_seq, .ts_ns = peer_now_ns()};

	if (reply) {
		memcpy(p.data, reply, RV_ECHO_LEN);
		rv_echo_make_reply(p.data);
		pr->st.echo_rep_out++;
	} else {
		rv_echo_build(p.data, RV_ECHO_LEN, &e);
		pr->st.echo_req_out++;
	}
	seal_and_send(pr, &p);
}

static void got_echo(struct peer *pr, const uint8_t *data, uint32_t len)
{
	struct rv_echo e;
	uint64_t rtt;

	if (rv_echo_parse(data, len, &e) != 0) {
		count_drop(pr, RV_DROP_MALFORMED);
		return;
	}
	if (e.type == RV_ECHO_REQUEST) {
		pr->st.echo_req_in++;
		send_echo(pr, data);
		return;
	}
	pr->st.echo_rep_in++;
	rtt = peer_now_ns() - e.ts_ns;
	pr->st.rtt_last_ns = rtt;
	if (!pr->st.rtt_min_ns || rtt < pr->st.rtt_min_ns)
		pr->st.rtt_min_ns = rtt;
	if (rtt > pr->st.rtt_max_ns)
		pr->st.rtt_max_ns = rtt;
	printf("echo reply seq=%u rtt=%.3f ms\n", e.seq, (double)rtt / 1e6);
	fflush(stdout);
}

/* An authenticated payload: to the TUN, or a keepalive/echo. */
static void deliver(struct peer *pr, const uint8_t *data, uint32_t len)
{
	switch (rv_payload_classify(data, len)) {
	case RV_PAYLOAD_IPV4:
	case RV_PAYLOAD_IPV6:
		if (write(pr->tun, data, len) != (ssize_t)len) {
			pr->st.tun_errors++;
			return;
		}
		pr->st.tun_out++;
		return;
	case RV_PAYLOAD_PING:
		pr->st.pings_in++;
		return;
	case RV_PAYLOAD_ECHO:
		got_echo(pr, data, len);
		return;
	case RV_PAYLOAD_OTHER:
		break;
	}
	count_drop(pr, RV_DROP_NOT_IP);
}

/* One packet from the network, already in pr->rx at @p. */
static bool receive(struct peer *pr, struct rv_pkt *p)
{
	uint32_t wire_len = p->len;
	bool rekeyed;
	enum rv_drop r = peer_channel_open(&pr->ch, p, peer_now_ns(), &rekeyed);

	if (r != RV_OK) {
		count_drop(pr, r);
		return false;
	}
	if (rekeyed) {
		pr->st.rekeys++;
		rv_log(RV_LOG_INFO, "re-key: the peer started key-id %d; now sealing with it",
		       peer_channel_tx_key_id(&pr->ch));
	}
	pr->st.packets_in++;
	pr->st.bytes_in += wire_len;
	deliver(pr, p->data, p->len);
	return true;
}

static void on_udp(struct peer *pr)
{
	for (int i = 0; i < BURST; i++) {
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		struct rv_pkt p = payload_at(pr->rx, 0);
		ssize_t n = recvfrom(pr->udp, p.data, PEER_MAX_PAYLOAD, MSG_TRUNC,
				     (struct sockaddr *)&from, &fl);
		if (n < 0)
			return;
		if ((size_t)n > PEER_MAX_PAYLOAD) {
			count_drop(pr, RV_DROP_TOO_BIG);
			continue;
		}
		p.len = (uint32_t)n;
		p.tailroom = PEER_MAX_PAYLOAD - p.len + RV_DC_TAILROOM;
		/* Without --remote, answer the last authenticated sender. */
		if (receive(pr, &p) && !pr->o->has_remote) {
			pr->remote = from;
			pr->remote_known = true;
		}
	}
}

static void on_tls_frame(void *arg, const uint8_t *frame, uint32_t len)
{
	struct peer *pr = arg;
	struct rv_pkt p = payload_at(pr->rx, len);

	if (len > PEER_MAX_PAYLOAD) {
		count_drop(pr, RV_DROP_TOO_BIG);
		return;
	}
	memcpy(p.data, frame, len);
	receive(pr, &p);
}

static void on_tun(struct peer *pr)
{
	for (int i = 0; i < BURST; i++) {
		struct rv_pkt p = payload_at(pr->tx, 0);
		ssize_t n = read(pr->tun, p.data, PEER_MAX_PAYLOAD);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				pr->st.tun_errors++;
			return;
		}
		pr->st.tun_in++;
		p.len = (uint32_t)n;
		p.tailroom = PEER_MAX_PAYLOAD - p.len + RV_DC_TAILROOM;
		seal_and_send(pr, &p);
	}
}

static void move(struct peer *pr);

static void on_signal(struct peer *pr)
{
	struct signalfd_siginfo si;

	while (read(pr->sig, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGUSR1:
			report(pr);
			break;
		case SIGUSR2:
			if (peer_channel_rekey(&pr->ch, peer_now_ns()) != 0) {
				rv_log(RV_LOG_WARN, "SIGUSR2: no pending --next-key to install");
				break;
			}
			pr->st.rekeys++;
			rv_log(RV_LOG_INFO, "re-key: now sealing with key-id %d",
			       peer_channel_tx_key_id(&pr->ch));
			break;
		default:
			if ((int)si.ssi_signo == SIGRTMIN && pr->o->has_move) {
				move(pr);
				break;
			}
			pr->running = false;
		}
	}
}

/* Keep the epoll registration in step with the TLS transport's fd. */
static void sync_tls_fd(struct peer *pr)
{
	int fd = peer_tls_fd(pr->tls);
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = EV_TLS};

	if (fd == pr->tls_polled)
		return;
	if (pr->tls_polled >= 0)
		epoll_ctl(pr->epfd, EPOLL_CTL_DEL, pr->tls_polled, NULL);
	if (fd >= 0 && epoll_ctl(pr->epfd, EPOLL_CTL_ADD, fd, &ev) == 0)
		pr->tls_polled = fd;
	else
		pr->tls_polled = -1;
	if (peer_tls_connected(pr->tls))
		pr->st.tcp_connects++;
}

static void on_timer(struct peer *pr, int fd, int tag)
{
	uint64_t n;

	if (read(fd, &n, sizeof(n)) != sizeof(n))
		return;
	if (tag == EV_PING)
		send_ping(pr);
	else if (tag == EV_ECHO)
		send_echo(pr, NULL);
	else {
		peer_channel_tick(&pr->ch, peer_now_ns());
		if (pr->tls && !peer_tls_connected(pr->tls) &&
		    pr->o->transport == PEER_TCP_CLIENT) {
			peer_tls_connect(pr->tls);
			sync_tls_fd(pr);
		}
	}
}

static void dispatch(struct peer *pr, uint32_t tag)
{
	switch (tag) {
	case EV_TUN:
		on_tun(pr);
		break;
	case EV_UDP:
		on_udp(pr);
		break;
	case EV_TLS:
		peer_tls_recv(pr->tls, on_tls_frame, pr);
		sync_tls_fd(pr);
		break;
	case EV_SIG:
		on_signal(pr);
		break;
	case EV_PING:
		on_timer(pr, pr->ping_t, EV_PING);
		break;
	case EV_ECHO:
		on_timer(pr, pr->echo_t, EV_ECHO);
		break;
	case EV_TICK:
		on_timer(pr, pr->tick_t, EV_TICK);
		break;
	}
}

static int loop(struct peer *pr)
{
	struct epoll_event evs[16];

	while (pr->running) {
		int n = epoll_wait(pr->epfd, evs, 16, -1);
		if (n < 0 && errno != EINTR) {
			rv_log(RV_LOG_ERROR, "epoll_wait: %s", strerror(errno));
			return 1;
		}
		for (int i = 0; i < n && pr->running; i++)
			dispatch(pr, evs[i].data.u32);
	}
	return 0;
}

static int watch(struct peer *pr, int fd, uint32_t tag)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = tag};

	return epoll_ctl(pr->epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* A periodic timerfd every @ns nanoseconds, watched under @tag; -1 if @ns is 0. */
static int periodic(struct peer *pr, uint64_t ns, uint32_t tag)
{
	struct itimerspec its = {0};
	int fd;

	if (!ns)
		return -1;
	fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (fd < 0)
		return -1;
	its.it_interval.tv_sec = (time_t)(ns / 1000000000ull);
	its.it_interval.tv_nsec = (long)(ns % 1000000000ull);
	its.it_value = its.it_interval;
	if (timerfd_settime(fd, 0, &its, NULL) < 0 || watch(pr, fd, tag) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The UDP socket: the family of --local (else of --remote), bound to
 * --local or to any address of that family. */
static int open_udp(struct peer *pr, bool local, char *err, size_t errlen)
{
	struct sockaddr_storage at = {0};
	if (local && pr->o->has_local)
		at = pr->o->ulocal;
	else
		at.ss_family = pr->remote.ss_family == AF_INET6 ? AF_INET6 : AF_INET;
	pr->udp = socket(at.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (pr->udp < 0 || bind(pr->udp, (const struct sockaddr *)&at, addr_len(&at)) < 0) {
		snprintf(err, errlen, "UDP bind (%s): %s",
			 at.ss_family == AF_INET6 ? "IPv6" : "IPv4", strerror(errno));
		return -1;
	}
	return watch(pr, pr->udp, EV_UDP);
}

/* --move-to: a new socket towards the new address (any local address of
 * its family); the channel (keys, packet-ids) carries on. */
static void move(struct peer *pr)
{
	char err[256];
	int old = pr->udp;
	const struct peer_opts *o = pr->o;
	pr->remote = o->umove;
	pr->remote_known = true;
	if (open_udp(pr, false, err, sizeof(err)) < 0) {
		rv_log(RV_LOG_WARN, "move: %s", err);
		pr->udp = old;
		return;
	}
	close(old); /* leaves the epoll set with it */
	rv_log(RV_LOG_INFO, "moved to the --move-to address (%s)",
	       o->umove.ss_family == AF_INET6 ? "IPv6" : "IPv4");
}

static int open_transport(struct peer *pr, char *err, size_t errlen)
{
	pr->remote = pr->o->uremote;
	pr->remote_known = pr->o->has_remote;
	if (pr->o->transport == PEER_UDP)
		return open_udp(pr, true, err, errlen);
	pr->tls = peer_tls_new(pr->o, err, errlen);
	if (!pr->tls)
		return -1;
	if (pr->o->transport == PEER_TCP_CLIENT)
		peer_tls_connect(pr->tls); /* retried every second until it works */
	sync_tls_fd(pr);
	return 0;
}

static int open_signals(struct peer *pr, char *err, size_t errlen)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGRTMIN); /* --move-to */
	signal(SIGPIPE, SIG_IGN);  /* a closed TLS peer is an error return */
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0 ||
	    (pr->sig = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0 ||
	    watch(pr, pr->sig, EV_SIG) < 0) {
		snprintf(err, errlen, "signalfd: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int setup(struct peer *pr, char *err, size_t errlen)
{
	pr->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (pr->epfd < 0) {
		snprintf(err, errlen, "epoll_create1: %s", strerror(errno));
		return -1;
	}
	if (open_signals(pr, err, errlen))
		return -1;
	if (peer_channel_init(&pr->ch, pr->o, peer_now_ns(), err, errlen))
		return -1;
	pr->ch_ready = true;
	pr->tun = peer_tun_open(pr->o->tun_name, err, errlen);
	if (pr->tun < 0 || watch(pr, pr->tun, EV_TUN) < 0)
		return -1;
	if (open_transport(pr, err, errlen))
		return -1;
	pr->tick_t = periodic(pr, TICK_NS, EV_TICK);
	pr->ping_t = periodic(pr, pr->o->ping_ns, EV_PING);
	pr->echo_t = periodic(pr, pr->o->echo_ns, EV_ECHO);
	if (pr->tick_t < 0 || (pr->o->ping_ns && pr->ping_t < 0) ||
	    (pr->o->echo_ns && pr->echo_t < 0)) {
		snprintf(err, errlen, "timerfd: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void teardown(struct peer *pr)
{
	int fds[] = {pr->echo_t, pr->ping_t, pr->tick_t, pr->udp, pr->tun, pr->sig, pr->epfd};

	peer_tls_free(pr->tls);
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (pr->ch_ready)
		peer_channel_destroy(&pr->ch);
}

int peer_run(const struct peer_opts *o)
{
	char err[512] = "";
	int rc = 1;
	/* Two 64 KiB packet buffers: allocated once, never per packet. */
	struct peer *pr = calloc(1, sizeof(*pr));

	if (!pr) {
		fprintf(stderr, "rvpeer: out of memory\n");
		return 1;
	}
	pr->o = o;
	pr->epfd = pr->tun = pr->udp = pr->sig = pr->ping_t = pr->echo_t = pr->tick_t = -1;
	pr->tls_polled = -1;
	pr->running = true;
	if (setup(pr, err, sizeof(err)) == 0) {
		rv_log(RV_LOG_INFO, "ready: tun %s, %s, key-id %d", o->tun_name, mode_name(pr),
		       peer_channel_tx_key_id(&pr->ch));
		rc = loop(pr);
		report(pr);
	} else {
		fprintf(stderr, "rvpeer: %s\n", err);
	}
	teardown(pr);
	free(pr);
	return rc;
}
