/* The listener for remote data planes (dp_link_tls.h): one thread, one
 * poll loop over the listening socket and every connection.
 *
 * A connection goes HANDSHAKE (TLS, client certificate required and
 * verified against the fleet CA) → REGISTER (its first message, a
 * Register naming the certificate's CN) → UP (a link handed to on_up).
 * The first two are bounded by dataplane_handshake_timeout; all of them
 * by dataplane_max_links. While UP the listener only watches for the
 * hang-up (the exchanges read and write on the callers' threads), and twice
 * a second for a change of the revoked list. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "agent_proto.h"
#include "clock.h"
#include "dp_ca.h"
#include "dp_link_tls.h"
#include "fd_reserve.h"
#include "inet.h"
#include "log.h"

#define POLL_MS		     250
#define REVOKED_CHECK_NS     500000000ull
#define REGISTER_MAX	     4096 /* bytes of a Register message */
#define REFUSAL_LOGS_PER_SEC 10

enum state { FREE = 0, HANDSHAKE, REGISTER, UP };

struct conn {
	enum state state;
	int fd;
	SSL *ssl;
	char peer[64];	 /* "10.0.0.2:40022" */
	char cn[64];	 /* the verified certificate's CN */
	bool want_write; /* the last SSL call asked for POLLOUT */
	uint64_t deadline_ns;
	struct rv_agent_reader rd; /* the Register */
	struct rv_dp_link *link;   /* UP: the listener's reference */
	bool hup;		   /* UP: hung up, waiting for a running exchange */
};

static struct {
	bool running;
	pthread_t thread;
	int listen_fd, stop_fd, reserve_fd;
	int port;
	SSL_CTX *ctx;
	char ca_dir[RV_CTL_PATH];
	uint64_t handshake_ns, exchange_ns;
	unsigned max, used;
	struct conn *conns;
	struct pollfd *pfd; /* 2 + max */
	rv_dp_link_up_fn on_up;
	rv_dp_link_down_fn on_down;
	void *arg;
	struct stat revoked_st;
	uint64_t next_revoked_check;
	uint64_t log_second;
	unsigned logs_this_second, suppressed;
} ln = {.listen_fd = -1, .stop_fd = -1, .reserve_fd = -1};

/* Each refusal is logged with the peer and the reason, at most
 * REFUSAL_LOGS_PER_SEC lines a second (then a count of the rest). */
static void log_refusal(const char *peer, const char *why)
{
	uint64_t sec = rv_clock_mono_ns() / 1000000000ull;
	if (sec != ln.log_second) {
		if (ln.suppressed)
			rv_log(RV_LOG_WARN, "dataplane listener: %u more refusals not logged",
			       ln.suppressed);
		ln.log_second = sec;
		ln.logs_this_second = 0;
		ln.suppressed = 0;
	}
	if (ln.logs_this_second++ < REFUSAL_LOGS_PER_SEC)
		rv_log(RV_LOG_WARN, "dataplane listener: refused %s: %s", peer, why);
	else
		ln.suppressed++;
}

static void conn_free(struct conn *c)
{
	if (c->ssl)
		SSL_free(c->ssl);
	if (c->fd >= 0)
		close(c->fd);
	rv_agent_reader_reset(&c->rd);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	ln.used--;
}

static void refuse(struct conn *c, const char *why)
{
	log_refusal(c->peer, why);
	conn_free(c);
}

/* UP → gone: tear the link down, tell the owner once, drop our reference.
 * Without @wait, nothing happens while an exchange holds the link. */
static void conn_down(struct conn *c, const char *why, bool wait)
{
	char reason[200];
	if (rv_dp_link_tls_teardown(c->link, why, wait, reason, sizeof(reason)) < 0) {
		c->hup = true;
		return;
	}
	rv_log(RV_LOG_NOTICE, "dataplane %s (%s) down: %s", c->cn, c->peer, reason);
	c->fd = -1; /* closed by the teardown */
	c->ssl = NULL;
	ln.on_down(ln.arg, c->link, reason);
	rv_dp_link_unref(c->link);
	c->link = NULL;
	conn_free(c);
}

