/* Payloads (ping, echo), wire helpers, drop names and log levels. */
#include "drop.h"
#include "inet.h"
#include "log.h"
#include "payload.h"
#include "test_util.h"

#include <time.h>

static void test_ping(void **state)
{
	static const uint8_t ping[16] = {0x2a, 0x18, 0x7b, 0xf3, 0x64, 0x1e, 0xb4, 0xcb,
					 0x07, 0xed, 0x2d, 0x0a, 0x98, 0x1f, 0xc7, 0x48};
	uint8_t other[16];
	(void)state;

	assert_true(rv_payload_is_ping(ping, 16));
	assert_false(rv_payload_is_ping(ping, 15));
	memcpy(other, ping, 16);
	other[15] ^= 1;
	assert_false(rv_payload_is_ping(other, 16));
	assert_int_equal(rv_payload_classify(ping, 16), RV_PAYLOAD_PING);
}

static void test_echo(void **state)
{
	uint8_t buf[RV_ECHO_LEN];
	struct rv_echo e = {.type = RV_ECHO_REQUEST,
			    .seq = 0x01020304,
			    .ts_ns = 0x1122334455667788ull},
		       got;
	static const uint8_t want[RV_ECHO_LEN] = {0xfe, 'R',  'V',  'E',  'C',	'H',  'O',  0x01,
						  0x01, 0,    0,    0,	  0x01, 0x02, 0x03, 0x04,
						  0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
	(void)state;

	assert_int_equal(rv_echo_build(buf, sizeof(buf) - 1, &e), 0);
	assert_int_equal(rv_echo_build(buf, sizeof(buf), &e), RV_ECHO_LEN);
	assert_memory_equal(buf, want, RV_ECHO_LEN);
	assert_int_equal(rv_payload_classify(buf, RV_ECHO_LEN), RV_PAYLOAD_ECHO);
	assert_int_equal(rv_echo_parse(buf, RV_ECHO_LEN, &got), 0);
	assert_int_equal(got.type, RV_ECHO_REQUEST);
	assert_int_equal(got.seq, e.seq);
	assert_int_equal(got.ts_ns, e.ts_ns);
	rv_echo_make_reply(buf);
	assert_int_equal(rv_echo_parse(buf, RV_ECHO_LEN, &got), 0);
	assert_int_equal(got.type, RV_ECHO_REPLY);
	assert_int_equal(got.ts_ns, e.ts_ns);
	assert_int_equal(rv_echo_parse(buf, RV_ECHO_LEN - 1, &got), -1);
	buf[8] = 3;
	assert_int_equal(rv_echo_parse(buf, RV_ECHO_LEN, &got), -1);
	buf[8] = 1;
	buf[10] = 1;
	assert_int_equal(rv_echo_parse(buf, RV_ECHO_LEN, &got), -1);
	buf[10] = 0;
	buf[1] = 'X';
	assert_int_equal(rv_echo_parse(buf, RV_ECHO_LEN, &got), -1);
}

static void test_classify(void **state)
{
	uint8_t p[64] = {0x45};
	(void)state;
	assert_int_equal(rv_payload_classify(p, 20), RV_PAYLOAD_IPV4);
	assert_int_equal(rv_payload_classify(p, 19), RV_PAYLOAD_OTHER);
	p[0] = 0x60;
	assert_int_equal(rv_payload_classify(p, 40), RV_PAYLOAD_IPV6);
	assert_int_equal(rv_payload_classify(p, 0), RV_PAYLOAD_OTHER);
}

static void test_inet(void **state)
{
	/* RFC 1071 example words 0001 f203 f4f5 f6f7: sum ddf2, checksum 220d */
	static const uint8_t words[8] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
	uint8_t hdr[20] = {0x45, 0, 0,	0x54, 0, 0, 0x40, 0, 0x40, 1,
			   0,	 0, 10, 0,    0, 1, 10,	  0, 0,	   2};
	uint32_t addr;
	uint8_t plen;
	uint16_t port;
	(void)state;

	uint16_t c = rv_inet_checksum(words, 8);
	assert_int_equal(rv_get_be16((const uint8_t *)&c), 0x220d);
	c = rv_inet_checksum(hdr, 20);
	memcpy(hdr + 10, &c, 2);
	assert_int_equal(rv_inet_checksum(hdr, 20), 0); /* verifies to zero */
	assert_int_equal(rv_parse_cidr("10.8.0.0/16", &addr, &plen), 0);
	assert_int_equal(addr, 0x0a080000);
	assert_int_equal(plen, 16);
	assert_int_equal(rv_parse_cidr("10.8.0.0/33", &addr, &plen), -1);
	assert_int_equal(rv_parse_cidr("10.8.0.0", &addr, &plen), -1);
	assert_int_equal(rv_parse_cidr("10.8.0/8", &addr, &plen), -1);
	assert_int_equal(rv_parse_hostport("127.0.0.1:1194", &addr, &port), 0);
	assert_int_equal(addr, 0x7f000001);
	assert_int_equal(port, 1194);
	assert_int_equal(rv_parse_hostport("127.0.0.1:65536", &addr, &port), -1);
	assert_int_equal(rv_parse_hostport("127.0.0.1", &addr, &port), -1);
	assert_int_equal(rv_parse_hostport("host:80", &addr, &port), -1);
	/* IPv6 endpoints, and the data plane's "one of each family" lists */
	uint8_t a6[16];
	assert_int_equal(rv_parse_hostport6("[2001:db8::1]:1194", a6, &port), 0);
	assert_int_equal(a6[0], 0x20);
	assert_int_equal(a6[15], 1);
	assert_int_equal(port, 1194);
	assert_int_equal(rv_parse_hostport6("2001:db8::1:1194", a6, &port), -1); /* brackets */
	assert_int_equal(rv_parse_hostport6("[2001:db8::1]", a6, &port), -1);
	assert_int_equal(rv_parse_hostport6("[10.0.0.1]:1", a6, &port), -1);
	assert_int_equal(rv_check_endpoints("10.0.0.1:1194"), 1);
	assert_int_equal(rv_check_endpoints("[::1]:1194"), 1);
	assert_int_equal(rv_check_endpoints("10.0.0.1:1194,[2001:db8::1]:1194"), 2);
	assert_int_equal(rv_check_endpoints("[2001:db8::1]:1194,10.0.0.1:1195"), 2);
	assert_int_equal(rv_check_endpoints("10.0.0.1:1194,10.0.0.2:1194"), -1); /* same family */
	assert_int_equal(rv_check_endpoints("10.0.0.1:1194,"), -1);
	assert_int_equal(rv_check_endpoints("[::1]:0"), -1);
	assert_int_equal(rv_check_endpoints("a:1,b:2,c:3"), -1);
	assert_int_equal(rv_check_endpoints(""), -1);
	char each[2][RV_ENDPOINT_MAX];
	assert_int_equal(rv_endpoints_split("10.0.0.1:1194,[2001:db8::1]:1194", each), 2);
	assert_string_equal(each[0], "10.0.0.1:1194");
	assert_string_equal(each[1], "[2001:db8::1]:1194");
	assert_int_equal(rv_endpoints_split("[::1]:5", each), 1);
	assert_string_equal(each[0], "[::1]:5");
}

static void test_names(void **state)
{
	enum rv_log_level l;
	(void)state;
	assert_string_equal(rv_drop_name(RV_DROP_AUTH), "auth");
	assert_string_equal(rv_drop_name(RV_DROP__COUNT), "unknown");
	for (int i = 0; i < RV_DROP__COUNT; i++)
		assert_non_null(rv_drop_name((enum rv_drop)i));
	assert_int_equal(rv_log_parse_level("DEBUG", &l), 0);
	assert_int_equal(l, RV_LOG_DEBUG);
	assert_int_equal(rv_log_parse_level("loud", &l), -1);
	/* a burst of calls is let through once per second: never more often
	 * than the number of seconds the burst touched (however slow the host) */
	struct timespec t0, t1;
	long last = 0;
	int allowed = 0;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &t0);
	for (int i = 0; i < 1000; i++)
		allowed += rv_log_allow_(&last);
	clock_gettime(CLOCK_MONOTONIC_COARSE, &t1);
	assert_in_range(allowed, 1, t1.tv_sec - t0.tv_sec + 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ping),     cmocka_unit_test(test_echo),
	    cmocka_unit_test(test_classify), cmocka_unit_test(test_inet),
	    cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
