/* Test server for the client's data channel: one session, reachable over UDP
 * and over TLS/TCP (up to 4 connections) (suite "none", 2-byte framing). It answers echo requests
 * and turns ICMP echo requests into replies, on the transport they came
 * from. With --tamper it also sends, once, a corrupted copy and a replayed
 * copy of its first UDP echo reply (the client must count auth and replay
 * drops). Usage: rv_dc_reflector --udp IP:P --tcp IP:P --cert PEM
 *   --certkey PEM --key STATICKEY --cipher C --peer-id N [--tamper] */
#include <arpa/inet.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include "inet.h"
#include "key_slots.h"
#include "payload.h"
#include "static_key.h"
#include "tcp_frame.h"

#define OFF	 (2 + RV_DC_HEADROOM)
#define BUF	 (OFF + 4096 + RV_DC_TAILROOM)
#define MAX_CONN 4

struct refl {
	int udp, lst;
	int conn[MAX_CONN];
	SSL *ssl[MAX_CONN];
	int cur; /* connection the frame being handled came from */
	bool bound[MAX_CONN];
	SSL_CTX *ctx;
	struct rv_dc_session sess[2]; /* 0: UDP, 1: TCP */
	struct sockaddr_in peer;
	bool tamper;
	struct rv_tcp_decoder dec[MAX_CONN];
	uint8_t buf[BUF];
	unsigned long rx[2], echo[2], icmp[2], bad[2];
};

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int bind_sock(const char *hostport, int type)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	uint32_t a;
	uint16_t port;
	int one = 1, fd;

	if (rv_parse_hostport(hostport, &a, &port) < 0)
		return -1;
	sa.sin_addr.s_addr = htonl(a);
	sa.sin_port = htons(port);
	fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 4) < 0))
		return -1;
	return fd;
}

static void send_wire(struct refl *r, int t, const uint8_t *d, uint32_t len)
{
	uint8_t pfx[2];

	if (t == 0) {
		sendto(r->udp, d, len, 0, (struct sockaddr *)&r->peer, sizeof(r->peer));
		return;
	}
	if (r->ssl[r->cur] && rv_tcp_frame_prefix(pfx, len) == 0) {
		SSL_write(r->ssl[r->cur], pfx, 2);
		SSL_write(r->ssl[r->cur], d, (int)len);
	}
}

/* ICMP echo request -> reply in place (addresses swapped). */
static bool icmp_reflect(uint8_t *ip, uint32_t len)
{
	uint32_t hl = (ip[0] & 15u) * 4;
	uint8_t tmp[4];

	if (len < hl + 8 || ip[9] != 1 || ip[hl] != 8)
		return false;
	memcpy(tmp, ip + 12, 4);
	memcpy(ip + 12, ip + 16, 4);
	memcpy(ip + 16, tmp, 4);
	ip[hl] = 0;
	ip[hl + 2] = ip[hl + 3] = 0;
	memcpy(ip + hl + 2, &(uint16_t){rv_inet_checksum(ip + hl, len - hl)}, 2);
	return true;
}

/* ICMPv6 echo request -> reply in place (addresses swapped, checksum over
 * the IPv6 pseudo-header). */
static bool icmp6_reflect(uint8_t *ip, uint32_t len)
{
	uint8_t tmp[16], ps[40 + 2048];
	uint32_t n = len - 40;

	if (len < 48 || len - 40 > 2048 || ip[6] != 58 || ip[40] != 128)
		return false;
	memcpy(tmp, ip + 8, 16);
	memcpy(ip + 8, ip + 24, 16);
	memcpy(ip + 24, tmp, 16);
	ip[40] = 129;
	ip[42] = ip[43] = 0;
	memset(ps, 0, 40);
	memcpy(ps, ip + 8, 32);
	rv_put_be32(ps + 32, n);
	ps[39] = 58;
	memcpy(ps + 40, ip + 40, n);
	memcpy(ip + 42, &(uint16_t){rv_inet_checksum(ps, 40 + n)}, 2);
	return true;
}