static void peer_name(const struct sockaddr_storage *ss, char *out, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?", port[8] = "?";
	getnameinfo((const struct sockaddr *)ss, sizeof(*ss), host, sizeof(host), port,
		    sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(out, len, strchr(host, ':') ? "[%s]:%s" : "%s:%s", host, port);
}

static void tune_socket(int fd)
{
	int one = 1, idle = 5, intvl = 2, cnt = 3;
	/* a data plane that vanishes without a FIN is noticed in ~11 s */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

static void accept_one(void)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char peer[64];
	int fd = accept4(ln.listen_fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE) {
			log_refusal("a data plane", "out of file descriptors");
			rv_fd_reserve_shed(ln.listen_fd, &ln.reserve_fd);
		}
		return;
	}
	peer_name(&ss, peer, sizeof(peer));
	if (ln.used >= ln.max) {
		char why[96];
		snprintf(why, sizeof(why), "%u connections already (dataplane_max_links)", ln.max);
		log_refusal(peer, why);
		close(fd);
		return;
	}
	SSL *ssl = SSL_new(ln.ctx);
	if (!ssl || !SSL_set_fd(ssl, fd)) {
		log_refusal(peer, "out of memory");
		SSL_free(ssl);
		close(fd);
		return;
	}
	tune_socket(fd);
	for (unsigned i = 0; i < ln.max; i++) {
		struct conn *c = &ln.conns[i];
		if (c->state != FREE)
			continue;
		*c = (struct conn){.state = HANDSHAKE,
				   .fd = fd,
				   .ssl = ssl,
				   .deadline_ns = rv_clock_mono_ns() + ln.handshake_ns};
		snprintf(c->peer, sizeof(c->peer), "%s", peer);
		rv_agent_reader_init(&c->rd);
		c->rd.max = REGISTER_MAX;
		ln.used++;
		return;
	}
}

/* Why the handshake failed, in words an operator can act on. */
static void handshake_reason(struct conn *c, int e, char *out, size_t len)
{
	long v = SSL_get_verify_result(c->ssl);
	unsigned long code = ERR_peek_error();
	if (v != X509_V_OK)
		snprintf(out, len,
			 "client certificate not accepted: %s (not issued by this fleet "
			 "CA?)",
			 X509_verify_cert_error_string(v));
	else if (ERR_GET_REASON(code) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)
		snprintf(out, len, "no client certificate");
	else if (code)
		snprintf(out, len, "TLS handshake failed: %s",
			 ERR_reason_error_string(code) ? ERR_reason_error_string(code) : "?");
	else
		snprintf(out, len, "TLS handshake failed: %s",
			 e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN ? "connection closed"
									      : "error");
	ERR_clear_error();
}

static void step_handshake(struct conn *c)
{
	char why[256];
	int r = SSL_accept(c->ssl);
	if (r == 1) {
		X509 *x = SSL_get1_peer_certificate(c->ssl);
		int n = x ? X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName,
						      c->cn, sizeof(c->cn))
			  : -1;
		X509_free(x);
		if (n <= 0 || !rv_dp_ca_name_valid(c->cn))
			return refuse(c, "the certificate has no valid data-plane name (CN)");
		if (rv_dp_ca_is_revoked(ln.ca_dir, c->cn)) {
			snprintf(why, sizeof(why), "certificate of %s revoked", c->cn);
			return refuse(c, why);
		}
		c->state = REGISTER;
		return;
	}
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		c->want_write = e == SSL_ERROR_WANT_WRITE;
		return;
	}
	handshake_reason(c, e, why, sizeof(why));
	refuse(c, why);
}

/* The reply is a few bytes on a fresh connection: its buffer takes it. */
static int send_reply(struct conn *c, bool accepted, const char *reason)
{
	Roomvpn__Dataplane__V1__RegisterReply rr = ROOMVPN__DATAPLANE__V1__REGISTER_REPLY__INIT;
	uint8_t *buf;
	size_t len;
	rr.accepted = accepted;
	rr.reason = (char *)reason;
	if (rv_agent_pack(&rr.base, &buf, &len) < 0)
		return -1;
	int r = SSL_write(c->ssl, buf, (int)len);
	free(buf);
	return r == (int)len ? 0 : -1;
}

static void refuse_register(struct conn *c, const char *why)
{
	send_reply(c, false, why);
	refuse(c, why);
}

static void info_from(const Roomvpn__Dataplane__V1__Register *r, struct rv_dp_info *i)
{
	memset(i, 0, sizeof(*i));
	snprintf(i->name, sizeof(i->name), "%s", r->name);
	snprintf(i->udp_endpoint, sizeof(i->udp_endpoint), "%s", r->udp_endpoint);
	snprintf(i->tcp_endpoint, sizeof(i->tcp_endpoint), "%s", r->tcp_endpoint);
	snprintf(i->labels, sizeof(i->labels), "%s", r->labels);
	snprintf(i->version, sizeof(i->version), "%s", r->version);
	i->workers = r->workers;
	i->max_sessions = r->max_sessions;
}

