/* The remote agent link (agent_remote.h): dial, TLS, Register, then pump
 * bytes between the TLS connection and a client connection of our own
 * agent socket until one side breaks; back off and dial again.
 *
 * Everything below runs on the one "rv-agent-link" thread, non-blocking
 * with poll() on the socket and the stop eventfd, so stopping never waits
 * for a timeout. */
#include "agent_remote.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "backoff.h"
#include "agent_proto.h"
#include "clock.h"
#include "log.h"
#include "version.h"

#define BACKOFF_MIN_MS	500
#define BACKOFF_MAX_MS	5000
#define DIAL_TIMEOUT_NS (10ull * 1000000000ull) /* TCP + TLS + Register reply */
#define REPLY_MAX	4096
#define PUMP_BUF	65536

struct pipe_buf {
	uint8_t data[PUMP_BUF];
	size_t len, off;
};

/* One control-plane replica dialled (`control = A,B,...`): each link has
 * its own thread, connection and state log; what they share is read-only
 * once started (the parameters, the TLS context) or the stop eventfd. */
struct link {
	pthread_t thread;
	bool started;
	char host[256], port[16];
	char last_state[32]; /* the key of the last state logged: each change once */
	const char *step;    /* what the connection was doing when it failed */
	struct pipe_buf *in, *out;
};

static struct {
	bool running;
	int stop_fd;
	SSL_CTX *ctx;
	struct rv_agent_remote_params p;
	struct link links[RV_AGENT_REMOTE_MAX];
	unsigned n_links;
} rl = {.stop_fd = -1};

/* ----- configuration ----- */

static int copy(char *dst, size_t len, const char *key, const char *v, char *err, size_t errlen)
{
	if (strlen(v) >= len) {
		snprintf(err, errlen, "%s: longer than %zu bytes", key, len - 1);
		return -1;
	}
	snprintf(dst, len, "%s", v);
	return 0;
}

static int check_hostport(const char *key, const char *v, char *err, size_t errlen)
{
	const char *colon = strrchr(v, ':');
	char *end;
	long port = colon ? strtol(colon + 1, &end, 10) : 0;
	if (!colon || colon == v || !colon[1] || *end || port < 1 || port > 65535) {
		(void)key; /* the caller names the key */
		snprintf(err, errlen, "expected HOST:PORT, got '%s'", v);
		return -1;
	}
	return 0;
}

/* "HOST:PORT[,HOST:PORT...]": at most RV_AGENT_REMOTE_MAX, each valid. */
static int check_control(const char *v, char *err, size_t errlen)
{
	char one[256];
	unsigned n = 0;
	for (const char *at = v;; n++) {
		size_t len = strcspn(at, ",");
		if (n == RV_AGENT_REMOTE_MAX) {
			snprintf(err, errlen, "at most %d addresses, got more in '%s'",
				 RV_AGENT_REMOTE_MAX, v);
			return -1;
		}
		if (len >= sizeof(one)) {
			snprintf(err, errlen, "an address longer than %zu bytes", sizeof(one) - 1);
			return -1;
		}
		snprintf(one, sizeof(one), "%.*s", (int)len, at);
		if (check_hostport("control", one, err, errlen) < 0)
			return -1;
		if (!at[len])
			return 0;
		at += len + 1;
	}
}

int rv_agent_remote_config_key(struct rv_agent_remote_params *p, const char *k, const char *v,
			       char *err, size_t errlen)
{
	if (!strcmp(k, "control"))
		return v[0] && check_control(v, err, errlen) < 0
			   ? -1
			   : copy(p->control, sizeof(p->control), k, v, err, errlen);
	if (!strcmp(k, "public-udp") || !strcmp(k, "public-tcp")) {
		char *dst = k[7] == 'u' ? p->public_udp : p->public_tcp;
		return v[0] && check_hostport(k, v, err, errlen) < 0
			   ? -1
			   : copy(dst, sizeof(p->public_udp), k, v, err, errlen);
	}
	if (!strcmp(k, "name"))
		return copy(p->name, sizeof(p->name), k, v, err, errlen);
	if (!strcmp(k, "labels"))
		return copy(p->labels, sizeof(p->labels), k, v, err, errlen);
	if (!strcmp(k, "agent-cert"))
		return copy(p->cert, sizeof(p->cert), k, v, err, errlen);
	if (!strcmp(k, "agent-key"))
		return copy(p->key, sizeof(p->key), k, v, err, errlen);
	if (!strcmp(k, "agent-ca"))
		return copy(p->ca, sizeof(p->ca), k, v, err, errlen);
	return -2;
}

