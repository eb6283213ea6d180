/* The TCP fallback's set-up, apart from its thread (tcp_fallback.c): its
 * config keys, the TLS context and the listening sockets. */
#include "tcp_setup.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "config.h"
#include "inet.h"
#include "tcp_frame.h"

const char *rv_tcp_ssl_reason(void)
{
	unsigned long e = ERR_get_error();
	static char buf[160];
	if (!e)
		return strerror(errno);
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

SSL_CTX *rv_tcp_tls_server_ctx(const char *cert, const char *key, char *err, size_t errlen)
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
		snprintf(err, errlen, "tcp fallback: certificate %s: %s", cert,
			 rv_tcp_ssl_reason());
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "tcp fallback: key %s: %s", key, rv_tcp_ssl_reason());
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
err:
	snprintf(err, errlen, "tcp fallback: TLS context: %s", rv_tcp_ssl_reason());
	return NULL;
}

int rv_tcp_listen4(uint32_t ip, uint16_t port, uint16_t *bound, char *err, size_t errlen)
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
	*bound = ntohs(sa.sin_port);
	return fd;
}

int rv_tcp_listen6(const uint8_t ip[16], uint16_t port, char *err, size_t errlen)
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
			snprintf(err, errlen, "tcp-listen6: expected [IPv6]:PORT, got '%s'", value);
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