/* A second connection with the same name replaces the first. */
static void replace_old(const char *name, const char *peer)
{
	char why[160];
	snprintf(why, sizeof(why), "replaced by a new connection from %s", peer);
	for (unsigned i = 0; i < ln.max; i++) {
		struct conn *o = &ln.conns[i];
		if (o->state == UP && !strcmp(o->cn, name)) {
			rv_dp_link_tls_break(o->link, why); /* a running exchange fails now */
			conn_down(o, why, true);
		}
	}
}

static void registered(struct conn *c, const Roomvpn__Dataplane__V1__Register *r)
{
	char why[256];
	struct rv_dp_info info;
	if (strcmp(r->name, c->cn)) {
		snprintf(why, sizeof(why), "Register names '%.63s' but the certificate is for '%s'",
			 r->name, c->cn);
		return refuse_register(c, why);
	}
	if (strlen(r->udp_endpoint) >= sizeof(info.udp_endpoint) ||
	    strlen(r->tcp_endpoint) >= sizeof(info.tcp_endpoint) ||
	    strlen(r->labels) >= sizeof(info.labels) || strlen(r->version) >= sizeof(info.version))
		return refuse_register(c, "Register: a field is too long");
	if (send_reply(c, true, "") < 0)
		return refuse(c, "could not send the RegisterReply");
	info_from(r, &info);
	replace_old(c->cn, c->peer);
	c->link = rv_dp_link_tls_new(c->ssl, c->fd, c->cn, c->peer, ln.exchange_ns);
	if (!c->link)
		return refuse(c, "out of memory");
	c->state = UP;
	rv_log(RV_LOG_NOTICE, "dataplane %s up from %s (udp %s, tcp %s, %u workers, labels '%s')",
	       c->cn, c->peer, info.udp_endpoint, info.tcp_endpoint[0] ? info.tcp_endpoint : "-",
	       info.workers, info.labels);
	ln.on_up(ln.arg, c->link, &info);
}

static void step_register(struct conn *c)
{
	uint8_t buf[512];
	char why[200];
	int r = SSL_read(c->ssl, buf, sizeof(buf));
	if (r <= 0) {
		int e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			c->want_write = e == SSL_ERROR_WANT_WRITE;
			return;
		}
		ERR_clear_error();
		return refuse(c, "closed before its Register");
	}
	size_t used;
	enum rv_agent_feed f =
	    rv_agent_reader_feed(&c->rd, buf, (size_t)r, &used, why, sizeof(why));
	if (f == RV_AGENT_FEED_ERR)
		return refuse(c, why);
	if (f == RV_AGENT_FEED_MORE)
		return;
	if (used != (size_t)r || SSL_pending(c->ssl))
		return refuse_register(c, "sent more than a Register before the reply");
	Roomvpn__Dataplane__V1__Register *reg =
	    roomvpn__dataplane__v1__register__unpack(NULL, c->rd.len, c->rd.body);
	rv_agent_reader_reset(&c->rd);
	if (!reg)
		return refuse_register(c, "the first message is not a Register");
	registered(c, reg);
	roomvpn__dataplane__v1__register__free_unpacked(reg, NULL);
}

/* Twice a second: has the revoked list changed? Then close the links whose
 * names it now lists. */
static void check_revoked(uint64_t now)
{
	char path[RV_CTL_PATH + 16];
	struct stat st = {0};
	if (now < ln.next_revoked_check)
		return;
	ln.next_revoked_check = now + REVOKED_CHECK_NS;
	snprintf(path, sizeof(path), "%s/revoked", ln.ca_dir);
	stat(path, &st);
	if (st.st_mtim.tv_sec == ln.revoked_st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == ln.revoked_st.st_mtim.tv_nsec &&
	    st.st_size == ln.revoked_st.st_size && st.st_ino == ln.revoked_st.st_ino)
		return;
	ln.revoked_st = st;
	for (unsigned i = 0; i < ln.max; i++) {
		struct conn *c = &ln.conns[i];
		if (c->state == UP && rv_dp_ca_is_revoked(ln.ca_dir, c->cn)) {
			rv_dp_link_tls_break(c->link, "certificate revoked");
			conn_down(c, "certificate revoked", true);
		}
	}
}

