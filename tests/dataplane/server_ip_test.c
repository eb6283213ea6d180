/* The room's server address answering ping (dataplane/server_ip.c), in
 * process with a fake worker whose clock the test sets: the reply's fields
 * and checksums, each refusal's drop reason, and the rate bound (burst,
 * then one reply per 1/RV_SERVER_IP_PPS s) without any real timing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include "server_ip.h"

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

#define MEMBER 0x0a4d000bu /* 10.77.0.11 */
#define SERVER 0x0a4d0001u /* 10.77.0.1 */

static struct rte_mempool *pool;

/* An ICMP echo request MEMBER -> SERVER with 56 bytes of data (and 4 bytes
 * of trailing padding after the IP packet). */
static struct rte_mbuf *echo_request(uint8_t proto, uint8_t type, uint16_t frag, bool bad_sum)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	uint16_t len = sizeof(struct rte_ipv4_hdr) + sizeof(struct rte_icmp_hdr) + 56;
	uint8_t *p = m ? (uint8_t *)rte_pktmbuf_append(m, len + 4) : NULL;
	if (!p)
		abort(); /* the pool is far larger than what the test holds */
	memset(p, 0, (size_t)len + 4);
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)p;
	ip->version_ihl = 0x45;
	ip->total_length = rte_cpu_to_be_16(len);
	ip->fragment_offset = rte_cpu_to_be_16(frag);
	ip->time_to_live = 3;
	ip->next_proto_id = proto;
	ip->src_addr = rte_cpu_to_be_32(MEMBER);
	ip->dst_addr = rte_cpu_to_be_32(SERVER);
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	struct rte_icmp_hdr *icmp = (struct rte_icmp_hdr *)(ip + 1);
	icmp->icmp_type = type;
	icmp->icmp_ident = rte_cpu_to_be_16(0x1234);
	icmp->icmp_seq_nb = rte_cpu_to_be_16(7);
	for (int i = 0; i < 56; i++)
		((uint8_t *)(icmp + 1))[i] = (uint8_t)i;
	icmp->icmp_cksum = (uint16_t)~rte_raw_cksum(icmp, len - sizeof(*ip));
	if (bad_sum)
		icmp->icmp_cksum ^= 1;
	return m;
}

static void test_reply(struct rv_dp_worker *w)
{
	struct rte_mbuf *m = echo_request(IPPROTO_ICMP, RTE_IP_ICMP_ECHO_REQUEST, 0, false);
	CHECK(rv_server_ip_answer(w, m) == RV_OK, "echo request answered");
	struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod(m, struct rte_ipv4_hdr *);
	struct rte_icmp_hdr *icmp = (struct rte_icmp_hdr *)(ip + 1);
	CHECK(rte_be_to_cpu_32(ip->src_addr) == SERVER, "from the server address");
	CHECK(rte_be_to_cpu_32(ip->dst_addr) == MEMBER, "to the member");
	CHECK(rte_ipv4_cksum(ip) == 0 || rte_raw_cksum(ip, sizeof(*ip)) == 0xffff,
	      "IPv4 checksum valid");
	CHECK(icmp->icmp_type == RTE_IP_ICMP_ECHO_REPLY && icmp->icmp_code == 0, "echo reply");
	CHECK(rte_be_to_cpu_16(icmp->icmp_ident) == 0x1234 &&
		  rte_be_to_cpu_16(icmp->icmp_seq_nb) == 7 && ((uint8_t *)(icmp + 1))[55] == 55,
	      "id, sequence and data kept");
	CHECK(rte_raw_cksum(icmp, sizeof(*icmp) + 56) == 0xffff, "ICMP checksum valid");
	CHECK(rte_pktmbuf_data_len(m) == sizeof(*ip) + sizeof(*icmp) + 56,
	      "trailing padding dropped: %u", rte_pktmbuf_data_len(m));
	CHECK(w->st->server_ip_replies == 1, "counted");
	rte_pktmbuf_free(m);
}

