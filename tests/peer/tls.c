/* rvpeer's TCP transport: TLS (OpenSSL) over one TCP connection, each data
 * channel packet prefixed with its 2-byte length. Client (--tcp) or a
 * one-connection-at-a-time server (--tcp-listen). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "rvpeer.h"

#define HANDSHAKE_TIMEOUT_S 5
#define WRITE_TIMEOUT_MS    1000

struct peer_tls {
	bool server;
	struct sockaddr_in addr; /* remote (client) or local (server) */
	SSL_CTX *ctx;
	SSL *ssl;
	int listen_fd, fd;
	struct rv_tcp_decoder dec;
};

static void ssl_error(const char *what)
{
	char buf[256];
	unsigned long e = ERR_get_error();

	ERR_error_string_n(e, buf, sizeof(buf));
	rv_log(RV_LOG_WARN, "tls: %s: %s", what, e ? buf : strerror(errno));
	ERR_clear_error();
}

static int setup_ctx(struct peer_tls *t, const struct peer_opts *o, char *err, size_t errlen)
{
	t->ctx = SSL_CTX_new(t->server ? TLS_server_method() : TLS_client_method());
	if (!t->ctx || !SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION))
		goto err_ssl;
	if (t->server) {
		if (SSL_CTX_use_certificate_chain_file(t->ctx, o->cert_file) != 1 ||
		    SSL_CTX_use_PrivateKey_file(t->ctx, o->cert_key_file, SSL_FILETYPE_PEM) != 1)
			goto err_ssl;
	} else if (o->ca_file) {
		if (SSL_CTX_load_verify_locations(t->ctx, o->ca_file, NULL) != 1)
			goto err_ssl;
		SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
	}
	return 0;
err_ssl:
	snprintf(err, errlen, "TLS set-up (cert/key/CA files?): %s",
		 ERR_reason_error_string(ERR_get_error()));
	return -1;
}

static int listen_on(struct peer_tls *t, char *err, size_t errlen)
{
	int one = 1;

	t->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (t->listen_fd < 0 ||
	    setsockopt(t->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(t->listen_fd, (struct sockaddr *)&t->addr, sizeof(t->addr)) < 0 ||
	    listen(t->listen_fd, 4) < 0) {
		snprintf(err, errlen, "TCP listen on %s:%u: %s", inet_ntoa(t->addr.sin_addr),
			 ntohs(t->addr.sin_port), strerror(errno));
		return -1;
	}
	return 0;
}

struct peer_tls *peer_tls_new(const struct peer_opts *o, char *err, size_t errlen)
{
	struct peer_tls *t = calloc(1, sizeof(*t));

	if (!t) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	t->server = o->transport == PEER_TCP_SERVER;
	t->addr = t->server ? o->local : o->remote;
	t->listen_fd = t->fd = -1;
	rv_tcp_decoder_init(&t->dec, 0);
	if (setup_ctx(t, o, err, errlen) || (t->server && listen_on(t, err, errlen))) {
		peer_tls_free(t);
		return NULL;
	}
	return t;
}

static void disconnect(struct peer_tls *t)
{
	if (t->ssl) {
		SSL_shutdown(t->ssl);
		SSL_free(t->ssl);
		t->ssl = NULL;
	}
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	rv_tcp_decoder_init(&t->dec, 0);
}

void peer_tls_free(struct peer_tls *t)
{
	if (!t)
		return;
	disconnect(t);
	if (t->listen_fd >= 0)
		close(t->listen_fd);
	SSL_CTX_free(t->ctx);
	free(t);
}

int peer_tls_fd(const struct peer_tls *t)
{
	return t->fd >= 0 ? t->fd : t->listen_fd;
}

bool peer_tls_connected(const struct peer_tls *t)
{
	return t->ssl != NULL;
}

/* Blocking handshake with socket timeouts, then non-blocking for the loop. */
static int handshake(struct peer_tls *t)
{
	struct timeval tv = {.tv_sec = HANDSHAKE_TIMEOUT_S};
	int one = 1;

	setsockopt(t->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(t->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(t->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	t->ssl = SSL_new(t->ctx);
	if (!t->ssl || SSL_set_fd(t->ssl, t->fd) != 1 ||
	    (t->server ? SSL_accept(t->ssl) : SSL_connect(t->ssl)) != 1) {
		ssl_error("handshake");
		disconnect(t);
		return -1;
	}
	if (fcntl(t->fd, F_SETFL, fcntl(t->fd, F_GETFL) | O_NONBLOCK) < 0) {
		disconnect(t);
		return -1;
	}
	struct sockaddr_in peer = {0};
	socklen_t len = sizeof(peer);
	getpeername(t->fd, (struct sockaddr *)&peer, &len);
	rv_log(RV_LOG_INFO, "tls: connected (%s) to %s:%u", SSL_get_version(t->ssl),
	       inet_ntoa(peer.sin_addr), ntohs(peer.sin_port));
	return 0;
}

int peer_tls_connect(struct peer_tls *t)
{
	if (t->ssl)
		return 0;
	if (t->server) {
		t->fd = accept4(t->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (t->fd < 0)
			return -1;
	} else {
		t->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (t->fd < 0 || connect(t->fd, (struct sockaddr *)&t->addr, sizeof(t->addr)) < 0) {
			rv_log_ratelimited(RV_LOG_WARN, "tls: connect %s:%u: %s",
					   inet_ntoa(t->addr.sin_addr), ntohs(t->addr.sin_port),
					   strerror(errno));
			disconnect(t);
			return -1;
		}
	}
	return handshake(t);
}

/* Write all of @buf, waiting (bounded) while the socket buffer is full. */
static int write_all(struct peer_tls *t, const uint8_t *buf, int len)
{
	for (;;) {
		int n = SSL_write(t->ssl, buf, len);
		if (n == len)
			return 0;
		int e = SSL_get_error(t->ssl, n);
		struct pollfd pfd = {.fd = t->fd,
				     .events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT};
		if ((e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ) ||
		    poll(&pfd, 1, WRITE_TIMEOUT_MS) <= 0) {
			ssl_error("write");
			disconnect(t);
			return -1;
		}
	}
}

int peer_tls_send(struct peer_tls *t, uint8_t *frame, uint32_t len)
{
	if (!t->ssl || rv_tcp_frame_prefix(frame - 2, len) != 0)
		return -1;
	return write_all(t, frame - 2, (int)len + 2);
}

int peer_tls_recv(struct peer_tls *t, peer_frame_cb cb, void *arg)
{
	uint8_t buf[16384];

	if (!t->ssl)
		return peer_tls_connect(t) == 0 ? 0 : (t->server ? 0 : -1);
	for (;;) {
		int n = SSL_read(t->ssl, buf, sizeof(buf));
		if (n > 0) {
			if (rv_tcp_decoder_feed(&t->dec, buf, (size_t)n, cb, arg) != 0) {
				rv_log(RV_LOG_WARN, "tls: bad frame length, closing");
				break;
			}
			continue;
		}
		int e = SSL_get_error(t->ssl, n);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
			return 0;
		if (e == SSL_ERROR_ZERO_RETURN)
			rv_log(RV_LOG_INFO, "tls: peer closed the connection");
		else
			ssl_error("read");
		break;
	}
	disconnect(t);
	return -1;
}
