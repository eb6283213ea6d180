#include "grpc_client.h"
#include "grpc_pb.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define DEFAULT_TIMEOUT_MS 15000

struct rv_grpc {
	grpc_channel *ch;
	grpc_completion_queue *cq;
	uint32_t timeout_ms;
	bool pin_set; /* pin: the member of the target's set the server matched */
	uint8_t pin[RV_FP_LEN];
	char tls_name[256];
	/* the target, kept to fail over to its other endpoints */
	char servers[RV_GRPC_SERVERS_MAX], *ca_file;
	struct rv_pinset pins;
	bool tls_name_given;
	unsigned n_ep, at; /* endpoints in servers; the one the channel goes to */
};

/* The endpoint that answered last (any rv_grpc): where the next open
 * starts, so that a reconnect does not begin with the one that died. */
static _Atomic unsigned preferred;

unsigned rv_grpc_endpoints(const char *servers)
{
	unsigned n = servers && servers[0] ? 1 : 0;
	for (const char *p = servers; n && (p = strchr(p, ',')); p++)
		n++; /* "a," is two entries, the second empty (refused by the check) */
	return n;
}

/* Endpoint @i of the comma-separated list @servers into @out ("" if none). */
static void endpoint_at(const char *servers, unsigned i, char *out, size_t len)
{
	const char *p = servers;
	for (; i && p; i--) {
		p = strchr(p, ',');
		p = p ? p + 1 : NULL;
	}
	size_t n = p ? strcspn(p, ",") : 0;
	snprintf(out, len, "%.*s", (int)n, p ? p : "");
}

static int split_hostport(const char *s, char *host, size_t hl, char *port, size_t pl)
{
	const char *colon = strrchr(s, ':');
	size_t n;

	if (!colon || !colon[1] || colon == s)
		return -1;
	n = (size_t)(colon - s);
	if (s[0] == '[' && colon[-1] == ']') { /* [v6]:port */
		s++;
		n -= 2;
	}
	if (n >= hl || strlen(colon + 1) >= pl)
		return -1;
	memcpy(host, s, n);
	host[n] = '\0';
	snprintf(port, pl, "%s", colon + 1);
	return 0;
}

static int split_hostport(const char *s, char *host, size_t hl, char *port, size_t pl);

int rv_grpc_check_servers(const char *servers, char *err, size_t errlen)
{
	char ep[256], host[256], port[16];
	unsigned n = rv_grpc_endpoints(servers);

	if (!servers || !servers[0] || strlen(servers) >= RV_GRPC_SERVERS_MAX ||
	    n > RV_GRPC_ENDPOINTS_MAX) {
		snprintf(err, errlen,
			 "bad server list '%s': want host:port[,host:port...] (at most %d, %d "
			 "characters)",
			 servers ? servers : "", RV_GRPC_ENDPOINTS_MAX, RV_GRPC_SERVERS_MAX - 1);
		return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		endpoint_at(servers, i, ep, sizeof(ep));
		if (split_hostport(ep, host, sizeof(host), port, sizeof(port)) < 0) {
			snprintf(err, errlen,
				 "bad server address '%s' (want host:port or [v6]:port)", ep);
			return -1;
		}
	}
	return 0;
}

static int dial(const char *server, uint32_t timeout_ms, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	char host[256], port[16];
	int fd = -1, rc;

	if (split_hostport(server, host, sizeof(host), port, sizeof(port)) < 0) {
		snprintf(err, errlen, "bad server address '%s' (want host:port)", server);
		return -1;
	}
	rc = getaddrinfo(host, port, &hints, &ai);
	if (rc) {
		snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(rc));
		return -1;
	}
	/* every address of the name in turn (several A/AAAA records) */
	for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			snprintf(err, errlen, "socket: %s", strerror(errno));
			continue;
		}
		struct timeval tv = {.tv_sec = timeout_ms / 1000,
				     .tv_usec = timeout_ms % 1000 * 1000};
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
			snprintf(err, errlen, "cannot connect to %s: %s", server, strerror(errno));
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(ai);
	return fd;
}

static char *cert_pem(X509 *cert)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *out = NULL;
	long len;

	if (bio && PEM_write_bio_X509(bio, cert) == 1) {
		len = BIO_get_mem_data(bio, &data);
		out = malloc((size_t)len + 1);
		if (out) {
			memcpy(out, data, (size_t)len);
			out[len] = '\0';
		}
	}
	BIO_free(bio);
	return out;
}