static void reply(struct refl *r, int t, struct rv_pkt *p, bool tamper_now)
{
	if (rv_dc_session_seal(&r->sess[t], p, (uint32_t)time(NULL)) != RV_OK)
		return;
	send_wire(r, t, p->data, p->len);
	if (tamper_now) {
		send_wire(r, t, p->data, p->len); /* replay */
		p->data[p->len - 1] ^= 0x55;	  /* corrupt the ciphertext */
		send_wire(r, t, p->data, p->len);
	}
}

/* Open with session @open (0: the real suite, 1: none), answer over @t. */
static void handle(struct refl *r, int t, int open, struct rv_pkt *p)
{
	if (rv_dc_session_open(&r->sess[open], p, mono_ns()) != RV_OK) {
		r->bad[t]++;
		return;
	}
	r->rx[t]++;
	switch (rv_payload_classify(p->data, p->len)) {
	case RV_PAYLOAD_ECHO:
		if (p->data[8] != RV_ECHO_REQUEST)
			return;
		rv_echo_make_reply(p->data);
		r->echo[t]++;
		reply(r, t, p, r->tamper && t == 0);
		if (t == 0)
			r->tamper = false;
		return;
	case RV_PAYLOAD_IPV4:
	case RV_PAYLOAD_IPV6:
		if (p->data[0] >> 4 == 4 ? icmp_reflect(p->data, p->len)
					 : icmp6_reflect(p->data, p->len)) {
			r->icmp[t]++;
			reply(r, t, p, false);
		}
		return;
	default:
		return;
	}
}

static void udp_in(struct refl *r)
{
	socklen_t sl = sizeof(r->peer);
	ssize_t n = recvfrom(r->udp, r->buf + OFF, BUF - OFF - RV_DC_TAILROOM, MSG_DONTWAIT,
			     (struct sockaddr *)&r->peer, &sl);
	struct rv_pkt p = {r->buf + OFF, (uint32_t)n, RV_DC_HEADROOM,
			   (uint32_t)(BUF - OFF - (n > 0 ? n : 0))};

	if (n > 0)
		handle(r, 0, 0, &p);
}

static void tcp_frame(void *arg, const uint8_t *frame, uint32_t len)
{
	struct refl *r = arg;
	struct rv_pkt p = {r->buf + OFF, len, RV_DC_HEADROOM, BUF - OFF - len};

	if (len > BUF - OFF - RV_DC_TAILROOM)
		return;
	memcpy(p.data, frame, len);
	/* Like the data plane: a connection is bound by a first frame sealed
	 * with the real suite; after that its frames use "none". */
	if (r->bound[r->cur]) {
		handle(r, 1, 1, &p);
		return;
	}
	unsigned long ok = r->rx[1];
	handle(r, 1, 0, &p);
	r->bound[r->cur] = r->rx[1] > ok;
}

static void tcp_close(struct refl *r, int i)
{
	SSL_free(r->ssl[i]);
	if (r->conn[i] >= 0)
		close(r->conn[i]);
	r->ssl[i] = NULL;
	r->conn[i] = -1;
	r->bound[i] = false;
}

static void tcp_accept(struct refl *r)
{
	int fd = accept4(r->lst, NULL, NULL, SOCK_CLOEXEC), i;

	if (fd < 0)
		return;
	for (i = 0; i < MAX_CONN && r->conn[i] >= 0; i++)
		;
	if (i == MAX_CONN) {
		close(fd);
		return;
	}
	r->conn[i] = fd;
	r->ssl[i] = SSL_new(r->ctx);
	SSL_set_fd(r->ssl[i], fd);
	if (SSL_accept(r->ssl[i]) != 1)
		tcp_close(r, i);
	rv_tcp_decoder_init(&r->dec[i], 0);
}

static void tcp_in(struct refl *r, int i)
{
	uint8_t b[16384];

	r->cur = i;
	do {
		int n = SSL_read(r->ssl[i], b, sizeof(b));
		if (n <= 0 || rv_tcp_decoder_feed(&r->dec[i], b, (size_t)n, tcp_frame, r) < 0) {
			tcp_close(r, i);
			return;
		}
	} while (SSL_pending(r->ssl[i]) > 0);
}

