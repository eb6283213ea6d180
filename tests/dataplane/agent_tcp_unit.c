/* TCP fallback thread, in-process: TLS clients on loopback, a real rte_ring
 * and mempool (EAL with --no-huge), the workers replaced by this test.
 * Checks: frames in any split reach the workers with the connection id;
 * frames from the workers reach the right client with their prefix; a bad
 * length closes the connection; frames for a closed connection and for a
 * client that does not read are dropped and counted while other clients
 * keep being served; refused frames are counted. Limits: the handshake and
 * idle timeouts, the pre-authentication frame limit, the oldest
 * unauthenticated connection shed at the cap, the cap below the descriptor
 * limit, and a connection at EMFILE closed at once. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <rte_eal.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "tcp_fallback.h"

static int failures;
#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                     \
			printf(__VA_ARGS__);                                                       \
			printf("\n");                                                              \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

/* ---- the workers' side, played by the test ---- */

#define MAX_FRAMES 1024
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct {
	uint32_t conn;
	uint32_t len;
	uint8_t data[2048];
} got[MAX_FRAMES];
static unsigned n_got;
static struct rte_ring *ring;
static struct rte_mempool *pool;
static int wakefd = -1;

/* Frames starting with 0xEE are refused, as a full ring would be. */
static int test_rx(uint32_t conn_id, const uint8_t *frame, uint32_t len)
{
	if (len > 0 && frame[0] == 0xEE)
		return -1;
	pthread_mutex_lock(&mu);
	if (n_got < MAX_FRAMES && len <= sizeof(got[0].data)) {
		got[n_got].conn = conn_id;
		got[n_got].len = len;
		memcpy(got[n_got].data, frame, len);
		n_got++;
	}
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	return 0;
}

static struct rte_ring *test_ring(void)
{
	return ring;
}
static int test_wakefd(void)
{
	return wakefd;
}
static void test_wake_ack(void)
{
	uint64_t v;
	if (read(wakefd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		perror("wake ack");
}

/* Wait (generously) until @n frames arrived. */
static int wait_frames(unsigned n)
{
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 10;
	pthread_mutex_lock(&mu);
	while (n_got < n && pthread_cond_timedwait(&cv, &mu, &dl) == 0)
		;
	int ok = n_got >= n;
	pthread_mutex_unlock(&mu);
	return ok;
}

/* Poll a counter until it reaches @want (or 10 s pass: then the check fails). */
static uint64_t wait_stat(size_t off, uint64_t want)
{
	struct rv_tcp_fallback_stats s;
	for (int i = 0; i < 1000; i++) {
		rv_tcp_fallback_read_stats(&s);
		uint64_t v = *(uint64_t *)((char *)&s + off);
		if (v >= want)
			return v;
		usleep(10000);
	}
	return *(uint64_t *)((char *)&s + off);
}
#define WAIT_STAT(f, want) wait_stat(offsetof(struct rv_tcp_fallback_stats, f), (want))

/* A worker sends @len bytes of @fill to @conn. Returns 0 if enqueued. */
static int worker_send(uint32_t conn, uint8_t fill, uint16_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	if (!m)
		return -1;
	uint8_t *p = (uint8_t *)rte_pktmbuf_append(m, len);
	memset(p, fill, len);
	rv_tcp_io_set_conn(m, conn);
	if (rte_ring_enqueue(ring, m) != 0) {
		rte_pktmbuf_free(m);
		return -1;
	}
	uint64_t one = 1;
	if (write(wakefd, &one, sizeof(one)) < 0)
		perror("wake");
	return 0;
}

/* ---- certificate and TLS client ---- */

static char cert_path[64], key_path[64];

static int make_cert(void)
{
	EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	if (!pk || !x)
		return -1;
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, pk);
	X509_NAME *name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"rv-test", -1,
				   -1, 0);
	X509_set_issuer_name(x, name);
	if (!X509_sign(x, pk, EVP_sha256()))
		return -1;
	snprintf(cert_path, sizeof(cert_path), "/tmp/rv-tcp-unit-%d.crt", getpid());
	snprintf(key_path, sizeof(key_path), "/tmp/rv-tcp-unit-%d.key", getpid());
	FILE *c = fopen(cert_path, "w"), *k = fopen(key_path, "w");
	int rc =
	    c && k && PEM_write_X509(c, x) && PEM_write_PrivateKey(k, pk, NULL, NULL, 0, NULL, NULL)
		? 0
		: -1;
	if (c)
		fclose(c);
	if (k)
		fclose(k);
	X509_free(x);
	EVP_PKEY_free(pk);
	return rc;
}