/* Handshake on @fd and return the server's leaf certificate, or NULL. */
static X509 *handshake_cert(int fd, const char *server, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = ctx ? SSL_new(ctx) : NULL;
	X509 *cert = NULL;

	if (!ssl) {
		snprintf(err, errlen, "TLS: out of memory");
		goto out;
	}
	SSL_set_alpn_protos(ssl, (const unsigned char *)"\x02h2", 3);
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) != 1) {
		unsigned long e = ERR_get_error();
		snprintf(err, errlen, "TLS handshake with %s failed: %s", server,
			 e ? ERR_reason_error_string(e) : "connection closed or timed out");
		goto out;
	}
	cert = SSL_get1_peer_certificate(ssl);
	if (!cert)
		snprintf(err, errlen, "TLS: %s sent no certificate", server);
	SSL_shutdown(ssl);
out:
	ERR_clear_error();
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	return cert;
}

int rv_grpc_fetch_cert(const char *server, uint32_t timeout_ms, char **pem, uint8_t fp[RV_FP_LEN],
		       char *err, size_t errlen)
{
	unsigned n = rv_grpc_endpoints(server);
	int fd = -1;
	X509 *cert;
	char ep[256];

	if (!n)
		snprintf(err, errlen, "no server address");
	for (unsigned i = 0; i < n && fd < 0; i++) {
		endpoint_at(server, i, ep, sizeof(ep));
		fd = dial(ep, timeout_ms ? timeout_ms : DEFAULT_TIMEOUT_MS, err, errlen);
	}
	if (fd < 0)
		return -1;
	server = ep;
	signal(SIGPIPE, SIG_IGN);
	cert = handshake_cert(fd, server, err, errlen);
	close(fd);
	if (!cert)
		return -1;
	*pem = cert_pem(cert);
	if (!*pem || rv_fp_of_cert(cert, fp) < 0) {
		snprintf(err, errlen, "cannot encode the server certificate");
		free(*pem);
		*pem = NULL;
		X509_free(cert);
		return -1;
	}
	X509_free(cert);
	return 0;
}

/* The name to check in a pinned certificate: its first DNS SAN, else CN. */
static void cert_name(const char *pem, char *out, size_t len)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	GENERAL_NAMES *sans = x ? X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL) : NULL;

	out[0] = '\0';
	for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans) && !out[0]; i++) {
		GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
		if (gn->type == GEN_DNS)
			snprintf(out, len, "%.*s", ASN1_STRING_length(gn->d.dNSName),
				 (const char *)ASN1_STRING_get0_data(gn->d.dNSName));
	}
	if (!out[0] && x)
		X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out, (int)len);
	GENERAL_NAMES_free(sans);
	X509_free(x);
	BIO_free(bio);
}

/* grpc's own handshake: the certificate must still be the pinned one. */
static int verify_pin_cb(const char *target, const char *peer_pem, void *arg)
{
	struct rv_grpc *g = arg;
	uint8_t fp[RV_FP_LEN];

	(void)target;
	return rv_fp_of_pem(peer_pem, fp) == 0 && rv_fp_equal(fp, g->pin) ? 0 : 1;
}