static void expire(uint64_t now)
{
	for (unsigned i = 0; i < ln.max; i++) {
		struct conn *c = &ln.conns[i];
		if ((c->state == HANDSHAKE || c->state == REGISTER) && now > c->deadline_ns)
			refuse(c, c->state == HANDSHAKE
				      ? "TLS handshake timed out"
				      : "no Register before the handshake timeout");
		else if (c->state == UP && c->hup)
			conn_down(c, "connection closed by the data plane", false);
	}
}

static void build_pollset(void)
{
	ln.pfd[0] = (struct pollfd){.fd = ln.stop_fd, .events = POLLIN};
	ln.pfd[1] = (struct pollfd){.fd = ln.listen_fd, .events = POLLIN};
	for (unsigned i = 0; i < ln.max; i++) {
		struct conn *c = &ln.conns[i];
		short ev = c->want_write ? POLLOUT : POLLIN;
		if (c->state == UP) /* the exchanges read; we watch for the hang-up */
			ev = c->hup ? 0 : POLLRDHUP;
		ln.pfd[2 + i] = (struct pollfd){
		    .fd = c->state == FREE || (c->state == UP && c->hup) ? -1 : c->fd,
		    .events = ev};
	}
}

static void serve(void)
{
	for (unsigned i = 0; i < ln.max; i++) {
		struct conn *c = &ln.conns[i];
		short re = ln.pfd[2 + i].revents;
		if (c->state == FREE || !re)
			continue;
		if (c->state == HANDSHAKE)
			step_handshake(c);
		else if (c->state == REGISTER)
			step_register(c);
		else if (c->state == UP)
			conn_down(c,
				  rv_dp_link_tls_broken(c->link)
				      ? "broken"
				      : "connection closed by the data plane",
				  false);
	}
}

static void *listener_main(void *arg)
{
	(void)arg;
	for (;;) {
		build_pollset();
		int n = poll(ln.pfd, 2 + ln.max, POLL_MS);
		if (n < 0 && errno != EINTR) {
			rv_log(RV_LOG_ERROR, "dataplane listener: poll: %s", strerror(errno));
			break;
		}
		if (n > 0 && ln.pfd[0].revents)
			break;
		if (n > 0 && ln.pfd[1].revents)
			accept_one();
		if (n > 0)
			serve();
		uint64_t now = rv_clock_mono_ns();
		expire(now);
		check_revoked(now);
	}
	for (unsigned i = 0; i < ln.max; i++) {
		struct conn *c = &ln.conns[i];
		if (c->state == UP) {
			rv_dp_link_tls_break(c->link, "control plane stopping");
			conn_down(c, "control plane stopping", true);
		} else if (c->state != FREE)
			conn_free(c);
	}
	return NULL;
}

/* The listener certificate's names: dataplane_cert_names, or the listen
 * host, or this machine's name when the host is a wildcard. */
static void cert_names(const struct rv_control_config *cfg, const char *host, char *out, size_t len)
{
	if (cfg->dp_cert_names[0]) {
		snprintf(out, len, "%s", cfg->dp_cert_names);
		return;
	}
	if (host[0] && strcmp(host, "0.0.0.0") && strcmp(host, "::")) {
		snprintf(out, len, "%s", host);
		return;
	}
	char hn[256] = "localhost";
	gethostname(hn, sizeof(hn) - 1);
	snprintf(out, len, "%s", hn);
}

static SSL_CTX *make_ctx(const struct rv_control_config *cfg, const char *host, char *err,
			 size_t errlen)
{
	char names[300], crt[RV_CTL_PATH + 16], key[RV_CTL_PATH + 16], ca[RV_CTL_PATH + 16];
	cert_names(cfg, host, names, sizeof(names));
	if (rv_dp_ca_server_cert(ln.ca_dir, names, crt, key, sizeof(crt), err, errlen) < 0)
		return NULL;
	snprintf(ca, sizeof(ca), "%s/ca.crt", ln.ca_dir);
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    SSL_CTX_use_certificate_chain_file(ctx, crt) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		snprintf(err, errlen, "dataplane listener: TLS set-up with %s: %s", crt,
			 ERR_reason_error_string(ERR_get_error()));
		SSL_CTX_free(ctx);
		return NULL;
	}
	/* a client certificate is required, from our CA, made for clientAuth */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
	SSL_CTX_set_num_tickets(ctx, 0); /* no resumption: every link shows its certificate */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	return ctx;
}