struct client {
	int fd;
	SSL *ssl;
};

static SSL_CTX *cctx;

static int client_open(struct client *cl)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(rv_tcp_fallback_port())};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cl->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(cl->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	struct timeval tv = {.tv_sec = 10};
	setsockopt(cl->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	cl->ssl = SSL_new(cctx);
	SSL_set_fd(cl->ssl, cl->fd);
	return SSL_connect(cl->ssl) == 1 ? 0 : -1;
}

static void client_close(struct client *cl)
{
	SSL_free(cl->ssl);
	close(cl->fd);
}

static int client_write(struct client *cl, const void *buf, int len)
{
	return SSL_write(cl->ssl, buf, len) == len ? 0 : -1;
}

static int client_read_full(struct client *cl, uint8_t *buf, int len)
{
	for (int have = 0; have < len;) {
		int n = SSL_read(cl->ssl, buf + have, len - have);
		if (n <= 0)
			return -1;
		have += n;
	}
	return 0;
}

/* ---- tests ---- */

static void frame(uint8_t *buf, uint16_t len, uint8_t fill)
{
	buf[0] = (uint8_t)(len >> 8);
	buf[1] = (uint8_t)len;
	memset(buf + 2, fill, len);
}

/* Returns client A's conn id as the workers saw it. */
static uint32_t test_rx_frames(struct client *a)
{
	uint8_t buf[3 * (2 + 100) + 2 + 300];
	frame(buf, 100, 1);
	frame(buf + 102, 100, 2);
	frame(buf + 204, 100, 3);
	frame(buf + 306, 300, 4);
	CHECK(client_write(a, buf, 306) == 0, "three frames in one write");
	for (size_t i = 306; i < sizeof(buf); i++) /* the fourth one byte at a time */
		CHECK(client_write(a, buf + i, 1) == 0, "byte %zu", i);
	CHECK(wait_frames(4), "4 frames arrived, got %u", n_got);
	for (unsigned i = 0; i < 4 && i < n_got; i++) {
		CHECK(got[i].len == (i < 3 ? 100u : 300u), "frame %u length %u", i, got[i].len);
		CHECK(got[i].data[0] == i + 1 && got[i].data[got[i].len - 1] == i + 1,
		      "frame %u content", i);
		CHECK(got[i].conn != 0 && got[i].conn == got[0].conn, "frame %u conn id", i);
	}
	return got[0].conn;
}

static void test_tx_frames(struct client *a, uint32_t conn)
{
	uint8_t buf[2 + 1400];
	CHECK(worker_send(conn, 0x5a, 1400) == 0, "enqueue");
	CHECK(worker_send(conn, 0x6b, 20) == 0, "enqueue");
	CHECK(client_read_full(a, buf, 2 + 1400) == 0, "read first frame");
	CHECK(buf[0] == 1400 >> 8 && buf[1] == (1400 & 255), "prefix %02x%02x", buf[0], buf[1]);
	CHECK(buf[2] == 0x5a && buf[1401] == 0x5a, "payload");
	CHECK(client_read_full(a, buf, 2 + 20) == 0, "read second frame");
	CHECK(buf[1] == 20 && buf[2] == 0x6b, "second frame");
}

static void test_refused_and_gone(void)
{
	uint8_t buf[2 + 10];
	struct client b;
	CHECK(client_open(&b) == 0, "client b");
	frame(buf, 10, 0xEE);
	CHECK(client_write(&b, buf, sizeof(buf)) == 0, "write refused frame");
	CHECK(WAIT_STAT(frames_refused, 1) == 1, "refused counted");
	CHECK(worker_send(0x7fffffff, 1, 10) == 0, "enqueue for unknown conn");
	CHECK(WAIT_STAT(out_dropped_gone, 1) == 1, "unknown conn counted");
	client_close(&b);
	CHECK(WAIT_STAT(closed, 1) == 1, "close seen");
}

static void test_slow_reader(struct client *a, uint32_t conn_a)
{
	struct client slow;
	uint8_t buf[2 + 64];
	CHECK(client_open(&slow) == 0, "slow client");
	frame(buf, 8, 9);
	unsigned before = n_got;
	CHECK(client_write(&slow, buf, 10) == 0, "slow client hello");
	CHECK(wait_frames(before + 1), "slow client's frame");
	uint32_t conn_slow = got[before].conn;
	CHECK(conn_slow != conn_a, "distinct conn ids");
	/* ~60 MB for a client that never reads: far more than the socket
	 * buffers and the 256 KiB output cap; the ring must keep draining. */
	int sent = 0;
	for (int i = 0; i < 40000; i++) {
		while (worker_send(conn_slow, 7, 1500) != 0)
			usleep(100); /* ring full for a moment: the TCP thread drains it */
		sent++;
	}
	CHECK(WAIT_STAT(out_dropped_slow, 1) > 0, "slow reader drops counted");
	/* client A is still served, promptly and in order */
	CHECK(worker_send(conn_a, 0x33, 64) == 0, "enqueue for A");
	CHECK(client_read_full(a, buf, 2 + 64) == 0 && buf[2] == 0x33, "A still served");
	struct rv_tcp_fallback_stats s;
	rv_tcp_fallback_read_stats(&s);
	printf("slow reader: %d frames sent, %llu dropped\n", sent,
	       (unsigned long long)s.out_dropped_slow);
	client_close(&slow);
}

/* A client that sent one frame: its conn id as the workers saw it. */
static uint32_t client_hello(struct client *c)
{
	uint8_t buf[2 + 8];
	unsigned before = n_got;
	frame(buf, 8, 0x11);
	CHECK(client_write(c, buf, sizeof(buf)) == 0, "hello");
	CHECK(wait_frames(before + 1), "hello arrived");
	return n_got > before ? got[before].conn : 0;
}

/* The workers answer it: the connection is authenticated (a session is
 * bound to it). */
static void authenticate(struct client *c, uint32_t conn)
{
	uint8_t buf[2 + 16];
	CHECK(worker_send(conn, 0x22, 16) == 0, "enqueue for %u", conn);
	CHECK(client_read_full(c, buf, sizeof(buf)) == 0 && buf[2] == 0x22, "answer read");
}

static uint64_t stat_now(size_t off)
{
	struct rv_tcp_fallback_stats s;
	rv_tcp_fallback_read_stats(&s);
	return *(uint64_t *)((char *)&s + off);
}
#define STAT(f) stat_now(offsetof(struct rv_tcp_fallback_stats, f))

/* True once the server closed @c (a read gets EOF or an error). */
static bool closed_by_server(struct client *c)
{
	uint8_t b;
	return SSL_read(c->ssl, &b, 1) <= 0;
}

/* Before authentication a frame longer than a data packet can be closes
 * the connection (counted) and never reaches the workers; after it, the
 * same frame is taken. A length of 0 after authentication is a bad length. */
static void test_oversize_and_bad_length(void)
{
	static uint8_t big[2 + 4000];
	struct client u, c;
	uint64_t over = STAT(frames_oversize), bad = STAT(bad_length);
	frame(big, 2000, 0x44);
	CHECK(client_open(&u) == 0, "client u");
	unsigned before = n_got;
	CHECK(client_write(&u, big, 2 + 2000) == 0, "write a 2000-byte frame");
	CHECK(closed_by_server(&u), "unauthenticated oversize frame: connection closed");
	CHECK(WAIT_STAT(frames_oversize, over + 1) == over + 1, "oversize counted");
	CHECK(n_got == before, "the oversize frame did not reach the workers");
	client_close(&u);

	CHECK(client_open(&c) == 0, "client c");
	uint32_t conn = client_hello(&c);
	authenticate(&c, conn);
	before = n_got;
	CHECK(client_write(&c, big, 2 + 2000) == 0, "authenticated: a 2000-byte frame");
	CHECK(wait_frames(before + 1) && got[before].len == 2000, "taken after authentication");
	uint8_t zero[2] = {0, 0};
	CHECK(client_write(&c, zero, 2) == 0, "write zero length");
	CHECK(closed_by_server(&c), "server closed the connection");
	CHECK(WAIT_STAT(bad_length, bad + 1) == bad + 1, "bad length counted");
	client_close(&c);
}

/* A TCP client that never starts TLS is closed after the handshake timeout. */
static void test_handshake_timeout(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(rv_tcp_fallback_port())};
	struct rv_tcp_fallback_stats s;
	char b;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	rv_tcp_fallback_read_stats(&s);
	uint64_t before = s.shed_handshake;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "raw connect");
	struct timeval tv = {.tv_sec = 5}; /* far above the 300 ms set in setup() */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	CHECK(recv(fd, &b, 1, 0) == 0, "closed by the server");
	CHECK(WAIT_STAT(shed_handshake, before + 1) == before + 1, "counted as shed_handshake");
	close(fd);
}

