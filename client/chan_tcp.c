/* The data channel's TLS-over-TCP transport: one TLS connection to the
 * server carrying 2-byte length-prefixed frames (tcp_frame.h), opened when
 * the loop falls back to it and closed when it moves back to UDP. */
#include "chan_transport.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tcp_frame.h"
#include "tls_pin.h"

#define WRITE_WAIT_MS 2000
#define READ_ROUNDS   64 /* records per call, so the TUN gets its turn */

struct chan_tcp {
	struct rvc_transport t;
	SSL_CTX *ctx;
	SSL *ssl;
	int fd; /* -1 while not connected */
	const struct rvc_chan_params *p;
	struct rv_tcp_decoder *dec;
	uint8_t *out; /* CHAN_BATCH frames gathered for one SSL_write */
	/* the reader's callback while tcp_on_readable() runs */
	rvc_rx_fn rx;
	void *rx_arg;
	uint64_t *drops;
	struct rvc_buf frame; /* one frame from the decoder, with room in front */
	uint8_t rbuf[16384];
};

static struct chan_tcp *tcp_of(struct rvc_transport *t)
{
	return (struct chan_tcp *)t;
}

static int wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd pfd = {.fd = fd, .events = events};
	int rc;

	do
		rc = poll(&pfd, 1, timeout_ms);
	while (rc < 0 && errno == EINTR);
	return rc > 0 ? 0 : -1;
}

static int tcp_connect(const union rvc_addr *sa, int timeout_ms, char *err, size_t errlen)
{
	int one = 1, soerr = 0;
	socklen_t sl = sizeof(soerr);
	int fd = socket(sa->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, &sa->sa, rvc_addr_len(sa)) < 0 && errno != EINPROGRESS)
		goto err_close;
	if (wait_fd(fd, POLLOUT, timeout_ms) < 0) {
		errno = ETIMEDOUT;
		goto err_close;
	}
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
	if (soerr) {
		errno = soerr;
		goto err_close;
	}
	return fd;
err_close:
	snprintf(err, errlen, "TCP connect: %s", strerror(errno));
	close(fd);
	return -1;
}

static int check_pin(struct chan_tcp *t, char *err, size_t errlen)
{
	X509 *cert = SSL_get1_peer_certificate(t->ssl);
	uint8_t fp[RV_FP_LEN];
	char got[RV_FP_STR];
	int rc = rv_fp_of_cert(cert, fp);

	X509_free(cert);
	if (rc < 0) {
		snprintf(err, errlen, "TLS: the server sent no certificate");
		return -1;
	}
	if (!rv_fp_equal(fp, t->p->tls_pin)) {
		rv_fp_format(fp, got);
		snprintf(err, errlen,
			 "TLS: server certificate fingerprint %s does not match the pin", got);
		return -1;
	}
	return 0;
}

/* Drive a non-blocking SSL_connect to its end within @timeout_ms. */
static int handshake(struct chan_tcp *t, int timeout_ms, char *err, size_t errlen)
{
	for (;;) {
		int rc = SSL_connect(t->ssl), e;
		if (rc == 1)
			return 0;
		e = SSL_get_error(t->ssl, rc);
		if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) ||
		    wait_fd(t->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, timeout_ms) < 0) {
			unsigned long oe = ERR_get_error();
			snprintf(err, errlen, "TLS handshake: %s",
				 oe ? ERR_reason_error_string(oe) : "timed out or closed");
			ERR_clear_error();
			return -1;
		}
	}
}

static void tcp_close(struct rvc_transport *tt)
{
	struct chan_tcp *t = tcp_of(tt);

	if (t->ssl)
		SSL_free(t->ssl);
	if (t->fd >= 0)
		close(t->fd);
	t->ssl = NULL;
	t->fd = -1;
}

/* Connect and handshake within @timeout_ms, checking the server's
 * certificate against the pin or CA. */
static int tcp_open(struct rvc_transport *tt, int timeout_ms, char *err, size_t errlen)
{
	struct chan_tcp *t = tcp_of(tt);

	tcp_close(tt);
	t->fd = tcp_connect(&t->p->tcp_server, timeout_ms, err, errlen);
	if (t->fd < 0)
		return -1;
	t->ssl = SSL_new(t->ctx);
	if (!t->ssl || SSL_set_fd(t->ssl, t->fd) != 1) {
		snprintf(err, errlen, "TLS: out of memory");
		goto err_close;
	}
	if (handshake(t, timeout_ms, err, errlen) < 0)
		goto err_close;
	if (t->p->tls_pin_set && check_pin(t, err, errlen) < 0)
		goto err_close;
	rv_tcp_decoder_init(t->dec, 0);
	return 0;
err_close:
	tcp_close(tt);
	return -1;
}

static int tcp_fd(const struct rvc_transport *t)
{
	return ((const struct chan_tcp *)t)->fd;
}

