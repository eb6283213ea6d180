/* The data channel's UDP transport: one unconnected socket, batched with
 * recvmmsg/sendmmsg, every datagram's source checked against the server.
 * The server is fixed at creation: a move to another data plane is a new
 * transport beside this one (chan_move.c). */
#include "chan_transport.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"

#define unlikely(x) __builtin_expect(!!(x), 0)

struct chan_udp {
	struct rvc_transport t;
	struct sockaddr_in server;
	int fd;
	struct mmsghdr msgs[CHAN_BATCH];
	struct iovec iov[CHAN_BATCH];
	struct sockaddr_in from[CHAN_BATCH];
	struct rvc_buf *bufs; /* CHAN_BATCH receive buffers */
};

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

static int udp_send(struct rvc_transport *t, struct rv_pkt *p)
{
	struct chan_udp *u = udp_of(t);

	return sendto(u->fd, p->data, p->len, MSG_DONTWAIT, (const struct sockaddr *)&u->server,
		      sizeof(u->server)) < 0
		   ? -1
		   : 0;
}

static unsigned udp_send_batch(struct rvc_transport *t, struct rv_pkt *pk, unsigned n)
{
	struct chan_udp *u = udp_of(t);
	unsigned sent = 0;

	for (unsigned i = 0; i < n; i++) {
		u->iov[i] = (struct iovec){pk[i].data, pk[i].len};
		u->msgs[i].msg_hdr = (struct msghdr){.msg_name = (void *)&u->server,
						     .msg_namelen = sizeof(u->server),
						     .msg_iov = &u->iov[i],
						     .msg_iovlen = 1};
	}
	while (sent < n) {
		int rc = sendmmsg(u->fd, u->msgs + sent, n - sent, MSG_DONTWAIT);
		if (rc <= 0)
			return n - sent; /* ECONNREFUSED, ENOBUFS, ... */
		sent += (unsigned)rc;
	}
	return 0;
}

static bool from_server(const struct chan_udp *u, const struct sockaddr_in *sa)
{
	return sa->sin_addr.s_addr == u->server.sin_addr.s_addr &&
	       sa->sin_port == u->server.sin_port;
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
			if (unlikely(!from_server(u, &u->from[i])))
				drops[RV_DROP_NOT_FOR_US]++;
			else if (unlikely(u->msgs[i].msg_hdr.msg_flags & MSG_TRUNC))
				drops[RV_DROP_TOO_BIG]++;
			else
				rx(arg, &p);
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
	u->server = p->udp_server;
	/* Not connect()ed: a missing route at start-up must not be fatal, and
	 * the source of every datagram is checked instead. */
	u->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (u->fd < 0) {
		snprintf(err, errlen, "UDP socket to the server: %s", strerror(errno));
		udp_destroy(&u->t);
		return -1;
	}
	set_sockbuf(u->fd, SO_RCVBUFFORCE, SO_RCVBUF, p->udp_sockbuf);
	set_sockbuf(u->fd, SO_SNDBUFFORCE, SO_SNDBUF, p->udp_sockbuf);
	*out = &u->t;
	return 0;
}
