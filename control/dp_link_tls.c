/* The link of a remote data plane (dp_link_tls.h): exchanges on a
 * persistent TLS connection, non-blocking with deadlines. The listener that
 * makes these links is dp_links.c.
 *
 * Locking: a link's `mu` serializes every use of its SSL (exchanges on the
 * caller's thread, the listener's tear-down); `state_mu` guards the
 * broken flag, the reason and the fd for shutdown(), so close() and a
 * failing exchange can break the connection from any thread. Breaking
 * means shutdown(): the listener sees the hang-up and reports the link
 * down, always from its own thread. */
#include "dp_link_tls.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "agent_proto.h"
#include "clock.h"

#define WRITE_COALESCE 65536 /* bytes of requests packed into one SSL_write */

struct tls_link {
	struct rv_dp_link base; /* first: the ops get &base */
	pthread_mutex_t mu;	/* every use of ssl */
	SSL *ssl;		/* NULL once torn down */
	pthread_mutex_t state_mu;
	int fd; /* for shutdown(); -1 once torn down */
	bool broken;
	char why[200];
	char name[RV_DP_NAME_MAX];
	uint64_t timeout_ns;
};

/* First reason wins; shutdown() wakes the listener (and any exchange). */
static void link_break(struct tls_link *t, const char *why)
{
	pthread_mutex_lock(&t->state_mu);
	if (!t->broken) {
		t->broken = true;
		snprintf(t->why, sizeof(t->why), "%s", why);
		if (t->fd >= 0)
			shutdown(t->fd, SHUT_RDWR);
	}
	pthread_mutex_unlock(&t->state_mu);
}

static bool link_why(struct tls_link *t, char *out, size_t len)
{
	pthread_mutex_lock(&t->state_mu);
	bool broken = t->broken;
	snprintf(out, len, "%s", t->why);
	pthread_mutex_unlock(&t->state_mu);
	return broken;
}

/* Wait until the socket is readable (or writable, @want_write), or
 * @deadline. 0 ready, -1 timed out. */
static int wait_io(int fd, bool want_write, uint64_t deadline)
{
	uint64_t now = rv_clock_mono_ns();
	if (now >= deadline)
		return -1;
	struct pollfd p = {.fd = fd, .events = POLLIN | (want_write ? POLLOUT : 0)};
	uint64_t ms = (deadline - now) / 1000000ull + 1;
	int n = poll(&p, 1, ms > 60000 ? 60000 : (int)ms);
	return n < 0 && errno != EINTR ? -1 : 0;
}

static void ssl_reason(int e, char *out, size_t len)
{
	unsigned long code = ERR_get_error();
	if (e == SSL_ERROR_ZERO_RETURN)
		snprintf(out, len, "connection closed by the data plane");
	else if (code)
		ERR_error_string_n(code, out, len);
	else if (e == SSL_ERROR_SYSCALL)
		snprintf(out, len, "%s",
			 errno ? strerror(errno) : "connection closed by the data plane");
	else
		snprintf(out, len, "TLS error %d", e);
	ERR_clear_error();
}

typedef void (*response_fn)(void *ctx, size_t i, Roomvpn__Dataplane__V1__Response *r);

struct exchange {
	struct tls_link *t;
	Roomvpn__Dataplane__V1__Request *const *reqs;
	size_t n, sent, got;
	uint8_t *out; /* packed requests not yet written: out[off..len) */
	size_t out_len, out_off;
	bool want_write;
	struct rv_agent_reader rd;
	response_fn on_resp;
	void *ctx;
	char err[200];
};

/* Pack as many requests as fit WRITE_COALESCE (at least one). */
static int pack_more(struct exchange *x)
{
	while (x->sent < x->n && x->out_len < WRITE_COALESCE) {
		uint8_t *msg;
		size_t len;
		if (rv_agent_pack(&x->reqs[x->sent]->base, &msg, &len) < 0) {
			snprintf(x->err, sizeof(x->err), "request %zu too large or out of memory",
				 x->sent);
			return -1;
		}
		uint8_t *p = realloc(x->out, x->out_len + len);
		if (!p) {
			OPENSSL_cleanse(msg, len);
			free(msg);
			snprintf(x->err, sizeof(x->err), "out of memory");
			return -1;
		}
		memcpy(p + x->out_len, msg, len);
		OPENSSL_cleanse(msg, len); /* sessions and keys carry key material */
		free(msg);
		x->out = p;
		x->out_len += len;
		x->sent++;
	}
	return 0;
}

static void out_done(struct exchange *x)
{
	OPENSSL_cleanse(x->out, x->out_len);
	free(x->out);
	x->out = NULL;
	x->out_len = x->out_off = 0;
}