static int setup(struct refl *r, const char *cert, const char *certkey, const char *key,
		 enum rv_cipher suite, uint32_t peer_id)
{
	struct rv_key_material km;
	struct rv_key_dir tx, rx;
	char err[256];

	if (rv_static_key_load(key, &km, err, sizeof(err)) < 0)
		return fprintf(stderr, "key: %s\n", err), -1;
	rv_static_key_dirs(&km, 1, &tx, &rx);
	if (rv_dc_session_init(&r->sess[0], peer_id, 0) < 0 ||
	    rv_dc_session_init(&r->sess[1], peer_id, 0) < 0 ||
	    rv_dc_session_install(&r->sess[0], 0, suite, &tx, &rx, mono_ns(), 0) < 0 ||
	    rv_dc_session_install(&r->sess[1], 0, RV_CIPHER_NONE, &tx, &rx, mono_ns(), 0) < 0)
		return fprintf(stderr, "cannot install keys\n"), -1;
	OPENSSL_cleanse(&km, sizeof(km));
	r->ctx = SSL_CTX_new(TLS_server_method());
	if (SSL_CTX_use_certificate_file(r->ctx, cert, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_use_PrivateKey_file(r->ctx, certkey, SSL_FILETYPE_PEM) != 1)
		return fprintf(stderr, "cannot load %s / %s\n", cert, certkey), -1;
	return 0;
}

static void serve(struct refl *r)
{
	while (!g_stop) {
		struct pollfd pf[2 + MAX_CONN] = {{r->udp, POLLIN, 0}, {r->lst, POLLIN, 0}};
		for (int i = 0; i < MAX_CONN; i++)
			pf[2 + i] = (struct pollfd){r->conn[i], POLLIN, 0};
		if (poll(pf, 2 + MAX_CONN, 200) <= 0)
			continue;
		if (pf[0].revents)
			udp_in(r);
		if (pf[1].revents)
			tcp_accept(r);
		for (int i = 0; i < MAX_CONN; i++)
			if (r->conn[i] >= 0 && pf[2 + i].revents)
				tcp_in(r, i);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"udp", 1, 0, 'u'},	    {"tcp", 1, 0, 't'},	   {"cert", 1, 0, 'c'},
	    {"certkey", 1, 0, 'K'}, {"key", 1, 0, 'k'},	   {"cipher", 1, 0, 'C'},
	    {"peer-id", 1, 0, 'p'}, {"tamper", 0, 0, 'x'}, {0, 0, 0, 0}};
	static struct refl r = {.conn = {-1, -1, -1, -1}};
	const char *udp = NULL, *tcp = NULL, *cert = NULL, *certkey = NULL, *key = NULL;
	enum rv_cipher suite = RV_CIPHER_AES_256_GCM;
	uint32_t peer_id = 0;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'u':
			udp = optarg;
			break;
		case 't':
			tcp = optarg;
			break;
		case 'c':
			cert = optarg;
			break;
		case 'K':
			certkey = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		case 'C':
			rv_cipher_parse(optarg, &suite);
			break;
		case 'p':
			peer_id = (uint32_t)atoi(optarg);
			break;
		case 'x':
			r.tamper = true;
			break;
		default:
			return 2;
		}
	}
	if (!udp || !tcp || !cert || !certkey || !key)
		return fprintf(stderr, "missing arguments\n"), 2;
	if (setup(&r, cert, certkey, key, suite, peer_id) < 0)
		return 1;
	r.udp = bind_sock(udp, SOCK_DGRAM);
	r.lst = bind_sock(tcp, SOCK_STREAM);
	if (r.udp < 0 || r.lst < 0)
		return fprintf(stderr, "cannot bind %s / %s\n", udp, tcp), 1;
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	printf("ready\n");
	fflush(stdout);
	serve(&r);
	printf("udp rx %lu echo %lu icmp %lu bad %lu; tcp rx %lu echo %lu icmp %lu bad %lu\n",
	       r.rx[0], r.echo[0], r.icmp[0], r.bad[0], r.rx[1], r.echo[1], r.icmp[1], r.bad[1]);
	return 0;
}
