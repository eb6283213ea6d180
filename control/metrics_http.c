/* The metrics HTTPS endpoint (metrics.h): libmicrohttpd with TLS, who may
 * scrape (client certificates, a bearer token, an address allow-list), and
 * the bound on its connections. */
#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include "listener.h"
#include "clock.h"
#include "metrics.h"
#include "metrics_state.h"
#include "store.h"

/* ---- HTTPS endpoint -------------------------------------------------------- */

static char *read_file(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "metrics: cannot read %s: %m", path);
		return NULL;
	}
	char *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len + 4096 + 1 > cap) {
			cap = (cap + 4096 + 1) * 2;
			char *p = realloc(buf, cap);
			if (!p)
				break;
			buf = p;
		}
		size_t n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0)
			break;
	}
	bool bad = ferror(f) || !buf || len > (1u << 20);
	fclose(f);
	if (bad) {
		snprintf(err, errlen, "metrics: cannot read %s", path);
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	return buf;
}

/* "host:port" or "[v6]:port" into a socket address. */
static int parse_listen(const char *s, struct sockaddr_storage *ss, char *err, size_t errlen)
{
	char host[RV_CTL_ADDR];
	const char *colon = strrchr(s, ':');
	const char *h = s;
	size_t hl = colon ? (size_t)(colon - s) : 0;
	if (colon && s[0] == '[' && hl >= 2 && s[hl - 1] == ']') {
		h = s + 1;
		hl -= 2;
	}
	char *end;
	long port = colon ? strtol(colon + 1, &end, 10) : -1;
	if (!colon || hl == 0 || hl >= sizeof(host) || *end || end == colon + 1 || port < 0 ||
	    port > 65535) {
		snprintf(err, errlen, "metrics_listen '%s' is not host:port", s);
		return -1;
	}
	memcpy(host, h, hl);
	host[hl] = '\0';
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
	} else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
	} else {
		snprintf(err, errlen, "metrics_listen '%s': '%s' is not an IP address", s, host);
		return -1;
	}
	return 0;
}

/* mTLS: the client must have sent a certificate that the configured CA
 * signed (GnuTLS checks it against the trust list given to the daemon). */
static bool client_cert_ok(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (!ci || !ci->tls_session)
		return false;
	gnutls_session_t tls = (gnutls_session_t)ci->tls_session;
	unsigned n = 0;
	if (!gnutls_certificate_get_peers(tls, &n) || n == 0)
		return false;
	unsigned status = 0;
	return gnutls_certificate_verify_peers2(tls, &status) == 0 && status == 0;
}

/* ---- who may scrape ------------------------------------------------------ */

/* metrics_allow: "10.0.0.0/8, ::1, 192.0.2.7" (no length: one address). */
static int parse_allow(struct rv_metrics *m, const char *list, char *err, size_t errlen)
{
	char copy[sizeof(m->ctl->cfg.metrics_allow)];

	snprintf(copy, sizeof(copy), "%s", list);
	for (char *save = NULL, *t = strtok_r(copy, ", ", &save); t;
	     t = strtok_r(NULL, ", ", &save)) {
		struct prefix *p = &m->allow[m->n_allow];
		char *slash = strchr(t, '/'), *end = NULL;
		if (m->n_allow == N_ALLOW) {
			snprintf(err, errlen, "metrics_allow: more than %d prefixes", N_ALLOW);
			return -1;
		}
		if (slash)
			*slash = '\0';
		p->family = strchr(t, ':') ? AF_INET6 : AF_INET;
		unsigned max = p->family == AF_INET6 ? 128 : 32;
		p->len = slash ? (unsigned)strtoul(slash + 1, &end, 10) : max;
		if (inet_pton(p->family, t, p->addr) != 1 || p->len > max ||
		    (slash && (end == slash + 1 || *end))) {
			snprintf(err, errlen, "metrics_allow: '%s' is not an address or prefix", t);
			return -1;
		}
		m->n_allow++;
	}
	return 0;
}

static bool prefix_match(const struct prefix *p, const uint8_t *addr)
{
	unsigned bytes = p->len / 8, bits = p->len % 8;
	if (memcmp(p->addr, addr, bytes) != 0)
		return false;
	return !bits || ((p->addr[bytes] ^ addr[bytes]) & (0xff00 >> bits)) == 0;
}