/* 1 progress, 0 would block, -1 failed (x->err). */
static int step_write(struct exchange *x)
{
	if (!x->out && (x->sent == x->n || pack_more(x) < 0))
		return x->sent == x->n && !x->err[0] ? 0 : -1;
	size_t left = x->out_len - x->out_off;
	int r = SSL_write(x->t->ssl, x->out + x->out_off, left > INT32_MAX ? INT32_MAX : (int)left);
	x->want_write = false;
	if (r > 0) {
		x->out_off += (size_t)r;
		if (x->out_off == x->out_len)
			out_done(x);
		return 1;
	}
	int e = SSL_get_error(x->t->ssl, r);
	if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
		x->want_write = e == SSL_ERROR_WANT_WRITE;
		return 0;
	}
	ssl_reason(e, x->err, sizeof(x->err));
	return -1;
}

static int take_responses(struct exchange *x, const uint8_t *buf, size_t len)
{
	size_t off = 0;
	while (off < len) {
		size_t used;
		enum rv_agent_feed f = rv_agent_reader_feed(&x->rd, buf + off, len - off, &used,
							    x->err, sizeof(x->err));
		off += used;
		if (f == RV_AGENT_FEED_ERR)
			return -1;
		if (f != RV_AGENT_FEED_MSG)
			continue;
		Roomvpn__Dataplane__V1__Response *r =
		    roomvpn__dataplane__v1__response__unpack(NULL, x->rd.len, x->rd.body);
		rv_agent_reader_reset(&x->rd);
		if (!r || x->got >= x->sent) {
			snprintf(x->err, sizeof(x->err), "%s response %zu",
				 r ? "unexpected" : "malformed", x->got);
			if (r)
				roomvpn__dataplane__v1__response__free_unpacked(r, NULL);
			return -1;
		}
		x->on_resp(x->ctx, x->got++, r);
	}
	return 0;
}