static bool name_valid(const char *n)
{
	size_t len = strlen(n);
	return len >= 1 && len <= 63 && n[0] != '.' && n[0] != '-' &&
	       strspn(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
		   len;
}

int rv_agent_remote_check(struct rv_agent_remote_params *p, char *err, size_t errlen)
{
	if (!p->control[0])
		return 0;
	if (!p->name[0]) {
		gethostname(p->name, sizeof(p->name) - 1);
		p->name[strcspn(p->name, ".")] = '\0'; /* the short name */
	}
	if (!name_valid(p->name)) {
		snprintf(err, errlen, "name: '%s' is not 1..63 of A-Z a-z 0-9 . _ -", p->name);
		return -1;
	}
	const char *files[][2] = {
	    {"agent_cert", p->cert}, {"agent_key", p->key}, {"agent_ca", p->ca}};
	for (size_t i = 0; i < 3; i++) {
		if (!files[i][1][0]) {
			snprintf(err, errlen, "control is set: %s is required", files[i][0]);
			return -1;
		}
		if (access(files[i][1], R_OK) != 0) {
			snprintf(err, errlen, "%s: cannot read %s: %s", files[i][0], files[i][1],
				 strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* ----- state log: each change once ----- */

/* Logs when @key (the state: "connecting", "registered", or the step that
 * failed) differs from the last one logged: retries that fail at the same
 * step stay quiet, even if the error's words vary with timing (an alert
 * read or a reset written after a refused certificate). */
static void state(struct link *L, const char *key, enum rv_log_level l, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void state(struct link *L, const char *key, enum rv_log_level l, const char *fmt, ...)
{
	char now[300];
	va_list ap;
	if (!strcmp(key, L->last_state))
		return;
	va_start(ap, fmt);
	vsnprintf(now, sizeof(now), fmt, ap);
	va_end(ap);
	rv_log(l, "control link: %s", now);
	snprintf(L->last_state, sizeof(L->last_state), "%s", key);
}

/* ----- waiting ----- */

/* Wait for @fd (@events) or @deadline; false on stop or timeout (*@stopped). */
static bool wait_fd(int fd, short events, uint64_t deadline, bool *stopped)
{
	struct pollfd pfd[2] = {{.fd = rl.stop_fd, .events = POLLIN}, {.fd = fd, .events = events}};
	for (;;) {
		uint64_t now = rv_clock_mono_ns();
		if (now >= deadline)
			return false;
		int n = poll(pfd, fd >= 0 ? 2 : 1, (int)((deadline - now) / 1000000ull) + 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (pfd[0].revents) {
			*stopped = true;
			return false;
		}
		if (n > 0)
			return true;
	}
}

static bool ssl_wait(SSL *ssl, int fd, int r, uint64_t deadline, bool *stopped)
{
	int e = SSL_get_error(ssl, r);
	if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
		return false;
	return wait_fd(fd, e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN, deadline, stopped);
}

static void ssl_why(const char *what, char *out, size_t len)
{
	unsigned long e = ERR_get_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;
	snprintf(out, len, "%s: %s", what, r ? r : errno ? strerror(errno) : "connection closed");
	ERR_clear_error();
}

/* ----- one connection ----- */

static int tcp_connect(struct link *L, uint64_t deadline, bool *stopped, char *why, size_t wlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *ai;
	int rc = getaddrinfo(L->host, L->port, &hints, &ai);
	if (rc != 0) {
		snprintf(why, wlen, "resolving %s: %s", L->host, gai_strerror(rc));
		return -1;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	int soerr = errno;
	socklen_t sl = sizeof(soerr);
	if (fd >= 0 && (!wait_fd(fd, POLLOUT, deadline, stopped) ||
			getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr)) {
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		snprintf(why, wlen, "connect: %s", soerr ? strerror(soerr) : "timed out");
		return -1;
	}
	int one = 1, idle = 5, intvl = 2, cnt = 3;
	/* a control plane that vanishes without a FIN is noticed in ~11 s */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	return fd;
}

/* The control plane's certificate must name the host we dialled. */
static void expect_host(struct link *L, SSL *ssl)
{
	unsigned char bin[16];
	X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
	if (inet_pton(AF_INET, L->host, bin) == 1 || inet_pton(AF_INET6, L->host, bin) == 1)
		X509_VERIFY_PARAM_set1_ip_asc(vp, L->host);
	else
		X509_VERIFY_PARAM_set1_host(vp, L->host, 0);
}

static int ssl_write_all(SSL *ssl, int fd, const uint8_t *buf, size_t len, uint64_t deadline,
			 bool *stopped)
{
	while (len > 0) {
		int r = SSL_write(ssl, buf, (int)len);
		if (r > 0) {
			buf += r;
			len -= (size_t)r;
		} else if (!ssl_wait(ssl, fd, r, deadline, stopped))
			return -1;
	}
	return 0;
}

static int send_register(SSL *ssl, int fd, uint64_t deadline, bool *stopped)
{
	Roomvpn__Dataplane__V1__Register reg = ROOMVPN__DATAPLANE__V1__REGISTER__INIT;
	uint8_t *buf;
	size_t len;
	reg.name = rl.p.name;
	reg.udp_endpoint = rl.p.public_udp;
	reg.tcp_endpoint = rl.p.public_tcp;
	reg.workers = rl.p.workers;
	reg.max_sessions = rl.p.max_sessions;
	reg.labels = rl.p.labels;
	reg.version = (char *)RV_VERSION;
	if (rv_agent_pack(&reg.base, &buf, &len) < 0)
		return -1;
	int rc = ssl_write_all(ssl, fd, buf, len, deadline, stopped);
	free(buf);
	return rc;
}

/* The RegisterReply: 1 accepted, 0 refused (@why), -1 broken. */
static int read_reply(SSL *ssl, int fd, uint64_t deadline, bool *stopped, char *why, size_t wlen)
{
	struct rv_agent_reader rd;
	uint8_t buf[256];
	rv_agent_reader_init(&rd);
	rd.max = REPLY_MAX;
	for (;;) {
		/* one byte at a time past the reply would be wasteful; the
		 * control plane sends nothing after it until we answer */
		int r = SSL_read(ssl, buf, sizeof(buf));
		if (r <= 0) {
			if (ssl_wait(ssl, fd, r, deadline, stopped))
				continue;
			ssl_why("waiting for the RegisterReply", why, wlen);
			rv_agent_reader_reset(&rd);
			return -1;
		}
		size_t used;
		enum rv_agent_feed f = rv_agent_reader_feed(&rd, buf, (size_t)r, &used, why, wlen);
		if (f == RV_AGENT_FEED_ERR || (f == RV_AGENT_FEED_MSG && used != (size_t)r)) {
			rv_agent_reader_reset(&rd);
			snprintf(why, wlen, "malformed RegisterReply");
			return -1;
		}
		if (f == RV_AGENT_FEED_MORE)
			continue;
		Roomvpn__Dataplane__V1__RegisterReply *rr =
		    roomvpn__dataplane__v1__register_reply__unpack(NULL, rd.len, rd.body);
		rv_agent_reader_reset(&rd);
		if (!rr) {
			snprintf(why, wlen, "malformed RegisterReply");
			return -1;
		}
		int ok = rr->accepted;
		if (!ok)
			snprintf(why, wlen, "refused by the control plane: %s", rr->reason);
		roomvpn__dataplane__v1__register_reply__free_unpacked(rr, NULL);
		return ok;
	}
}

/* Dial, handshake, register. Returns the SSL (fd in *@fd_out) or NULL with @why. */
static SSL *dial(struct link *L, int *fd_out, bool *stopped, char *why, size_t wlen)
{
	uint64_t deadline = rv_clock_mono_ns() + DIAL_TIMEOUT_NS;
	L->step = "connect";
	int fd = tcp_connect(L, deadline, stopped, why, wlen);
	if (fd < 0)
		return NULL;
	SSL *ssl = SSL_new(rl.ctx);
	if (!ssl || !SSL_set_fd(ssl, fd)) {
		snprintf(why, wlen, "out of memory");
		goto err;
	}
	expect_host(L, ssl);
	SSL_set_tlsext_host_name(ssl, L->host);
	L->step = "tls";
	int r;
	while ((r = SSL_connect(ssl)) != 1)
		if (!ssl_wait(ssl, fd, r, deadline, stopped)) {
			long v = SSL_get_verify_result(ssl);
			if (v != X509_V_OK)
				snprintf(why, wlen, "TLS: the control plane's certificate: %s",
					 X509_verify_cert_error_string(v));
			else
				ssl_why("TLS handshake", why, wlen);
			goto err;
		}
	L->step = "register";
	if (send_register(ssl, fd, deadline, stopped) < 0) {
		ssl_why("sending Register", why, wlen);
		goto err;
	}
	if (read_reply(ssl, fd, deadline, stopped, why, wlen) != 1)
		goto err;
	*fd_out = fd;
	return ssl;
err:
	ERR_clear_error();
	SSL_free(ssl);
	close(fd);
	return NULL;
}

/* ----- the pump: TLS <-> the agent socket ----- */

/* Until either side breaks or stop; the reason in @why. */
static void pump(struct link *L, SSL *ssl, int fd, int afd, char *why, size_t wlen)
{
	struct pipe_buf *in = L->in, *out = L->out; /* control → agent, agent → control */
	bool read_wants_write = false, write_wants_write = false, write_wants_read = false;
	in->len = in->off = out->len = out->off = 0;
	for (;;) {
		bool progress = false;
		if (in->len == 0) {
			int r = SSL_read(ssl, in->data, sizeof(in->data));
			int e = r > 0 ? SSL_ERROR_NONE : SSL_get_error(ssl, r);
			read_wants_write = e == SSL_ERROR_WANT_WRITE;
			if (r > 0) {
				in->len = (size_t)r;
				in->off = 0;
				progress = true;
			} else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
				ssl_why("connection to the control plane lost", why, wlen);
				return;
			}
		}
		if (in->len) {
			ssize_t n = send(afd, in->data + in->off, in->len - in->off,
					 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n > 0) {
				in->off += (size_t)n;
				if (in->off == in->len)
					in->len = 0;
				progress = true;
			} else if (errno != EAGAIN && errno != EINTR) {
				snprintf(why, wlen, "the agent closed its side: %s",
					 strerror(errno));
				return;
			}
		}
		if (out->len == 0) {
			ssize_t n = recv(afd, out->data, sizeof(out->data), MSG_DONTWAIT);
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
				snprintf(why, wlen,
					 "the agent closed the connection (a message over "
					 "its limit or left unfinished? see above)");
				return;
			}
			if (n > 0) {
				out->len = (size_t)n;
				out->off = 0;
				progress = true;
			}
		}
		if (out->len) {
			int r = SSL_write(ssl, out->data + out->off, (int)(out->len - out->off));
			int e = r > 0 ? SSL_ERROR_NONE : SSL_get_error(ssl, r);
			write_wants_write = e == SSL_ERROR_WANT_WRITE;
			write_wants_read = e == SSL_ERROR_WANT_READ;
			if (r > 0) {
				out->off += (size_t)r;
				if (out->off == out->len)
					out->len = 0;
				progress = true;
			} else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
				ssl_why("connection to the control plane lost", why, wlen);
				return;
			}
		}
		if (progress)
			continue;
		struct pollfd pfd[3] = {
		    {.fd = rl.stop_fd, .events = POLLIN},
		    {.fd = fd,
		     .events = (short)((in->len == 0 ? POLLIN : 0) |
				       (read_wants_write || write_wants_write ? POLLOUT : 0) |
				       (write_wants_read ? POLLIN : 0))},
		    {.fd = afd,
		     .events = (short)((out->len == 0 ? POLLIN : 0) | (in->len ? POLLOUT : 0))}};
		if (poll(pfd, 3, -1) < 0 && errno != EINTR) {
			snprintf(why, wlen, "poll: %s", strerror(errno));
			return;
		}
		if (pfd[0].revents) {
			snprintf(why, wlen, "stopping");
			return;
		}
	}
}

static void *remote_main(void *arg)
{
	struct link *L = arg;
	unsigned attempt = 0;
	bool stopped = false;
	char why[300];
	while (!stopped) {
		int fd = -1;
		if (!attempt) /* a retry logs only a new reason (below) */
			state(L, "connecting", RV_LOG_NOTICE, "connecting to %s:%s as %s", L->host,
			      L->port, rl.p.name);
		SSL *ssl = dial(L, &fd, &stopped, why, sizeof(why));
		int afd = -1;
		if (ssl) {
			char aerr[200];
			L->step = "agent";
			afd = rv_agent_dial(rl.p.agent_socket, 0, aerr, sizeof(aerr));
			if (afd < 0)
				snprintf(why, sizeof(why), "the local agent socket %s: %s",
					 rl.p.agent_socket, aerr);
		}
		if (ssl && afd >= 0) {
			state(L, "registered", RV_LOG_NOTICE, "registered with %s:%s as %s",
			      L->host, L->port, rl.p.name);
			attempt = 0;
			L->step = "lost";
			pump(L, ssl, fd, afd, why, sizeof(why));
			stopped = stopped || !strcmp(why, "stopping");
			SSL_shutdown(ssl); /* close_notify, best effort */
		}
		if (afd >= 0)
			close(afd);
		if (ssl) {
			SSL_free(ssl);
			close(fd);
		}
		if (stopped)
			break;
		attempt++;
		state(L, L->step, RV_LOG_WARN, "%s:%s: %s; reconnecting with backoff", L->host,
		      L->port, why);
		wait_fd(-1, 0,
			rv_clock_mono_ns() +
			    rv_backoff_ms(attempt, BACKOFF_MIN_MS, BACKOFF_MAX_MS) * 1000000ull,
			&stopped);
	}
	return NULL;
}

/* ----- start / stop ----- */

/* Split `control` into the links' hosts and ports (checked by check_control). */
static void split_links(const char *control)
{
	rl.n_links = 0;
	for (const char *at = control; rl.n_links < RV_AGENT_REMOTE_MAX;) {
		struct link *L = &rl.links[rl.n_links++];
		size_t len = strcspn(at, ",");
		const char *colon = at + len;
		while (colon > at && *colon != ':')
			colon--;
		size_t hl = (size_t)(colon - at);
		bool br = at[0] == '[' && hl >= 2 && at[hl - 1] == ']';
		snprintf(L->host, sizeof(L->host), "%.*s", (int)(br ? hl - 2 : hl), at + br);
		snprintf(L->port, sizeof(L->port), "%.*s", (int)(len - hl - 1), colon + 1);
		L->last_state[0] = '\0';
		if (!at[len])
			break;
		at += len + 1;
	}
}

static void free_links(void)
{
	for (unsigned i = 0; i < rl.n_links; i++) {
		free(rl.links[i].in);
		free(rl.links[i].out);
		rl.links[i].in = rl.links[i].out = NULL;
	}
	rl.n_links = 0;
}

void rv_agent_remote_stop(void);

int rv_agent_remote_start(const struct rv_agent_remote_params *p, char *err, size_t errlen)
{
	if (!p->control[0])
		return 0;
	rl.p = *p;
	split_links(p->control);
	rl.ctx = SSL_CTX_new(TLS_client_method());
	if (!rl.ctx || !SSL_CTX_set_min_proto_version(rl.ctx, TLS1_3_VERSION) ||
	    SSL_CTX_use_certificate_chain_file(rl.ctx, p->cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(rl.ctx, p->key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(rl.ctx) != 1 ||
	    SSL_CTX_load_verify_locations(rl.ctx, p->ca, NULL) != 1) {
		unsigned long e = ERR_get_error();
		snprintf(err, errlen, "control link: agent_cert/agent_key/agent_ca: %s",
			 e ? ERR_reason_error_string(e) : "cannot load");
		ERR_clear_error();
		SSL_CTX_free(rl.ctx);
		rl.ctx = NULL;
		free_links();
		return -1;
	}
	SSL_CTX_set_verify(rl.ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_purpose(rl.ctx, X509_PURPOSE_SSL_SERVER);
	SSL_CTX_set_mode(rl.ctx,
			 SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	rl.stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	rl.running = true; /* stop() below undoes a partial start */
	int rc = rl.stop_fd < 0 ? errno : 0;
	for (unsigned i = 0; !rc && i < rl.n_links; i++) {
		struct link *L = &rl.links[i];
		char name[16];
		L->in = malloc(sizeof(*L->in));
		L->out = malloc(sizeof(*L->out));
		rc = !L->in || !L->out ? ENOMEM : pthread_create(&L->thread, NULL, remote_main, L);
		if (rc)
			break;
		L->started = true;
		snprintf(name, sizeof(name), "rv-agent-link%u", i);
		pthread_setname_np(L->thread, name);
	}
	if (rc != 0) {
		snprintf(err, errlen, "control link: %s", strerror(rc));
		rv_agent_remote_stop();
		return -1;
	}
	return 0;
}

void rv_agent_remote_stop(void)
{
	uint64_t one = 1;
	if (!rl.running)
		return;
	if (rl.stop_fd >= 0 && write(rl.stop_fd, &one, sizeof(one)) < 0)
		rv_log(RV_LOG_ERROR, "control link: cannot signal stop: %s", strerror(errno));
	for (unsigned i = 0; i < rl.n_links; i++)
		if (rl.links[i].started) {
			pthread_join(rl.links[i].thread, NULL);
			rl.links[i].started = false;
		}
	free_links();
	if (rl.stop_fd >= 0)
		close(rl.stop_fd);
	rl.stop_fd = -1;
	SSL_CTX_free(rl.ctx);
	rl.ctx = NULL;
	rl.running = false;
}