static bool source_allowed(const struct rv_metrics *m, struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	uint8_t v4[4];
	const uint8_t *v6 = NULL;

	if (!sa)
		return false;
	if (sa->sa_family == AF_INET) {
		memcpy(v4, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		v6 = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)v6)) {
			memcpy(v4, v6 + 12, 4);
			v6 = NULL;
		}
	} else {
		return false;
	}
	for (unsigned i = 0; i < m->n_allow; i++) {
		const struct prefix *p = &m->allow[i];
		if (p->family == AF_INET6 ? v6 && prefix_match(p, v6) : !v6 && prefix_match(p, v4))
			return true;
	}
	return false;
}

/* "Authorization: Bearer <metrics token>", compared in constant time. */
static bool token_ok(const struct rv_metrics *m, struct MHD_Connection *conn)
{
	const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
	size_t n = strlen(m->token);
	unsigned diff = 0;

	if (!n || !h || strncasecmp(h, "Bearer ", 7) != 0 || strlen(h + 7) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(h[7 + i] ^ m->token[i]);
	return diff == 0;
}

/* Any one of the configured ways in: a client certificate from
 * metrics_client_ca, the bearer token, or an allowed source address. */
static bool scraper_ok(const struct rv_metrics *m, struct MHD_Connection *conn)
{
	return (m->mtls && client_cert_ok(conn)) || token_ok(m, conn) || source_allowed(m, conn);
}

static int load_token(struct rv_metrics *m, const char *path, char *err, size_t errlen)
{
	char *text = read_file(path, err, errlen);
	if (!text)
		return -1;
	text[strcspn(text, "\r\n")] = '\0';
	size_t n = strlen(text);
	if (n < 16 || n >= sizeof(m->token) || strpbrk(text, " \t")) {
		snprintf(err, errlen,
			 "metrics_token_file %s: the first line must be a token of 16 to %zu "
			 "characters without blanks",
			 path, sizeof(m->token) - 1);
		free(text);
		return -1;
	}
	memcpy(m->token, text, n + 1);
	OPENSSL_cleanse(text, n);
	free(text);
	return 0;
}

/* ---- connections ----------------------------------------------------------- */

/* The daemon's thread, for every connection opened or closed. At CONN_CAP
 * open connections a new one shuts down (shutdown(2)) the oldest one that
 * has not sent an admitted request yet, so idle or slow connections cannot starve scrapes;
 * libmicrohttpd then closes it. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
			  enum MHD_ConnectionNotificationCode code)
{
	struct rv_metrics *m = cls;
	(void)socket_ctx;

	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		for (unsigned i = 0; i < m->n_conns; i++)
			if (m->conns[i].conn == conn) {
				memmove(&m->conns[i], &m->conns[i + 1],
					(m->n_conns - i - 1) * sizeof(m->conns[0]));
				m->n_conns--;
				break;
			}
		return;
	}
	unsigned live = 0;
	for (unsigned i = 0; i < m->n_conns; i++)
		live += !m->conns[i].shut;
	for (unsigned i = 0; live >= CONN_CAP && i < m->n_conns; i++) {
		struct scrape_conn *c = &m->conns[i];
		if (c->shut || c->answered)
			continue;
		shutdown(c->fd, SHUT_RDWR);
		c->shut = true;
		live--;
	}
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (m->n_conns < CONN_LIMIT && ci)
		m->conns[m->n_conns++] = (struct scrape_conn){.conn = conn, .fd = ci->connect_fd};
}

static void mark_answered(struct rv_metrics *m, struct MHD_Connection *conn)
{
	for (unsigned i = 0; i < m->n_conns; i++)
		if (m->conns[i].conn == conn)
			m->conns[i].answered = true;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned code, const char *text)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
	enum MHD_Result ret = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_len, void **con_cls)
{
	struct rv_metrics *m = cls;
	(void)version;
	(void)upload;
	(void)con_cls;
	if (*upload_len)
		return reply(conn, MHD_HTTP_BAD_REQUEST, "no request body expected\n");
	if (scraper_ok(m, conn))
		mark_answered(m, conn); /* not the first to go any more */
	else
		return reply(conn, MHD_HTTP_FORBIDDEN,
			     "metrics need a client certificate from metrics_client_ca, "
			     "\"Authorization: Bearer <token of metrics_token_file>\", or a "
			     "source address in metrics_allow\n");
	if (strcmp(url, "/metrics") != 0)
		return reply(conn, MHD_HTTP_NOT_FOUND, "not found; try /metrics\n");
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET\n");
	size_t len;
	char *text = rv_metrics_render(m->ctl, &len);
	if (!text)
		return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	struct MHD_Response *r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static int load_pems(struct rv_metrics *m, const struct rv_control_config *c, char *err,
		     size_t errlen)
{
	char cert[RV_CTL_PATH + 32], key[RV_CTL_PATH + 32];
	if (c->metrics_cert[0]) {
		snprintf(cert, sizeof(cert), "%s", c->metrics_cert);
		snprintf(key, sizeof(key), "%s", c->metrics_key);
	} else if (c->tls_cert[0]) {
		snprintf(cert, sizeof(cert), "%s", c->tls_cert);
		snprintf(key, sizeof(key), "%s", c->tls_key);
	} else {
		snprintf(cert, sizeof(cert), "%s/tls/server.crt", c->state_dir);
		snprintf(key, sizeof(key), "%s/tls/server.key", c->state_dir);
	}
	if (!(m->cert_pem = read_file(cert, err, errlen)) ||
	    !(m->key_pem = read_file(key, err, errlen)))
		return -1;
	if (c->metrics_client_ca[0]) {
		if (!(m->ca_pem = read_file(c->metrics_client_ca, err, errlen)))
			return -1;
		m->mtls = true;
	}
	if (c->metrics_token_file[0] && load_token(m, c->metrics_token_file, err, errlen) < 0)
		return -1;
	if (parse_allow(m, c->metrics_allow, err, errlen) < 0)
		return -1;
	if (!m->mtls && !m->token[0] && !m->n_allow)
		rv_log(RV_LOG_WARN, "metrics: every scrape is refused: set metrics_token_file, "
				    "metrics_client_ca or metrics_allow (docs/metrics.md)");
	return 0;
}

int rv_metrics_start(struct rv_control *ctl, char *err, size_t errlen)
{
	struct rv_metrics *m = ctl->metrics;
	const struct rv_control_config *c = &ctl->cfg;
	struct sockaddr_storage ss;

	if (!m || !c->metrics_listen[0])
		return 0;
	if (parse_listen(c->metrics_listen, &ss, err, errlen) < 0 ||
	    load_pems(m, c, err, errlen) < 0)
		return -1;
	unsigned flags = MHD_USE_TLS | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	m->httpd = MHD_start_daemon(
	    flags, 0, NULL, NULL, on_request, m, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_HTTPS_MEM_CERT, m->cert_pem, MHD_OPTION_HTTPS_MEM_KEY, m->key_pem,
	    MHD_OPTION_HTTPS_MEM_TRUST, m->mtls ? m->ca_pem : NULL, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)CONN_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT,
	    MHD_OPTION_NOTIFY_CONNECTION, on_connection, m, MHD_OPTION_END);
	if (!m->httpd) {
		snprintf(err, errlen,
			 "metrics: cannot serve HTTPS on %s (address in use, or a bad "
			 "certificate/key/CA PEM)",
			 c->metrics_listen);
		return -1;
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(m->httpd, MHD_DAEMON_INFO_BIND_PORT);
	m->port = di ? di->port : 0;
	rv_log(RV_LOG_INFO, "metrics: https://%s/metrics (port %d); scrapers: %s%s%s",
	       c->metrics_listen, m->port, m->mtls ? "client certificate, " : "",
	       m->token[0] ? "bearer token, " : "", m->n_allow ? "allowed addresses" : "");
	return 0;
}

int rv_metrics_port(const struct rv_metrics *m)
{
	return m ? m->port : 0;
}

void rv_metrics_fini(struct rv_control *ctl)
{
	struct rv_metrics *m = ctl->metrics;
	if (!m)
		return;
	ctl->on_rpc_done = NULL;
	ctl->on_login = NULL;
	ctl->on_stream = NULL;
	if (m->httpd)
		MHD_stop_daemon(m->httpd);
	ctl->metrics = NULL;
	free(m->cert_pem);
	free(m->key_pem);
	free(m->ca_pem);
	OPENSSL_cleanse(m->token, sizeof(m->token));
	free(m);
}
