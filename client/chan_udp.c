/* The data channel's UDP transport: one unconnected socket, batched with
 * recvmmsg/sendmmsg, every datagram's source checked against the server.
 * The server is fixed at creation: a move to another data plane is a new
 * transport beside this one (chan_move.c).
 *
 * A data plane with both an IPv6 and an IPv4 endpoint gives two candidates
 * (RFC 8305 flavour): packets go to the IPv6 one first; after
 * RVC_UDP_RACE_DELAY_MS without an authenticated answer, or when sending
 * to it fails (no IPv6 route), they go to both; the first candidate whose
 * answer authenticates is kept for good and the other one is ignored from
 * then on. One dual-stack AF_INET6 socket carries both (IPv4 as
 * ::ffff:a.b.c.d); a single IPv4 server keeps a plain AF_INET socket. */
#include "chan_transport.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define unlikely(x) __builtin_expect(!!(x), 0)

#define RVC_UDP_RACE_DELAY_MS 250

struct chan_udp {
	struct rvc_transport t;
	union rvc_addr cand[2];	 /* [0] preferred, [1] the other family (maybe unset),
				    both as the socket sees them */
	union rvc_addr shown[2]; /* the same as given (for status) */
	int n_cand;
	int chosen;	  /* candidate that answered authenticated; -1 = racing */
	bool both;	  /* racing: sending to both candidates */
	uint64_t race_ns; /* racing: when [1] joins in */
	int fd;
	struct mmsghdr msgs[CHAN_BATCH * 2];
	struct iovec iov[CHAN_BATCH];
	union rvc_addr from[CHAN_BATCH];
	struct rvc_buf *bufs; /* CHAN_BATCH receive buffers */
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The candidates a packet goes to now: @first..@first+@n-1. */
static void targets(struct chan_udp *u, int *first, int *n)
{
	if (u->chosen >= 0) {
		*first = u->chosen, *n = 1;
		return;
	}
	if (!u->both && u->n_cand == 2 && mono_ns() >= u->race_ns)
		u->both = true;
	*first = 0;
	*n = u->both ? u->n_cand : 1;
}

static struct chan_udp *udp_of(struct rvc_transport *t)
{
	return (struct chan_udp *)t;
}

/* Large socket buffers: a TCP burst through the tunnel arrives faster than
 * one loop pass drains it, and the kernel default (~208 KB) overflows.
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

static int udp_open(struct rvc_transport *t, int timeout_ms, char *err, size_t errlen)
{
	(void)t, (void)timeout_ms, (void)err, (void)errlen;
	return 0; /* the socket lives as long as the transport */
}

static void udp_close(struct rvc_transport *t)
{
	(void)t;
}

static int udp_fd(const struct rvc_transport *t)
{
	return ((const struct chan_udp *)t)->fd;
}

/* Racing and the preferred candidate cannot be reached at all (no route):
 * the other one joins in at once. */
static void on_send_error(struct chan_udp *u, int c)
{
	if (u->chosen < 0 && c == 0 && u->n_cand == 2 && !u->both &&
	    (errno == ENETUNREACH || errno == EHOSTUNREACH || errno == EADDRNOTAVAIL ||
	     errno == EAFNOSUPPORT))
		u->both = true;
}

static int udp_send(struct rvc_transport *t, struct rv_pkt *p)
{
	struct chan_udp *u = udp_of(t);
	int first, n, ok = 0;

	targets(u, &first, &n);
	for (int c = first; c < first + n; c++) {
		if (sendto(u->fd, p->data, p->len, MSG_DONTWAIT, &u->cand[c].sa,
			   rvc_addr_len(&u->cand[c])) < 0)
			on_send_error(u, c);
		else
			ok = 1;
	}
	/* the other candidate just joined in (racing only: once one is chosen
	 * a failed send is just a failed send — retrying it looped for ever,
	 * at 100% CPU, when the network went away) */
	if (!ok && u->chosen < 0 && u->both && n == 1)
		return udp_send(t, p);
	return ok ? 0 : -1;
}

static unsigned udp_send_batch(struct rvc_transport *t, struct rv_pkt *pk, unsigned n)
{
	struct chan_udp *u = udp_of(t);
	unsigned sent = 0, total;
	int first, nc;

	targets(u, &first, &nc);
	total = n * (unsigned)nc;
	for (unsigned i = 0; i < n; i++) {
		u->iov[i] = (struct iovec){pk[i].data, pk[i].len};
		for (int c = 0; c < nc; c++)
			u->msgs[i * (unsigned)nc + (unsigned)c].msg_hdr =
			    (struct msghdr){.msg_name = (void *)&u->cand[first + c],
					    .msg_namelen = rvc_addr_len(&u->cand[first + c]),
					    .msg_iov = &u->iov[i],
					    .msg_iovlen = 1};
	}
	while (sent < total) {
		int rc = sendmmsg(u->fd, u->msgs + sent, total - sent, MSG_DONTWAIT);
		if (rc <= 0) {
			on_send_error(u, nc == 1 ? first : (int)(sent % (unsigned)nc));
			return (total - sent) / (unsigned)nc; /* ECONNREFUSED, ENOBUFS, ... */
		}
		sent += (unsigned)rc;
	}
	return 0;
}