static void restart(unsigned max_conns, uint32_t idle_ms)
{
	struct rv_tcp_fallback_params p = {.listen_ip = INADDR_LOOPBACK,
					   .cert_file = cert_path,
					   .key_file = key_path,
					   .max_conns = max_conns,
					   .idle_timeout_ms = idle_ms};
	struct rv_tcp_fallback_ops ops = {test_rx, test_ring, test_wakefd, test_wake_ack};
	char err[256];
	rv_tcp_fallback_stop();
	pthread_mutex_lock(&mu);
	n_got = 0;
	pthread_mutex_unlock(&mu);
	CHECK(rv_tcp_fallback_start(&p, &ops, err, sizeof(err)) == 0, "restart: %s", err);
}

/* At the cap the oldest unauthenticated connection makes room; when every
 * connection is authenticated a new one is refused. */
static void test_shed_oldest_unauth(void)
{
	struct client u1 = {0}, u2 = {0}, m = {0}, u3 = {0}, x = {0};
	restart(3, 0);
	CHECK(client_open(&u1) == 0, "u1");
	CHECK(client_open(&u2) == 0, "u2");
	CHECK(client_open(&m) == 0, "m");
	authenticate(&m, client_hello(&m));
	CHECK(WAIT_STAT(active, 3) == 3, "3 open");
	CHECK(client_open(&u3) == 0, "u3 gets in at the cap");
	CHECK(WAIT_STAT(shed_unauth, 1) == 1, "one shed");
	CHECK(closed_by_server(&u1), "the oldest unauthenticated (u1) was closed");
	authenticate(&m, client_hello(&m)); /* m still served */
	authenticate(&u2, client_hello(&u2));
	authenticate(&u3, client_hello(&u3));
	/* every connection is a member's now: a new one is refused */
	CHECK(client_open(&x) != 0 || closed_by_server(&x), "x refused");
	CHECK(WAIT_STAT(refused_full, 1) == 1, "refused_full counted");
	CHECK(STAT(shed_unauth) == 1, "no member was shed");
	authenticate(&u2, client_hello(&u2));
	client_close(&x);
	client_close(&u1);
	client_close(&u2);
	client_close(&u3);
	client_close(&m);
}