static char *read_file(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t n = 0;
	long len;

	if (!f) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && len < (1 << 20) &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)len + 1)))
		n = fread(buf, 1, (size_t)len, f);
	fclose(f);
	if (!buf) {
		snprintf(err, errlen, "cannot read %s", path);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

/* The root PEM for grpc: the pinned certificate (checked against the set,
 * the match kept in @g) or the CA file. */
static char *trust_roots(const struct rv_grpc_target *t, struct rv_grpc *g, char *err,
			 size_t errlen)
{
	char *pem = NULL, want[RV_FP_STR], got[RV_FP_STR];
	uint8_t fp[RV_FP_LEN];

	if (t->pins.n == 0) {
		if (!t->ca_file) {
			snprintf(err, errlen, "no server fingerprint pin and no CA file");
			return NULL;
		}
		return read_file(t->ca_file, err, errlen);
	}
	if (rv_grpc_fetch_cert(t->server, t->timeout_ms, &pem, fp, err, errlen) < 0)
		return NULL;
	if (!rv_pinset_has(&t->pins, fp)) {
		rv_fp_format(t->pins.fp[t->pins.n - 1], want);
		rv_fp_format(fp, got);
		snprintf(err, errlen,
			 "server certificate fingerprint mismatch: %s presents %s, pinned %s%s",
			 t->server, got, want, t->pins.n > 1 ? " (and older pins)" : "");
		free(pem);
		return NULL;
	}
	g->pin_set = true;
	memcpy(g->pin, fp, RV_FP_LEN);
	if (!t->tls_name)
		cert_name(pem, g->tls_name, sizeof(g->tls_name));
	return pem;
}

/* Point @g's channel at endpoint @i (the old channel, if any, goes once the
 * new one is made). With pins the certificate is fetched and checked. */
static int open_channel(struct rv_grpc *g, unsigned i, char *err, size_t errlen)
{
	verify_peer_options vo = {0};
	grpc_channel_credentials *creds;
	/* No reconnect settings: GRPC_ARG_MIN_RECONNECT_BACKOFF_MS is also
	 * grpc's connect deadline (TCP + TLS handshake), and a short one made
	 * every attempt time out before the handshake was finished when no
	 * thread polled meanwhile (issue 16). A channel that lost its server
	 * is replaced by a fresh one (the keepalive thread), not retried. */
	grpc_arg arg[1];
	grpc_channel_args args = {0, arg};
	char ep[256];
	struct rv_grpc_target t = {.server = ep,
				   .pins = g->pins,
				   .ca_file = g->ca_file,
				   .tls_name = g->tls_name_given ? g->tls_name : NULL,
				   .timeout_ms = g->timeout_ms};

	endpoint_at(g->servers, i, ep, sizeof(ep));
	if (!g->tls_name_given)
		g->tls_name[0] = '\0';
	char *roots = trust_roots(&t, g, err, errlen);
	if (!roots)
		return -1;
	if (g->pin_set) {
		vo.verify_peer_callback = verify_pin_cb;
		vo.verify_peer_callback_userdata = g;
	}
	creds = grpc_ssl_credentials_create(roots, NULL, &vo, NULL);
	free(roots);
	if (g->tls_name[0]) {
		arg[0].type = GRPC_ARG_STRING;
		arg[0].key = GRPC_SSL_TARGET_NAME_OVERRIDE_ARG;
		arg[0].value.string = g->tls_name;
		args.num_args = 1;
	}
	grpc_channel *ch = grpc_channel_create(ep, creds, &args);
	grpc_channel_credentials_release(creds);
	if (g->ch)
		grpc_channel_destroy(g->ch);
	g->ch = ch;
	g->at = i;
	return 0;
}

/* The first endpoint from @from on that can be opened (all tried once). */
static int open_from(struct rv_grpc *g, unsigned from, char *err, size_t errlen)
{
	size_t used = 0;

	err[0] = '\0';
	for (unsigned k = 0; k < g->n_ep; k++) {
		unsigned i = (from + k) % g->n_ep;
		char one[512];
		if (open_channel(g, i, one, sizeof(one)) == 0)
			return 0;
		int w = snprintf(err + used, errlen - used, "%s%s", used ? "; " : "", one);
		if (w > 0 && (size_t)w < errlen - used)
			used += (size_t)w;
	}
	return -1;
}

int rv_grpc_open(const struct rv_grpc_target *t, struct rv_grpc **out, char *err, size_t errlen)
{
	struct rv_grpc *g = calloc(1, sizeof(*g));

	if (!g) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (rv_grpc_check_servers(t->server, err, errlen) < 0) {
		free(g);
		return -1;
	}
	g->timeout_ms = t->timeout_ms ? t->timeout_ms : DEFAULT_TIMEOUT_MS;
	snprintf(g->servers, sizeof(g->servers), "%s", t->server);
	g->n_ep = rv_grpc_endpoints(g->servers);
	g->pins = t->pins;
	g->ca_file = t->ca_file ? strdup(t->ca_file) : NULL;
	g->tls_name_given = t->tls_name != NULL;
	if (t->tls_name)
		snprintf(g->tls_name, sizeof(g->tls_name), "%s", t->tls_name);
	grpc_init();
	if ((t->ca_file && !g->ca_file) || open_from(g, preferred % g->n_ep, err, errlen) < 0) {
		if (t->ca_file && !g->ca_file)
			snprintf(err, errlen, "out of memory");
		free(g->ca_file);
		free(g);
		grpc_shutdown();
		return -1;
	}
	g->cq = grpc_completion_queue_create_for_pluck(NULL);
	*out = g;
	return 0;
}

/* The channel's endpoint did not answer: move to the next one that can be
 * opened (true), remembered for later opens. */
static bool fail_over(struct rv_grpc *g)
{
	char err[512];

	if (g->n_ep < 2 || open_from(g, g->at + 1, err, sizeof(err)) < 0)
		return false;
	preferred = g->at;
	return true;
}

const char *rv_grpc_endpoint(const struct rv_grpc *g, char *out, size_t len)
{
	endpoint_at(g->servers, g->at, out, len);
	return out;
}

bool rv_grpc_pin(const struct rv_grpc *g, uint8_t fp[RV_FP_LEN])
{
	if (g->pin_set)
		memcpy(fp, g->pin, RV_FP_LEN);
	return g->pin_set;
}

void rv_grpc_set_timeout(struct rv_grpc *g, uint32_t timeout_ms)
{
	g->timeout_ms = timeout_ms ? timeout_ms : DEFAULT_TIMEOUT_MS;
}

void rv_grpc_close(struct rv_grpc *g)
{
	if (!g)
		return;
	grpc_completion_queue_shutdown(g->cq);
	grpc_completion_queue_destroy(g->cq);
	grpc_channel_destroy(g->ch);
	free(g->ca_file);
	free(g);
	grpc_shutdown();
}

static void find_md(const grpc_metadata_array *a, const char *key, char *out, size_t len)
{
	for (size_t i = 0; i < a->count; i++) {
		const grpc_slice *k = &a->metadata[i].key, *v = &a->metadata[i].value;
		if (GRPC_SLICE_LENGTH(*k) == strlen(key) &&
		    !memcmp(GRPC_SLICE_START_PTR(*k), key, strlen(key)))
			snprintf(out, len, "%.*s", (int)GRPC_SLICE_LENGTH(*v),
				 (const char *)GRPC_SLICE_START_PTR(*v));
	}
}

struct call_io {
	grpc_metadata md[1];
	grpc_metadata_array init_md, trailing;
	grpc_byte_buffer *req, *resp;
	grpc_status_code status;
	grpc_slice details;
};

static void fill_ops(grpc_op ops[6], struct call_io *io, unsigned n_md)
{
	memset(ops, 0, 6 * sizeof(*ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[0].data.send_initial_metadata.count = n_md;
	ops[0].data.send_initial_metadata.metadata = io->md;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = io->req;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &io->init_md;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &io->resp;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &io->trailing;
	ops[5].data.recv_status_on_client.status = &io->status;
	ops[5].data.recv_status_on_client.status_details = &io->details;
}

/* Run the batch; returns false if grpc refused it. */
static bool run_call(struct rv_grpc *g, const char *path, struct call_io *io, unsigned n_md)
{
	gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
					     gpr_time_from_millis(g->timeout_ms, GPR_TIMESPAN));
	grpc_slice method = grpc_slice_from_static_string(path);
	grpc_call *call = grpc_channel_create_call(g->ch, NULL, GRPC_PROPAGATE_DEFAULTS, g->cq,
						   method, NULL, deadline, NULL);
	grpc_op ops[6];
	grpc_event ev;

	fill_ops(ops, io, n_md);
	if (grpc_call_start_batch(call, ops, 6, io, NULL) != GRPC_CALL_OK) {
		grpc_call_unref(call);
		return false;
	}
	ev = grpc_completion_queue_pluck(g->cq, io, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	grpc_call_unref(call);
	return ev.type == GRPC_OP_COMPLETE;
}

static grpc_status_code call_once(struct rv_grpc *g, const char *path, const ProtobufCMessage *req,
				  const ProtobufCMessageDescriptor *resp_desc,
				  ProtobufCMessage **resp, const char *bearer,
				  struct rv_grpc_result *res)
{
	struct call_io io = {0};
	char auth[600];
	unsigned n_md = 0;

	memset(res, 0, sizeof(*res));
	*resp = NULL;
	if (bearer) {
		snprintf(auth, sizeof(auth), "Bearer %s", bearer);
		io.md[0].key = grpc_slice_from_static_string("authorization");
		io.md[0].value = grpc_slice_from_copied_string(auth);
		n_md = 1;
	}
	io.req = rv_grpc_pb_pack(req);
	io.details = grpc_empty_slice();
	grpc_metadata_array_init(&io.init_md);
	grpc_metadata_array_init(&io.trailing);
	if (!run_call(g, path, &io, n_md)) {
		io.status = GRPC_STATUS_INTERNAL;
		snprintf(res->message, sizeof(res->message), "grpc refused the call");
	} else {
		snprintf(res->message, sizeof(res->message), "%.*s",
			 (int)GRPC_SLICE_LENGTH(io.details),
			 (const char *)GRPC_SLICE_START_PTR(io.details));
		find_md(&io.init_md, "x-roomvpn-session", res->session_hdr,
			sizeof(res->session_hdr));
	}
	if (io.status == GRPC_STATUS_OK) {
		*resp = rv_grpc_pb_unpack(io.resp, resp_desc);
		if (!*resp) {
			io.status = GRPC_STATUS_INTERNAL;
			snprintf(res->message, sizeof(res->message),
				 "malformed reply from the server");
		}
	}
	res->status = io.status;
	if (n_md)
		grpc_slice_unref(io.md[0].value);
	grpc_slice_unref(io.details);
	grpc_metadata_array_destroy(&io.init_md);
	grpc_metadata_array_destroy(&io.trailing);
	grpc_byte_buffer_destroy(io.req);
	if (io.resp)
		grpc_byte_buffer_destroy(io.resp);
	return io.status;
}

grpc_status_code rv_grpc_call(struct rv_grpc *g, const char *path, const ProtobufCMessage *req,
			      const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
			      const char *bearer, struct rv_grpc_result *res)
{
	grpc_status_code st = call_once(g, path, req, resp_desc, resp, bearer, res);

	/* UNAVAILABLE: that replica is gone or cannot serve: the next one
	 * (each endpoint at most once per call) */
	for (unsigned k = 1; st == GRPC_STATUS_UNAVAILABLE && k < g->n_ep && fail_over(g); k++)
		st = call_once(g, path, req, resp_desc, resp, bearer, res);
	return st;
}

/* ---- streaming --------------------------------------------------------- */

enum { TAG_MD = 1, TAG_SEND, TAG_RECV, TAG_STATUS, TAG_RECV_MD };

struct rv_grpc_stream {
	grpc_completion_queue *cq;
	grpc_call *call;
	unsigned outstanding; /* batches started and not yet completed */
	bool send_done, recv_ready, recv_pending, ended, status_done;
	grpc_metadata md[1];
	grpc_metadata_array init_md, trailing;
	grpc_byte_buffer *recv_buf;
	grpc_status_code status;
	grpc_slice details;
};

static bool start(struct rv_grpc_stream *s, grpc_op *ops, size_t n, intptr_t tag)
{
	if (grpc_call_start_batch(s->call, ops, n, (void *)tag, NULL) != GRPC_CALL_OK)
		return false;
	s->outstanding++;
	return true;
}

/* Wait for one completion (until @deadline); false on timeout. */
static bool pump(struct rv_grpc_stream *s, gpr_timespec deadline)
{
	grpc_event ev = grpc_completion_queue_next(s->cq, deadline, NULL);

	if (ev.type != GRPC_OP_COMPLETE)
		return false;
	s->outstanding--;
	switch ((intptr_t)ev.tag) {
	case TAG_SEND:
		s->send_done = true;
		break;
	case TAG_RECV:
		s->recv_pending = false;
		s->recv_ready = true;
		if (!ev.success || !s->recv_buf)
			s->ended = true;
		break;
	case TAG_STATUS:
		s->status_done = true;
		break;
	default:
		break;
	}
	if (!ev.success && (intptr_t)ev.tag == TAG_SEND)
		s->ended = true;
	return true;
}

static gpr_timespec in_ms(int ms)
{
	return gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

struct rv_grpc_stream *rv_grpc_stream_open(struct rv_grpc *g, const char *path, const char *bearer,
					   struct rv_grpc_result *res)
{
	struct rv_grpc_stream *s = calloc(1, sizeof(*s));
	char auth[600];
	grpc_op op[3];

	memset(res, 0, sizeof(*res));
	if (!s)
		return NULL;
	s->cq = grpc_completion_queue_create_for_next(NULL);
	s->call = grpc_channel_create_call(g->ch, NULL, GRPC_PROPAGATE_DEFAULTS, s->cq,
					   grpc_slice_from_static_string(path), NULL,
					   gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	snprintf(auth, sizeof(auth), "Bearer %s", bearer);
	s->md[0].key = grpc_slice_from_static_string("authorization");
	s->md[0].value = grpc_slice_from_copied_string(auth);
	s->details = grpc_empty_slice();
	grpc_metadata_array_init(&s->init_md);
	grpc_metadata_array_init(&s->trailing);
	memset(op, 0, sizeof(op));
	op[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	op[0].data.send_initial_metadata.count = 1;
	op[0].data.send_initial_metadata.metadata = s->md;
	op[1].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	op[1].data.recv_status_on_client.trailing_metadata = &s->trailing;
	op[1].data.recv_status_on_client.status = &s->status;
	op[1].data.recv_status_on_client.status_details = &s->details;
	/* Messages are delivered only once the server's headers were taken. */
	op[2].op = GRPC_OP_RECV_INITIAL_METADATA;
	op[2].data.recv_initial_metadata.recv_initial_metadata = &s->init_md;
	if (!start(s, &op[0], 1, TAG_MD) || !start(s, &op[1], 1, TAG_STATUS) ||
	    !start(s, &op[2], 1, TAG_RECV_MD)) {
		snprintf(res->message, sizeof(res->message), "grpc refused the stream");
		rv_grpc_stream_close(s);
		return NULL;
	}
	return s;
}

int rv_grpc_stream_send(struct rv_grpc_stream *s, const ProtobufCMessage *m)
{
	grpc_byte_buffer *bb = rv_grpc_pb_pack(m);
	grpc_op op;
	int rc = -1;

	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_SEND_MESSAGE;
	op.data.send_message.send_message = bb;
	s->send_done = false;
	if (!s->ended && !s->status_done && start(s, &op, 1, TAG_SEND)) {
		gpr_timespec deadline = in_ms(DEFAULT_TIMEOUT_MS);
		while (!s->send_done && pump(s, deadline))
			;
		rc = s->send_done && !s->ended ? 0 : -1;
	}
	grpc_byte_buffer_destroy(bb);
	return rc;
}

static int stream_over(struct rv_grpc_stream *s, struct rv_grpc_result *res)
{
	gpr_timespec deadline = in_ms(DEFAULT_TIMEOUT_MS);

	while (!s->status_done && pump(s, deadline))
		;
	res->status = s->status_done ? s->status : GRPC_STATUS_UNAVAILABLE;
	snprintf(res->message, sizeof(res->message), "%.*s", (int)GRPC_SLICE_LENGTH(s->details),
		 (const char *)GRPC_SLICE_START_PTR(s->details));
	return -1;
}

int rv_grpc_stream_recv(struct rv_grpc_stream *s, const ProtobufCMessageDescriptor *d,
			ProtobufCMessage **out, int timeout_ms, struct rv_grpc_result *res)
{
	gpr_timespec deadline = in_ms(timeout_ms);
	grpc_op op;

	*out = NULL;
	memset(res, 0, sizeof(*res));
	if (!s->recv_pending && !s->recv_ready && !s->ended && !s->status_done) {
		memset(&op, 0, sizeof(op));
		op.op = GRPC_OP_RECV_MESSAGE;
		op.data.recv_message.recv_message = &s->recv_buf;
		if (!start(s, &op, 1, TAG_RECV))
			s->ended = true;
		else
			s->recv_pending = true;
	}
	while (!s->recv_ready && !s->ended && !s->status_done && pump(s, deadline))
		;
	if (s->ended || s->status_done)
		return stream_over(s, res);
	if (!s->recv_ready)
		return 0;
	s->recv_ready = false;
	*out = rv_grpc_pb_unpack(s->recv_buf, d);
	grpc_byte_buffer_destroy(s->recv_buf);
	s->recv_buf = NULL;
	return *out ? 1 : -1;
}

void rv_grpc_stream_close(struct rv_grpc_stream *s)
{
	if (!s)
		return;
	grpc_call_cancel(s->call, NULL);
	while (s->outstanding && pump(s, gpr_inf_future(GPR_CLOCK_REALTIME)))
		;
	grpc_call_unref(s->call);
	grpc_completion_queue_shutdown(s->cq);
	while (grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
	       GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(s->cq);
	if (s->recv_buf)
		grpc_byte_buffer_destroy(s->recv_buf);
	grpc_slice_unref(s->md[0].value);
	grpc_slice_unref(s->details);
	grpc_metadata_array_destroy(&s->init_md);
	grpc_metadata_array_destroy(&s->trailing);
	free(s);
}