static int open_listener(const char *host, const char *port, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV},
			*ai;
	int rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
	if (rc != 0) {
		snprintf(err, errlen, "dataplane_listen: %s: %s", host, gai_strerror(rc));
		return -1;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 64) < 0) {
		snprintf(err, errlen, "dataplane_listen %s:%s: %s", host, port, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (fd >= 0 && getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		ln.port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
							: ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
}

/* "host:port", "[v6]:port" → host (brackets off) and port. */
static int split_listen(const char *v, char *host, size_t hlen, char *port, size_t plen)
{
	const char *colon = strrchr(v, ':');
	if (!colon)
		return -1;
	size_t n = (size_t)(colon - v);
	if (v[0] == '[' && n >= 2 && v[n - 1] == ']')
		snprintf(host, hlen, "%.*s", (int)(n - 2), v + 1);
	else
		snprintf(host, hlen, "%.*s", (int)n, v);
	snprintf(port, plen, "%s", colon + 1);
	return 0;
}

int rv_dp_links_start(struct rv_control *ctl, rv_dp_link_up_fn on_up, rv_dp_link_down_fn on_down,
		      void *arg, char *err, size_t errlen)
{
	const struct rv_control_config *cfg = &ctl->cfg;
	char host[256], port[16];
	if (!cfg->dp_listen[0])
		return 0;
	if (ln.running) {
		snprintf(err, errlen, "dataplane listener already running");
		return -1;
	}
	if (split_listen(cfg->dp_listen, host, sizeof(host), port, sizeof(port)) < 0) {
		snprintf(err, errlen, "dataplane_listen: '%s' is not host:port", cfg->dp_listen);
		return -1;
	}
	rv_dp_ca_dir(cfg, ln.ca_dir, sizeof(ln.ca_dir));
	ln.on_up = on_up;
	ln.on_down = on_down;
	ln.arg = arg;
	ln.handshake_ns = cfg->dp_handshake_timeout_ns;
	ln.exchange_ns = cfg->dp_exchange_timeout_ns;
	ln.max = cfg->dp_max_links ? cfg->dp_max_links : 256;
	ln.used = 0;
	ln.next_revoked_check = 0;
	memset(&ln.revoked_st, 0, sizeof(ln.revoked_st));
	ln.conns = calloc(ln.max, sizeof(*ln.conns));
	ln.pfd = calloc(2 + ln.max, sizeof(*ln.pfd));
	if (!ln.conns || !ln.pfd) {
		snprintf(err, errlen, "dataplane listener: out of memory");
		goto err_free;
	}
	for (unsigned i = 0; i < ln.max; i++)
		ln.conns[i].fd = -1;
	ln.ctx = make_ctx(cfg, host, err, errlen);
	if (!ln.ctx)
		goto err_free;
	ln.listen_fd = open_listener(host, port, err, errlen);
	if (ln.listen_fd < 0)
		goto err_ctx;
	ln.stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ln.reserve_fd = rv_fd_reserve_open();
	int rc = ln.stop_fd < 0 ? errno : pthread_create(&ln.thread, NULL, listener_main, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "dataplane listener: %s", strerror(rc));
		goto err_fds;
	}
	pthread_setname_np(ln.thread, "rv-dp-links");
	ln.running = true;
	rv_log(RV_LOG_NOTICE, "dataplane listener on %s (port %d), fleet CA %s", cfg->dp_listen,
	       ln.port, ln.ca_dir);
	return 0;
err_fds:
	if (ln.stop_fd >= 0)
		close(ln.stop_fd);
	if (ln.reserve_fd >= 0)
		close(ln.reserve_fd);
	close(ln.listen_fd);
	ln.stop_fd = ln.reserve_fd = ln.listen_fd = -1;
err_ctx:
	SSL_CTX_free(ln.ctx);
	ln.ctx = NULL;
err_free:
	free(ln.conns);
	free(ln.pfd);
	ln.conns = NULL;
	ln.pfd = NULL;
	return -1;
}

int rv_dp_links_port(void)
{
	return ln.running ? ln.port : 0;
}

void rv_dp_links_stop(void)
{
	uint64_t one = 1;
	if (!ln.running)
		return;
	if (write(ln.stop_fd, &one, sizeof(one)) < 0)
		rv_log(RV_LOG_ERROR, "dataplane listener: cannot signal stop: %s", strerror(errno));
	pthread_join(ln.thread, NULL);
	close(ln.stop_fd);
	close(ln.listen_fd);
	if (ln.reserve_fd >= 0)
		close(ln.reserve_fd);
	ln.stop_fd = ln.reserve_fd = ln.listen_fd = -1;
	SSL_CTX_free(ln.ctx);
	ln.ctx = NULL;
	free(ln.conns);
	free(ln.pfd);
	ln.conns = NULL;
	ln.pfd = NULL;
	ln.port = 0;
	ln.running = false;
}