/* An established connection that does not authenticate is closed after the
 * idle timeout whether or not it sends frames; a member sending frames is
 * not. */
static void test_idle(void)
{
	struct client quiet = {0}, chatty = {0}, m = {0};
	uint8_t buf[2 + 8];
	restart(0, 2000);
	CHECK(client_open(&quiet) == 0, "quiet");
	CHECK(client_open(&chatty) == 0, "chatty");
	CHECK(client_open(&m) == 0, "m");
	uint32_t mc = client_hello(&m);
	authenticate(&m, mc);
	/* chatty and the member send a frame every 100 ms (idle timeout 2 s)
	 * until both unauthenticated connections are gone */
	frame(buf, 8, 0x55);
	for (int i = 0; i < 100 && STAT(shed_idle) < 2; i++) {
		client_write(&chatty, buf, sizeof(buf));
		CHECK(client_write(&m, buf, sizeof(buf)) == 0, "member writes");
		usleep(100000);
	}
	CHECK(WAIT_STAT(shed_idle, 2) == 2, "quiet and chatty shed as idle");
	CHECK(closed_by_server(&quiet), "quiet unauthenticated connection closed");
	CHECK(closed_by_server(&chatty), "chatty unauthenticated connection closed");
	authenticate(&m, mc);
	CHECK(STAT(shed_idle) == 2 && STAT(active) == 1, "the member was not shed");
	client_close(&quiet);
	client_close(&chatty);
	client_close(&m);
}

static unsigned fds_open(void)
{
	unsigned n = 0;
	DIR *d = opendir("/proc/self/fd");
	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n - 3;
}

/* Last test (the hard limit cannot be raised again without CAP_SYS_RESOURCE).
 * The cap stays below the descriptor limit; a connection that arrives at
 * EMFILE anyway is closed at once, not left in the backlog (a listener
 * that stays readable: the thread would spin on it). */
