#include "dc_tcp.h"

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
#include <openssl/x509.h>

#include "tls_pin.h"

#define WRITE_WAIT_MS 2000
#define READ_ROUNDS   64 /* records per call, so the TUN gets its turn */

int dc_tcp_init(struct dc_tcp *t, const struct rv_dc_params *p, char *err, size_t errlen)
{
	/* A server that goes away mid-write must give an error, not SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	memset(t, 0, sizeof(*t));
	t->fd = -1;
	t->p = p;
	t->dec = malloc(sizeof(*t->dec));
	t->ctx = SSL_CTX_new(TLS_client_method());
	if (!t->dec || !t->ctx) {
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
	return 0;
err_free:
	SSL_CTX_free(t->ctx);
	free(t->dec);
	t->ctx = NULL;
	t->dec = NULL;
	return -1;
}

void dc_tcp_free(struct dc_tcp *t)
{
	dc_tcp_close(t);
	SSL_CTX_free(t->ctx);
	free(t->dec);
	t->ctx = NULL;
	t->dec = NULL;
}

void dc_tcp_close(struct dc_tcp *t)
{
	if (t->ssl)
		SSL_free(t->ssl);
	if (t->fd >= 0)
		close(t->fd);
	t->ssl = NULL;
	t->fd = -1;
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

static int tcp_connect(const struct sockaddr_in *sa, int timeout_ms, char *err, size_t errlen)
{
	int one = 1, soerr = 0;
	socklen_t sl = sizeof(soerr);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 && errno != EINPROGRESS)
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

static int check_pin(struct dc_tcp *t, char *err, size_t errlen)
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
static int handshake(struct dc_tcp *t, int timeout_ms, char *err, size_t errlen)
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

int dc_tcp_connect(struct dc_tcp *t, int timeout_ms, char *err, size_t errlen)
{
	dc_tcp_close(t);
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
	dc_tcp_close(t);
	return -1;
}

int dc_tcp_write(struct dc_tcp *t, const uint8_t *data, size_t len)
{
	size_t off = 0;

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

int dc_tcp_read(struct dc_tcp *t, rv_tcp_frame_cb cb, void *arg)
{
	for (int i = 0; i < READ_ROUNDS; i++) {
		int rc = SSL_read(t->ssl, t->rbuf, sizeof(t->rbuf)), e;
		if (rc > 0) {
			if (rv_tcp_decoder_feed(t->dec, t->rbuf, (size_t)rc, cb, arg) < 0)
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