static int step_read(struct exchange *x)
{
	uint8_t buf[16384];
	int r = SSL_read(x->t->ssl, buf, sizeof(buf));
	if (r > 0)
		return take_responses(x, buf, (size_t)r) < 0 ? -1 : 1;
	int e = SSL_get_error(x->t->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	ssl_reason(e, x->err, sizeof(x->err));
	return -1;
}

/* Send @n requests, hand each response to @on_resp in order. Requests go
 * out while responses come in, so neither side's buffers fill up. */
static int link_run(struct tls_link *t, Roomvpn__Dataplane__V1__Request *const *reqs, size_t n,
		    response_fn on_resp, void *ctx, char *err, size_t errlen)
{
	struct exchange x = {.t = t, .reqs = reqs, .n = n, .on_resp = on_resp, .ctx = ctx};
	char why[200];
	int rc = 0;
	pthread_mutex_lock(&t->mu);
	if (!t->ssl || link_why(t, why, sizeof(why))) {
		pthread_mutex_unlock(&t->mu);
		snprintf(err, errlen, "data plane %s: link is down (%s)", t->name,
			 t->ssl ? why : "closed");
		return -1;
	}
	rv_agent_reader_init(&x.rd);
	uint64_t deadline = rv_clock_mono_ns() + t->timeout_ns;
	while (x.got < n) {
		int w = step_write(&x);
		int r = w < 0 ? -1 : step_read(&x);
		if (w < 0 || r < 0) {
			rc = -1;
			break;
		}
		if (w == 0 && r == 0 && wait_io(t->fd, x.want_write, deadline) < 0) {
			snprintf(x.err, sizeof(x.err),
				 "no answer within %.0f s (%zu of %zu answered)",
				 (double)t->timeout_ns / 1e9, x.got, n);
			rc = -1;
			break;
		}
	}
	pthread_mutex_unlock(&t->mu);
	if (x.out)
		out_done(&x);
	if (x.rd.body)
		OPENSSL_cleanse(x.rd.body, x.rd.have);
	rv_agent_reader_reset(&x.rd);
	if (rc < 0) {
		/* the stream's position is lost: the link cannot be used again */
		snprintf(err, errlen, "data plane %s: %s", t->name, x.err);
		link_break(t, err);
	}
	return rc;
}

struct each_ctx {
	bool *ok;
	char *err;
	size_t errlen;
	const char *name;
};

static void each_resp(void *arg, size_t i, Roomvpn__Dataplane__V1__Response *r)
{
	struct each_ctx *c = arg;
	c->ok[i] = r->status == ROOMVPN__DATAPLANE__V1__STATUS__STATUS_OK;
	if (!c->ok[i])
		snprintf(c->err, c->errlen, "data plane %s refused request %zu: %s", c->name, i,
			 r->message);
	roomvpn__dataplane__v1__response__free_unpacked(r, NULL);
}

static int tls_exchange_each(struct rv_dp_link *l, Roomvpn__Dataplane__V1__Request *const *reqs,
			     size_t n, bool *ok, char *err, size_t errlen)
{
	struct tls_link *t = (struct tls_link *)l;
	struct each_ctx c = {.ok = ok, .err = err, .errlen = errlen, .name = t->name};
	return link_run(t, reqs, n, each_resp, &c, err, errlen);
}

static void keep_resp(void *arg, size_t i, Roomvpn__Dataplane__V1__Response *r)
{
	(void)i;
	*(Roomvpn__Dataplane__V1__Response **)arg = r;
}

static Roomvpn__Dataplane__V1__Response *tls_stats(struct rv_dp_link *l,
						   const Roomvpn__Dataplane__V1__ReadStats *ask,
						   uint64_t fence, char *err, size_t errlen)
{
	Roomvpn__Dataplane__V1__Request rq = ROOMVPN__DATAPLANE__V1__REQUEST__INIT;
	Roomvpn__Dataplane__V1__ReadStats rs = *ask;
	Roomvpn__Dataplane__V1__Request *reqs[1] = {&rq};
	Roomvpn__Dataplane__V1__Response *resp = NULL;
	rq.request_id = 1;
	rq.fence = fence;
	rq.body_case = ROOMVPN__DATAPLANE__V1__REQUEST__BODY_READ_STATS;
	rq.read_stats = &rs;
	if (link_run((struct tls_link *)l, reqs, 1, keep_resp, &resp, err, errlen) < 0)
		return NULL;
	if (resp->status != ROOMVPN__DATAPLANE__V1__STATUS__STATUS_OK || !resp->stats) {
		snprintf(err, errlen, "data plane %s: ReadStats failed: %s",
			 ((struct tls_link *)l)->name, resp->message);
		roomvpn__dataplane__v1__response__free_unpacked(resp, NULL);
		return NULL;
	}
	return resp;
}

static void tls_close(struct rv_dp_link *l)
{
	link_break((struct tls_link *)l, "closed by the control plane");
}

static void tls_free(struct rv_dp_link *l)
{
	struct tls_link *t = (struct tls_link *)l;
	pthread_mutex_destroy(&t->mu);
	pthread_mutex_destroy(&t->state_mu);
	free(t);
}

static const struct rv_dp_link_ops tls_ops = {
    .exchange_each = tls_exchange_each,
    .stats = tls_stats,
    .close = tls_close,
    .free = tls_free,
};

struct rv_dp_link *rv_dp_link_tls_new(SSL *ssl, int fd, const char *name, const char *peer,
				      uint64_t timeout_ns)
{
	struct tls_link *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	pthread_mutex_init(&t->mu, NULL);
	pthread_mutex_init(&t->state_mu, NULL);
	t->ssl = ssl;
	t->fd = fd;
	t->timeout_ns = timeout_ns;
	snprintf(t->name, sizeof(t->name), "%s", name);
	snprintf(t->base.describe, sizeof(t->base.describe), "tls:%s (%s)", peer, name);
	t->base.ops = &tls_ops;
	t->base.impl = t;
	t->base.refs = 1;
	return &t->base;
}

void rv_dp_link_tls_break(struct rv_dp_link *l, const char *why)
{
	link_break((struct tls_link *)l, why);
}

bool rv_dp_link_tls_broken(struct rv_dp_link *l)
{
	struct tls_link *t = (struct tls_link *)l;
	pthread_mutex_lock(&t->state_mu);
	bool broken = t->broken;
	pthread_mutex_unlock(&t->state_mu);
	return broken;
}

int rv_dp_link_tls_teardown(struct rv_dp_link *l, const char *why, bool wait, char *out, size_t len)
{
	struct tls_link *t = (struct tls_link *)l;
	if (wait)
		pthread_mutex_lock(&t->mu);
	else if (pthread_mutex_trylock(&t->mu) != 0)
		return -1; /* an exchange is running: it will fail and let go */
	pthread_mutex_lock(&t->state_mu);
	if (!t->broken) {
		t->broken = true;
		snprintf(t->why, sizeof(t->why), "%s", why);
	}
	snprintf(out, len, "%s", t->why);
	int fd = t->fd;
	t->fd = -1;
	pthread_mutex_unlock(&t->state_mu);
	SSL_free(t->ssl);
	t->ssl = NULL;
	if (fd >= 0)
		close(fd);
	pthread_mutex_unlock(&t->mu);
	return 0;
}