/* Write all of @data (waits up to a bound for a full socket). 0 or -1. */
static int write_all(struct chan_tcp *t, const uint8_t *data, size_t len)
{
	size_t off = 0;

	if (t->fd < 0)
		return -1;
	while (off < len) {
		int rc = SSL_write(t->ssl, data + off, (int)(len - off)), e;
		if (rc > 0) {
			off += (size_t)rc;
			continue;
		}
		e = SSL_get_error(t->ssl, rc);
		if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ)
			return -1;
		if (wait_fd(t->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, WRITE_WAIT_MS) < 0)
			return -1;
	}
	return 0;
}

/* The length prefix goes into the CHAN_PREFIX bytes in front of the packet. */
static int tcp_send(struct rvc_transport *tt, struct rv_pkt *p)
{
	struct chan_tcp *t = tcp_of(tt);

	if (t->fd < 0 || rv_tcp_frame_prefix(p->data - CHAN_PREFIX, p->len) < 0)
		return -1;
	return write_all(t, p->data - CHAN_PREFIX, p->len + CHAN_PREFIX);
}

/* All @n frames in one SSL_write: one TLS record instead of @n. */
static unsigned tcp_send_batch(struct rvc_transport *tt, struct rv_pkt *pk, unsigned n)
{
	struct chan_tcp *t = tcp_of(tt);
	size_t len = 0;

	for (unsigned i = 0; i < n; i++) {
		rv_tcp_frame_prefix(t->out + len, pk[i].len);
		memcpy(t->out + len + CHAN_PREFIX, pk[i].data, pk[i].len);
		len += pk[i].len + CHAN_PREFIX;
	}
	return write_all(t, t->out, len) < 0 ? n : 0;
}

static void tcp_frame(void *arg, const uint8_t *frame, uint32_t len)
{
	struct chan_tcp *t = arg;
	struct rv_pkt p;

	if (len > CHAN_MAX_PKT) {
		t->drops[RV_DROP_TOO_BIG]++;
		return;
	}
	p = rvc_pkt_at(&t->frame, len);
	memcpy(p.data, frame, len);
	t->rx(t->rx_arg, &p);
}

static int tcp_on_readable(struct rvc_transport *tt, rvc_rx_fn rx, void *arg, uint64_t *drops)
{
	struct chan_tcp *t = tcp_of(tt);

	if (t->fd < 0) /* closed earlier in this loop pass (moved back to UDP) */
		return 0;
	t->rx = rx;
	t->rx_arg = arg;
	t->drops = drops;
	for (int i = 0; i < READ_ROUNDS; i++) {
		int rc = SSL_read(t->ssl, t->rbuf, sizeof(t->rbuf)), e;
		if (rc > 0) {
			if (rv_tcp_decoder_feed(t->dec, t->rbuf, (size_t)rc, tcp_frame, t) < 0)
				return -1; /* corrupt stream */
			continue;
		}
		e = SSL_get_error(t->ssl, rc);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
			return 0;
		ERR_clear_error();
		return -1;
	}
	return SSL_pending(t->ssl) > 0 ? 1 : 0;
}

static void tcp_destroy(struct rvc_transport *tt)
{
	struct chan_tcp *t = tcp_of(tt);

	tcp_close(tt);
	SSL_CTX_free(t->ctx);
	free(t->dec);
	free(t->out);
	free(t);
}

static const struct rvc_transport_ops tcp_ops = {
    .name = "tcp",
    .open = tcp_open,
    .close = tcp_close,
    .fd = tcp_fd,
    .send = tcp_send,
    .send_batch = tcp_send_batch,
    .on_readable = tcp_on_readable,
    .destroy = tcp_destroy,
};

int rvc_chan_tcp_create(const struct rvc_chan_params *p, struct rvc_transport **out, char *err,
			size_t errlen)
{
	struct chan_tcp *t = calloc(1, sizeof(*t));

	/* A server that goes away mid-write must give an error, not SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	if (!t) {
		snprintf(err, errlen, "TCP fallback: out of memory");
		return -1;
	}
	t->t.ops = &tcp_ops;
	t->fd = -1;
	t->p = p;
	t->dec = malloc(sizeof(*t->dec));
	t->out = malloc(CHAN_BATCH * sizeof(struct rvc_buf));
	t->ctx = SSL_CTX_new(TLS_client_method());
	if (!t->dec || !t->out || !t->ctx) {
		snprintf(err, errlen, "TCP fallback: out of memory");
		goto err_free;
	}
	SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(t->ctx,
			 SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (p->tls_ca_file) {
		if (SSL_CTX_load_verify_locations(t->ctx, p->tls_ca_file, NULL) != 1) {
			snprintf(err, errlen, "TCP fallback: cannot load CA file %s",
				 p->tls_ca_file);
			goto err_free;
		}
		SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
	}
	*out = &t->t;
	return 0;
err_free:
	tcp_destroy(&t->t);
	return -1;
}