static void test_fd_limit(void)
{
	struct rlimit rl;
	rv_tcp_fallback_stop();
	rl.rlim_cur = rl.rlim_max = fds_open() + 100;
	CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0, "lower the limit");
	restart(1000, 0);
	uint64_t cap = STAT(max_conns);
	CHECK(cap > 0 && cap <= 100 - RV_TCP_FD_RESERVE, "cap %llu below the limit",
	      (unsigned long long)cap);
	/* Now leave the thread no descriptor at all. */
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(rv_tcp_fallback_port())};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct timeval tv = {.tv_sec = 5};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	int lowest_free = dup(0); /* descriptors are numbered from the lowest free one */
	close(lowest_free);
	rl.rlim_cur = (rlim_t)lowest_free;
	CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0, "no descriptor left");
	char b;
	CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect");
	CHECK(recv(fd, &b, 1, 0) == 0, "closed at once by the server, errno %d", errno);
	CHECK(WAIT_STAT(refused_fds, 1) >= 1, "refused_fds counted");
	close(fd);
	rl.rlim_cur = rl.rlim_max; /* the hard limit stays low: the last test */
	CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0, "restore the soft limit");
	rv_tcp_fallback_stop();
}

static void test_bad_start(void)
{
	struct rv_tcp_fallback_params p = {.cert_file = "/nonexistent.crt", .key_file = key_path};
	struct rv_tcp_fallback_ops ops = {.rx = test_rx, .tx_ring = test_ring};
	char err[256] = "";
	rv_tcp_fallback_stop();
	CHECK(rv_tcp_fallback_start(&p, &ops, err, sizeof(err)) == -1, "bad cert refused");
	CHECK(strstr(err, "/nonexistent.crt") != NULL, "message names the file: %s", err);
	p.cert_file = key_path; /* a key is not a certificate */
	CHECK(rv_tcp_fallback_start(&p, &ops, err, sizeof(err)) == -1, "key as cert refused");
}

static int setup(void)
{
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "rv-h6-tcp-%d", getpid());
	char *eal[] = {"agent_tcp_unit", "--no-huge",	"-m",	 "128",
		       "--no-pci",	 "-l",		"0",	 "--file-prefix",
		       prefix,		 "--log-level", "error", "--no-telemetry"};
	if (rte_eal_init((int)(sizeof(eal) / sizeof(eal[0])), eal) < 0)
		return -1;
	pool = rte_pktmbuf_pool_create("h6tcp", 4095, 256, 0, 2048 + RTE_PKTMBUF_HEADROOM,
				       SOCKET_ID_ANY);
	ring = rte_ring_create("h6tcp", 1024, SOCKET_ID_ANY, RING_F_SC_DEQ);
	wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!pool || !ring || wakefd < 0 || make_cert() < 0)
		return -1;
	cctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_load_verify_locations(cctx, cert_path, NULL);
	SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL); /* the server's self-signed cert */
	struct rv_tcp_fallback_params p = {.listen_ip = INADDR_LOOPBACK,
					   .cert_file = cert_path,
					   .key_file = key_path,
					   .handshake_timeout_ms =
					       300}; /* test_handshake_timeout */
	struct rv_tcp_fallback_ops ops = {test_rx, test_ring, test_wakefd, test_wake_ack};
	char err[256];
	if (rv_tcp_fallback_start(&p, &ops, err, sizeof(err)) < 0) {
		printf("start: %s\n", err);
		return -1;
	}
	return 0;
}

int main(void)
{
	struct client a;
	signal(SIGPIPE, SIG_IGN); /* writes to connections the server closed */
	if (setup() < 0) {
		printf("FAIL: setup\n");
		return 1;
	}
	CHECK(client_open(&a) == 0, "client a: TLS handshake");
	uint32_t conn_a = test_rx_frames(&a);
	test_tx_frames(&a, conn_a);
	test_refused_and_gone();
	test_slow_reader(&a, conn_a);
	test_oversize_and_bad_length();
	test_handshake_timeout();
	client_close(&a);
	test_shed_oldest_unauth();
	test_idle();
	test_bad_start();
	test_fd_limit(); /* last: lowers the hard descriptor limit for good */
	rv_tcp_fallback_stop();
	SSL_CTX_free(cctx);
	unlink(cert_path);
	unlink(key_path);
	rte_eal_cleanup();
	printf(failures ? "%d check(s) failed\n" : "all TCP fallback checks passed\n", failures);
	return failures ? 1 : 0;
}
