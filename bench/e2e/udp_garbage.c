/* rv-udp-garbage: a bounded garbage flood at a data port, for the e2e
 * bench's "iperf3 under a flood" rounds (bench/e2e/bench_vs_openvpn.sh
 * --flood). Not a test; send only to addresses of namespaces the bench made.
 *
 *   rv-udp-garbage DST PORT PPS SECONDS [PEER_ID]
 *
 * Sends PPS datagrams a second for SECONDS in batches (sendmmsg), a mix of
 * four kinds in turn: P_DATA_V2 under PEER_ID (a real member's, so the
 * packet reaches the tag check and fails it), P_DATA_V2 under a peer-id
 * nobody has, a control opcode, and 3 random bytes (too short). Prints what
 * it sent and the CPU it used, so the bench can account for the flooder. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 32u
#define LEN   120u /* bytes of a full-size garbage datagram */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint32_t xorshift(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Datagram @i of the mix into @p; returns its length. */
static size_t build(uint8_t *p, unsigned i, uint32_t peer, uint32_t *rnd)
{
	for (size_t k = 0; k < LEN; k += 4) {
		uint32_t r = xorshift(rnd);
		memcpy(p + k, &r, 4);
	}
	switch (i % 4) {
	case 0:		       /* a member's peer-id: reaches the tag check */
	case 1:		       /* a peer-id nobody has (the data plane's ids are random) */
		p[0] = 9 << 3; /* P_DATA_V2, key-id 0 */
		if (i % 4 == 0) {
			p[1] = (uint8_t)(peer >> 16);
			p[2] = (uint8_t)(peer >> 8);
			p[3] = (uint8_t)peer;
		}
		return LEN;
	case 2:
		p[0] = 4 << 3; /* P_CONTROL_V1 */
		return LEN;
	default:
		return 3;
	}
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: rv-udp-garbage DST PORT PPS SECONDS [PEER_ID]\n");
		return 2;
	}
	struct sockaddr_in dst = {.sin_family = AF_INET,
				  .sin_port = htons((uint16_t)atoi(argv[2]))};
	double pps = atof(argv[3]), secs = atof(argv[4]);
	uint32_t peer = argc > 5 ? (uint32_t)strtoul(argv[5], NULL, 0) : 1, rnd = 0x9E3779B9u;
	if (inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1 || pps <= 0 || secs <= 0) {
		fprintf(stderr, "rv-udp-garbage: bad address, rate or duration\n");
		return 2;
	}
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0) {
		perror("rv-udp-garbage: socket");
		return 1;
	}
	static uint8_t buf[BATCH][LEN];
	struct iovec iov[BATCH];
	struct mmsghdr mm[BATCH];
	uint64_t sent = 0, failed = 0, t0 = now_ns(), end = t0 + (uint64_t)(secs * 1e9);
	unsigned next = 0;
	for (uint64_t t = t0; t < end; t = now_ns()) {
		/* how many should be out by now: send up to that, then sleep */
		uint64_t due = (uint64_t)((double)(t - t0) * pps / 1e9);
		if (sent + failed >= due) {
			nanosleep(&(struct timespec){0, 200000}, NULL);
			continue;
		}
		unsigned n = due - sent - failed < BATCH ? (unsigned)(due - sent - failed) : BATCH;
		for (unsigned i = 0; i < n; i++) {
			iov[i] = (struct iovec){buf[i], build(buf[i], next++, peer, &rnd)};
			mm[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[i], .msg_iovlen = 1}};
		}
		int k = sendmmsg(fd, mm, n, 0);
		if (k < 0) {
			if (errno != EAGAIN && errno != ENOBUFS && errno != ECONNREFUSED)
				break;
			k = 0;
		}
		sent += (unsigned)k;
		failed += n - (unsigned)k;
	}
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double el = (double)(now_ns() - t0) / 1e9;
	double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		     (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	printf(
	    "sent %llu datagrams in %.2f s (%.0f pps), %llu not sent, flooder CPU %.2f s (%.0f%% "
	    "of a core)\n",
	    (unsigned long long)sent, el, sent / el, (unsigned long long)failed, cpu,
	    100 * cpu / el);
	close(fd);
	return 0;
}