/* The candidate @sa is (-1: none; after the choice only the chosen one). */
static int from_server(const struct chan_udp *u, const union rvc_addr *sa)
{
	for (int c = 0; c < u->n_cand; c++)
		if ((u->chosen < 0 || u->chosen == c) && rvc_addr_same(sa, &u->cand[c]))
			return c;
	return -1;
}

static int udp_on_readable(struct rvc_transport *t, rvc_rx_fn rx, void *arg, uint64_t *drops)
{
	struct chan_udp *u = udp_of(t);
	int n;

	do {
		for (int i = 0; i < CHAN_BATCH; i++) {
			u->iov[i] = (struct iovec){u->bufs[i].b + CHAN_OFF, CHAN_MAX_PKT};
			u->msgs[i].msg_hdr = (struct msghdr){.msg_name = &u->from[i],
							     .msg_namelen = sizeof(u->from[i]),
							     .msg_iov = &u->iov[i],
							     .msg_iovlen = 1};
		}
		n = recvmmsg(u->fd, u->msgs, CHAN_BATCH, MSG_DONTWAIT, NULL);
		for (int i = 0; i < n; i++) {
			struct rv_pkt p = rvc_pkt_at(&u->bufs[i], u->msgs[i].msg_len);
			int c = from_server(u, &u->from[i]);
			if (unlikely(c < 0))
				drops[RV_DROP_NOT_FOR_US]++;
			else if (unlikely(u->msgs[i].msg_hdr.msg_flags & MSG_TRUNC))
				drops[RV_DROP_TOO_BIG]++;
			else if (rx(arg, &p) && unlikely(u->chosen < 0))
				u->chosen = c; /* the first authenticated answer decides */
		}
	} while (n == CHAN_BATCH);
	return 0;
}

static void udp_destroy(struct rvc_transport *t)
{
	struct chan_udp *u = udp_of(t);

	if (u->fd >= 0)
		close(u->fd);
	free(u->bufs);
	free(u);
}

static const struct rvc_transport_ops udp_ops = {
    .name = "udp",
    .open = udp_open,
    .close = udp_close,
    .fd = udp_fd,
    .send = udp_send,
    .send_batch = udp_send_batch,
    .on_readable = udp_on_readable,
    .destroy = udp_destroy,
};

int rvc_chan_udp_create(const struct rvc_chan_params *p, struct rvc_transport **out, char *err,
			size_t errlen)
{
	struct chan_udp *u = calloc(1, sizeof(*u));

	if (!u || !(u->bufs = calloc(CHAN_BATCH, sizeof(*u->bufs)))) {
		free(u);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	u->t.ops = &udp_ops;
	u->chosen = -1;
	u->shown[0] = p->udp_server;
	u->n_cand = 1;
	if (rvc_addr_set(&p->udp_server_alt))
		u->shown[u->n_cand++] = p->udp_server_alt;
	/* one candidate: its own family; two (or IPv6): dual-stack IPv6 */
	int fam = u->n_cand == 1 ? p->udp_server.sa.sa_family : AF_INET6;
	for (int c = 0; c < u->n_cand; c++) {
		if (fam == AF_INET6)
			rvc_addr_mapped(&u->shown[c], &u->cand[c]);
		else
			u->cand[c] = u->shown[c];
	}
	u->chosen = u->n_cand == 1 ? 0 : -1;
	u->race_ns = mono_ns() + RVC_UDP_RACE_DELAY_MS * 1000000ull;
	/* Not connect()ed: a missing route at start-up must not be fatal, and
	 * the source of every datagram is checked instead. */
	u->fd = socket(fam, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int off = 0;
	if (u->fd < 0 || (fam == AF_INET6 &&
			  setsockopt(u->fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) < 0)) {
		snprintf(err, errlen, "UDP socket to the server: %s", strerror(errno));
		udp_destroy(&u->t);
		return -1;
	}
	set_sockbuf(u->fd, SO_RCVBUFFORCE, SO_RCVBUF, p->udp_sockbuf);
	set_sockbuf(u->fd, SO_SNDBUFFORCE, SO_SNDBUF, p->udp_sockbuf);
	*out = &u->t;
	return 0;
}

void rvc_chan_udp_server(const struct rvc_transport *t, union rvc_addr *out)
{
	const struct chan_udp *u = (const struct chan_udp *)t;
	*out = u->shown[u->chosen >= 0 ? u->chosen : 0];
}