static void expect_drop(struct rv_dp_worker *w, struct rte_mbuf *m, enum rv_drop want,
			const char *what)
{
	enum rv_drop got = rv_server_ip_answer(w, m);
	CHECK(got == want, "%s: %s, want %s", what, rv_drop_name(got), rv_drop_name(want));
	rte_pktmbuf_free(m);
}

static void test_refusals(struct rv_dp_worker *w)
{
	expect_drop(w, echo_request(IPPROTO_UDP, RTE_IP_ICMP_ECHO_REQUEST, 0, false),
		    RV_DROP_SERVER_IP, "UDP");
	expect_drop(w, echo_request(IPPROTO_ICMP, RTE_IP_ICMP_ECHO_REPLY, 0, false),
		    RV_DROP_SERVER_IP, "an echo reply");
	expect_drop(w, echo_request(IPPROTO_ICMP, RTE_IP_ICMP_ECHO_REQUEST, 0x2000, false),
		    RV_DROP_SERVER_IP, "a first fragment");
	expect_drop(w, echo_request(IPPROTO_ICMP, RTE_IP_ICMP_ECHO_REQUEST, 0, true),
		    RV_DROP_MALFORMED, "a bad ICMP checksum");
	struct rte_mbuf *m = echo_request(IPPROTO_ICMP, RTE_IP_ICMP_ECHO_REQUEST, 0, false);
	rte_pktmbuf_mtod(m, struct rte_ipv4_hdr *)->total_length = rte_cpu_to_be_16(2000);
	expect_drop(w, m, RV_DROP_MALFORMED, "total length past the packet");
	CHECK(w->st->server_ip_replies == 1, "no reply counted for a refusal");
}

/* A burst of RV_SERVER_IP_BURST, then one per 1/RV_SERVER_IP_PPS s of the
 * worker's clock. */
static void test_rate(struct rv_dp_worker *w)
{
	unsigned ok = 0, limited = 0;
	w->now_ns += 10ull * 1000000000ull; /* a full bucket */
	for (unsigned i = 0; i < 3 * RV_SERVER_IP_BURST; i++) {
		struct rte_mbuf *m = echo_request(IPPROTO_ICMP, RTE_IP_ICMP_ECHO_REQUEST, 0, false);
		enum rv_drop d = rv_server_ip_answer(w, m);
		ok += d == RV_OK;
		limited += d == RV_DROP_RATE_LIMITED;
		rte_pktmbuf_free(m);
	}
	CHECK(ok == RV_SERVER_IP_BURST && limited == 2 * RV_SERVER_IP_BURST,
	      "burst: %u answered, %u rate-limited", ok, limited);
	ok = 0;
	for (unsigned i = 0; i < 50; i++) { /* 50 steps of one token's worth */
		w->now_ns += 1000000000ull / RV_SERVER_IP_PPS;
		for (int j = 0; j < 3; j++) {
			struct rte_mbuf *m =
			    echo_request(IPPROTO_ICMP, RTE_IP_ICMP_ECHO_REQUEST, 0, false);
			ok += rv_server_ip_answer(w, m) == RV_OK;
			rte_pktmbuf_free(m);
		}
	}
	CHECK(ok == 50, "refill: %u answered in 50 token periods", ok);
}

int main(void)
{
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "rv-srvip-%d", getpid());
	char *eal[] = {"server_ip_test", "--no-huge",	"-m",	 "64",
		       "--no-pci",	 "-l",		"0",	 "--file-prefix",
		       prefix,		 "--log-level", "error", "--no-telemetry"};
	if (rte_eal_init((int)(sizeof(eal) / sizeof(eal[0])), eal) < 0) {
		printf("FAIL: EAL init\n");
		return 1;
	}
	pool = rte_pktmbuf_pool_create("srvip", 1023, 0, 0, 2048 + RTE_PKTMBUF_HEADROOM,
				       SOCKET_ID_ANY);
	struct rv_lcore_stats st = {0};
	struct rv_dp_worker w = {.lcore = 0, .st = &st, .now_ns = 1000000000ull};
	test_reply(&w);
	test_refusals(&w);
	test_rate(&w);
	rte_eal_cleanup();
	printf(failures ? "%d check(s) failed\n" : "all server address checks passed\n", failures);
	return failures ? 1 : 0;
}
